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
#include "tinyfl_frame.h"
#include "tinyfl_head.h"
#include "tinyfl_ledger.h"
#include "tinyfl_port.h"
#include "tinyfl_protect.h"

typedef struct {
    const tinyfl_port *port;
    const tinyfl_backbone *backbone;
    uint32_t device_id;
    tinyfl_protect_config protect;
    tinyfl_drbg drbg;
    tinyfl_ledger ledger;
    tinyfl_frame_rx rx;
    uint16_t tx_seq;
    uint32_t messages_refused; /* decoded messages refused (shape, round, value, ...) */
    int32_t refusals[TINYFL_STATUS_COUNT]; /* the same, by cause (a status code), since boot */

    float global[TINYFL_PARAMS];  /* head as received */
    float trained[TINYFL_PARAMS]; /* head after local training, then the update */
    int32_t values[TINYFL_PARAMS];
    float window[TINYFL_INPUT_LEN];
    float features[TINYFL_SAMPLES_PER_ROUND * TINYFL_HEAD_FEATURES];
    uint8_t labels[TINYFL_SAMPLES_PER_ROUND];
    float scratch[TINYFL_HEAD_TRAIN_SCRATCH(TINYFL_HEAD_CLASSES, TINYFL_HEAD_FEATURES)];
    uint8_t tx[TINYFL_WIRE_MAX_MESSAGE];
} tinyfl_device;

/* Loads the ledger, seeds the noise generator from the entropy hook, sends hello. */
tinyfl_status tinyfl_device_init(tinyfl_device *dev, const tinyfl_port *port,
                                 const tinyfl_backbone *backbone, uint32_t device_id);
/* Reads what the link has, handles every complete message. Returns the status of the last
 * message handled (OK when nothing happened). Never blocks beyond one serial_read. */
tinyfl_status tinyfl_device_poll(tinyfl_device *dev);

#endif /* TINYFL_DEVICE_H */
