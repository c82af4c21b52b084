/* Board support of QEMU's RISC-V `virt` machine run as an rv32imc microcontroller (the ESP32-C3
 * instruction set: no FPU, no atomics used), in machine mode without firmware (`-bios none`):
 * code and data in DRAM at 0x80000000, NS16550A UART0 at 0x10000000 (PLIC source 10), CLINT
 * (mtime at 10 MHz) at 0x02000000, PLIC at 0x0C000000.
 *
 * These functions are what a test program or the tinyfl main needs from the board; the tinyfl
 * port hooks (board_port.c) are built on them. */
#ifndef TINYFL_VIRT_RV32_H
#define TINYFL_VIRT_RV32_H

#include <stddef.h>
#include <stdint.h>

#define TINYFL_VIRT_UART0_BASE 0x10000000u
#define TINYFL_VIRT_UART0_IRQ 10u
#define TINYFL_VIRT_CLINT_BASE 0x02000000u
#define TINYFL_VIRT_PLIC_BASE 0x0C000000u
#define TINYFL_VIRT_MTIME_HZ 10000000u

/* UART0, polled. Receiving never blocks: getc returns -1 when no byte is waiting. The receive
 * interrupt is routed through the PLIC only to wake the core from tinyfl_virt_idle(). */
void tinyfl_virt_uart_init(void);
int tinyfl_virt_uart_getc(void);
void tinyfl_virt_uart_putc(uint8_t byte);
void tinyfl_virt_uart_write(const void *buf, size_t len);
void tinyfl_virt_uart_puts(const char *text);

/* Milliseconds since tinyfl_virt_clock_init(), from the CLINT's 64-bit mtime (no wrap to
 * extend). Under `-icount shift=0` mtime advances once per 100 instructions. */
void tinyfl_virt_clock_init(void);
uint32_t tinyfl_virt_millis(void);
uint64_t tinyfl_virt_mtime(void);
/* Instructions retired (minstret, low word); exact under `-icount`, for benchmarks. */
uint32_t tinyfl_virt_instret(void);

/* Sleeps until a UART0 byte arrives or 10 ms pass, so an idle board does not keep a host core
 * busy. Interrupts stay globally disabled: WFI wakes on a pending enabled interrupt without
 * taking it, and the wake-up sources are cleared here. */
void tinyfl_virt_idle(void);

/* Bytes of the stack ever used since reset (the stack is painted at reset). */
size_t tinyfl_virt_stack_used(void);
size_t tinyfl_virt_stack_size(void);

#endif /* TINYFL_VIRT_RV32_H */
