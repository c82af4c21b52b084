/* Reset and exception vectors of the AN386 image. Linked with -nostartfiles: this file is the
 * whole C runtime start-up (newlib's crt0 is not used). */
#include <stdint.h>

#include "an386.h"
#include "semihost.h"

#define SCB_CPACR (*(volatile uint32_t *)0xE000ED88u)
#define STACK_PAINT 0xA5A5A5A5u
#define EXIT_FAULT 3 /* exit code of an unexpected exception */

/* Symbols of the linker script (mps2_an386.ld). */
extern uint32_t __tinyfl_data_load, __tinyfl_data_start, __tinyfl_data_end;
extern uint32_t __tinyfl_bss_start, __tinyfl_bss_end;
extern uint32_t __tinyfl_stack_bottom, __tinyfl_stack_top;

int main(void);
void tinyfl_an386_reset(void);
void tinyfl_an386_fault(void);
void tinyfl_an386_systick(void);
void tinyfl_an386_uart0_rx_irq(void);
void _exit(int code);

/* Runs before .data/.bss exist, so it may only touch registers and the stack it is on; painting
 * the stack below the current frame is safe because nothing lives there yet. */
__attribute__((noinline)) static void paint_stack(void)
{
    volatile uint32_t *p = &__tinyfl_stack_bottom;
    volatile uint32_t *limit = (volatile uint32_t *)__builtin_frame_address(0) - 64;
    while (p < limit) {
        *p++ = STACK_PAINT;
    }
}

void tinyfl_an386_reset(void)
{
    /* Full access to CP10/CP11 (the FPU) before any float instruction can run, including any
     * the compiler might pick for the copies below. */
    SCB_CPACR |= (0xFu << 20);
    __asm__ volatile("dsb\n\tisb" ::: "memory");

    const uint32_t *src = &__tinyfl_data_load;
    for (uint32_t *dst = &__tinyfl_data_start; dst < &__tinyfl_data_end;) {
        *dst++ = *src++;
    }
    for (uint32_t *dst = &__tinyfl_bss_start; dst < &__tinyfl_bss_end;) {
        *dst++ = 0u;
    }
    paint_stack();
    tinyfl_semihost_exit(main());
}

size_t tinyfl_an386_stack_size(void)
{
    return (size_t)((uintptr_t)&__tinyfl_stack_top - (uintptr_t)&__tinyfl_stack_bottom);
}

size_t tinyfl_an386_stack_used(void)
{
    const uint32_t *p = &__tinyfl_stack_bottom;
    while (p < &__tinyfl_stack_top && *p == STACK_PAINT) {
        p++;
    }
    return (size_t)((uintptr_t)&__tinyfl_stack_top - (uintptr_t)p);
}

/* Any unexpected exception ends the emulation with a clear message and exit code instead of
 * hanging a test until its timeout. A real board would reset here. */
void tinyfl_an386_fault(void)
{
    tinyfl_semihost_write0("tinyfl an386: unexpected exception (fault)\n");
    tinyfl_semihost_exit(EXIT_FAULT);
}

/* newlib's exit(), abort() and failed assert() end here. */
void _exit(int code) { tinyfl_semihost_exit(code); }

typedef void (*vector)(void);

/* 16 system vectors, then the external interrupts the board uses (UART0 RX is IRQ 0). */
__attribute__((section(".vectors"), used)) static const vector vectors[16 + 32] = {
    (vector)(uintptr_t)&__tinyfl_stack_top,
    tinyfl_an386_reset,
    tinyfl_an386_fault, /* NMI */
    tinyfl_an386_fault, /* HardFault */
    tinyfl_an386_fault, /* MemManage */
    tinyfl_an386_fault, /* BusFault */
    tinyfl_an386_fault, /* UsageFault */
    0, 0, 0, 0,
    tinyfl_an386_fault, /* SVCall */
    tinyfl_an386_fault, /* DebugMonitor */
    0,
    tinyfl_an386_fault, /* PendSV */
    tinyfl_an386_systick,
    [16 + TINYFL_AN386_UART0_RX_IRQ] = tinyfl_an386_uart0_rx_irq,
    [16 + 1 ... 16 + 31] = tinyfl_an386_fault,
};
