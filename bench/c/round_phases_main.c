/* On-target benchmark: instructions of one round's device work, phase by phase, on either QEMU
 * board under `-icount shift=0`: inference (the backbone's extract() on every sample of the
 * round), training (the float head's local epochs) and protect (clip, grid, discrete Gaussian
 * noise). Cortex-M4F counts come from the AN386 FPGA counter (40 instructions per tick), rv32
 * counts from minstret. Prints key=value lines over UART0. */
#include <stdint.h>
#include <string.h>

#include "qemu_text.h"
#include "tinyfl_drbg.h"
#include "tinyfl_head.h"
#include "tinyfl_model.h"
#include "tinyfl_model_gen.h"
#include "tinyfl_protect.h"

#if defined(__riscv)
#include "virt_rv32.h"
static void bench_init(void) { tinyfl_virt_uart_init(); }
static uint32_t bench_instructions(void) { return tinyfl_virt_instret(); }
static void bench_puts(const char *text) { tinyfl_virt_uart_puts(text); }
#else
#include "an386.h"
static void bench_init(void) { tinyfl_an386_uart_init(); }
/* wraps like the counter; differences of intervals under 2^32 instructions are exact */
static uint32_t bench_instructions(void) { return tinyfl_an386_counter() * 40u; }
static void bench_puts(const char *text) { tinyfl_an386_uart_puts(text); }
#endif

#ifndef BENCH_CLASSES
#define BENCH_CLASSES 4
#endif
#ifndef BENCH_SAMPLES
#define BENCH_SAMPLES 10
#endif
#ifndef BENCH_EPOCHS
#define BENCH_EPOCHS 5
#endif
#ifndef BENCH_BATCH
#define BENCH_BATCH 5
#endif
#define FEATURES TINYFL_MODEL_FEATURE_LEN
#define PARAMS (BENCH_CLASSES * (FEATURES + 1))

static float windows[BENCH_SAMPLES][TINYFL_MODEL_INPUT_LEN];
static float features[BENCH_SAMPLES * FEATURES];
static uint8_t labels[BENCH_SAMPLES];
static float params[PARAMS];
static float before[PARAMS];
static int32_t values[PARAMS];
static float scratch[TINYFL_HEAD_TRAIN_SCRATCH(BENCH_CLASSES, FEATURES)];
static tinyfl_drbg drbg;

static void put_kv(const char *key, uint32_t value)
{
    char digits[TINYFL_QEMU_U32_TEXT];
    bench_puts(key);
    bench_puts("=");
    bench_puts(tinyfl_qemu_u32_text(digits, value));
    bench_puts("\n");
}

static uint32_t lcg(uint32_t *state)
{
    *state = *state * 1664525u + 1013904223u;
    return *state >> 8;
}

int main(void)
{
    uint32_t seed = 12345u;
    uint8_t key[TINYFL_DRBG_SEED_SIZE];
    tinyfl_backbone backbone;
    bench_init();
    for (size_t s = 0; s < BENCH_SAMPLES; s++) {
        for (size_t i = 0; i < TINYFL_MODEL_INPUT_LEN; i++) {
            windows[s][i] = (float)(lcg(&seed) % 4000u) / 1000.0f - 2.0f;
        }
        labels[s] = (uint8_t)(s % BENCH_CLASSES);
    }
    for (size_t i = 0; i < PARAMS; i++) {
        params[i] = (float)(lcg(&seed) % 200u) / 1000.0f - 0.1f;
    }
    memset(key, 7, sizeof(key));
    tinyfl_drbg_seed(&drbg, key);
    tinyfl_model_backbone(&backbone);

    uint32_t t0 = bench_instructions();
    for (size_t s = 0; s < BENCH_SAMPLES; s++) {
        if (backbone.extract(&backbone, windows[s], &features[s * FEATURES]) != TINYFL_OK) {
            return 10;
        }
    }
    put_kv("inference", bench_instructions() - t0);

    memcpy(before, params, sizeof(before));
    tinyfl_head head = {BENCH_CLASSES, FEATURES, params};
    t0 = bench_instructions();
    if (tinyfl_head_train(&head, features, labels, BENCH_SAMPLES, 0.05f, BENCH_EPOCHS, BENCH_BATCH, scratch) !=
        TINYFL_OK) {
        return 11;
    }
    put_kv("training", bench_instructions() - t0);

    tinyfl_protect_config cfg;
    cfg.clip = 1.0f;
    cfg.grid_bits = 8;
    cfg.noise.num = 65536u; /* sigma = z 2^k grid steps with z = 1, k = 8: the default DpConfig */
    cfg.noise.den = 1u;
    cfg.noise_enabled = 1;
    for (size_t i = 0; i < PARAMS; i++) {
        params[i] -= before[i]; /* the update: after minus received */
    }
    t0 = bench_instructions();
    if (tinyfl_protect_update(&cfg, &drbg, params, PARAMS, values) != TINYFL_OK) {
        return 12;
    }
    put_kv("protect", bench_instructions() - t0);
    put_kv("params", PARAMS);
    put_kv("macs", TINYFL_MODEL_MACS);
    return 0;
}
