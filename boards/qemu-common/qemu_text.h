/* Numbers as text for the emulated boards' programs (firmware, on-target tests, benchmarks),
 * which print without printf. */
#ifndef TINYFL_QEMU_TEXT_H
#define TINYFL_QEMU_TEXT_H

#include <stdint.h>

#define TINYFL_QEMU_U32_TEXT 11 /* "4294967295" and its NUL */

/* v in decimal into text (TINYFL_QEMU_U32_TEXT bytes), NUL-terminated; returns text. */
char *tinyfl_qemu_u32_text(char *text, uint32_t v);
/* v in decimal on the board's UART0. */
void tinyfl_qemu_uart_put_u32(uint32_t v);

#endif /* TINYFL_QEMU_TEXT_H */
