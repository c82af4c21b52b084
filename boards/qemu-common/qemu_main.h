/* What the emulated boards' main() share. The semihosting command line carries what a real
 * board would have built in or provisioned:
 *
 *   <program> --shard FILE --storage FILE --device-id N
 *
 * (QEMU: -semihosting-config enable=on,target=native,arg=tinyfl,arg=--shard,arg=FILE,...; the
 * arguments are joined with spaces, so paths must not contain any.) */
#ifndef TINYFL_QEMU_MAIN_H
#define TINYFL_QEMU_MAIN_H

#include <stddef.h>
#include <stdint.h>

#include "qemu_board.h"
#include "qemu_port.h"
#include "semihost.h"

#define TINYFL_QEMU_EXIT_BOARD 1 /* the board or its image cannot serve */
#define TINYFL_QEMU_EXIT_USAGE 2 /* a missing or malformed command line */
/* One line on the semihosting console, after the board's "tinyfl <board>: ". */
#define TINYFL_QEMU_SAY(text) tinyfl_semihost_write0(TINYFL_QEMU_CONSOLE_PREFIX text "\n")
#define TINYFL_QEMU_CMDLINE_SIZE (3 * TINYFL_QEMU_PATH_MAX) /* two paths and the rest */

typedef struct {
    const char *shard;
    const char *storage;
    uint32_t device_id;
} tinyfl_qemu_args;

/* Reads the command line into buf (the arguments point into it): 0, or -1 after a one-line
 * message on the semihosting console. */
int tinyfl_qemu_args_read(char *buf, size_t size, tinyfl_qemu_args *args);
/* "tinyfl <board>: stack used N" on the semihosting console (measurement builds). */
void tinyfl_qemu_report_stack(size_t used);

#endif /* TINYFL_QEMU_MAIN_H */
