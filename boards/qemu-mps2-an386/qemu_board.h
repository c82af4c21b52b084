/* What ../qemu-common (the port and main() helpers both QEMU boards share) takes from this board:
 * its console prefix, UART0, idle and clock. Macros, not function pointers: each board compiles
 * the shared files with its own folder on the include path, so they call the board directly. */
#ifndef TINYFL_QEMU_BOARD_H
#define TINYFL_QEMU_BOARD_H

#include "an386.h"

#define TINYFL_QEMU_CONSOLE_PREFIX "tinyfl an386: "
#define tinyfl_qemu_uart_getc tinyfl_an386_uart_getc
#define tinyfl_qemu_uart_write tinyfl_an386_uart_write
#define tinyfl_qemu_uart_puts tinyfl_an386_uart_puts
#define tinyfl_qemu_idle tinyfl_an386_idle
#define tinyfl_qemu_millis tinyfl_an386_millis

#endif /* TINYFL_QEMU_BOARD_H */
