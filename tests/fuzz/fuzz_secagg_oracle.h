/* The secure-aggregation device harness's oracle (fuzz_secagg.c): watches every byte the device
 * writes and what its storage really holds, and aborts when an invariant of docs/privacy.md
 * "What the device enforces" breaks:
 *   - every masked update leaves after its durable ledger charge: the stored record already
 *     names its (run, round) and counts one more release, within the budget; releases strictly
 *     increase in (run, round), across reboots;
 *   - at most one unmask (reveal) per (run, round), across reboots;
 *   - a device never reveals both kinds of share (self mask, mask key) for one neighbour;
 *   - the round's secrets (key pairs, self-mask seed, received shares, channel and mask keys,
 *     the noised update, masked words, message buffers) are all zero whenever no round is
 *     under way: after any refusal, after a reboot, and the round is over once its reveal left;
 *   - the device's last secagg_keys are kept for the harness, which plays the neighbours. */
#ifndef TINYFL_FUZZ_SECAGG_ORACLE_H
#define TINYFL_FUZZ_SECAGG_ORACLE_H

#include <stddef.h>
#include <stdint.h>

#include "fuzz_board.h"
#include "tinyfl_device.h"

#define TINYFL_FUZZ_SECAGG_REVEALS 64u /* (run, round) of reveals remembered */

typedef struct {
    tinyfl_device *dev;
    tinyfl_fuzz_board *board;
    tinyfl_port truth;

    uint64_t last_release; /* (run << 32) | round of the last release stored */
    uint32_t charged;      /* releases_done stored with it */

    int have_keys; /* the device's last secagg_keys */
    uint32_t keys_run, keys_round;
    uint8_t c_pk[32], s_pk[32];

    uint64_t revealed[TINYFL_FUZZ_SECAGG_REVEALS]; /* rounds the device revealed in */
    size_t revealed_len;
    int revealed_in_step; /* a reveal left during the current step: the round is over */

    uint8_t frame[TINYFL_FRAME_MAX_ENCODED];
    size_t frame_len;
    tinyfl_frame_rx out;

    uint32_t releases; /* masked updates seen (statistics) */
    uint32_t reveals;  /* reveals seen (statistics) */
} tinyfl_fuzz_secagg_oracle;

void tinyfl_fuzz_secagg_oracle_start(tinyfl_fuzz_secagg_oracle *o, tinyfl_device *dev, tinyfl_fuzz_board *board);
/* Call right before tinyfl_device_init. */
void tinyfl_fuzz_secagg_oracle_before_boot(tinyfl_fuzz_secagg_oracle *o);
/* The board's link watcher. */
void tinyfl_fuzz_secagg_oracle_watch(void *oracle, const uint8_t *buf, size_t len);
/* Call after tinyfl_device_init and after every tinyfl_device_poll. */
void tinyfl_fuzz_secagg_oracle_after_step(tinyfl_fuzz_secagg_oracle *o);

#endif /* TINYFL_FUZZ_SECAGG_ORACLE_H */
