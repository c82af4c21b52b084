/* FULLY_CONNECTED, fast path (TINYFL_KERNELS_OPTIMIZED): same arguments and bit-identical
 * results as tinyfl_fully_connected_s8; four weight rows share each widened input word. */
#ifndef TINYFL_FULLY_CONNECTED_S8_FAST_H
#define TINYFL_FULLY_CONNECTED_S8_FAST_H

#include "tinyfl_fast_common.h"
#include "tinyfl_kernels.h"

/* Exactly one of filter and wide (pre-widened weights, in_features a multiple of 4) is set. */
static TINYFL_ALWAYS_INLINE tinyfl_status tinyfl_fully_connected_s8_fast_any(
    const tinyfl_fc_params *params, int32_t batches, int32_t in_features, int32_t out_features,
    const int8_t *input, const int8_t *filter, const int16_t *wide, const int32_t *bias,
    const int32_t *multipliers, const int32_t *shifts, int32_t n_channel_params, int8_t *output)
{
    if (batches < 1 || in_features < 1 || out_features < 1 ||
        (n_channel_params != 1 && n_channel_params != out_features) ||
        (wide != NULL && in_features % 4 != 0)) {
        return TINYFL_E_ARG;
    }
    const int32_t per_channel = n_channel_params != 1;
    const int32_t rq = params->requant_short;
    for (int32_t b = 0; b < batches; ++b) {
        const int8_t *in_row = input + b * in_features;
        int8_t *out = output + b * out_features;
        int32_t o = 0;
        const int32_t o_blocks = out_features & ~3; /* whole groups of four */
        for (; o < o_blocks; o += 4) {
            int32_t acc[4] = {0, 0, 0, 0};
            if (bias != NULL) {
                acc[0] = bias[o];
                acc[1] = bias[o + 1];
                acc[2] = bias[o + 2];
                acc[3] = bias[o + 3];
            }
            if (wide != NULL) {
                tinyfl_fast_dot4_wide_rolled(in_row, wide + o * in_features, in_features, in_features,
                                             params->input_offset, acc);
            } else {
                tinyfl_fast_dot4(in_row, filter + o * in_features, in_features, in_features,
                                 params->input_offset, acc);
            }
            if (per_channel) {
                tinyfl_fast_output4(out + o, acc, multipliers + o, shifts + o, rq, params->output_offset,
                                    params->act_min, params->act_max);
            } else {
                for (int32_t k = 0; k < 4; ++k) {
                    out[o + k] = tinyfl_fast_output(acc[k], multipliers[0], shifts[0], rq, params->output_offset,
                                                    params->act_min, params->act_max);
                }
            }
        }
        for (; o < out_features; ++o) {
            const int32_t acc0 = bias != NULL ? bias[o] : 0;
            const int32_t acc =
                wide != NULL ? tinyfl_fast_dot1_wide(in_row, wide + o * in_features, in_features,
                                                     params->input_offset, acc0)
                             : tinyfl_fast_dot1(in_row, filter + o * in_features, in_features,
                                                params->input_offset, acc0);
            const int32_t ch = per_channel ? o : 0;
            out[o] = tinyfl_fast_output(acc, multipliers[ch], shifts[ch], rq, params->output_offset,
                                        params->act_min, params->act_max);
        }
    }
    return TINYFL_OK;
}

static TINYFL_ALWAYS_INLINE tinyfl_status tinyfl_fully_connected_s8_fast(
    const tinyfl_fc_params *params, int32_t batches, int32_t in_features, int32_t out_features,
    const int8_t *input, const int8_t *filter, const int32_t *bias, const int32_t *multipliers,
    const int32_t *shifts, int32_t n_channel_params, int8_t *output)
{
    return tinyfl_fully_connected_s8_fast_any(params, batches, in_features, out_features, input, filter,
                                              NULL, bias, multipliers, shifts, n_channel_params, output);
}

/* The same on pre-widened weights (in_features a multiple of 4). */
static TINYFL_ALWAYS_INLINE tinyfl_status tinyfl_fully_connected_s8_fast_wide(
    const tinyfl_fc_params *params, int32_t batches, int32_t in_features, int32_t out_features,
    const int8_t *input, const int16_t *filter, const int32_t *bias, const int32_t *multipliers,
    const int32_t *shifts, int32_t n_channel_params, int8_t *output)
{
    return tinyfl_fully_connected_s8_fast_any(params, batches, in_features, out_features, input, NULL,
                                              filter, bias, multipliers, shifts, n_channel_params, output);
}

#endif /* TINYFL_FULLY_CONNECTED_S8_FAST_H */
