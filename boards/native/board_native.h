/* The native board: a Linux process that plays a microcontroller. Its "UART" is one TCP client
 * on 127.0.0.1 at a time, its TRNG is getrandom(), its flash is a small host file and its
 * sensor replays a sample shard (tinyfl/emulate/shard.py). */
#ifndef TINYFL_BOARD_NATIVE_H
#define TINYFL_BOARD_NATIVE_H

#include <signal.h>
#include <stdint.h>
#include <stdio.h>

#include "tinyfl_port.h"

#define TINYFL_NATIVE_POLL_MS 10 /* longest a serial read waits for a byte */

/* Build with -DTINYFL_NATIVE_FLASH_LEDGER to keep the ledger as a log on emulated raw NOR flash
 * (tinyfl_flashlog.h): memory with NOR rules whose image is the storage file. */
#define TINYFL_NATIVE_FLASH_PAGE_SIZE 4096u
#define TINYFL_NATIVE_FLASH_PAGES 2u

typedef struct {
    int listen_fd;
    int client_fd; /* -1 while no host is connected */
    uint16_t tcp_port;
    uint32_t clients_accepted;
    volatile sig_atomic_t *stop; /* set by the signal handler: reads return at once */

    FILE *shard;
    uint16_t shard_samples;
    uint16_t shard_input_len;
    uint16_t next_sample;

    const char *storage_path;
    uint32_t device_id;
    int64_t boot_ms;
#ifdef TINYFL_NATIVE_FLASH_LEDGER
    uint8_t flash[TINYFL_NATIVE_FLASH_PAGE_SIZE * TINYFL_NATIVE_FLASH_PAGES];
    long flash_ops;     /* erases and writes since start */
    long flash_cut_at;  /* test builds: the power fails before this operation (-1: never) */
#endif
} tinyfl_native_board;

/* Listens on 127.0.0.1:tcp_port (0: the kernel picks; see b->tcp_port) and opens the shard.
 * Returns 0, or -1 after printing why on stderr. */
int tinyfl_native_board_open(tinyfl_native_board *b, uint16_t tcp_port, const char *shard_path,
                             const char *storage_path, uint32_t device_id, volatile sig_atomic_t *stop);
/* Blocks until a host connects (or *stop is set: returns -1). */
int tinyfl_native_board_wait_client(tinyfl_native_board *b);
/* Fills the port with this board's hooks; `user` is the board. */
void tinyfl_native_board_port(tinyfl_native_board *b, tinyfl_port *port);
void tinyfl_native_board_close(tinyfl_native_board *b);

#endif /* TINYFL_BOARD_NATIVE_H */
