/* DEQUANTIZE int8 -> float. TFLM computes (float)(double(scale) * (q - zp)); that product is
 * exact in double, so one single-precision multiply rounds to the same float. */
#include "tinyfl_kernels.h"

tinyfl_status tinyfl_dequantize_s8_f32(size_t count, const int8_t *input, float scale,
                                       int32_t zero_point, float *output)
{
    for (size_t i = 0; i < count; ++i) {
        output[i] = scale * (float)((int32_t)input[i] - zero_point);
    }
    return TINYFL_OK;
}
