/* The seam between the device state machine (tinyfl_device.c) and its secure-aggregation
 * rounds (tinyfl_secagg_device.c), both directions. Images with TINYFL_SECAGG only. */
#ifndef TINYFL_SECAGG_ROUND_H
#define TINYFL_SECAGG_ROUND_H

#include "tinyfl_device.h"

/* -- tinyfl_secagg_device.c, called by tinyfl_device.c -- */
/* Before the ledger is loaded: the policy and the ledger's storage wrapper. */
void tinyfl_secagg_device_init(tinyfl_device *dev);
/* dev->values holds the clipped update on the grid: add the noise share, draw the keys,
 * send secagg_keys. */
tinyfl_status tinyfl_secagg_device_begin(tinyfl_device *dev, uint32_t run, uint32_t round,
                                         uint64_t nonce, uint16_t sample_count);
/* A secure-aggregation message from the host; TINYFL_E_TYPE for any other type. */
tinyfl_status tinyfl_secagg_device_handle(tinyfl_device *dev, uint8_t type, const uint8_t *payload,
                                          size_t len);
/* Wipes the round's secrets and ends it. */
void tinyfl_secagg_device_abort(tinyfl_device *dev);
tinyfl_status tinyfl_secagg_device_send_policy(tinyfl_device *dev);

/* -- tinyfl_device.c, called by tinyfl_secagg_device.c -- */
tinyfl_status tinyfl_device_send(tinyfl_device *dev, uint8_t type, tinyfl_status encoded, const size_t *len);
tinyfl_status tinyfl_device_refuse(tinyfl_device *dev, tinyfl_status code, uint32_t round, uint32_t detail);
/* Charges one release (both curves) with (run, round) as the last release, durably. */
tinyfl_status tinyfl_device_charge_release(tinyfl_device *dev, uint32_t run, uint32_t round);
/* eps of the ledger: central (against an honest-but-curious server) or local (any server). */
float tinyfl_device_eps(const tinyfl_device *dev, int central);

#endif /* TINYFL_SECAGG_ROUND_H */
