/* Board support of the Arm MPS2 FPGA image AN386 (Cortex-M4F), as QEMU `-M mps2-an386`
 * emulates it: code in ZBT SSRAM1 at 0x00000000 (4 MB), data in SSRAM2/3 at 0x20000000 (4 MB),
 * CMSDK UART0 at 0x40004000, FPGA I/O block at 0x40028000, 25 MHz system clock.
 *
 * These functions are what a test program or the tinyfl main needs from the board; the tinyfl
 * port hooks (board_port.c) are built on them. */
#ifndef TINYFL_AN386_H
#define TINYFL_AN386_H

#include <stddef.h>
#include <stdint.h>

#define TINYFL_AN386_SYSCLK_HZ 25000000u
#define TINYFL_AN386_UART0_BASE 0x40004000u
#define TINYFL_AN386_FPGAIO_BASE 0x40028000u
#define TINYFL_AN386_UART0_RX_IRQ 0u
#define TINYFL_AN386_BAUD 115200u

/* UART0, polled. Receiving never blocks: getc returns -1 when no byte is waiting. The RX
 * interrupt is enabled only to wake the core from tinyfl_an386_idle(). */
void tinyfl_an386_uart_init(void);
int tinyfl_an386_uart_getc(void);
void tinyfl_an386_uart_putc(uint8_t byte);
void tinyfl_an386_uart_write(const void *buf, size_t len);
void tinyfl_an386_uart_puts(const char *text);

/* Milliseconds since tinyfl_an386_clock_init(), from the FPGA counter; SysTick (100 Hz) wakes
 * the core and keeps the count extended past its 32-bit wrap. */
void tinyfl_an386_clock_init(void);
uint32_t tinyfl_an386_millis(void);
/* The FPGA's free-running 25 MHz counter; under `-icount shift=0` it ticks once per 40
 * instructions, which makes it an instruction counter for benchmarks. */
uint32_t tinyfl_an386_counter(void);

/* Sleeps until an interrupt (UART0 RX or the clock tick, i.e. at most 10 ms), so an idle
 * board does not keep a host core busy. */
void tinyfl_an386_idle(void);

/* Bytes of the stack ever used since reset (the stack is painted at reset). */
size_t tinyfl_an386_stack_used(void);
size_t tinyfl_an386_stack_size(void);

#endif /* TINYFL_AN386_H */
