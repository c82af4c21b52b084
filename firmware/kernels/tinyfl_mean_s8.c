/* MEAN, int8 (TFLM QuantizedMeanOrSum): integer sum minus zp * count, requantized with a
 * multiplier that already folds in 1/count. Summation order does not matter (exact ints). */
#include "tinyfl_kernels.h"
#include "tinyfl_requant.h"

tinyfl_status tinyfl_mean_s8(const int32_t dims[4], uint32_t reduce_mask, const int8_t *input,
                             int32_t input_zero_point, int32_t multiplier, int32_t shift,
                             int32_t output_zero_point, int8_t *output)
{
    int32_t outer[4], inner[4], stride[4];
    int32_t count = 1;
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
        count *= inner[k];
    }
    int8_t *out = output;
    for (int32_t a = 0; a < outer[0]; ++a) {
        for (int32_t b = 0; b < outer[1]; ++b) {
            for (int32_t c = 0; c < outer[2]; ++c) {
                for (int32_t d = 0; d < outer[3]; ++d) {
                    const int8_t *base = input + a * stride[0] + b * stride[1] + c * stride[2] + d;
                    int32_t sum = 0;
                    for (int32_t i = 0; i < inner[0]; ++i) {
                        for (int32_t j = 0; j < inner[1]; ++j) {
                            for (int32_t k = 0; k < inner[2]; ++k) {
                                for (int32_t l = 0; l < inner[3]; ++l) {
                                    sum += base[i * stride[0] + j * stride[1] + k * stride[2] + l];
                                }
                            }
                        }
                    }
                    int32_t v = tinyfl_multiply_by_quantized_multiplier(
                        sum - input_zero_point * count, multiplier, shift);
                    v = tinyfl_clamp_i32(v + output_zero_point, INT8_MIN, INT8_MAX);
                    *out++ = (int8_t)v;
                }
            }
        }
    }
    return TINYFL_OK;
}
