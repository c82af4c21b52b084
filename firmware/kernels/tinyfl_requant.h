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

/* The same double rounding in one 32x32+64 multiply-accumulate (SMLAL on Cortex-M4), exact
 * when multiplier > 2^30 and shift <= -2 (every channel of most layers; the generator checks,
 * see tinyfl_requant_short_ok). Why it is exact: with e = -shift, y = SRDHM(x, m) =
 * floor((x*m + 2^30) / 2^31) and RDBP(y, e) = floor((y + 2^(e-1) - [y < 0]) / 2^e), so the
 * result is floor((x*m + 2^30 + 2^(30+e) - [y < 0] * 2^31) / 2^(31+e)) (nested floors of
 * integer divisions merge); m > 2^30 makes [y < 0] = [x < 0]; the dividend's high word,
 * shifted right by e - 1, is the result. */
static inline int32_t tinyfl_requant_short(int32_t x, int32_t multiplier, int32_t shift)
{
    const uint32_t negative = (uint32_t)x >> 31;
    /* 2^(e - 2) as 2^30 >> (shift + 32): two instructions (ADD, LSR) with 2^30 kept in a
     * register across a layer, where 1 << (-shift - 2) takes three. */
    const uint32_t high = ((uint32_t)1 << 30 >> (shift + 32)) - negative;
    const uint32_t low = ((uint32_t)x & 0x80000000u) | 0x40000000u;
    int64_t acc = (int64_t)(((uint64_t)high << 32) | low);
    acc += (int64_t)x * (int64_t)multiplier;
    return (int32_t)(acc >> 32) >> (-shift - 1);
}

/* Whether tinyfl_requant_short() is exact for this multiplier/shift pair. */
static inline int tinyfl_requant_short_ok(int32_t multiplier, int32_t shift)
{
    return multiplier > (1 << 30) && shift <= -2 && shift >= -31;
}

static inline int32_t tinyfl_clamp_i32(int32_t v, int32_t lo, int32_t hi)
{
    return v < lo ? lo : (v > hi ? hi : v);
}

#endif /* TINYFL_REQUANT_H */
