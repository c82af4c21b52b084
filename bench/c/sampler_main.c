/* On-target benchmark of the noise: Cortex-M4F instructions per discrete Gaussian draw at a few
 * sigmas, and per tinyfl_protect_update call for many seeds, each printed with the size of
 * the noise it drew, so the host can see whether the time of a protect depends on the noise.
 * Counted with QEMU `-icount shift=0` (the AN386 FPGA counter ticks once per 40
 * instructions). Uses only the public API, so it also builds against an older sampler.
 * Prints key=value lines. */
#include <stdint.h>
#include <string.h>

#include "an386.h"
#include "qemu_text.h"
#include "tinyfl_dgauss.h"
#include "tinyfl_drbg.h"
#include "tinyfl_protect.h"

#define DRAW_REPS 2000
#define PROTECT_SEEDS 256
#define PROTECT_PARAMS 100 /* the benchmark head: 4 classes x (24 features + 1) */

static float update[PROTECT_PARAMS];
static float scratch[PROTECT_PARAMS];
static int32_t clean[PROTECT_PARAMS];
static int32_t values[PROTECT_PARAMS];
static tinyfl_drbg drbg;

static void put_kv(const char *key, uint32_t index, uint32_t value)
{
    tinyfl_an386_uart_puts(key);
    if (index != UINT32_MAX) {
        tinyfl_an386_uart_putc('.');
        tinyfl_qemu_uart_put_u32(index);
    }
    tinyfl_an386_uart_putc('=');
    tinyfl_qemu_uart_put_u32(value);
    tinyfl_an386_uart_putc('\n');
}

static void seed_with(uint32_t s)
{
    uint8_t key[TINYFL_DRBG_SEED_SIZE];
    memset(key, 7, sizeof(key));
    memcpy(key, &s, sizeof(s));
    tinyfl_drbg_seed(&drbg, key);
}

/* sigma^2 = num/den in grid steps^2: 256 (z = 1, k = 8), 94.7 (z = 37/100, k = 8), 3, 4096 */
static const uint64_t draw_vars[][2] = {
    {65536u, 1u}, {5607424u, 625u}, {9u, 1u}, {16777216u, 1u}};

int main(void)
{
    uint32_t lcg = 12345u;
    tinyfl_an386_uart_init();
    for (size_t i = 0; i < PROTECT_PARAMS; i++) {
        lcg = lcg * 1664525u + 1013904223u;
        update[i] = (float)(lcg >> 8 & 0xFFFFu) / 65536.0f * 0.2f - 0.1f;
    }

    /* instructions per draw of the sampler alone: from a prepared plan, or (the older sampler,
     * which has no plan) a protect with noise minus the same protect without */
    for (uint32_t v = 0; v < sizeof(draw_vars) / sizeof(draw_vars[0]); v++) {
        tinyfl_dgauss_var var = {draw_vars[v][0], draw_vars[v][1]};
        uint32_t ticks = 0u;
        seed_with(1000u + v);
#ifdef TINYFL_DGAUSS_HAS_PLAN
        tinyfl_dgauss_plan plan;
        int32_t sink = 0;
        tinyfl_dgauss_prepare(&plan, var);
        uint32_t t0 = tinyfl_an386_counter();
        for (uint32_t r = 0; r < DRAW_REPS; r++) {
            sink ^= tinyfl_dgauss_draw(&drbg, &plan);
        }
        ticks = tinyfl_an386_counter() - t0;
        put_kv("sink", v, (uint32_t)sink & 1u);
#else
        tinyfl_protect_config cfg;
        cfg.clip = 1.0f;
        cfg.grid_bits = 8;
        cfg.noise = var;
        for (uint32_t r = 0; r < DRAW_REPS / PROTECT_PARAMS; r++) {
            for (int noise = 1; noise >= 0; noise--) {
                cfg.noise_enabled = (uint8_t)noise;
                memcpy(scratch, update, sizeof(update));
                uint32_t t0 = tinyfl_an386_counter();
                tinyfl_protect_update(&cfg, &drbg, scratch, PROTECT_PARAMS, values);
                uint32_t dt = tinyfl_an386_counter() - t0;
                ticks = noise ? ticks + dt : ticks - dt;
            }
        }
#endif
        /* instructions per draw x 10, rounded */
        put_kv("draw_x10", v, (uint32_t)(((uint64_t)ticks * 400u + DRAW_REPS / 2) / DRAW_REPS));
    }

    /* one draw at a time at sigma 256: mean instructions by |noise| / sigma bucket 0..3, 4+ */
    {
        tinyfl_dgauss_var var = {65536u, 1u};
#ifdef TINYFL_DGAUSS_HAS_PLAN
        tinyfl_dgauss_plan plan;
        tinyfl_dgauss_prepare(&plan, var);
#endif
        uint32_t ticks_by[5] = {0u, 0u, 0u, 0u, 0u};
        uint32_t count_by[5] = {0u, 0u, 0u, 0u, 0u};
        seed_with(77u);
        for (uint32_t r = 0; r < DRAW_REPS; r++) {
#ifdef TINYFL_DGAUSS_HAS_PLAN
            uint32_t t0 = tinyfl_an386_counter();
            int32_t y = tinyfl_dgauss_draw(&drbg, &plan);
            uint32_t ticks = tinyfl_an386_counter() - t0;
#else
            uint32_t t0 = tinyfl_an386_counter();
            int32_t y = tinyfl_dgauss(&drbg, var);
            uint32_t ticks = tinyfl_an386_counter() - t0;
#endif
            uint32_t bucket = (uint32_t)(y < 0 ? -y : y) / 256u;
            bucket = bucket > 4u ? 4u : bucket;
            ticks_by[bucket] += ticks;
            count_by[bucket]++;
        }
        for (uint32_t b = 0; b < 5u; b++) {
            put_kv("bucket_count", b, count_by[b]);
            put_kv("bucket_instr_x10", b, count_by[b] ? (uint32_t)(((uint64_t)ticks_by[b] * 400u) / count_by[b]) : 0u);
        }
    }

    tinyfl_protect_config cfg;
    cfg.clip = 1.0f;
    cfg.grid_bits = 8;
    cfg.noise.num = 65536u; /* sigma = 1 x 2^8 grid steps */
    cfg.noise.den = 1u;
    cfg.noise_enabled = 1;
    memcpy(scratch, update, sizeof(update));
    tinyfl_protect_clip_round(&cfg, scratch, PROTECT_PARAMS, clean);
    put_kv("protect_params", UINT32_MAX, PROTECT_PARAMS);
    {
        uint32_t t0;
        cfg.noise_enabled = 0;
        memcpy(scratch, update, sizeof(update));
        t0 = tinyfl_an386_counter();
        tinyfl_protect_update(&cfg, &drbg, scratch, PROTECT_PARAMS, values);
        put_kv("protect_clip_round", UINT32_MAX, (tinyfl_an386_counter() - t0) * 40u);
        cfg.noise_enabled = 1;
    }
    for (uint32_t s = 0; s < PROTECT_SEEDS; s++) {
        uint64_t sum_sq = 0u;
        uint32_t sum_abs = 0u;
        memcpy(scratch, update, sizeof(update));
        seed_with(s);
        uint32_t t0 = tinyfl_an386_counter();
        tinyfl_status st = tinyfl_protect_update(&cfg, &drbg, scratch, PROTECT_PARAMS, values);
        uint32_t ticks = tinyfl_an386_counter() - t0;
        for (size_t i = 0; i < PROTECT_PARAMS; i++) {
            int32_t z = values[i] - clean[i];
            sum_abs += (uint32_t)(z < 0 ? -z : z);
            sum_sq += (uint64_t)((int64_t)z * z);
        }
        put_kv("protect_status", s, (uint32_t)st);
        put_kv("protect_instr", s, ticks * 40u);
        put_kv("protect_noise_abs", s, sum_abs);
        put_kv("protect_noise_sq", s, (uint32_t)(sum_sq > UINT32_MAX ? UINT32_MAX : sum_sq));
    }
    return 0;
}
