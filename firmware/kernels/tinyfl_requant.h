/* TFLM's fixed-point requantization (gemmlowp double rounding), shared by the kernels.
 * MultiplyByQuantizedMultiplier = RoundingDivideByPOT(SaturatingRoundingDoublingHighMul(
 * x * 2^left, m), right): the high half is rounded once, then the shift rounds again. */
#ifndef TINYFL_REQUANT_H
#define TINYFL_REQUANT_H

#include <stdint.h>

static inline int32_t tinyfl_sat_rounding_doubling_high_mul(int32_t a, int32_t b)
{
    if (a == INT32_MIN && b == INT32_MIN) {
        return INT32_MAX;
    }
    const int64_t ab = (int64_t)a * (int64_t)b;
    const int64_t nudge = ab >= 0 ? ((int64_t)1 << 30) : (1 - ((int64_t)1 << 30));
    /* Division truncates toward zero, as in gemmlowp; not an arithmetic shift. */
    return (int32_t)((ab + nudge) / ((int64_t)1 << 31));
}

/* Round-half-away-from-zero division by 2^exponent, exponent in [0, 31]. */
static inline int32_t tinyfl_rounding_divide_by_pot(int32_t x, int32_t exponent)
{
    const int32_t mask = (int32_t)(((uint32_t)1 << exponent) - 1u);
    const int32_t remainder = x & mask;
    const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
    return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

static inline int32_t tinyfl_multiply_by_quantized_multiplier(int32_t x, int32_t multiplier,
                                                              int32_t shift)
{
    const int32_t left = shift > 0 ? shift : 0;
    const int32_t right = shift > 0 ? 0 : -shift;
    /* Wrapping shift: TFLM multiplies by (1 << left) in int32. */
    const int32_t shifted = (int32_t)((uint32_t)x << left);
    return tinyfl_rounding_divide_by_pot(tinyfl_sat_rounding_doubling_high_mul(shifted, multiplier),
                                         right);
}

static inline int32_t tinyfl_clamp_i32(int32_t v, int32_t lo, int32_t hi)
{
    return v < lo ? lo : (v > hi ? hi : v);
}

#endif /* TINYFL_REQUANT_H */
