/* QUANTIZE float -> int8 (TFLM AffineQuantize): roundf(x / scale) in single precision. */
#include <math.h>

#include "tinyfl_kernels.h"

tinyfl_status tinyfl_quantize_f32_s8(size_t count, const float *input, float scale,
                                     int32_t zero_point, int8_t *output)
{
    if (!(scale > 0.0f)) {
        return TINYFL_E_ARG;
    }
    for (size_t i = 0; i < count; ++i) {
        const float q = roundf(input[i] / scale);
        /* Clamp before converting: out-of-range float -> int casts are undefined in C. */
        int32_t v;
        if (q >= 255.0f) {
            v = 255;
        } else if (q <= -255.0f) {
            v = -255;
        } else if (q == q) {
            v = (int32_t)q;
        } else {
            v = 0; /* NaN */
        }
        v += zero_point;
        output[i] = (int8_t)(v < INT8_MIN ? INT8_MIN : (v > INT8_MAX ? INT8_MAX : v));
    }
    return TINYFL_OK;
}
