/* Secure-aggregation rounds in the device state machine (images built with TINYFL_SECAGG).
 *
 * A global_model is checked, trained on and clipped exactly as in a plain round
 * (tinyfl_device.c); the device then adds its share of the distributed noise and answers with
 * secagg_keys instead of an update. The steps that follow (neighbours, shares, mask, unmask)
 * are handled here with tinyfl_secagg; every refusal wipes the round's secrets (keys, self-mask
 * seed, shares and the noised update, which is secret until masked). Both curves are charged
 * to the ledger, durably, before the masked update leaves. */
#ifndef TINYFL_SECAGG_DEVICE_H
#define TINYFL_SECAGG_DEVICE_H

#include <stdint.h>

#include "tinyfl_config.h"
#include "tinyfl_secagg.h"
#include "tinyfl_secagg_image.h"
#include "tinyfl_secagg_ledger.h"

#if defined(TINYFL_TEST_NO_NOISE) || defined(TINYFL_TEST_REUSE_SEED) || \
    defined(TINYFL_TEST_NOISE_BEFORE_CLIP) || defined(TINYFL_TEST_CLIP_SCALE_LOG2) || \
    defined(TINYFL_TEST_UNNOISED_COORD)
#error "the broken-mechanism test variants are plain-round only: not with TINYFL_SECAGG"
#endif

typedef struct {
    tinyfl_secagg sa;
    tinyfl_secagg_config cfg;
    tinyfl_secagg_ledger ledger; /* the central RDP sum, stored with the plain record */
    uint8_t active;              /* a round is under way: the device's values are secret */
    uint16_t sample_count;
    uint32_t run;
    uint32_t round;
    uint64_t nonce;
    uint32_t sa_run; /* run of the rounds `sa` has begun: its replay rule holds within a run */
    uint32_t masked[TINYFL_PARAMS];
    union { /* one step's records at a time */
        uint8_t neighbour[TINYFL_SECAGG_MAX_NEIGHBOURS][2 + 64];
        uint8_t cipher[TINYFL_SECAGG_MAX_NEIGHBOURS][TINYFL_SECAGG_CIPHER_SIZE];
        uint8_t reveal[TINYFL_SECAGG_MAX_NEIGHBOURS][TINYFL_SECAGG_REVEAL_SIZE];
    } io;
    tinyfl_secagg_neighbour neighbours[TINYFL_SECAGG_MAX_NEIGHBOURS];
    uint16_t ids[TINYFL_SECAGG_MAX_NEIGHBOURS];
} tinyfl_secagg_device;

#endif /* TINYFL_SECAGG_DEVICE_H */
