/* FULLY_CONNECTED, int8 (TFLM reference arithmetic; symmetric weights, zero point 0). */
#include "tinyfl_kernels.h"
#include "tinyfl_requant.h"

tinyfl_status tinyfl_fully_connected_s8(const tinyfl_fc_params *params, int32_t batches,
                                        int32_t in_features, int32_t out_features,
                                        const int8_t *input, const int8_t *filter,
                                        const int32_t *bias, const int32_t *multipliers,
                                        const int32_t *shifts, int32_t n_channel_params,
                                        int8_t *output)
{
    if (batches < 1 || in_features < 1 || out_features < 1 ||
        (n_channel_params != 1 && n_channel_params != out_features)) {
        return TINYFL_E_ARG;
    }
    for (int32_t b = 0; b < batches; ++b) {
        const int8_t *in_row = input + b * in_features;
        for (int32_t o = 0; o < out_features; ++o) {
            const int8_t *f_row = filter + o * in_features;
            int32_t acc = 0;
            for (int32_t i = 0; i < in_features; ++i) {
                acc += ((int32_t)in_row[i] + params->input_offset) * (int32_t)f_row[i];
            }
            if (bias != NULL) {
                acc += bias[o];
            }
            const int32_t ch = n_channel_params == 1 ? 0 : o;
            acc = tinyfl_multiply_by_quantized_multiplier(acc, multipliers[ch], shifts[ch]);
            acc += params->output_offset;
            acc = tinyfl_clamp_i32(acc, params->act_min, params->act_max);
            output[b * out_features + o] = (int8_t)acc;
        }
    }
    return TINYFL_OK;
}
