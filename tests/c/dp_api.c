/* Test entry points around the privacy core, for ctypes (tests/dp_clib.py): the generator
 * state lives in a caller-owned buffer and batches avoid one foreign call per draw. */
#include <stddef.h>
#include <stdint.h>

#include "tinyfl_dgauss.h"
#include "tinyfl_drbg.h"
#include "tinyfl_features_stats.h"
#include "tinyfl_head.h"
#include "tinyfl_protect.h"

size_t tinyfl_test_drbg_size(void)
{
    return sizeof(tinyfl_drbg);
}

void tinyfl_test_u32s(tinyfl_drbg *drbg, uint32_t *out, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++) {
        out[i] = tinyfl_drbg_u32(drbg);
    }
}

void tinyfl_test_below(tinyfl_drbg *drbg, uint64_t bound, uint64_t *out, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++) {
        out[i] = tinyfl_drbg_below(drbg, bound);
    }
}

void tinyfl_test_bits(tinyfl_drbg *drbg, const uint8_t *widths, uint32_t *out, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++) {
        out[i] = tinyfl_drbg_bits(drbg, widths[i]);
    }
}

void tinyfl_test_uniform(tinyfl_drbg *drbg, uint64_t bound, uint64_t *out, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++) {
        out[i] = tinyfl_dgauss_uniform(drbg, bound);
    }
}

void tinyfl_test_bernoulli_exp(tinyfl_drbg *drbg, uint64_t num, uint64_t den, uint8_t *out,
                               size_t n)
{
    size_t i;
    for (i = 0; i < n; i++) {
        out[i] = (uint8_t)tinyfl_bernoulli_exp(drbg, num, den);
    }
}

void tinyfl_test_dlaplace(tinyfl_drbg *drbg, uint32_t t, int32_t *out, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++) {
        out[i] = tinyfl_dlaplace(drbg, t);
    }
}

int tinyfl_test_dgauss(tinyfl_drbg *drbg, uint64_t num, uint64_t den, int32_t *out, size_t n)
{
    tinyfl_dgauss_var var;
    size_t i;
    var.num = num;
    var.den = den;
    if (tinyfl_dgauss_check(var) != TINYFL_OK) {
        return -1;
    }
    for (i = 0; i < n; i++) {
        out[i] = tinyfl_dgauss(drbg, var);
    }
    return 0;
}

/* Per draw from one plan: the coins and the Bernoulli comparisons it used (its work). */
int tinyfl_test_dgauss_work(tinyfl_drbg *drbg, uint64_t num, uint64_t den, int32_t *out,
                            uint32_t *coins, uint32_t *comparisons, size_t n)
{
    tinyfl_dgauss_var var;
    tinyfl_dgauss_plan plan;
    size_t i;
    var.num = num;
    var.den = den;
    if (tinyfl_dgauss_prepare(&plan, var) != TINYFL_OK) {
        return -1;
    }
    for (i = 0; i < n; i++) {
        uint64_t coins0 = tinyfl_drbg_bit_position(drbg);
        uint32_t comparisons0 = drbg->comparisons;
        out[i] = tinyfl_dgauss_draw(drbg, &plan);
        coins[i] = (uint32_t)(tinyfl_drbg_bit_position(drbg) - coins0);
        comparisons[i] = drbg->comparisons - comparisons0;
    }
    return 0;
}

uint64_t tinyfl_test_work_budget(uint64_t num, uint64_t den, size_t n)
{
    tinyfl_dgauss_var var;
    tinyfl_dgauss_plan plan;
    var.num = num;
    var.den = den;
    if (tinyfl_dgauss_prepare(&plan, var) != TINYFL_OK) {
        return 0u;
    }
    return tinyfl_protect_work_budget(n, &plan);
}

uint32_t tinyfl_test_comparisons(const tinyfl_drbg *drbg)
{
    return drbg->comparisons;
}

int tinyfl_test_dgauss_check(uint64_t num, uint64_t den)
{
    tinyfl_dgauss_var var;
    var.num = num;
    var.den = den;
    return (int)tinyfl_dgauss_check(var);
}

int tinyfl_test_head_train(float *params, uint16_t n_classes, uint16_t n_features,
                           const float *features, const uint8_t *labels, size_t n, float lr,
                           uint8_t epochs, uint8_t batch, float *scratch)
{
    tinyfl_head head;
    head.n_classes = n_classes;
    head.n_features = n_features;
    head.params = params;
    return (int)tinyfl_head_train(&head, features, labels, n, lr, epochs, batch, scratch);
}

void tinyfl_test_head_logits(float *params, uint16_t n_classes, uint16_t n_features,
                             const float *features, size_t n, float *logits, uint16_t *predicted)
{
    tinyfl_head head;
    size_t i;
    head.n_classes = n_classes;
    head.n_features = n_features;
    head.params = params;
    for (i = 0; i < n; i++) {
        tinyfl_head_logits(&head, features + i * n_features, logits + i * n_classes);
        predicted[i] = tinyfl_head_predict(&head, features + i * n_features, logits + i * n_classes);
    }
}

int tinyfl_test_protect(float clip, uint8_t grid_bits, uint64_t var_num, uint64_t var_den,
                        uint8_t noise_enabled, tinyfl_drbg *drbg, float *update, size_t n,
                        int32_t *out)
{
    tinyfl_protect_config cfg;
    cfg.clip = clip;
    cfg.grid_bits = grid_bits;
    cfg.noise.num = var_num;
    cfg.noise.den = var_den;
    cfg.noise_enabled = noise_enabled;
    return (int)tinyfl_protect_update(&cfg, drbg, update, n, out);
}

int tinyfl_test_clip_round(float clip, uint8_t grid_bits, float *update, size_t n, int32_t *out)
{
    tinyfl_protect_config cfg;
    cfg.clip = clip;
    cfg.grid_bits = grid_bits;
    cfg.noise.num = 0u;
    cfg.noise.den = 1u;
    cfg.noise_enabled = 1u; /* ignored by clip_round */
    return (int)tinyfl_protect_clip_round(&cfg, update, n, out);
}

int tinyfl_test_stats(uint16_t n_channels, uint16_t n_steps, const float *windows, size_t n,
                      float *features, uint32_t *model_hash)
{
    tinyfl_features_stats_shape shape;
    tinyfl_backbone bb;
    size_t i;
    shape.n_channels = n_channels;
    shape.n_steps = n_steps;
    tinyfl_features_stats_init(&bb, &shape);
    *model_hash = bb.model_hash;
    if (bb.input_len != n_channels * n_steps || bb.feature_len != 4u * n_channels) {
        return -1;
    }
    for (i = 0; i < n; i++) {
        tinyfl_status st = bb.extract(&bb, windows + i * bb.input_len, features + i * bb.feature_len);
        if (st != TINYFL_OK) {
            return (int)st;
        }
    }
    return 0;
}
