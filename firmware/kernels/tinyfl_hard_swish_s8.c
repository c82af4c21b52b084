/* HARD_SWISH, int8 (TFLM reference): x * relu6(x + 3) / 6 in int16 fixed point. The input goes
 * to a 2^7 finer grid; "reluish" maps [-3, 3] to [0, 1] (Q0.15) through its own 16-bit
 * multiplier; the product is requantized with a 16-bit output multiplier (exponent <= 0). */
#include "tinyfl_kernels.h"

static int16_t tinyfl_hs_sat16(int64_t v)
{
    return (int16_t)(v > INT16_MAX ? INT16_MAX : (v < INT16_MIN ? INT16_MIN : v));
}

/* gemmlowp SaturatingRoundingDoublingHighMul on int16. */
static int16_t tinyfl_hs_srdhm(int16_t a, int16_t b)
{
    if (a == INT16_MIN && b == INT16_MIN) {
        return INT16_MAX;
    }
    const int32_t ab = (int32_t)a * (int32_t)b;
    const int32_t nudge = ab >= 0 ? (1 << 14) : (1 - (1 << 14));
    return (int16_t)((ab + nudge) / (1 << 15));
}

/* TFLM's SaturatingDoublingHighMul: the same without the rounding nudge. */
static int16_t tinyfl_hs_doubling_high_mul(int16_t a, int16_t b)
{
    if (a == INT16_MIN && b == INT16_MIN) {
        return INT16_MAX;
    }
    return (int16_t)(((int32_t)a * (int32_t)b) / (1 << 15));
}

/* gemmlowp RoundingDivideByPOT on int16 (exponent in [0, 31], mask truncated to 16 bits). */
static int16_t tinyfl_hs_rdbp(int16_t x, int exponent)
{
    const int16_t mask = (int16_t)(((int64_t)1 << exponent) - 1);
    const int16_t remainder = (int16_t)(x & mask);
    const int16_t threshold = (int16_t)((mask >> 1) + (x < 0 ? 1 : 0));
    return (int16_t)((x >> exponent) + (remainder > threshold ? 1 : 0));
}

tinyfl_status tinyfl_hard_swish_s8(const tinyfl_hard_swish_params *params, size_t count,
                                   const int8_t *input, int8_t *output)
{
    if (params->output_multiplier_exponent > 0 || params->output_multiplier_exponent < -31 ||
        params->reluish_multiplier_exponent < -31 || params->reluish_multiplier_exponent > 16) {
        return TINYFL_E_ARG;
    }
    const int16_t out_mult = (int16_t)params->output_multiplier_fixedpoint_int16;
    const int16_t reluish_mult = (int16_t)params->reluish_multiplier_fixedpoint_int16;
    const int reluish_exp = (int)params->reluish_multiplier_exponent;
    for (size_t i = 0; i < count; ++i) {
        const int16_t x = (int16_t)((int32_t)input[i] - params->input_zero_point);
        const int16_t hires = (int16_t)(x * (1 << 7));
        const int16_t preshift = tinyfl_hs_srdhm(hires, out_mult);
        int16_t reluish = hires;
        if (reluish_exp > 0) {
            reluish = tinyfl_hs_sat16((int64_t)reluish * ((int64_t)1 << (reluish_exp - 1)));
        }
        reluish = tinyfl_hs_srdhm(reluish, reluish_mult);
        if (reluish_exp > 0) {
            reluish = tinyfl_hs_sat16((int64_t)reluish * 2);
        }
        if (reluish_exp < 0) {
            reluish = tinyfl_hs_rdbp(reluish, -reluish_exp);
        }
        reluish = (int16_t)(((int32_t)reluish + (1 << 15)) >> 1);
        int16_t v = tinyfl_hs_rdbp(tinyfl_hs_doubling_high_mul(reluish, preshift),
                                   -(int)params->output_multiplier_exponent);
        v = (int16_t)(v + params->output_zero_point);
        v = v > INT8_MAX ? INT8_MAX : (v < INT8_MIN ? INT8_MIN : v);
        output[i] = (int8_t)v;
    }
    return TINYFL_OK;
}
