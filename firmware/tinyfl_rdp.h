/* Renyi-DP arithmetic of the privacy ledger, in integer fixed point (units of 2^-16 nats).
 *
 * The ledger keeps the accumulated RDP of every release at TINYFL_RDP_ORDERS fixed orders
 * (tinyfl.privacy.ledger.RDP_ORDERS). An image adds its own per-release curve (computed by
 * dp-accounting at build time, rounded up) and turns the sum into eps with dp-accounting's
 * conversion (compute_epsilon), whose per-order delta term is also rounded up at build time:
 * the device never reports less than the truth, whatever image wrote the earlier releases.
 * TINYFL_RDP_UNBOUNDED saturates: no bound at that order (e.g. a release without noise). */
#ifndef TINYFL_RDP_H
#define TINYFL_RDP_H

#include <stdint.h>

#define TINYFL_RDP_ORDERS 156 /* part of the ledger format: changing it needs a new version */
#define TINYFL_RDP_UNBOUNDED UINT32_MAX
#define TINYFL_RDP_EPS_UNBOUNDED INT64_MAX /* eps when every order is unbounded */

typedef struct {
    const uint32_t *per_release; /* one release of this image; NULL: unbounded (no noise) */
    const int32_t *eps_offset;   /* log1p(-1/a) - log(delta a) / (a - 1), rounded up */
    uint32_t kl_zero_below;      /* stored RDP below this at some order proves eps = 0 */
    int64_t eps_limit;           /* the budget, rounded down */
} tinyfl_rdp_curve;

/* rdp += times * per_release, saturating per order. */
void tinyfl_rdp_charge(uint32_t rdp[TINYFL_RDP_ORDERS], const tinyfl_rdp_curve *curve, uint32_t times);
/* eps (units) of rdp plus `extra` more releases of the curve; TINYFL_RDP_EPS_UNBOUNDED if none. */
int64_t tinyfl_rdp_eps(const uint32_t rdp[TINYFL_RDP_ORDERS], const tinyfl_rdp_curve *curve, uint32_t extra);
/* The largest k <= cap such that k more releases keep eps within the curve's limit. */
uint32_t tinyfl_rdp_releases_left(const uint32_t rdp[TINYFL_RDP_ORDERS], const tinyfl_rdp_curve *curve,
                                  uint32_t cap);
/* eps in nats as a float, rounded up; FLT_MAX when unbounded. */
float tinyfl_rdp_eps_float(int64_t eps);

#endif /* TINYFL_RDP_H */
