/* gemmlowp's fixed-point transcendental functions as the TFLM reference kernels use them
 * (SOFTMAX, LOGISTIC), on raw int32 values: a value with I integer bits is raw * 2^(I - 31).
 * Additions wrap as gemmlowp's do on int32 (computed in uint32, so no signed overflow in C);
 * multiplications are SaturatingRoundingDoublingHighMul; constants are gemmlowp's own. */
#ifndef TINYFL_FIXEDPOINT_H
#define TINYFL_FIXEDPOINT_H

#include <stdint.h>

#include "tinyfl_requant.h"

static inline int32_t tinyfl_fp_add(int32_t a, int32_t b)
{
    return (int32_t)((uint32_t)a + (uint32_t)b);
}

static inline int32_t tinyfl_fp_sub(int32_t a, int32_t b)
{
    return (int32_t)((uint32_t)a - (uint32_t)b);
}

static inline int32_t tinyfl_fp_mul(int32_t a, int32_t b)
{
    return tinyfl_sat_rounding_doubling_high_mul(a, b);
}

/* SaturatingRoundingMultiplyByPOT<exponent> for exponent in [1, 30]: a saturating left shift. */
static inline int32_t tinyfl_fp_sat_shift_left(int32_t x, int exponent)
{
    const int32_t threshold = (int32_t)(((uint32_t)1 << (31 - exponent)) - 1u);
    if (x > threshold) {
        return INT32_MAX;
    }
    if (x < -threshold) {
        return INT32_MIN;
    }
    return (int32_t)((uint32_t)x << exponent);
}

/* RoundingHalfSum: (a + b) / 2 rounded half away from zero, in 64 bits. */
static inline int32_t tinyfl_fp_rounding_half_sum(int32_t a, int32_t b)
{
    const int64_t sum = (int64_t)a + (int64_t)b;
    return (int32_t)((sum + (sum >= 0 ? 1 : -1)) / 2);
}

/* exp(a) for a in [-1/4, 0), a and result with 0 integer bits: Taylor series around -1/8. */
static inline int32_t tinyfl_fp_exp_quarter(int32_t a)
{
    const int32_t exp_minus_one_eighth = 1895147668;
    const int32_t one_third = 715827883;
    const int32_t x = tinyfl_fp_add(a, (int32_t)1 << 28);
    const int32_t x2 = tinyfl_fp_mul(x, x);
    const int32_t x3 = tinyfl_fp_mul(x2, x);
    const int32_t x4 = tinyfl_fp_mul(x2, x2);
    const int32_t x4_over_4 = tinyfl_rounding_divide_by_pot(x4, 2);
    const int32_t poly = tinyfl_rounding_divide_by_pot(
        tinyfl_fp_add(tinyfl_fp_mul(tinyfl_fp_add(x4_over_4, x3), one_third), x2), 1);
    return tinyfl_fp_add(exp_minus_one_eighth,
                         tinyfl_fp_mul(exp_minus_one_eighth, tinyfl_fp_add(x, poly)));
}

/* exp(a) for a <= 0 with integer_bits (1..5) integer bits; the result has 0 integer bits. */
static inline int32_t tinyfl_fp_exp_on_negative_values(int32_t a, int integer_bits)
{
    /* exp(-2^k) for k = -2..4, the barrel shifter's factors. */
    static const int32_t factors[7] = {1672461947, 1302514674, 790015084, 290630308,
                                       39332535,   720401,     242};
    const int fractional_bits = 31 - integer_bits;
    const int32_t one_quarter = (int32_t)1 << (fractional_bits - 2);
    const int32_t a_mod_quarter_minus_quarter = tinyfl_fp_sub(a & (one_quarter - 1), one_quarter);
    int32_t result = tinyfl_fp_exp_quarter(tinyfl_fp_sat_shift_left(a_mod_quarter_minus_quarter,
                                                                    integer_bits));
    const int32_t remainder = tinyfl_fp_sub(a_mod_quarter_minus_quarter, a);
    for (int k = 0; k < 7; ++k) {
        const int exponent = k - 2;
        if (integer_bits > exponent && (remainder & ((int32_t)1 << (fractional_bits + exponent))) != 0) {
            result = tinyfl_fp_mul(result, factors[k]);
        }
    }
    return a == 0 ? INT32_MAX : result;
}

/* 1 / (1 + a) for a in [0, 1), 0 integer bits in and out: three Newton-Raphson steps. */
static inline int32_t tinyfl_fp_one_over_one_plus_x(int32_t a)
{
    const int32_t half_denominator = tinyfl_fp_rounding_half_sum(a, INT32_MAX);
    const int32_t one_q2 = (int32_t)1 << 29;
    int32_t x = tinyfl_fp_add(1515870810, tinyfl_fp_mul(half_denominator, -1010580540));
    for (int i = 0; i < 3; ++i) {
        const int32_t one_minus = tinyfl_fp_sub(one_q2, tinyfl_fp_mul(half_denominator, x));
        x = tinyfl_fp_add(x, tinyfl_fp_sat_shift_left(tinyfl_fp_mul(x, one_minus), 2));
    }
    return tinyfl_fp_sat_shift_left(x, 1);
}

/* 1 / (1 + exp(-a)) with integer_bits integer bits in, 0 out. */
static inline int32_t tinyfl_fp_logistic(int32_t a, int integer_bits)
{
    if (a == 0) {
        return (int32_t)1 << 30;
    }
    const int32_t minus_abs = a > 0 ? tinyfl_fp_sub(0, a) : a;
    const int32_t positive = tinyfl_fp_one_over_one_plus_x(
        tinyfl_fp_exp_on_negative_values(minus_abs, integer_bits));
    return a > 0 ? positive : tinyfl_fp_sub(INT32_MAX, positive);
}

#endif /* TINYFL_FIXEDPOINT_H */
