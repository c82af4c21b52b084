/* Exact discrete Gaussian sampling with 64-bit integers only (Canonne, Kamath, Steinke 2020).
 *
 * The order of generator draws is part of the contract: tinyfl/device_model/dgauss.py makes
 * the same draws and returns the same integers. Rules that fix the order:
 *  - Bernoulli(p) with p = 0 or p = 1 draws nothing;
 *  - Bernoulli(a / b) is tinyfl_drbg_below(b) < a (one or more u64 draws);
 *  - Bernoulli(1/2) is tinyfl_drbg_below(2) == 1.
 *
 * Deviation from the textbook Algorithm 3 (documented in docs/privacy.md): the discrete Laplace
 * proposal has the rational scale tau = sigma^2 / mu, with mu = floor(sigma) when sigma >= 1
 * and mu = 1 / ceil(1 / sigma) below, instead of the integer t = floor(sigma) + 1. The
 * rejection step is then exp(-(|Y| - mu)^2 / (2 sigma^2)), whose denominator is
 * 2 J^2 num (about 2 sigma^2 den) instead of about 2 sigma^4 den^2, so it fits in 64 bits
 * for every sigma the device uses. The output law is the same (CKS Algorithm 3 is correct
 * for any proposal scale). */
#include "tinyfl_dgauss.h"

#define TINYFL_DGAUSS_MAX_NUM (1ull << 48)
#define TINYFL_DGAUSS_MAX_DEN (1ull << 48)
#define TINYFL_DGAUSS_MAX_SIGMA2 (1ull << 40) /* sigma <= 2^20: samples fit in int32 */

/* floor(sqrt(v)), bit by bit */
static uint64_t tinyfl_isqrt64(uint64_t v)
{
    uint64_t root = 0u;
    uint64_t bit = 1ull << 62;
    while (bit > v) {
        bit >>= 2;
    }
    while (bit != 0u) {
        if (v >= root + bit) {
            v -= root + bit;
            root = (root >> 1) + bit;
        } else {
            root >>= 1;
        }
        bit >>= 2;
    }
    return root;
}

/* Bernoulli(num / (den * k)), 0 <= num, den >= 1, k >= 1. When den * k would overflow, the
 * product of Bernoulli(num / den) and Bernoulli(1 / k), drawn in that order: the same law. */
static int tinyfl_bernoulli_frac(tinyfl_drbg *drbg, uint64_t num, uint64_t den, uint64_t k)
{
    if (num == 0u) {
        return 0;
    }
    if (den <= UINT64_MAX / k) {
        uint64_t d = den * k;
        if (num >= d) {
            return 1;
        }
        return tinyfl_drbg_below(drbg, d) < num;
    }
    if (num < den && !(tinyfl_drbg_below(drbg, den) < num)) {
        return 0;
    }
    return tinyfl_drbg_below(drbg, k) == 0u;
}

/* Bernoulli(exp(-num / den)) for 0 <= num <= den: von Neumann's method (CKS Algorithm 1). */
static int tinyfl_bernoulli_exp_unit(tinyfl_drbg *drbg, uint64_t num, uint64_t den)
{
    uint64_t k = 1u;
    if (num == 0u) {
        return 1;
    }
    while (tinyfl_bernoulli_frac(drbg, num, den, k)) {
        k++;
    }
    return (int)(k & 1u);
}

int tinyfl_bernoulli_exp(tinyfl_drbg *drbg, uint64_t num, uint64_t den)
{
    uint64_t whole;
    uint64_t i;
    if (den == 0u) {
        return 0; /* exp(-infinity) */
    }
    if (num <= den) {
        return tinyfl_bernoulli_exp_unit(drbg, num, den);
    }
    whole = num / den;
    for (i = 0; i < whole; i++) {
        if (!tinyfl_bernoulli_exp_unit(drbg, 1u, 1u)) {
            return 0;
        }
    }
    return tinyfl_bernoulli_exp_unit(drbg, num % den, den);
}

/* Discrete Laplace with rational scale t / s, P(y) ~ exp(-|y| s / t) (CKS Algorithm 2).
 * Restarts when U + t V would not fit in 64 bits or |Y| in int32: events of probability
 * below exp(-2^10) for the valid range, so the law is exact for any practical purpose. */
static int32_t tinyfl_dlaplace_rational(tinyfl_drbg *drbg, uint64_t t, uint64_t s)
{
    for (;;) {
        uint64_t u = tinyfl_drbg_below(drbg, t);
        uint64_t v = 0u;
        uint64_t v_max;
        uint64_t y;
        int overflow = 0;
        int negative;
        if (!tinyfl_bernoulli_exp_unit(drbg, u, t)) {
            continue;
        }
        v_max = (UINT64_MAX - u) / t;
        while (tinyfl_bernoulli_exp_unit(drbg, 1u, 1u)) {
            if (v == v_max) {
                overflow = 1;
                break;
            }
            v++;
        }
        if (overflow) {
            continue;
        }
        y = (u + t * v) / s;
        negative = tinyfl_drbg_below(drbg, 2u) == 1u;
        if (negative && y == 0u) {
            continue;
        }
        if (y > (uint64_t)INT32_MAX) {
            continue;
        }
        return negative ? -(int32_t)y : (int32_t)y;
    }
}

int32_t tinyfl_dlaplace(tinyfl_drbg *drbg, uint32_t t)
{
    if (t == 0u) {
        return 0;
    }
    return tinyfl_dlaplace_rational(drbg, t, 1u);
}

tinyfl_status tinyfl_dgauss_check(tinyfl_dgauss_var var)
{
    if (var.num == 0u || var.den == 0u || var.num > TINYFL_DGAUSS_MAX_NUM ||
        var.den > TINYFL_DGAUSS_MAX_DEN) {
        return TINYFL_E_ARG;
    }
    if (var.den > 64u * var.num) { /* sigma^2 < 1/64 */
        return TINYFL_E_ARG;
    }
    if (var.num / var.den > TINYFL_DGAUSS_MAX_SIGMA2 ||
        (var.num / var.den == TINYFL_DGAUSS_MAX_SIGMA2 && var.num % var.den != 0u)) {
        return TINYFL_E_ARG;
    }
    return TINYFL_OK;
}

int32_t tinyfl_dgauss(tinyfl_drbg *drbg, tinyfl_dgauss_var var)
{
    const uint64_t n = var.num;
    const uint64_t d = var.den;
    uint64_t mu_num; /* mu = mu_num / mu_den, close to sigma */
    uint64_t mu_den;
    uint64_t gamma_den;
    if (tinyfl_dgauss_check(var) != TINYFL_OK) {
        return 0; /* callers check first; tinyfl_protect_update refuses such a config */
    }
    if (n >= d) {
        mu_num = tinyfl_isqrt64(n / d); /* floor(sigma) */
        mu_den = 1u;
    } else {
        uint64_t j = tinyfl_isqrt64(d / n);
        if (j * j * n != d) {
            j++; /* ceil(1 / sigma) */
        }
        mu_num = 1u;
        mu_den = j;
    }
    /* gamma = (|Y| - mu)^2 / (2 sigma^2) = (J |Y| - P)^2 d / (2 J^2 n), with mu = P / J */
    gamma_den = 2u * mu_den * mu_den * n;
    for (;;) {
        /* proposal scale sigma^2 / mu = (n J) / (d P) */
        int32_t y = tinyfl_dlaplace_rational(drbg, n * mu_den, d * mu_num);
        uint64_t ay = (uint64_t)(y < 0 ? -(int64_t)y : (int64_t)y);
        uint64_t jy = mu_den * ay;
        uint64_t w = jy >= mu_num ? jy - mu_num : mu_num - jy;
        uint64_t gamma_num;
        /* Overflow here means gamma >= 2^13: accepting has probability < exp(-8192), so
         * rejecting outright changes nothing measurable. */
        if (w > UINT32_MAX) {
            continue;
        }
        gamma_num = w * w;
        if (gamma_num > UINT64_MAX / d) {
            continue;
        }
        gamma_num *= d;
        if (tinyfl_bernoulli_exp(drbg, gamma_num, gamma_den)) {
            return y;
        }
    }
}
