/* Update protection, in this order: update = after - before; clip the whole update to L2 norm
 * C (minus the rounding margin); round to the grid step g = C / 2^grid_bits; check the integer
 * norm is at most 2^grid_bits (so the sensitivity after rounding is exactly 2^grid_bits grid
 * steps); add discrete Gaussian noise with sigma = z * 2^grid_bits grid steps. */
#ifndef TINYFL_PROTECT_H
#define TINYFL_PROTECT_H

#include <stddef.h>
#include <stdint.h>

#include "tinyfl_dgauss.h"
#include "tinyfl_drbg.h"
#include "tinyfl_status.h"

typedef struct {
    float clip;               /* C > 0 */
    uint8_t grid_bits;        /* k: C spans 2^k grid steps, 1..20 */
    tinyfl_dgauss_var noise;  /* sigma^2 in grid steps^2: (z * 2^k)^2 as a rational */
    uint8_t noise_enabled;    /* 0 only in test builds; tinyfl_config.h forbids it elsewhere */
} tinyfl_protect_config;

/* out[i] = noised integer; `update` (n floats, after - before) is overwritten (clipped).
 * With noise, the sampler does a fixed amount of work per call (tinyfl_protect_work_budget
 * work units of draws, real then discarded, then ChaCha20 blocks to a fixed count), so the
 * time does not depend on the noise drawn; the next call starts on a fresh block. */
tinyfl_status tinyfl_protect_update(const tinyfl_protect_config *cfg, tinyfl_drbg *drbg,
                                    float *update, size_t n, int32_t *out);
/* Work units (coins + 4 x comparisons) one protect of n values spends on draws, real and
 * discarded. */
uint64_t tinyfl_protect_work_budget(size_t n, const tinyfl_dgauss_plan *plan);
/* The same steps without noise, exposed for tests: clip and round only. */
tinyfl_status tinyfl_protect_clip_round(const tinyfl_protect_config *cfg, float *update, size_t n,
                                        int32_t *out);
static inline float tinyfl_protect_grid_step(const tinyfl_protect_config *cfg)
{
    return cfg->clip / (float)(1ul << cfg->grid_bits);
}

#endif /* TINYFL_PROTECT_H */
