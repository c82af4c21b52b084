/* On-target check of a generated backbone and the float head, run under QEMU (mps2-an386) by
 * tests/test_codegen_qemu.py. Command line (semihosting): WINDOWS N HEAD
 *   WINDOWS  host file of N float32 windows (TINYFL_MODEL_INPUT_LEN each, time-major)
 *   HEAD     host file of the head's flat float32 parameters (W row-major, then b)
 * For window i it prints, over UART0, the bits of every feature and of every logit in hex:
 *   F i xxxxxxxx ...      features from tinyfl_model_backbone()'s extract()
 *   L i class xxxxxxxx ...  logits and argmax from tinyfl_head_logits()/tinyfl_head_predict()
 * then `PASS model N stack S ticks T`: S = stack bytes used, T = FPGA counter ticks spent in
 * extract() over all windows (40 instructions each when QEMU runs with -icount shift=0).
 * Exit code 0, or the step that failed. */
#include <stdint.h>
#include <string.h>

#include "an386.h"
#include "qemu_text.h"
#include "semihost.h"
#include "tinyfl_head.h"
#include "tinyfl_model.h"
#include "tinyfl_model_gen.h"

#ifndef TINYFL_TEST_MAX_CLASSES
#define TINYFL_TEST_MAX_CLASSES 16
#endif

static float head_params[TINYFL_TEST_MAX_CLASSES * (TINYFL_MODEL_FEATURE_LEN + 1)];

static void put_text(const char *text) { tinyfl_an386_uart_puts(text); }

static void put_hex_words(const float *values, size_t count)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < count; ++i) {
        uint32_t bits;
        memcpy(&bits, &values[i], sizeof bits);
        char text[10];
        text[0] = ' ';
        for (int k = 0; k < 8; ++k) {
            text[1 + k] = digits[(bits >> (28 - 4 * k)) & 0xFu];
        }
        text[9] = '\0';
        put_text(text);
    }
    put_text("\n");
}

/* Reads exactly len bytes of a host file; 0 on success. */
static int read_exact(int handle, void *buf, size_t len)
{
    return tinyfl_semihost_read(handle, buf, len) == (long)len ? 0 : -1;
}

int main(void)
{
    char cmdline[512];
    char *argv[4];
    int argc = 0;
    tinyfl_an386_uart_init();
    if (tinyfl_semihost_cmdline(cmdline, sizeof cmdline) != 0) {
        return 10;
    }
    /* Split in place (strtok/strtoul would pull newlib's reentrant stdio into the image). */
    for (char *p = cmdline; *p != '\0' && argc < 4;) {
        while (*p == ' ') {
            *p++ = '\0';
        }
        if (*p != '\0') {
            argv[argc++] = p;
        }
        while (*p != '\0' && *p != ' ') {
            p++;
        }
    }
    if (argc != 4) {
        return 11;
    }
    uint32_t n_windows = 0;
    for (const char *d = argv[2]; *d >= '0' && *d <= '9'; ++d) {
        n_windows = n_windows * 10u + (uint32_t)(*d - '0');
    }

    int head_file = tinyfl_semihost_open(argv[3], TINYFL_SEMIHOST_MODE_RB);
    const long head_len = head_file >= 0 ? tinyfl_semihost_flen(head_file) : -1;
    const size_t per_class = (TINYFL_MODEL_FEATURE_LEN + 1u) * sizeof(float);
    if (head_len <= 0 || (size_t)head_len % per_class != 0 ||
        (size_t)head_len > sizeof head_params) {
        return 12;
    }
    if (read_exact(head_file, head_params, (size_t)head_len) != 0) {
        return 13;
    }
    (void)tinyfl_semihost_close(head_file);
    const tinyfl_head head = {(uint16_t)((size_t)head_len / per_class),
                              (uint16_t)TINYFL_MODEL_FEATURE_LEN, head_params};

    tinyfl_backbone bb;
    tinyfl_model_backbone(&bb);
    if (bb.input_len != TINYFL_MODEL_INPUT_LEN || bb.feature_len != TINYFL_MODEL_FEATURE_LEN) {
        return 14;
    }
    int windows = tinyfl_semihost_open(argv[1], TINYFL_SEMIHOST_MODE_RB);
    if (windows < 0) {
        return 15;
    }
    static float window[TINYFL_MODEL_INPUT_LEN];
    static float features[TINYFL_MODEL_FEATURE_LEN];
    float logits[TINYFL_TEST_MAX_CLASSES];
    uint32_t ticks = 0;
    for (uint32_t i = 0; i < n_windows; ++i) {
        if (read_exact(windows, window, sizeof window) != 0) {
            return 16;
        }
        const uint32_t start = tinyfl_an386_counter();
        const tinyfl_status st = bb.extract(&bb, window, features);
        ticks += tinyfl_an386_counter() - start;
        if (st != TINYFL_OK) {
            return 17;
        }
        put_text("F ");
        tinyfl_qemu_uart_put_u32(i);
        put_hex_words(features, TINYFL_MODEL_FEATURE_LEN);
        tinyfl_head_logits(&head, features, logits);
        const uint16_t predicted = tinyfl_head_predict(&head, features, logits);
        put_text("L ");
        tinyfl_qemu_uart_put_u32(i);
        put_text(" ");
        tinyfl_qemu_uart_put_u32(predicted);
        put_hex_words(logits, head.n_classes);
    }
    (void)tinyfl_semihost_close(windows);
    put_text("PASS model ");
    tinyfl_qemu_uart_put_u32(n_windows);
    put_text(" stack ");
    tinyfl_qemu_uart_put_u32((uint32_t)tinyfl_an386_stack_used());
    put_text(" ticks ");
    tinyfl_qemu_uart_put_u32(ticks);
    put_text("\n");
    return 0;
}
