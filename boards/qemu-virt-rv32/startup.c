/* Reset and trap entry of the rv32 virt board. Linked with -nostartfiles: this file is the
 * whole C runtime start-up (picolibc's crt0 is not used). */
#include <stdint.h>

#include "csr.h"
#include "semihost.h"
#include "virt_rv32.h"

#define STACK_PAINT 0xA5A5A5A5u
#define EXIT_FAULT 3 /* exit code of an unexpected trap */

/* Symbols of the linker script (virt_rv32.ld). */
extern uint32_t __tinyfl_data_load[], __tinyfl_data_start[], __tinyfl_data_end[];
extern uint32_t __tinyfl_bss_start[], __tinyfl_bss_end[];
extern uint32_t __tinyfl_stack_bottom[], __tinyfl_stack_top[];

int main(void);
void tinyfl_virt_reset(void) __attribute__((noreturn));
void tinyfl_virt_trap(void) __attribute__((noreturn));
void _exit(int code) __attribute__((noreturn));

/* gp, sp and tp are all C needs; the trap vector is set before any C runs (mtvec needs 4-byte
 * alignment in direct mode). PMP entry 0 covers the 1 KB guard below the stack (NAPOT: address
 * >> 2 with the low bits 0111111 saying 2^10 bytes), locked (L, so it binds machine mode too)
 * with no permission: an overflow traps. */
__asm__(".section .text.start, \"ax\"\n"
        ".global _start\n"
        "_start:\n"
        ".option push\n"
        ".option norelax\n"
        ".option arch, +zicsr\n"
        "    la gp, __global_pointer$\n"
        "    la sp, __tinyfl_stack_top\n"
        "    la tp, __tinyfl_tls_start\n" /* errno lives there (picolibc: thread-local) */
        "    la t0, tinyfl_virt_trap_entry\n"
        "    csrw mtvec, t0\n"
        "    la t0, __tinyfl_stack_guard\n"
        "    srli t0, t0, 2\n"
        "    ori t0, t0, 0x7F\n"
        "    csrw pmpaddr0, t0\n"
        "    li t0, 0x98\n" /* L | A = NAPOT, R = W = X = 0 */
        "    csrw pmpcfg0, t0\n"
#if defined(__riscv_flen)
        /* an image built with the F extension (benchmarks only: the board is rv32imc) needs
         * the FPU on (mstatus.FS = initial) before its first float instruction */
        "    li t0, 0x2000\n"
        "    csrs mstatus, t0\n"
#endif
        ".option pop\n"
        "    j tinyfl_virt_reset\n"
        ".balign 4\n"
        "tinyfl_virt_trap_entry:\n"
        "    la sp, __tinyfl_stack_top\n" /* the fault may have been a stack overflow */
        "    j tinyfl_virt_trap\n"
        ".text\n");

/* Runs before .data/.bss exist, so it may only touch registers and the stack it is on; painting
 * the stack below the current frame is safe because nothing lives there yet. */
__attribute__((noinline)) static void paint_stack(void)
{
    volatile uint32_t *p = __tinyfl_stack_bottom;
    volatile uint32_t *limit = (volatile uint32_t *)__builtin_frame_address(0) - 64;
    while (p < limit) {
        *p++ = STACK_PAINT;
    }
}

void tinyfl_virt_reset(void)
{
    const uint32_t *src = __tinyfl_data_load;
    for (uint32_t *dst = __tinyfl_data_start; dst < __tinyfl_data_end;) {
        *dst++ = *src++;
    }
    for (uint32_t *dst = __tinyfl_bss_start; dst < __tinyfl_bss_end;) {
        *dst++ = 0u;
    }
    paint_stack();
    _exit(main());
}

size_t tinyfl_virt_stack_size(void)
{
    return (size_t)((uintptr_t)__tinyfl_stack_top - (uintptr_t)__tinyfl_stack_bottom);
}

size_t tinyfl_virt_stack_used(void)
{
    const uint32_t *p = __tinyfl_stack_bottom;
    while (p < __tinyfl_stack_top && *p == STACK_PAINT) {
        p++;
    }
    return (size_t)((uintptr_t)__tinyfl_stack_top - (uintptr_t)p);
}

/* Interrupts are never enabled (WFI wakes without them), so any trap is a fault: end the
 * emulation with a clear message and exit code instead of hanging a test until its timeout.
 * A real board would reset here. */
void tinyfl_virt_trap(void)
{
    static const char hex[] = "0123456789abcdef";
    char text[] = "tinyfl rv32: unexpected exception (fault) mcause 0x00000000 mepc 0x00000000\n";
    uint32_t cause, pc;
    TINYFL_CSR_READ(mcause, cause);
    TINYFL_CSR_READ(mepc, pc);
    for (int i = 0; i < 8; i++) {
        text[51 + i] = hex[(cause >> (28 - 4 * i)) & 15u];
        text[67 + i] = hex[(pc >> (28 - 4 * i)) & 15u];
    }
    tinyfl_semihost_write0(text);
    _exit(EXIT_FAULT);
}

/* main's return, exit(), abort() and failed assert() end here: QEMU exits with `code`. */
void _exit(int code)
{
    tinyfl_semihost_exit(code);
}
