/* The privacy ledger as an append-only log on raw NOR flash (the port's flash_* hooks).
 *
 * Each page starts with a checkpoint (the whole ledger and the page's sequence number) and then
 * holds entries appended in order: a curve (the per-release RDP of a firmware configuration,
 * written when it first releases), a release (run, round: charged with the last curve), a boot.
 * Every entry ends with a check word written last, so a power cut leaves at most one torn entry,
 * at the tail. A full page, or a torn tail, is compacted: the next page is erased and gets a
 * checkpoint with the next sequence number, and only then is the old page marked superseded
 * (its last word). Layout and safety argument: docs/privacy.md "The ledger on raw flash". */
#ifndef TINYFL_FLASHLOG_H
#define TINYFL_FLASHLOG_H

#include <stdint.h>

#include "tinyfl_port.h"
#include "tinyfl_rdp.h"

/* Words of each entry, header and check word included. */
#define TINYFL_FLASHLOG_CHECKPOINT_WORDS (7u + TINYFL_RDP_ORDERS)
#define TINYFL_FLASHLOG_CURVE_WORDS (2u + TINYFL_RDP_ORDERS)
#define TINYFL_FLASHLOG_RELEASE_WORDS 4u
#define TINYFL_FLASHLOG_BOOT_WORDS 2u
/* The smallest page: a checkpoint, a curve, a release and the superseded marker. */
#define TINYFL_FLASHLOG_MIN_PAGE_SIZE \
    (4u * (TINYFL_FLASHLOG_CHECKPOINT_WORDS + TINYFL_FLASHLOG_CURVE_WORDS + TINYFL_FLASHLOG_RELEASE_WORDS + 1u))

struct tinyfl_ledger;

/* Where the log appends, and a copy of the ledger it holds, to tell a release or a boot from
 * any other change (which is written as a checkpoint). Lives in tinyfl_ledger. */
typedef struct {
    uint32_t page;     /* page of the newest checkpoint */
    uint32_t seq;      /* its sequence number */
    uint32_t next;     /* byte offset in that page of the next entry */
    uint32_t curve_at; /* byte address of the last curve's first per-release word; 0: none */
    uint8_t started;   /* a checkpoint exists (0: a fresh or never-committed region) */
    uint8_t compact;   /* the tail is torn or unknown: never append there, compact first */
    uint16_t releases_done;
    uint32_t last_run;
    uint32_t last_round;
    uint32_t boot_count;
    uint32_t rdp[TINYFL_RDP_ORDERS];
} tinyfl_flashlog;

/* Replays the log into ledger (fresh when the region was never committed; locked when it is
 * corrupt or the geometry is unusable). A torn release at the tail counts as spent. */
tinyfl_status tinyfl_flashlog_load(struct tinyfl_ledger *ledger, const tinyfl_port *port);
/* Appends what changed since the last load or store (a boot, a release, or a new curve and a
 * release) or else writes a checkpoint of the whole ledger; durable when it returns OK. */
tinyfl_status tinyfl_flashlog_store(struct tinyfl_ledger *ledger, const tinyfl_port *port);

#endif /* TINYFL_FLASHLOG_H */
