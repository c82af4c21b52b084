/* On-target self-test of the AN386 board support (run under QEMU by tests/test_boards_qemu.py).
 * The first argument after the program name picks the check:
 *   exit N          exit with code N
 *   echo N          print READY, echo N bytes from UART0 back, exit 0
 *   file IN OUT     copy IN reversed to OUT (via OUT.tmp and rename), print its length
 *   clock MS        sleep MS milliseconds of the board clock, print elapsed ms and counter ticks
 *   entropy         print 32 bytes of the host's /dev/urandom in hex
 *   fault           execute an undefined instruction (the fault handler exits with 3)
 * Every check that finishes prints a final `PASS <name>` line over the UART. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "an386.h"
#include "qemu_text.h"
#include "semihost.h"

#define MAX_ARGS 8

static int check_echo(uint32_t count)
{
    tinyfl_an386_clock_init();
    tinyfl_an386_uart_puts("READY\n");
    for (uint32_t done = 0; done < count;) {
        int c = tinyfl_an386_uart_getc();
        if (c < 0) {
            tinyfl_an386_idle();
            continue;
        }
        tinyfl_an386_uart_putc((uint8_t)c);
        done++;
    }
    return 0;
}

static uint8_t file_buf[65536];

static int check_file(const char *in_path, const char *out_path)
{
    int in = tinyfl_semihost_open(in_path, TINYFL_SEMIHOST_MODE_RB);
    if (in < 0) {
        return 10;
    }
    long len = tinyfl_semihost_flen(in);
    if (len < 0 || (size_t)len > sizeof(file_buf)) {
        return 11;
    }
    /* Read the second half first, then seek back: exercises SYS_SEEK. */
    size_t half = (size_t)len / 2u;
    if (tinyfl_semihost_seek(in, (uint32_t)half) != 0 ||
        tinyfl_semihost_read(in, file_buf + half, (size_t)len - half) != len - (long)half ||
        tinyfl_semihost_seek(in, 0) != 0 || tinyfl_semihost_read(in, file_buf, half) != (long)half) {
        return 12;
    }
    tinyfl_semihost_close(in);
    for (size_t i = 0, j = (size_t)len; i + 1u < j; i++, j--) {
        uint8_t t = file_buf[i];
        file_buf[i] = file_buf[j - 1u];
        file_buf[j - 1u] = t;
    }
    char tmp[256];
    if (strlen(out_path) + 5u > sizeof(tmp)) {
        return 13;
    }
    strcpy(tmp, out_path);
    strcat(tmp, ".tmp");
    int out = tinyfl_semihost_open(tmp, TINYFL_SEMIHOST_MODE_WB);
    if (out < 0 || tinyfl_semihost_write(out, file_buf, (size_t)len) != len) {
        return 14;
    }
    tinyfl_semihost_close(out);
    if (tinyfl_semihost_rename(tmp, out_path) != 0) {
        return 15;
    }
    tinyfl_an386_uart_puts("LEN ");
    tinyfl_qemu_uart_put_u32((uint32_t)len);
    tinyfl_an386_uart_puts("\n");
    return 0;
}

static int check_clock(uint32_t ms)
{
    tinyfl_an386_clock_init();
    uint32_t c0 = tinyfl_an386_counter();
    uint32_t t0 = tinyfl_an386_millis();
    uint32_t prev = t0;
    while (tinyfl_an386_millis() - t0 < ms) {
        uint32_t now = tinyfl_an386_millis();
        if (now < prev) {
            return 20; /* went backwards */
        }
        prev = now;
        tinyfl_an386_idle();
    }
    uint32_t elapsed = tinyfl_an386_millis() - t0;
    uint32_t ticks = tinyfl_an386_counter() - c0;
    tinyfl_an386_uart_puts("CLOCK ");
    tinyfl_qemu_uart_put_u32(elapsed);
    tinyfl_an386_uart_puts(" ");
    tinyfl_qemu_uart_put_u32(ticks);
    tinyfl_an386_uart_puts("\n");
    return 0;
}

static int check_entropy(void)
{
    static const char hex[] = "0123456789abcdef";
    uint8_t bytes[32];
    int h = tinyfl_semihost_open("/dev/urandom", TINYFL_SEMIHOST_MODE_RB);
    if (h < 0 || tinyfl_semihost_read(h, bytes, sizeof(bytes)) != (long)sizeof(bytes)) {
        return 30;
    }
    tinyfl_semihost_close(h);
    tinyfl_an386_uart_puts("ENTROPY ");
    for (size_t i = 0; i < sizeof(bytes); i++) {
        tinyfl_an386_uart_putc((uint8_t)hex[bytes[i] >> 4]);
        tinyfl_an386_uart_putc((uint8_t)hex[bytes[i] & 15u]);
    }
    tinyfl_an386_uart_puts("\n");
    return 0;
}

int main(void)
{
    static char line[512];
    char *argv[MAX_ARGS];
    tinyfl_an386_uart_init();
    if (tinyfl_semihost_cmdline(line, sizeof(line)) != 0) {
        return 2;
    }
    size_t argc = tinyfl_semihost_split_args(line, argv, MAX_ARGS);
    if (argc < 2) {
        return 2;
    }
    const char *check = argv[1];
    int rc;
    if (strcmp(check, "exit") == 0 && argc == 3) {
        return atoi(argv[2]);
    } else if (strcmp(check, "echo") == 0 && argc == 3) {
        rc = check_echo((uint32_t)atoi(argv[2]));
    } else if (strcmp(check, "file") == 0 && argc == 4) {
        rc = check_file(argv[2], argv[3]);
    } else if (strcmp(check, "clock") == 0 && argc == 3) {
        rc = check_clock((uint32_t)atoi(argv[2]));
    } else if (strcmp(check, "entropy") == 0) {
        rc = check_entropy();
    } else if (strcmp(check, "fault") == 0) {
        __asm__ volatile("udf #0");
        rc = 1;
    } else {
        return 2;
    }
    if (rc == 0) {
        tinyfl_an386_uart_puts("PASS ");
        tinyfl_an386_uart_puts(check);
        tinyfl_an386_uart_puts("\n");
    }
    return rc;
}
