/* Health tests of the entropy hook's output, in the spirit of NIST SP 800-90B section 4.4:
 * the repetition count test (a value repeated too many times in a row) and the adaptive
 * proportion test (one value too frequent in a window of 512 bytes), on bytes as samples.
 *
 * The cutoffs follow 800-90B with a false-alarm probability of 2^-20 per test and an assumed
 * min-entropy of H = 4 bits per byte of the hook's output (conservative for a conditioned TRNG,
 * which should give nearly 8): RCT cutoff 1 + ceil(20 / H) = 6, APT cutoff
 * 1 + CRITBINOM(512, 2^-H, 1 - 2^-20) = 62 (tests/test_entropy_health.py recomputes both). A
 * board that claims another H overrides them with -D. A stuck source fails the RCT within
 * 6 bytes, a source that takes few values fails the APT within a window. */
#ifndef TINYFL_ENTROPY_HEALTH_H
#define TINYFL_ENTROPY_HEALTH_H

#include <stddef.h>
#include <stdint.h>

#include "tinyfl_status.h"

#ifndef TINYFL_ENTROPY_RCT_CUTOFF
#define TINYFL_ENTROPY_RCT_CUTOFF 6u
#endif
#ifndef TINYFL_ENTROPY_APT_CUTOFF
#define TINYFL_ENTROPY_APT_CUTOFF 62u
#endif
#define TINYFL_ENTROPY_APT_WINDOW 512u

/* What a device asks of the entropy hook at boot, in this order: TINYFL_ENTROPY_STARTUP_BYTES
 * for the start-up health tests, then the generator's seed (also tested). A port whose source
 * is only usable at boot (ESP32's) draws this many bytes then; nothing more is asked later. */
#define TINYFL_ENTROPY_STARTUP_BYTES 1024u
#define TINYFL_ENTROPY_BOOT_BYTES (TINYFL_ENTROPY_STARTUP_BYTES + 44u) /* + TINYFL_DRBG_SEED_SIZE */

typedef struct {
    uint32_t samples;   /* bytes seen */
    uint16_t rct_run;   /* length of the current run of equal bytes */
    uint16_t apt_seen;  /* bytes of the current APT window seen so far */
    uint16_t apt_count; /* occurrences of the window's first byte in it */
    uint8_t rct_last;
    uint8_t apt_first;
    uint8_t failed;     /* sticky: once failed, every later feed fails */
} tinyfl_entropy_health;

void tinyfl_entropy_health_init(tinyfl_entropy_health *h);
/* Runs both tests over `n` more bytes; ENTROPY once either has failed (sticky), else OK. */
tinyfl_status tinyfl_entropy_health_feed(tinyfl_entropy_health *h, const uint8_t *bytes, size_t n);

#endif /* TINYFL_ENTROPY_HEALTH_H */
