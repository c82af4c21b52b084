/* Clip, round to the grid, bound the integer norm, add discrete Gaussian noise.
 *
 * Why the margin: rounding each coordinate moves it by at most half a step, so the rounded
 * vector can be up to sqrt(n)/2 steps longer than the clipped one. Clipping to
 * C - sqrt(n)/2 * g makes the integer norm at most 2^k steps (= C), so the sensitivity the
 * accountant assumes holds after rounding, not just before. tinyfl/device_model/protect.py
 * repeats these steps and gets the same integers. */
#include "tinyfl_protect.h"

#include <math.h>

#define TINYFL_PROTECT_MAX_GRID_BITS 20u

/* Fixed work for the noise (docs/privacy.md, "Time of a protect"). A draw's work is measured
 * in work units, coins + TINYFL_PROTECT_WORK_PER_COMPARISON * comparisons (the generator's
 * bits and the sampler's Bernoulli comparisons, which together account for its instruction
 * count). A protect of n values spends a budget of n * per-draw + slack units: the n real
 * draws, then discarded draws of the same sampler until the budget is reached; then it
 * computes ChaCha20 blocks up to a fixed count (a draw's coins are at most its work units).
 * Per draw: an upper bound on log E[exp(theta W)] / theta for the work W of one draw at
 * theta = 1/125, as a function of the plan; tests/test_dp_constant_time.py checks it against
 * E[exp(theta W)] computed from the sampler's structure (sigma up to 256) or estimated on 10^6
 * draws (larger sigma). Slack = ceil(64 ln 2 / theta). By Chernoff, n real draws need more
 * than the budget with probability at most 2^-64; then they simply go on, the law stays
 * exact, and only that protect takes longer. */
#define TINYFL_PROTECT_WORK_PER_COMPARISON 4u
#define TINYFL_PROTECT_WORK_BASE 64u
#define TINYFL_PROTECT_WORK_PER_Q_BIT 4u
#define TINYFL_PROTECT_WORK_FRACTIONAL_V 40u /* when V's ratio is not exp(-1) */
#define TINYFL_PROTECT_WORK_SLACK 5546u
#define TINYFL_PROTECT_SPARE_BLOCKS 1u /* absorbs the last discarded draw's overshoot */

uint64_t tinyfl_protect_work_budget(size_t n, const tinyfl_dgauss_plan *plan)
{
    uint64_t per_draw = TINYFL_PROTECT_WORK_BASE + TINYFL_PROTECT_WORK_PER_Q_BIT * plan->q_bits;
    if (plan->v_num != plan->v_den) {
        per_draw += TINYFL_PROTECT_WORK_FRACTIONAL_V;
    }
    return (uint64_t)n * per_draw + TINYFL_PROTECT_WORK_SLACK;
}

/* Work units spent since (coins0, comparisons0). */
static uint64_t tinyfl_protect_work(const tinyfl_drbg *drbg, uint64_t coins0, uint32_t comparisons0)
{
    return (tinyfl_drbg_bit_position(drbg) - coins0) +
           (uint64_t)TINYFL_PROTECT_WORK_PER_COMPARISON * (uint32_t)(drbg->comparisons - comparisons0);
}

static uint64_t tinyfl_gcd64(uint64_t a, uint64_t b)
{
    while (b != 0u) {
        uint64_t r = a % b;
        a = b;
        b = r;
    }
    return a;
}

static tinyfl_status tinyfl_protect_check(const tinyfl_protect_config *cfg, const float *update,
                                          size_t n, const int32_t *out, float *target)
{
    float g;
    if (cfg == NULL || update == NULL || out == NULL || n == 0u) {
        return TINYFL_E_ARG;
    }
    if (!(cfg->clip > 0.0f) || isinf(cfg->clip) || cfg->grid_bits < 1u ||
        cfg->grid_bits > TINYFL_PROTECT_MAX_GRID_BITS) {
        return TINYFL_E_ARG;
    }
    g = tinyfl_protect_grid_step(cfg);
    *target = cfg->clip - sqrtf((float)n) * 0.5f * g;
    if (!(*target > 0.0f)) {
        return TINYFL_E_ARG; /* too many coordinates for this grid: raise grid_bits */
    }
    return TINYFL_OK;
}

static tinyfl_status tinyfl_protect_clip_round_checked(const tinyfl_protect_config *cfg,
                                                       float target, float *update, size_t n,
                                                       int32_t *out)
{
    const float g = tinyfl_protect_grid_step(cfg);
    const int64_t limit = (int64_t)1 << (2u * cfg->grid_bits); /* (2^k)^2 */
    float norm2 = 0.0f;
    float norm;
    int64_t inorm2 = 0;
    int64_t steps_left;
    size_t i;

    for (i = 0; i < n; i++) {
        norm2 += update[i] * update[i];
    }
    norm = sqrtf(norm2);
    if (!isfinite(norm)) {
        return TINYFL_E_VALUE; /* NaN or Inf in the update, or a norm beyond float range */
    }
    if (norm > target) {
        const float scale = target / norm;
        for (i = 0; i < n; i++) {
            update[i] *= scale;
        }
    }
    for (i = 0; i < n; i++) {
        int32_t q = (int32_t)roundf(update[i] / g); /* half away from zero; |q| < 2^k */
        out[i] = q;
        inorm2 += (int64_t)q * q;
    }
    /* Float rounding in the clip can leave the integer norm a hair above 2^k: shorten the
     * largest coordinate until it is not. Each step lowers inorm2 by at least 1, so at most
     * (inorm2 - limit) steps; the counter only guards that invariant. */
    steps_left = inorm2 > limit ? inorm2 - limit : 0;
    while (inorm2 > limit) {
        size_t largest = 0;
        int32_t mag = out[0] < 0 ? -out[0] : out[0];
        if (steps_left-- <= 0) {
            return TINYFL_E_INTERNAL;
        }
        for (i = 1; i < n; i++) {
            int32_t m = out[i] < 0 ? -out[i] : out[i];
            if (m > mag) {
                mag = m;
                largest = i;
            }
        }
        inorm2 -= 2 * (int64_t)mag - 1;
        out[largest] += out[largest] > 0 ? -1 : 1;
    }
    return TINYFL_OK;
}

tinyfl_status tinyfl_protect_clip_round(const tinyfl_protect_config *cfg, float *update, size_t n,
                                        int32_t *out)
{
    float target = 0.0f;
    tinyfl_status st = tinyfl_protect_check(cfg, update, n, out, &target);
    if (st != TINYFL_OK) {
        return st;
    }
    return tinyfl_protect_clip_round_checked(cfg, target, update, n, out);
}

tinyfl_status tinyfl_protect_update(const tinyfl_protect_config *cfg, tinyfl_drbg *drbg,
                                    float *update, size_t n, int32_t *out)
{
    float target = 0.0f;
    tinyfl_dgauss_var var = {0u, 1u};
    tinyfl_dgauss_plan plan = {0u, 0u, 0u, 0u, 0u, 0u, 0u, 0u, 0u, 0u, 0u};
    uint64_t start;
    uint64_t budget;
    uint32_t comparisons0;
    tinyfl_status st = tinyfl_protect_check(cfg, update, n, out, &target);
    size_t i;
    if (st != TINYFL_OK) {
        return st;
    }
    if (cfg->noise_enabled) {
        /* The range check depends on how the fraction is written: check the lowest terms. */
        uint64_t common;
        if (drbg == NULL || cfg->noise.num == 0u || cfg->noise.den == 0u) {
            return TINYFL_E_ARG;
        }
        common = tinyfl_gcd64(cfg->noise.num, cfg->noise.den);
        var.num = cfg->noise.num / common;
        var.den = cfg->noise.den / common;
        if (tinyfl_dgauss_prepare(&plan, var) != TINYFL_OK) {
            return TINYFL_E_ARG;
        }
    }
    st = tinyfl_protect_clip_round_checked(cfg, target, update, n, out);
    if (st != TINYFL_OK || !cfg->noise_enabled) {
        return st;
    }
    start = tinyfl_drbg_bit_position(drbg);
    comparisons0 = drbg->comparisons;
    budget = tinyfl_protect_work_budget(n, &plan);
    for (i = 0; i < n; i++) {
        int64_t v = (int64_t)out[i] + tinyfl_dgauss_draw(drbg, &plan);
        /* Saturation is post-processing of the noised value: it costs no privacy. */
        out[i] = v > INT32_MAX ? INT32_MAX : (v < INT32_MIN ? INT32_MIN : (int32_t)v);
    }
    /* Padding: the same draws, discarded, so the work does not depend on the noise above. */
    while (tinyfl_protect_work(drbg, start, comparisons0) < budget) {
        (void)tinyfl_dgauss_draw(drbg, &plan);
    }
    tinyfl_drbg_discard_to_block(
        drbg, (uint32_t)((start + budget + 511u) / 512u) + TINYFL_PROTECT_SPARE_BLOCKS);
    return TINYFL_OK;
}
