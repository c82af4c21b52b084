/* The tinyfl port hooks the emulated boards share: UART0 is the link, the host's /dev/urandom
 * (through semihosting) stands in for a TRNG, a host file (through semihosting) stands in for
 * flash, and the sensor replays a sample shard (tinyfl/emulate/shard.py) from a host file. Each
 * board brings its UART, idle and clock in its own qemu_board.h. */
#ifndef TINYFL_QEMU_PORT_H
#define TINYFL_QEMU_PORT_H

#include <stddef.h>
#include <stdint.h>

#include "tinyfl_port.h"

#define TINYFL_QEMU_PATH_MAX 200

typedef struct {
    int shard; /* semihosting handle */
    uint16_t shard_samples;
    uint16_t shard_input_len;
    uint16_t next_sample;
    uint32_t device_id;
    char storage_path[TINYFL_QEMU_PATH_MAX];
    char storage_tmp_path[TINYFL_QEMU_PATH_MAX + 8];
} tinyfl_qemu_board;

/* Opens the shard; 0 on success, -1 after a message on the semihosting console. */
int tinyfl_qemu_board_open(tinyfl_qemu_board *b, const char *shard_path, const char *storage_path,
                           uint32_t device_id);
/* Every hook of `port`, with port->user = b; a board may then replace or add hooks (flash) as
 * long as its own state starts with the tinyfl_qemu_board. */
void tinyfl_qemu_board_port(tinyfl_qemu_board *b, tinyfl_port *port);

#endif /* TINYFL_QEMU_PORT_H */
