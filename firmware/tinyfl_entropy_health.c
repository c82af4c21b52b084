#include "tinyfl_entropy_health.h"

#include <string.h>

void tinyfl_entropy_health_init(tinyfl_entropy_health *h)
{
    memset(h, 0, sizeof(*h));
}

static int repetition_count(tinyfl_entropy_health *h, uint8_t b)
{
    if (h->samples > 0 && b == h->rct_last) {
        h->rct_run++;
    } else {
        h->rct_last = b;
        h->rct_run = 1;
    }
    return h->rct_run >= TINYFL_ENTROPY_RCT_CUTOFF;
}

static int adaptive_proportion(tinyfl_entropy_health *h, uint8_t b)
{
    if (h->apt_seen == 0) {
        h->apt_first = b; /* a new window counts its first byte */
        h->apt_count = 1;
    } else if (b == h->apt_first) {
        h->apt_count++;
    }
    h->apt_seen++;
    int fail = h->apt_count >= TINYFL_ENTROPY_APT_CUTOFF;
    if (h->apt_seen == TINYFL_ENTROPY_APT_WINDOW) {
        h->apt_seen = 0;
    }
    return fail;
}

tinyfl_status tinyfl_entropy_health_feed(tinyfl_entropy_health *h, const uint8_t *bytes, size_t n)
{
    for (size_t i = 0; i < n && !h->failed; i++) {
        int rct = repetition_count(h, bytes[i]);
        int apt = adaptive_proportion(h, bytes[i]);
        h->failed = (uint8_t)(rct || apt);
        if (h->samples < UINT32_MAX) {
            h->samples++;
        }
    }
    return h->failed ? TINYFL_E_ENTROPY : TINYFL_OK;
}
