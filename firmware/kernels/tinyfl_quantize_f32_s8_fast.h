/* QUANTIZE float -> int8, fast path (TINYFL_KERNELS_OPTIMIZED): same results as
 * tinyfl_quantize_f32_s8 without a roundf() call. Below 255 in magnitude, x / scale minus its
 * truncation is exact in float (both share an exponent range), so rounding half away from zero
 * is the truncation plus one step when that fraction reaches +-0.5; the truncation is one
 * VCVT. Out-of-range values and NaN take the reference kernel's branches. */
#ifndef TINYFL_QUANTIZE_F32_S8_FAST_H
#define TINYFL_QUANTIZE_F32_S8_FAST_H

#include "tinyfl_kernels.h"
#include "tinyfl_simd.h"

static TINYFL_ALWAYS_INLINE tinyfl_status tinyfl_quantize_f32_s8_fast(size_t count, const float *input,
                                                                      float scale, int32_t zero_point,
                                                                      int8_t *output)
{
    if (!(scale > 0.0f)) {
        return TINYFL_E_ARG;
    }
    for (size_t i = 0; i < count; ++i) {
        const float q = input[i] / scale;
        int32_t v;
        if (q >= 255.0f) {
            v = 255;
        } else if (q <= -255.0f) {
            v = -255;
        } else if (q == q) {
            v = (int32_t)q; /* toward zero */
            const float fraction = q - (float)v;
            v += fraction >= 0.5f ? 1 : (fraction <= -0.5f ? -1 : 0);
        } else {
            v = 0; /* NaN */
        }
        v += zero_point;
#if TINYFL_SIMD_NATIVE
        output[i] = (int8_t)__ssat(v, 8);
#else
        output[i] = (int8_t)(v < INT8_MIN ? INT8_MIN : (v > INT8_MAX ? INT8_MAX : v));
#endif
    }
    return TINYFL_OK;
}

#endif /* TINYFL_QUANTIZE_F32_S8_FAST_H */
