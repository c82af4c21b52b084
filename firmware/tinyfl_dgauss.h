/* Exact discrete Gaussian sampler, integer arithmetic only (Canonne, Kamath, Steinke 2020):
 * Bernoulli(exp(-n/d)) by von Neumann's method, discrete Laplace, then rejection. Coins come
 * one bit at a time from the generator (tinyfl_drbg_bit). */
#ifndef TINYFL_DGAUSS_H
#define TINYFL_DGAUSS_H

#include <stdint.h>

#include "tinyfl_drbg.h"

/* Variance sigma^2 = num / den as a rational. Valid range (checked by tinyfl_dgauss_check,
 * E_ARG outside): 1 <= num <= 2^48, 1 <= den <= 2^48, 1/64 <= sigma^2 <= 2^40 (sigma <= 2^20),
 * so every intermediate fits in 64 bits. The draws depend on the value only, not on how the
 * fraction is written. */
typedef struct {
    uint64_t num;
    uint64_t den;
} tinyfl_dgauss_var;

/* What the sampler derives from a variance once (square root, gcds, divisions), so that a
 * draw needs none of it. Filled by tinyfl_dgauss_prepare; read-only afterwards. */
typedef struct {
    /* discrete Laplace proposal of scale tau = lap_t / lap_s (lowest terms), drawn as
     * U + q V: U in [0, q) with weight exp(-U lap_s / lap_t), V geometric with ratio
     * exp(-v_num / v_den) = exp(-q lap_s / lap_t) */
    uint64_t lap_t;
    uint64_t lap_s;
    uint64_t q;           /* max(1, floor(tau)) */
    uint64_t v_num;
    uint64_t v_den;
    uint64_t mu_num;      /* mu = mu_num / mu_den, close to sigma */
    uint64_t mu_den;
    uint64_t gamma_mul;   /* gamma = w^2 gamma_mul / gamma_den, in lowest terms */
    uint64_t gamma_den;
    uint64_t w2_max;      /* largest w^2 with w^2 * gamma_mul < 2^64 */
    uint8_t q_bits;       /* bit length of q - 1: the bits of one uniform below q */
} tinyfl_dgauss_plan;

#define TINYFL_DGAUSS_HAS_PLAN 1 /* for code that also builds against the older sampler */

tinyfl_status tinyfl_dgauss_check(tinyfl_dgauss_var var);
/* E_ARG (plan untouched) when the variance is outside the range. */
tinyfl_status tinyfl_dgauss_prepare(tinyfl_dgauss_plan *plan, tinyfl_dgauss_var var);
/* One sample of N_Z(0, var) for a prepared plan. */
int32_t tinyfl_dgauss_draw(tinyfl_drbg *drbg, const tinyfl_dgauss_plan *plan);
/* One sample of N_Z(0, var); 0 (no draws) if var is outside the range. Prepares a plan each
 * call: draw many from one plan instead. */
int32_t tinyfl_dgauss(tinyfl_drbg *drbg, tinyfl_dgauss_var var);

/* The building blocks, exposed for tests. */
/* Bernoulli(exp(-num/den)), num >= 0, den >= 1 (0 without draws when den == 0). */
int tinyfl_bernoulli_exp(tinyfl_drbg *drbg, uint64_t num, uint64_t den);
/* Discrete Laplace with scale t >= 1: P(x) proportional to exp(-|x|/t) (0 when t == 0). */
int32_t tinyfl_dlaplace(tinyfl_drbg *drbg, uint32_t t);
/* Uniform in [0, bound), bound >= 1: the fewest bits that can hold bound - 1, redrawn until
 * below bound (0 without draws when bound <= 1). */
uint64_t tinyfl_dgauss_uniform(tinyfl_drbg *drbg, uint64_t bound);

#endif /* TINYFL_DGAUSS_H */
