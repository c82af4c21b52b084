/* The privacy ledger: what the device has released, persisted through the storage hook
 * before any update leaves. A missing ledger starts fresh; a corrupted one locks the device
 * (no more releases), because resetting it would let a crash or a glitch refill the budget. */
#ifndef TINYFL_LEDGER_H
#define TINYFL_LEDGER_H

#include <stdint.h>

#include "tinyfl_port.h"

#define TINYFL_LEDGER_SIZE 28 /* bytes on storage */

typedef struct {
    uint16_t releases_done; /* updates released, each one charged against the budget */
    uint16_t locked;        /* 1 after a corrupted record: refuse every release */
    uint32_t last_run;      /* run of the last release */
    uint32_t last_round;    /* its round: (run, round) at or below this pair are replays */
    uint32_t boot_count;
} tinyfl_ledger;

/* Reads the ledger (fresh when storage was never written; locked when it is corrupt). */
tinyfl_status tinyfl_ledger_load(tinyfl_ledger *ledger, const tinyfl_port *port);
/* Writes it durably; the caller sends nothing that depends on it unless this returns OK. */
tinyfl_status tinyfl_ledger_store(const tinyfl_ledger *ledger, const tinyfl_port *port);

#endif /* TINYFL_LEDGER_H */
