/* The tinyfl port of the emulated rv32 virt board: UART0 is the link, the host's /dev/urandom
 * (through semihosting) stands in for a TRNG, a host file (through semihosting) stands in for
 * flash, and the sensor replays a sample shard (tinyfl/emulate/shard.py) from a host file. */
#ifndef TINYFL_RV32_PORT_H
#define TINYFL_RV32_PORT_H

#include <stdint.h>

#include "tinyfl_port.h"

#define TINYFL_RV32_PATH_MAX 200

typedef struct {
    int shard; /* semihosting handle */
    uint16_t shard_samples;
    uint16_t shard_input_len;
    uint16_t next_sample;
    uint32_t device_id;
    char storage_path[TINYFL_RV32_PATH_MAX];
    char storage_tmp_path[TINYFL_RV32_PATH_MAX + 8];
} tinyfl_rv32_board;

/* Opens the shard; 0 on success, -1 after a message on the semihosting console. */
int tinyfl_rv32_board_open(tinyfl_rv32_board *b, const char *shard_path, const char *storage_path,
                           uint32_t device_id);
void tinyfl_rv32_board_port(tinyfl_rv32_board *b, tinyfl_port *port);

#endif /* TINYFL_RV32_PORT_H */
