/* QUANTIZE int8 -> int8 (TFLM Requantize). */
#include "tinyfl_kernels.h"
#include "tinyfl_requant.h"

tinyfl_status tinyfl_requantize_s8(size_t count, const int8_t *input, int32_t input_zero_point,
                                   int32_t multiplier, int32_t shift, int32_t output_zero_point,
                                   int8_t *output)
{
    for (size_t i = 0; i < count; ++i) {
        int32_t v = tinyfl_multiply_by_quantized_multiplier((int32_t)input[i] - input_zero_point,
                                                            multiplier, shift);
        v = tinyfl_clamp_i32(v + output_zero_point, INT8_MIN, INT8_MAX);
        output[i] = (int8_t)v;
    }
    return TINYFL_OK;
}
