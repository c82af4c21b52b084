/* Whole-model benchmark under QEMU (mps2-an386, -icount shift=0), run by bench/kernels_models.py.
 * Command line (semihosting): WINDOWS N
 *   WINDOWS  host file of N float32 windows (TINYFL_MODEL_INPUT_LEN each)
 * With -DTINYFL_MODEL_PROFILE=1 the generated model reports the end of each step, and this
 * prints the FPGA counter ticks (40 instructions each) per step summed over the N windows,
 *   STEP k ticks
 * Always: `PASS profile N ticks T hash H`: T = ticks of the whole extract() calls (a second
 * pass; build without TINYFL_MODEL_PROFILE for a figure free of the hook's cost), H = FNV-1a
 * of the features' bits, to compare builds. */
#include <stdint.h>
#include <string.h>

#include "an386.h"
#include "qemu_text.h"
#include "semihost.h"
#include "tinyfl_model.h"
#include "tinyfl_model_gen.h"

#define MAX_STEPS 128u

static uint32_t step_ticks[MAX_STEPS];
static uint32_t last_tick;
static int profiling;

void tinyfl_model_profile_step(uint32_t step)
{
    const uint32_t now = tinyfl_an386_counter();
    if (profiling && step < MAX_STEPS) {
        step_ticks[step] += now - last_tick;
    }
    /* The counter is read again so this function's own cost is not charged to the next step. */
    last_tick = tinyfl_an386_counter();
}

static uint32_t fnv1a(uint32_t h, const float *values, size_t count)
{
    const uint8_t *bytes = (const uint8_t *)values;
    for (size_t i = 0; i < count * sizeof(float); ++i) {
        h = (h ^ bytes[i]) * 16777619u;
    }
    return h;
}

static float window[TINYFL_MODEL_INPUT_LEN];
static float features[TINYFL_MODEL_FEATURE_LEN];

static int run_all(const char *path, uint32_t n, uint32_t *ticks, uint32_t *hash)
{
    tinyfl_backbone bb;
    tinyfl_model_backbone(&bb);
    const int file = tinyfl_semihost_open(path, TINYFL_SEMIHOST_MODE_RB);
    if (file < 0) {
        return 15;
    }
    *ticks = 0;
    *hash = 2166136261u;
    for (uint32_t i = 0; i < n; ++i) {
        if (tinyfl_semihost_read(file, window, sizeof window) != (long)sizeof window) {
            return 16;
        }
        last_tick = tinyfl_an386_counter();
        const uint32_t start = last_tick;
        if (bb.extract(&bb, window, features) != TINYFL_OK) {
            return 17;
        }
        *ticks += tinyfl_an386_counter() - start;
        *hash = fnv1a(*hash, features, TINYFL_MODEL_FEATURE_LEN);
    }
    (void)tinyfl_semihost_close(file);
    return 0;
}

int main(void)
{
    char cmdline[512];
    tinyfl_an386_uart_init();
    if (tinyfl_semihost_cmdline(cmdline, sizeof cmdline) != 0) {
        return 10;
    }
    /* "PROGRAM WINDOWS N" */
    char *path = strchr(cmdline, ' ');
    char *count = path != NULL ? strchr(path + 1, ' ') : NULL;
    if (count == NULL) {
        return 11;
    }
    *path++ = '\0';
    *count++ = '\0';
    uint32_t n = 0;
    for (; *count >= '0' && *count <= '9'; ++count) {
        n = n * 10u + (uint32_t)(*count - '0');
    }
    uint32_t ticks, hash;
    profiling = 1;
    int rc = run_all(path, n, &ticks, &hash);
    if (rc != 0) {
        return rc;
    }
    for (uint32_t k = 0; k < MAX_STEPS; ++k) {
        if (step_ticks[k] != 0u) {
            tinyfl_an386_uart_puts("STEP ");
            tinyfl_qemu_uart_put_u32(k);
            tinyfl_an386_uart_puts(" ");
            tinyfl_qemu_uart_put_u32(step_ticks[k]);
            tinyfl_an386_uart_puts("\n");
        }
    }
    profiling = 0;
    rc = run_all(path, n, &ticks, &hash);
    if (rc != 0) {
        return rc;
    }
    tinyfl_an386_uart_puts("PASS profile ");
    tinyfl_qemu_uart_put_u32(n);
    tinyfl_an386_uart_puts(" ticks ");
    tinyfl_qemu_uart_put_u32(ticks);
    tinyfl_an386_uart_puts(" hash ");
    tinyfl_qemu_uart_put_u32(hash);
    tinyfl_an386_uart_puts("\n");
    return 0;
}
