/* ADD, int8 (TFLM reference): both inputs rescaled to a common 2^-20 grid, summed, requantized. */
#include "tinyfl_kernels.h"
#include "tinyfl_requant.h"

tinyfl_status tinyfl_add_s8(const tinyfl_add_params *params, size_t count, const int8_t *input1,
                            const int8_t *input2, size_t input2_count, int8_t *output)
{
    if (input2_count != count && input2_count != 1u) {
        return TINYFL_E_ARG;
    }
    for (size_t i = 0; i < count; ++i) {
        const int32_t a = params->input1_offset + input1[i];
        const int32_t b = params->input2_offset + input2[input2_count == 1u ? 0u : i];
        const int32_t sa = tinyfl_multiply_by_quantized_multiplier(
            a * (1 << params->left_shift), params->input1_multiplier, params->input1_shift);
        const int32_t sb = tinyfl_multiply_by_quantized_multiplier(
            b * (1 << params->left_shift), params->input2_multiplier, params->input2_shift);
        int32_t out = tinyfl_multiply_by_quantized_multiplier(sa + sb, params->output_multiplier,
                                                              params->output_shift);
        out = tinyfl_clamp_i32(out + params->output_offset, params->act_min, params->act_max);
        output[i] = (int8_t)out;
    }
    return TINYFL_OK;
}
