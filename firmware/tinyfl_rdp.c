#include "tinyfl_rdp.h"

#include <float.h>
#include <math.h>
#include <stddef.h>

#define RDP_UNIT 65536.0

/* One order after `times` more releases, saturating to UNBOUNDED. */
static uint32_t charged(uint32_t stored, const tinyfl_rdp_curve *curve, size_t order, uint32_t times)
{
    if (times == 0) {
        return stored;
    }
    uint32_t per = curve->per_release == NULL ? TINYFL_RDP_UNBOUNDED : curve->per_release[order];
    if (stored == TINYFL_RDP_UNBOUNDED || per == TINYFL_RDP_UNBOUNDED) {
        return TINYFL_RDP_UNBOUNDED;
    }
    uint64_t sum = (uint64_t)stored + (uint64_t)per * times; /* < 2^64: both factors < 2^32 */
    return sum >= TINYFL_RDP_UNBOUNDED ? TINYFL_RDP_UNBOUNDED : (uint32_t)sum;
}

void tinyfl_rdp_charge(uint32_t rdp[TINYFL_RDP_ORDERS], const tinyfl_rdp_curve *curve, uint32_t times)
{
    for (size_t i = 0; i < TINYFL_RDP_ORDERS; i++) {
        rdp[i] = charged(rdp[i], curve, i, times);
    }
}

int64_t tinyfl_rdp_eps(const uint32_t rdp[TINYFL_RDP_ORDERS], const tinyfl_rdp_curve *curve, uint32_t extra)
{
    int64_t best = TINYFL_RDP_EPS_UNBOUNDED;
    for (size_t i = 0; i < TINYFL_RDP_ORDERS; i++) {
        uint32_t r = charged(rdp[i], curve, i, extra);
        if (r == TINYFL_RDP_UNBOUNDED) {
            continue;
        }
        if (r < curve->kl_zero_below) {
            return 0;
        }
        int64_t e = (int64_t)r + curve->eps_offset[i];
        if (e < best) {
            best = e;
        }
    }
    return best < 0 ? 0 : best;
}

uint32_t tinyfl_rdp_releases_left(const uint32_t rdp[TINYFL_RDP_ORDERS], const tinyfl_rdp_curve *curve,
                                  uint32_t cap)
{
    /* eps never decreases with more releases: binary search the last k that fits. */
    uint32_t lo = 0, hi = cap;
    if (tinyfl_rdp_eps(rdp, curve, 0) > curve->eps_limit) {
        return 0;
    }
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo + 1u) / 2u;
        if (tinyfl_rdp_eps(rdp, curve, mid) <= curve->eps_limit) {
            lo = mid;
        } else {
            hi = mid - 1u;
        }
    }
    return lo;
}

float tinyfl_rdp_eps_float(int64_t eps)
{
    if (eps == TINYFL_RDP_EPS_UNBOUNDED) {
        return FLT_MAX;
    }
    double exact = (double)eps / RDP_UNIT; /* exact: eps < 2^53 */
    float f = (float)exact;
    if ((double)f < exact) {
        f = nextafterf(f, FLT_MAX); /* never report less than the ledger holds */
    }
    return f;
}
