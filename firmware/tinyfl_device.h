/* The device runtime: serves the wire protocol, trains the head on the samples collected for
 * each round, protects the update and enforces the privacy budget.
 *
 * Usage on a board (the board owns the storage of the context, e.g. a static variable):
 *     static tinyfl_device dev;
 *     tinyfl_backbone bb; tinyfl_model_backbone(&bb);
 *     tinyfl_device_init(&dev, &port, &bb, device_id);
 *     for (;;) tinyfl_device_poll(&dev);
 */
#ifndef TINYFL_DEVICE_H
#define TINYFL_DEVICE_H

#include <stdint.h>

#include "tinyfl_backbone.h"
#include "tinyfl_config.h"
#include "tinyfl_drbg.h"
#include "tinyfl_entropy_health.h"
#include "tinyfl_frame.h"
#include "tinyfl_head.h"
#include "tinyfl_ledger.h"
#include "tinyfl_port.h"
#include "tinyfl_protect.h"
#ifdef TINYFL_SECAGG
#include "tinyfl_secagg_device.h" /* firmware/secagg/device/, on the include path of such images */
#endif

/* The last release, kept to answer a resend of its global model with the same update. */
typedef struct {
    uint8_t valid; /* 0 after boot: a resend then gets ROUND like any replay */
    uint16_t sample_count;
    uint16_t releases_done;
    uint32_t run;
    uint32_t round;
    uint64_t nonce;
    float eps_spent;
} tinyfl_release_cache;

typedef struct {
    const tinyfl_port *port;
    const tinyfl_backbone *backbone;
    uint32_t device_id;
    tinyfl_protect_config protect;
    tinyfl_drbg drbg;
    tinyfl_ledger ledger;
    tinyfl_entropy_health entropy_health;
    uint8_t entropy_ok;    /* start-up health tests passed and the generator is seeded */
    uint8_t rx_error_sent; /* an error was sent for a dropped frame since the last message */
    tinyfl_release_cache last_release;
    tinyfl_frame_rx rx;
    uint16_t tx_seq;
    uint32_t messages_refused; /* decoded messages refused (shape, round, value, ...) */
    int32_t refusals[TINYFL_STATUS_COUNT]; /* the same, by cause (a status code), since boot */

    float global[TINYFL_PARAMS];  /* head as received */
    float trained[TINYFL_PARAMS]; /* head after local training, then the update */
    int32_t values[TINYFL_PARAMS]; /* the last release's integers (public once sent) */
    float window[TINYFL_INPUT_LEN];
    float features[TINYFL_SAMPLES_PER_ROUND * TINYFL_HEAD_FEATURES];
    uint8_t labels[TINYFL_SAMPLES_PER_ROUND];
    float scratch[TINYFL_HEAD_TRAIN_SCRATCH(TINYFL_HEAD_CLASSES, TINYFL_HEAD_FEATURES)];
    uint8_t tx[TINYFL_WIRE_MAX_MESSAGE];
#ifdef TINYFL_SECAGG
    tinyfl_secagg_device secagg; /* the round under way; values[] is secret while it is */
#endif
} tinyfl_device;

/* Loads the ledger, seeds the noise generator from the entropy hook, sends hello. */
tinyfl_status tinyfl_device_init(tinyfl_device *dev, const tinyfl_port *port,
                                 const tinyfl_backbone *backbone, uint32_t device_id);
/* Reads what the link has, handles every complete message. Returns the status of the last
 * message handled (OK when nothing happened). Never blocks beyond one serial_read. */
tinyfl_status tinyfl_device_poll(tinyfl_device *dev);

#endif /* TINYFL_DEVICE_H */
