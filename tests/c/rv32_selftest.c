/* On-target self-test of the rv32 virt board support (run under QEMU by tests/test_boards_rv32.py).
 * The first argument after the program name picks the check:
 *   exit N          exit with code N
 *   echo N [MS]     print READY, echo N bytes from UART0 back, exit 0; with MS, the UART is
 *                   initialised only MS milliseconds after reset (bytes the host sent at once
 *                   are already waiting then and must not be lost)
 *   clock MS        sleep MS milliseconds of the board clock, print elapsed ms, mtime counts
 *                   and instructions retired
 *   errno TEXT      strtoul(TEXT): print the value and errno (picolibc's errno is thread-local:
 *                   this fails unless start-up set tp)
 *   fault           execute an illegal instruction (the trap handler exits with 3)
 *   overflow N      recurse N frames of 256+ bytes: more than 64 run the stack off the bottom of
 *                   RAM (the trap handler exits with 3)
 * Every check that finishes prints a final `PASS <name>` line over the UART. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "qemu_text.h"
#include "semihost.h"
#include "virt_rv32.h"

#define MAX_ARGS 8

static int check_echo(uint32_t count)
{
    tinyfl_virt_uart_puts("READY\n");
    for (uint32_t done = 0; done < count;) {
        int c = tinyfl_virt_uart_getc();
        if (c < 0) {
            tinyfl_virt_idle();
            continue;
        }
        tinyfl_virt_uart_putc((uint8_t)c);
        done++;
    }
    return 0;
}

static int check_clock(uint32_t ms)
{
    uint64_t m0 = tinyfl_virt_mtime();
    uint32_t i0 = tinyfl_virt_instret();
    uint32_t t0 = tinyfl_virt_millis();
    uint32_t prev = t0;
    while (tinyfl_virt_millis() - t0 < ms) {
        uint32_t now = tinyfl_virt_millis();
        if (now < prev) {
            return 20; /* went backwards */
        }
        prev = now;
        tinyfl_virt_idle();
    }
    uint32_t elapsed = tinyfl_virt_millis() - t0;
    uint32_t counts = (uint32_t)(tinyfl_virt_mtime() - m0);
    uint32_t retired = tinyfl_virt_instret() - i0;
    tinyfl_virt_uart_puts("CLOCK ");
    tinyfl_qemu_uart_put_u32(elapsed);
    tinyfl_virt_uart_puts(" ");
    tinyfl_qemu_uart_put_u32(counts);
    tinyfl_virt_uart_puts(" ");
    tinyfl_qemu_uart_put_u32(retired);
    tinyfl_virt_uart_puts("\n");
    return 0;
}

/* Each frame keeps a live buffer, so the compiler cannot turn the recursion into a loop; the
 * limit (far beyond the 16 KB stack) comes from the command line. */
static uint32_t recurse(uint32_t depth, uint32_t limit)
{
    volatile uint8_t frame[256];
    if (depth >= limit) {
        return 0u;
    }
    frame[depth & 255u] = (uint8_t)depth;
    return recurse(depth + 1u, limit) + frame[depth & 255u];
}

int main(void)
{
    static char line[512];
    char *argv[MAX_ARGS];
    tinyfl_virt_clock_init();
    if (tinyfl_semihost_cmdline(line, sizeof(line)) != 0) {
        return 2;
    }
    size_t argc = tinyfl_semihost_split_args(line, argv, MAX_ARGS);
    if (argc < 2) {
        return 2;
    }
    const char *check = argv[1];
    if (strcmp(check, "echo") == 0 && argc == 4) {
        uint32_t late_ms = (uint32_t)atoi(argv[3]);
        while (tinyfl_virt_millis() < late_ms) {
        }
        argc = 3;
    }
    tinyfl_virt_uart_init();
    int rc;
    if (strcmp(check, "exit") == 0 && argc == 3) {
        return atoi(argv[2]);
    } else if (strcmp(check, "echo") == 0 && argc == 3) {
        rc = check_echo((uint32_t)atoi(argv[2]));
    } else if (strcmp(check, "clock") == 0 && argc == 3) {
        rc = check_clock((uint32_t)atoi(argv[2]));
    } else if (strcmp(check, "errno") == 0 && argc == 3) {
        errno = 0;
        unsigned long value = strtoul(argv[2], NULL, 10);
        tinyfl_virt_uart_puts("VALUE ");
        tinyfl_qemu_uart_put_u32((uint32_t)value);
        tinyfl_virt_uart_puts(errno == ERANGE ? " ERANGE\n" : " OK\n");
        rc = 0;
    } else if (strcmp(check, "fault") == 0) {
        __asm__ volatile("unimp");
        rc = 1;
    } else if (strcmp(check, "overflow") == 0 && argc == 3) {
        rc = recurse(0u, (uint32_t)atoi(argv[2])) == 0xFFFFFFFFu ? 1 : 0;
    } else {
        return 2;
    }
    if (rc == 0) {
        tinyfl_virt_uart_puts("PASS ");
        tinyfl_virt_uart_puts(check);
        tinyfl_virt_uart_puts("\n");
    }
    return rc;
}
