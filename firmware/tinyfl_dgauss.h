/* Exact discrete Gaussian sampler, integer arithmetic only (Canonne, Kamath, Steinke 2020):
 * Bernoulli(exp(-n/d)) by von Neumann's method, discrete Laplace, then rejection. */
#ifndef TINYFL_DGAUSS_H
#define TINYFL_DGAUSS_H

#include <stdint.h>

#include "tinyfl_drbg.h"

/* Variance sigma^2 = num / den as a rational. Valid range (checked by tinyfl_dgauss_check,
 * E_ARG outside): 1 <= num <= 2^48, 1 <= den <= 2^48, 1/64 <= sigma^2 <= 2^40 (sigma <= 2^20),
 * so every intermediate fits in 64 bits. The draws depend on the representation, not only on
 * the value: tinyfl_protect_update reduces the fraction to lowest terms first. */
typedef struct {
    uint64_t num;
    uint64_t den;
} tinyfl_dgauss_var;

tinyfl_status tinyfl_dgauss_check(tinyfl_dgauss_var var);
/* Bernoulli(exp(-num/den)), num >= 0, den >= 1. */
int tinyfl_bernoulli_exp(tinyfl_drbg *drbg, uint64_t num, uint64_t den);
/* Discrete Laplace with scale t >= 1: P(x) proportional to exp(-|x|/t). */
int32_t tinyfl_dlaplace(tinyfl_drbg *drbg, uint32_t t);
/* One sample of the discrete Gaussian N_Z(0, var); 0 (no draws) if var is outside the range. */
int32_t tinyfl_dgauss(tinyfl_drbg *drbg, tinyfl_dgauss_var var);

#endif /* TINYFL_DGAUSS_H */
