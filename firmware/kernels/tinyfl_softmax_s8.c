/* SOFTMAX, int8 -> int8 (TFLM reference): along the last dimension, exp of the scaled difference
 * to the row maximum in gemmlowp fixed point (Q5.26 in, Q12 accumulation), times the reciprocal
 * of the sum; output scale 1/256, zero point -128. */
#include "tinyfl_fixedpoint.h"
#include "tinyfl_kernels.h"

/* Q5.26 difference to the row maximum, rescaled by beta * input scale. */
static int32_t tinyfl_softmax_scaled_diff(int32_t diff, const tinyfl_softmax_params *params)
{
    /* |diff| <= -diff_min keeps the product inside int32 (TFLM's input radius). */
    const int32_t shifted = (int32_t)(diff * ((int64_t)1 << params->input_left_shift));
    return tinyfl_sat_rounding_doubling_high_mul(shifted, params->input_multiplier);
}

tinyfl_status tinyfl_softmax_s8(const tinyfl_softmax_params *params, int32_t rows, int32_t depth,
                                const int8_t *input, int8_t *output)
{
    if (rows < 1 || depth < 1 || params->input_left_shift < 0 || params->input_left_shift > 31 ||
        params->diff_min > 0) {
        return TINYFL_E_ARG;
    }
    for (int32_t r = 0; r < rows; ++r) {
        const int8_t *in = input + r * depth;
        int8_t *out = output + r * depth;
        int32_t max_in_row = INT8_MIN;
        for (int32_t c = 0; c < depth; ++c) {
            max_in_row = in[c] > max_in_row ? in[c] : max_in_row;
        }
        int32_t sum_of_exps = 0; /* 12 integer bits */
        for (int32_t c = 0; c < depth; ++c) {
            const int32_t diff = (int32_t)in[c] - max_in_row;
            if (diff >= params->diff_min) {
                const int32_t e = tinyfl_fp_exp_on_negative_values(
                    tinyfl_softmax_scaled_diff(diff, params), 5);
                sum_of_exps = tinyfl_fp_add(sum_of_exps, tinyfl_rounding_divide_by_pot(e, 12));
            }
        }
        /* GetReciprocal: normalise the sum into [1, 2), 1 / sum = scale * 2^-bits_over_unit.
         * The row maximum contributes exp(0), so the sum is at least 2^19; it stays below 2^31
         * for depth < 4096 (the generator's limit). */
        if (sum_of_exps <= 0) {
            return TINYFL_E_ARG;
        }
        int headroom_plus_one = 0;
        while ((((uint32_t)sum_of_exps << headroom_plus_one) & 0x80000000u) == 0u) {
            ++headroom_plus_one;
        }
        const int bits_over_unit = 12 - headroom_plus_one;
        const int32_t shifted_sum_minus_one =
            (int32_t)(((uint32_t)sum_of_exps << headroom_plus_one) - 0x80000000u);
        const int32_t scale = tinyfl_fp_one_over_one_plus_x(shifted_sum_minus_one);
        const int exponent = bits_over_unit + 31 - 8;
        if (exponent < 0 || exponent > 31) {
            return TINYFL_E_ARG;
        }
        for (int32_t c = 0; c < depth; ++c) {
            const int32_t diff = (int32_t)in[c] - max_in_row;
            int32_t v = INT8_MIN;
            if (diff >= params->diff_min) {
                const int32_t e = tinyfl_fp_exp_on_negative_values(
                    tinyfl_softmax_scaled_diff(diff, params), 5);
                v = tinyfl_rounding_divide_by_pot(tinyfl_fp_mul(scale, e), exponent) + INT8_MIN;
                v = tinyfl_clamp_i32(v, INT8_MIN, INT8_MAX);
            }
            out[c] = (int8_t)v;
        }
    }
    return TINYFL_OK;
}
