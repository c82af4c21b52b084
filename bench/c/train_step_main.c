/* On-target benchmark: instructions of the device's per-round work on Cortex-M4F, counted with
 * QEMU `-icount shift=0`, where the AN386 FPGA counter ticks once per 40 instructions. Each
 * piece repeats REPS times so the 40-instruction resolution vanishes. Prints key=value lines. */
#include <stdint.h>
#include <string.h>

#include "an386.h"
#include "qemu_text.h"
#include "tinyfl_dgauss.h"
#include "tinyfl_drbg.h"
#include "tinyfl_head.h"
#include "tinyfl_protect.h"

#ifndef BENCH_CLASSES
#define BENCH_CLASSES 4
#endif
#ifndef BENCH_FEATURES
#define BENCH_FEATURES 24
#endif
#define BATCH 5
#define SAMPLES 10
#define REPS 200
#define PARAMS (BENCH_CLASSES * (BENCH_FEATURES + 1))

static float params[PARAMS];
static float update[PARAMS];
static int32_t values[PARAMS];
static float features[SAMPLES * BENCH_FEATURES];
static uint8_t labels[SAMPLES];
static float scratch[TINYFL_HEAD_TRAIN_SCRATCH(BENCH_CLASSES, BENCH_FEATURES)];
static tinyfl_drbg drbg;

static void put_kv(const char *key, uint32_t value)
{
    tinyfl_an386_uart_puts(key);
    tinyfl_an386_uart_putc('=');
    tinyfl_qemu_uart_put_u32(value);
    tinyfl_an386_uart_putc('\n');
}

static uint32_t lcg(uint32_t *state)
{
    *state = *state * 1664525u + 1013904223u;
    return *state >> 8;
}

/* instructions per call, from counter ticks over REPS calls (40 instructions per tick) */
static uint32_t per_call(uint32_t ticks) { return (uint32_t)(((uint64_t)ticks * 40u + REPS / 2) / REPS); }

int main(void)
{
    uint32_t seed = 12345u;
    uint8_t key[TINYFL_DRBG_SEED_SIZE];
    tinyfl_an386_uart_init();
    for (size_t i = 0; i < SAMPLES * BENCH_FEATURES; i++) {
        features[i] = (float)(lcg(&seed) % 2000u) / 1000.0f - 1.0f;
    }
    for (size_t i = 0; i < SAMPLES; i++) {
        labels[i] = (uint8_t)(i % BENCH_CLASSES);
    }
    for (size_t i = 0; i < PARAMS; i++) {
        params[i] = (float)(lcg(&seed) % 200u) / 1000.0f - 0.1f;
    }
    memset(key, 7, sizeof(key));
    tinyfl_drbg_seed(&drbg, key);
    tinyfl_head head = {BENCH_CLASSES, BENCH_FEATURES, params};

    uint32_t t0 = tinyfl_an386_counter();
    for (int r = 0; r < REPS; r++) {
        __asm__ volatile("" ::: "memory");
    }
    uint32_t empty = tinyfl_an386_counter() - t0;

    t0 = tinyfl_an386_counter();
    for (int r = 0; r < REPS; r++) { /* one SGD step: one mini-batch of BATCH samples */
        tinyfl_head_train(&head, features, labels, BATCH, 0.05f, 1, BATCH, scratch);
    }
    put_kv("sgd_step_batch5", per_call(tinyfl_an386_counter() - t0 - empty));

    t0 = tinyfl_an386_counter();
    for (int r = 0; r < REPS; r++) { /* one local epoch over SAMPLES samples */
        tinyfl_head_train(&head, features, labels, SAMPLES, 0.05f, 1, BATCH, scratch);
    }
    put_kv("epoch_10_samples", per_call(tinyfl_an386_counter() - t0 - empty));

    tinyfl_protect_config cfg;
    cfg.clip = 1.0f;
    cfg.grid_bits = 8;
    cfg.noise.num = 65536u; /* sigma = 1 x 2^8 grid steps */
    cfg.noise.den = 1u;
    cfg.noise_enabled = 1;
    t0 = tinyfl_an386_counter();
    for (int r = 0; r < REPS; r++) {
        for (size_t i = 0; i < PARAMS; i++) {
            update[i] = params[i] * 0.5f;
        }
        tinyfl_protect_update(&cfg, &drbg, update, PARAMS, values);
    }
    put_kv("protect_update", per_call(tinyfl_an386_counter() - t0 - empty));

    cfg.noise_enabled = 0;
    t0 = tinyfl_an386_counter();
    for (int r = 0; r < REPS; r++) {
        for (size_t i = 0; i < PARAMS; i++) {
            update[i] = params[i] * 0.5f;
        }
        tinyfl_protect_update(&cfg, &drbg, update, PARAMS, values);
    }
    put_kv("clip_round_only", per_call(tinyfl_an386_counter() - t0 - empty));

    tinyfl_dgauss_plan plan;
    tinyfl_dgauss_prepare(&plan, (tinyfl_dgauss_var){65536u, 1u});
    t0 = tinyfl_an386_counter();
    int32_t sink = 0;
    for (int r = 0; r < REPS; r++) { /* the draws of a protect: one plan, many draws */
        sink ^= tinyfl_dgauss_draw(&drbg, &plan);
    }
    put_kv("dgauss_sample_sigma256", per_call(tinyfl_an386_counter() - t0 - empty));
    put_kv("params", PARAMS);
    put_kv("sink", (uint32_t)sink & 1u);
    return 0;
}
