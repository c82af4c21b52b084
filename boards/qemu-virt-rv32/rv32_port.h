/* The tinyfl port of the emulated rv32 virt board: the emulated boards' shared one
 * (../qemu-common/qemu_port.h) over UART0 and the CLINT clock (qemu_board.h), nothing more. */
#ifndef TINYFL_RV32_PORT_H
#define TINYFL_RV32_PORT_H

#include <stdint.h>

#include "qemu_port.h"
#include "tinyfl_port.h"

typedef tinyfl_qemu_board tinyfl_rv32_board;

/* Opens the shard; 0 on success, -1 after a message on the semihosting console. */
static inline int tinyfl_rv32_board_open(tinyfl_rv32_board *b, const char *shard_path, const char *storage_path,
                                         uint32_t device_id)
{
    return tinyfl_qemu_board_open(b, shard_path, storage_path, device_id);
}

static inline void tinyfl_rv32_board_port(tinyfl_rv32_board *b, tinyfl_port *port) { tinyfl_qemu_board_port(b, port); }

#endif /* TINYFL_RV32_PORT_H */
