/* The tinyfl port of the emulated AN386 board: UART0 is the link, the host's /dev/urandom
 * (through semihosting) stands in for a TRNG, a host file (through semihosting) stands in for
 * flash, and the sensor replays a sample shard (tinyfl/emulate/shard.py) from a host file. */
#ifndef TINYFL_AN386_PORT_H
#define TINYFL_AN386_PORT_H

#include <stdint.h>

#include "tinyfl_port.h"

#define TINYFL_AN386_PATH_MAX 200

/* Build with -DTINYFL_AN386_FLASH_LEDGER to keep the ledger as a log on emulated raw NOR flash
 * (tinyfl_flashlog.h): a RAM region with NOR rules whose image is the storage file. */
#define TINYFL_AN386_FLASH_PAGE_SIZE 4096u
#define TINYFL_AN386_FLASH_PAGES 2u

typedef struct {
    int shard; /* semihosting handle */
    uint16_t shard_samples;
    uint16_t shard_input_len;
    uint16_t next_sample;
    uint32_t device_id;
    char storage_path[TINYFL_AN386_PATH_MAX];
    char storage_tmp_path[TINYFL_AN386_PATH_MAX + 8];
#ifdef TINYFL_AN386_FLASH_LEDGER
    uint8_t flash[TINYFL_AN386_FLASH_PAGE_SIZE * TINYFL_AN386_FLASH_PAGES];
#endif
} tinyfl_an386_board;

/* Opens the shard; 0 on success, -1 after a message on the semihosting console. */
int tinyfl_an386_board_open(tinyfl_an386_board *b, const char *shard_path, const char *storage_path,
                            uint32_t device_id);
void tinyfl_an386_board_port(tinyfl_an386_board *b, tinyfl_port *port);

#endif /* TINYFL_AN386_PORT_H */
