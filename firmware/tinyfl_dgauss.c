/* Exact discrete Gaussian sampling with 64-bit integers only (Canonne, Kamath, Steinke 2020),
 * fed one coin at a time.
 *
 * The order of generator draws is part of the contract: tinyfl/device_model/dgauss.py makes
 * the same draws and returns the same integers. Rules that fix the order:
 *  - coins are bits of the generator's bit stream (tinyfl_drbg_bit / tinyfl_drbg_bits);
 *  - Bernoulli(p) with p = 0 or p = 1 draws nothing;
 *  - Bernoulli(a / b) compares a uniform real, one bit at a time, with the binary expansion of
 *    a / b (long division by doubling: no division instruction) and stops at the first bit
 *    where they differ, or when the expansion has ended (then the uniform is larger);
 *  - uniform below n takes the fewest bits that hold n - 1 and redraws them until below n;
 *  - the sign of a discrete Laplace is one bit, 1 meaning negative.
 *
 * Deviation from the textbook Algorithm 3 (documented in docs/privacy.md): the discrete Laplace
 * proposal has the rational scale tau = sigma^2 / mu, with mu = floor(sigma) when sigma >= 1
 * and mu = 1 / ceil(1 / sigma) below, instead of the integer t = floor(sigma) + 1, so that
 * the rejection exponent (|Y| - mu)^2 / (2 sigma^2) has a denominator of about 2 sigma^2 den
 * instead of 2 sigma^4 den^2 and fits in 64 bits. The output law is the same (Algorithm 3 is
 * correct for any proposal scale). Fractions are kept in lowest terms: for sigma = 2^k the
 * proposal is a Laplace of integer scale 2^k and the rejection denominator a power of two. */
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

static uint64_t tinyfl_gcd_u64(uint64_t a, uint64_t b)
{
    while (b != 0u) {
        uint64_t r = a % b;
        a = b;
        b = r;
    }
    return a;
}

/* bits needed to write v (0 for v = 0) */
static unsigned tinyfl_bit_length(uint64_t v)
{
    unsigned n = 0u;
    while (v != 0u) {
        v >>= 1;
        n++;
    }
    return n;
}

/* Bernoulli(a / b) for 0 < a < b < 2^32. r is the remainder of the long division of a by b:
 * doubling it yields the next binary digit of a / b. 2r may wrap past 2^32, but 2r - b is in
 * [0, b) whenever the digit is 1, so the wrapped difference is exact. The coin buffer is held
 * in registers for the loop (tinyfl_drbg_u32 does not touch it). */
static int tinyfl_bern_frac32(tinyfl_drbg *drbg, uint32_t a, uint32_t b)
{
    uint32_t r = a;
    uint32_t buf = drbg->bit_buf;
    drbg->comparisons++;
    unsigned count = drbg->bit_count;
    int result;
    for (;;) {
        uint32_t digit = r >= b - r ? 1u : 0u;
        uint32_t coin;
        r = (r << 1) - (b & (0u - digit));
        if (count == 0u) {
            buf = tinyfl_drbg_u32(drbg);
            count = 32u;
        }
        coin = buf & 1u;
        buf >>= 1;
        count--;
        if (coin != digit) {
            result = (int)digit; /* uniform digit 0 under a 1: below a / b */
            break;
        }
        if (r == 0u) {
            result = 0; /* a / b ended here: the uniform is above it */
            break;
        }
    }
    drbg->bit_buf = buf;
    drbg->bit_count = (uint8_t)count;
    return result;
}

/* The same for 0 < a < b < 2^64. */
static int tinyfl_bern_frac64(tinyfl_drbg *drbg, uint64_t a, uint64_t b)
{
    uint64_t r = a;
    drbg->comparisons++;
    for (;;) {
        uint64_t digit = r >= b - r ? 1u : 0u;
        r = (r << 1) - (b & (0u - digit));
        if ((uint64_t)tinyfl_drbg_bit(drbg) != digit) {
            return (int)digit;
        }
        if (r == 0u) {
            return 0;
        }
    }
}

/* Bernoulli(a / b), b >= 1 */
static inline int tinyfl_bern_frac(tinyfl_drbg *drbg, uint64_t a, uint64_t b)
{
    if (a == 0u) {
        return 0;
    }
    if (a >= b) {
        return 1;
    }
    if ((b >> 32) == 0u) {
        return tinyfl_bern_frac32(drbg, (uint32_t)a, (uint32_t)b);
    }
    return tinyfl_bern_frac64(drbg, a, b);
}

/* Bernoulli(a / (b k)), b, k >= 1. When b k would pass 2^64 - 1: Bernoulli(a / b), then (if 1)
 * Bernoulli(1 / k), the same law. */
static int tinyfl_bern_frac_k(tinyfl_drbg *drbg, uint64_t a, uint64_t b, uint64_t k)
{
    if (((b | k) >> 32) == 0u || b <= UINT64_MAX / k) {
        return tinyfl_bern_frac(drbg, a, b * k);
    }
    if (!tinyfl_bern_frac(drbg, a, b)) {
        return 0;
    }
    return tinyfl_bern_frac(drbg, 1u, k);
}

/* Bernoulli(exp(-a / b)) for 0 <= a <= b: von Neumann's method (CKS Algorithm 1): count the
 * successes of Bernoulli(a / (b k)), k = 1, 2, ..., up to the first failure at k; 1 iff k odd.
 * For b < 2^32 every b k fits in 64 bits, and b k grows by addition. */
static int tinyfl_bern_exp_unit(tinyfl_drbg *drbg, uint64_t a, uint64_t b)
{
    uint64_t k = 1u;
    if (a == 0u) {
        return 1;
    }
    if ((b >> 32) == 0u) {
        uint64_t bk = b;
        for (;; k++, bk += b) {
            if (a >= bk) {
                continue; /* probability 1: no coin */
            }
            if ((bk >> 32) == 0u ? !tinyfl_bern_frac32(drbg, (uint32_t)a, (uint32_t)bk)
                                 : !tinyfl_bern_frac64(drbg, a, bk)) {
                return (int)(k & 1u);
            }
        }
    }
    while (tinyfl_bern_frac_k(drbg, a, b, k)) {
        k++;
    }
    return (int)(k & 1u);
}

int tinyfl_bernoulli_exp(tinyfl_drbg *drbg, uint64_t num, uint64_t den)
{
    if (den == 0u) {
        return 0; /* exp(-infinity) */
    }
    /* exp(-a/b) = exp(-1) exp(-(a - b)/b): peel whole units by subtraction, no division */
    while (num > den) {
        if (!tinyfl_bern_exp_unit(drbg, 1u, 1u)) {
            return 0;
        }
        num -= den;
    }
    return tinyfl_bern_exp_unit(drbg, num, den);
}

static uint64_t tinyfl_uniform_bits(tinyfl_drbg *drbg, uint64_t bound, unsigned bits)
{
    for (;;) {
        uint64_t v;
        if (bits <= 32u) {
            v = tinyfl_drbg_bits(drbg, bits);
        } else {
            v = tinyfl_drbg_bits(drbg, 32u);
            v |= (uint64_t)tinyfl_drbg_bits(drbg, bits - 32u) << 32;
        }
        if (v < bound) {
            return v;
        }
    }
}

uint64_t tinyfl_dgauss_uniform(tinyfl_drbg *drbg, uint64_t bound)
{
    if (bound <= 1u) {
        return 0u;
    }
    return tinyfl_uniform_bits(drbg, bound, tinyfl_bit_length(bound - 1u));
}

/* Discrete Laplace with rational scale t / s, P(y) ~ exp(-|y| s / t) (CKS Algorithm 2,
 * generalized): with q = max(1, floor(t / s)), |Y| = U + q V where U in [0, q) has weight
 * exp(-U s / t) (uniform, accepted with that probability) and V counts successes of
 * Bernoulli(exp(-q s / t)) before the first failure, so P(U + q V = y) ~ exp(-y s / t). For an
 * integer scale (s = 1) this is Algorithm 2 itself. No division: Y is U + q V directly.
 * Restarts when |Y| would not fit in int32: probability below exp(-2^10) for the valid range,
 * so the law is exact for any practical purpose. */
static int32_t tinyfl_dlaplace_plan(tinyfl_drbg *drbg, const tinyfl_dgauss_plan *plan)
{
    const uint64_t q = plan->q;
    for (;;) {
        uint64_t y = q > 1u ? tinyfl_uniform_bits(drbg, q, plan->q_bits) : 0u;
        if (!tinyfl_bernoulli_exp(drbg, y * plan->lap_s, plan->lap_t)) {
            continue;
        }
        /* y < 2^31 + q < 2^52 throughout: stop as soon as it leaves int32 */
        while (y <= (uint64_t)INT32_MAX && tinyfl_bernoulli_exp(drbg, plan->v_num, plan->v_den)) {
            y += q;
        }
        if (y > (uint64_t)INT32_MAX) {
            continue;
        }
        if (tinyfl_drbg_bit(drbg) == 1u) {
            if (y == 0u) {
                continue; /* -0: keep +0 at the same weight as every other value */
            }
            return -(int32_t)y;
        }
        return (int32_t)y;
    }
}

/* Fills the Laplace part of a plan for the scale t / s (t, s >= 1). */
static void tinyfl_dlaplace_prepare(tinyfl_dgauss_plan *plan, uint64_t t, uint64_t s)
{
    uint64_t common = tinyfl_gcd_u64(t, s);
    plan->lap_t = t / common;
    plan->lap_s = s / common;
    plan->q = plan->lap_t / plan->lap_s;
    if (plan->q == 0u) {
        plan->q = 1u;
    }
    plan->q_bits = (uint8_t)tinyfl_bit_length(plan->q - 1u);
    plan->v_num = plan->q * plan->lap_s; /* <= lap_t when q = floor(t / s) >= 1 */
    plan->v_den = plan->lap_t;
    common = tinyfl_gcd_u64(plan->v_num, plan->v_den);
    plan->v_num /= common;
    plan->v_den /= common;
}

int32_t tinyfl_dlaplace(tinyfl_drbg *drbg, uint32_t t)
{
    tinyfl_dgauss_plan plan;
    if (t == 0u) {
        return 0;
    }
    tinyfl_dlaplace_prepare(&plan, t, 1u);
    return tinyfl_dlaplace_plan(drbg, &plan);
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

tinyfl_status tinyfl_dgauss_prepare(tinyfl_dgauss_plan *plan, tinyfl_dgauss_var var)
{
    const uint64_t n = var.num;
    const uint64_t d = var.den;
    uint64_t common;
    if (plan == NULL || tinyfl_dgauss_check(var) != TINYFL_OK) {
        return TINYFL_E_ARG;
    }
    if (n >= d) {
        plan->mu_num = tinyfl_isqrt64(n / d); /* floor(sigma) */
        plan->mu_den = 1u;
    } else {
        uint64_t j = tinyfl_isqrt64(d / n);
        if (j * j * n != d) {
            j++; /* ceil(1 / sigma) */
        }
        plan->mu_num = 1u;
        plan->mu_den = j;
    }
    /* proposal scale sigma^2 / mu = (n J) / (d P), with mu = P / J */
    tinyfl_dlaplace_prepare(plan, n * plan->mu_den, d * plan->mu_num);
    /* gamma = (|Y| - mu)^2 / (2 sigma^2) = (J |Y| - P)^2 d / (2 J^2 n) */
    plan->gamma_mul = d;
    plan->gamma_den = 2u * plan->mu_den * plan->mu_den * n;
    common = tinyfl_gcd_u64(plan->gamma_mul, plan->gamma_den);
    plan->gamma_mul /= common;
    plan->gamma_den /= common;
    plan->w2_max = UINT64_MAX / plan->gamma_mul;
    return TINYFL_OK;
}

int32_t tinyfl_dgauss_draw(tinyfl_drbg *drbg, const tinyfl_dgauss_plan *plan)
{
    for (;;) {
        int32_t y = tinyfl_dlaplace_plan(drbg, plan);
        uint64_t jy = plan->mu_den * (uint64_t)(y < 0 ? -(int64_t)y : (int64_t)y);
        uint64_t w = jy >= plan->mu_num ? jy - plan->mu_num : plan->mu_num - jy;
        uint64_t w2;
        /* Overflow here means gamma >= 2^9: accepting has probability < exp(-512), so
         * rejecting outright changes nothing measurable. */
        if (w > UINT32_MAX) {
            continue;
        }
        w2 = w * w;
        if (w2 > plan->w2_max) {
            continue;
        }
        if (tinyfl_bernoulli_exp(drbg, w2 * plan->gamma_mul, plan->gamma_den)) {
            return y;
        }
    }
}

int32_t tinyfl_dgauss(tinyfl_drbg *drbg, tinyfl_dgauss_var var)
{
    tinyfl_dgauss_plan plan;
    if (tinyfl_dgauss_prepare(&plan, var) != TINYFL_OK) {
        return 0; /* callers check first; tinyfl_protect_update refuses such a config */
    }
    return tinyfl_dgauss_draw(drbg, &plan);
}
