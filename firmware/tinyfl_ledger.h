/* The privacy ledger: what the device has released, persisted through the storage hook
 * before any update leaves. It stores the privacy loss itself (the accumulated RDP at fixed
 * orders, tinyfl_rdp.h), so an image with another DP configuration composes with what earlier
 * images released. A missing ledger starts fresh; a corrupted one, or one of another format
 * version (an older image's), locks the device (no more releases), because resetting it would
 * let a crash, a glitch or a reflash refill the budget. */
#ifndef TINYFL_LEDGER_H
#define TINYFL_LEDGER_H

#include <stdint.h>

#include "tinyfl_flashlog.h"
#include "tinyfl_port.h"
#include "tinyfl_rdp.h"

#define TINYFL_LEDGER_VERSION 3
#define TINYFL_LEDGER_SIZE (28 + 4 * TINYFL_RDP_ORDERS) /* bytes on storage */

typedef struct tinyfl_ledger {
    uint16_t releases_done; /* updates released (saturates at 65535) */
    uint16_t locked;        /* 1 after a corrupted or foreign record: refuse every release */
    uint32_t last_run;      /* run of the last release */
    uint32_t last_round;    /* its round: (run, round) at or below this pair are replays */
    uint32_t boot_count;
    uint32_t rdp[TINYFL_RDP_ORDERS]; /* accumulated RDP of every release (tinyfl_rdp.h) */
    tinyfl_flashlog log;             /* used only when the port has raw flash */
} tinyfl_ledger;

/* Reads the ledger (fresh when storage was never written; locked when it is corrupt): from the
 * flash log when the port has raw flash (flash_page_count != 0), else the one-record hook. */
tinyfl_status tinyfl_ledger_load(tinyfl_ledger *ledger, const tinyfl_port *port);
/* Writes it durably; the caller sends nothing that depends on it unless this returns OK. */
tinyfl_status tinyfl_ledger_store(tinyfl_ledger *ledger, const tinyfl_port *port);

#endif /* TINYFL_LEDGER_H */
