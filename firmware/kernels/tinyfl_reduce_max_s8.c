/* REDUCE_MAX, int8 (TFLM reference: same scale in and out, so the maximum of the codes). Global
 * max pooling. Axes flagged in reduce_mask (bit k = dimension k of dims[0..3]) are reduced; the
 * output holds the kept dimensions in order. */
#include "tinyfl_kernels.h"

tinyfl_status tinyfl_reduce_max_s8(const int32_t dims[4], uint32_t reduce_mask,
                                   const int8_t *input, int8_t *output)
{
    int32_t outer[4], inner[4], stride[4];
    if (reduce_mask == 0u || reduce_mask > 0xFu) {
        return TINYFL_E_ARG;
    }
    stride[3] = 1;
    for (int k = 2; k >= 0; --k) {
        stride[k] = stride[k + 1] * dims[k + 1];
    }
    for (int k = 0; k < 4; ++k) {
        if (dims[k] < 1) {
            return TINYFL_E_ARG;
        }
        const int reduced = (reduce_mask >> k) & 1u;
        outer[k] = reduced ? 1 : dims[k];
        inner[k] = reduced ? dims[k] : 1;
    }
    int8_t *out = output;
    for (int32_t a = 0; a < outer[0]; ++a) {
        for (int32_t b = 0; b < outer[1]; ++b) {
            for (int32_t c = 0; c < outer[2]; ++c) {
                for (int32_t d = 0; d < outer[3]; ++d) {
                    const int8_t *base = input + a * stride[0] + b * stride[1] + c * stride[2] + d;
                    int8_t best = INT8_MIN;
                    for (int32_t i = 0; i < inner[0]; ++i) {
                        for (int32_t j = 0; j < inner[1]; ++j) {
                            for (int32_t k = 0; k < inner[2]; ++k) {
                                for (int32_t l = 0; l < inner[3]; ++l) {
                                    const int8_t v = base[i * stride[0] + j * stride[1] + k * stride[2] + l];
                                    best = v > best ? v : best;
                                }
                            }
                        }
                    }
                    *out++ = best;
                }
            }
        }
    }
    return TINYFL_OK;
}
