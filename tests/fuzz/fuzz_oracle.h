/* The device harness's oracle: watches every byte the device writes to the link and what its
 * storage really holds, and aborts when a privacy invariant breaks (docs/security.md):
 *   - an update leaves only after a successful storage write whose ledger (read back through
 *     tinyfl_ledger_load) counts it: releases_done went up since the last release;
 *   - no release past the budget: the stored RDP never converts to more than eps_limit;
 *   - (run, round) of releases strictly increasing, across reboots; the only repeat allowed
 *     is a resend of the last release, byte for byte and at no new charge;
 *   - nothing released after a boot that found the ledger unreadable or corrupt, or the
 *     entropy source failed;
 *   - the per-round buffers (raw window, features, labels, trained head, training scratch,
 *     update integers) hold nothing once a message has been handled;
 *   - a hello never under-reports the releases storage holds, and flags a device that will
 *     refuse every release (ledger locked or entropy failed);
 *   - every frame the device sends is well formed and every message decodes and re-encodes.
 * It reads the device's ledger only through tinyfl_ledger_load and its public fields. */
#ifndef TINYFL_FUZZ_ORACLE_H
#define TINYFL_FUZZ_ORACLE_H

#include <stddef.h>
#include <stdint.h>

#include "fuzz_board.h"
#include "tinyfl_device.h"

/* Open findings: a bug the fuzzer found whose fix belongs in firmware/ and has not landed yet.
 * A build that defines TINYFL_FUZZ_OPEN_<NAME> makes the harness undo that one bug's effect
 * right after the step where it happens (and nothing else), so fuzzing can look past it; the
 * strict build (no define) still fails on its regression input. tests/fuzz/regressions/README.md
 * lists them (none open now). */
#include "tinyfl_rdp.h"

/* The image's own per-release RDP curve and budget (the macros tinyfl_device.c uses). */
const tinyfl_rdp_curve *tinyfl_fuzz_rdp_curve(void);

typedef struct {
    tinyfl_device *dev;
    tinyfl_fuzz_board *board;
    tinyfl_port truth;

    int may_release;       /* this boot found a readable ledger and working entropy */
    uint64_t last_release; /* (run << 32) | round of the last release, from storage */
    uint32_t charged;      /* releases_done stored with that release */
    int released;          /* last_release was released during this input (not just loaded) */
    int in_release;        /* an update's first frame has left, its message has not ended */
    int resend;
    uint8_t last_update[TINYFL_WIRE_MAX_MESSAGE];
    size_t last_update_len; /* 0: the last release's message not seen whole (yet) */

    uint8_t frame[TINYFL_FRAME_MAX_ENCODED]; /* the device's current frame, as sent */
    size_t frame_len;
    tinyfl_frame_rx out; /* reassembles what the device sends */

    uint32_t releases; /* new releases seen (for the harness's statistics) */
    int32_t no_samples_refusals; /* dev->refusals[NO_SAMPLES] after the last step */
} tinyfl_fuzz_oracle;

/* Reads the initial ledger from storage; call once per input, after storage is set up. */
void tinyfl_fuzz_oracle_start(tinyfl_fuzz_oracle *o, tinyfl_device *dev, tinyfl_fuzz_board *board);
/* Call right before tinyfl_device_init: decides whether this boot may release at all. */
void tinyfl_fuzz_oracle_before_boot(tinyfl_fuzz_oracle *o);
/* The board's link watcher: every byte the device writes. */
void tinyfl_fuzz_oracle_watch(void *oracle, const uint8_t *buf, size_t len);
/* Call after tinyfl_device_init and after every tinyfl_device_poll. */
void tinyfl_fuzz_oracle_after_step(tinyfl_fuzz_oracle *o);

#endif /* TINYFL_FUZZ_ORACLE_H */
