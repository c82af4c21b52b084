/* ADD, fast path (TINYFL_KERNELS_OPTIMIZED): same results as tinyfl_add_s8. Each input is an
 * int8, so its rescaling to the common 2^-20 grid (the reference kernel's first two
 * requantizations) takes one of 256 values: the generator stores them in a table (2 KB of
 * flash per ADD), and each output costs two lookups, one requantization and the clamp. */
#ifndef TINYFL_ADD_S8_FAST_H
#define TINYFL_ADD_S8_FAST_H

#include "tinyfl_fast_common.h"
#include "tinyfl_kernels.h"

/* table[v + 128]: input 1's value v rescaled; table[256 + v + 128]: input 2's. */
static inline void tinyfl_add_s8_table(const tinyfl_add_params *params, int32_t table[512])
{
    for (int32_t v = -128; v < 128; ++v) {
        table[v + 128] = tinyfl_multiply_by_quantized_multiplier(
            (params->input1_offset + v) * (1 << params->left_shift), params->input1_multiplier,
            params->input1_shift);
        table[256 + v + 128] = tinyfl_multiply_by_quantized_multiplier(
            (params->input2_offset + v) * (1 << params->left_shift), params->input2_multiplier,
            params->input2_shift);
    }
}

static TINYFL_ALWAYS_INLINE tinyfl_status tinyfl_add_s8_fast(const tinyfl_add_params *params,
                                                             const int32_t *table, size_t count,
                                                             const int8_t *input1, const int8_t *input2,
                                                             size_t input2_count, int8_t *output)
{
    if (input2_count != count && input2_count != 1u) {
        return TINYFL_E_ARG;
    }
    const int32_t *scaled1 = table + 128, *scaled2 = table + 256 + 128;
    const int32_t rq = tinyfl_requant_short_ok(params->output_multiplier, params->output_shift);
    if (input2_count == 1u) {
        const int32_t b = scaled2[input2[0]];
        for (size_t i = 0; i < count; ++i) {
            output[i] = tinyfl_fast_output(scaled1[input1[i]] + b, params->output_multiplier,
                                           params->output_shift, rq, params->output_offset,
                                           params->act_min, params->act_max);
        }
        return TINYFL_OK;
    }
    for (size_t i = 0; i < count; ++i) {
        output[i] = tinyfl_fast_output(scaled1[input1[i]] + scaled2[input2[i]], params->output_multiplier,
                                       params->output_shift, rq, params->output_offset, params->act_min,
                                       params->act_max);
    }
    return TINYFL_OK;
}

#endif /* TINYFL_ADD_S8_FAST_H */
