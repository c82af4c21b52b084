/* The tinyfl port of the emulated AN386 board: the emulated boards' shared one
 * (../qemu-common/qemu_port.h) over UART0 and the FPGA clock (qemu_board.h), and with
 * -DTINYFL_AN386_FLASH_LEDGER the ledger's raw flash. */
#ifndef TINYFL_AN386_PORT_H
#define TINYFL_AN386_PORT_H

#include <stdint.h>

#include "qemu_port.h"
#include "tinyfl_port.h"

/* Build with -DTINYFL_AN386_FLASH_LEDGER to keep the ledger as a log on emulated raw NOR flash
 * (tinyfl_flashlog.h): a RAM region with NOR rules whose image is the storage file. */
#define TINYFL_AN386_FLASH_PAGE_SIZE 4096u
#define TINYFL_AN386_FLASH_PAGES 2u

typedef struct {
    tinyfl_qemu_board host; /* first: the shared hooks and the flash hooks get the same user */
#ifdef TINYFL_AN386_FLASH_LEDGER
    uint8_t flash[TINYFL_AN386_FLASH_PAGE_SIZE * TINYFL_AN386_FLASH_PAGES];
#endif
} tinyfl_an386_board;

/* Opens the shard; 0 on success, -1 after a message on the semihosting console. */
static inline int tinyfl_an386_board_open(tinyfl_an386_board *b, const char *shard_path,
                                          const char *storage_path, uint32_t device_id)
{
    return tinyfl_qemu_board_open(&b->host, shard_path, storage_path, device_id);
}

void tinyfl_an386_board_port(tinyfl_an386_board *b, tinyfl_port *port);

#endif /* TINYFL_AN386_PORT_H */
