/* The board side of the BLE link: the frame stream cut into ATT values by the wire spec's rule,
 * and the bounded buffer between the BLE stack's write callback and the runtime.
 *
 * Chunking rule (tinyfl/wire/spec.py, generated as TINYFL_WIRE_BLE_*): a value carries at most
 * TINYFL_WIRE_BLE_VALUE_MAX(mtu) bytes and never bytes of two frames (a value ends at every
 * 0x00 delimiter), so a lost notification costs exactly one frame. On every new connection the
 * receive buffer gets a 0x00 first: a frame torn by the last disconnect is rejected alone.
 *
 * Portable C99 (host-tested), no malloc: the caller owns the struct. Not thread-safe: a board
 * whose BLE stack calls back from another task (NimBLE) locks around push and pop. */
#ifndef TINYFL_BLE_STREAM_H
#define TINYFL_BLE_STREAM_H

#ifdef __cplusplus
extern "C" {
#endif

#include <stddef.h>
#include <stdint.h>

#include "tinyfl_status.h"
#include "generated/tinyfl_wire_gen.h"

/* Received bytes held until the runtime reads them: a whole largest message (a global_model
 * of MAX_MESSAGE bytes in MIN_CHUNK frames, each 15 bytes of overhead) fits while the board
 * is busy training. */
#ifndef TINYFL_BLE_RX_CAP
#define TINYFL_BLE_RX_CAP (TINYFL_WIRE_MAX_MESSAGE + TINYFL_WIRE_MAX_CHUNKS * 15)
#endif
#if TINYFL_BLE_RX_CAP < 256 || TINYFL_BLE_RX_CAP > 65535
#error "TINYFL_BLE_RX_CAP must be 256..65535"
#endif

typedef struct {
    uint8_t buf[TINYFL_BLE_RX_CAP];
    uint16_t head;     /* index of the oldest byte */
    uint16_t count;    /* bytes held */
    uint32_t dropped;  /* bytes refused because the buffer was full */
} tinyfl_ble_rx;

void tinyfl_ble_rx_init(tinyfl_ble_rx *rx);
/* Appends what fits; the rest is dropped and counted. Returns the bytes taken. */
size_t tinyfl_ble_rx_push(tinyfl_ble_rx *rx, const uint8_t *data, size_t len);
/* A new connection: ends a frame the previous one may have torn. */
void tinyfl_ble_rx_connected(tinyfl_ble_rx *rx);
/* Moves up to cap held bytes into out, oldest first. Returns the bytes moved. */
size_t tinyfl_ble_rx_pop(tinyfl_ble_rx *rx, uint8_t *out, size_t cap);

/* Length of the first value of data[0..len) at this ATT MTU (an MTU outside the spec's
 * range counts as its nearest bound). 0 only when len is 0. */
size_t tinyfl_ble_value_len(const uint8_t *data, size_t len, uint16_t mtu);

/* Sends one notification; returns 0 when the stack took it. */
typedef int (*tinyfl_ble_notify_fn)(void *user, const uint8_t *value, size_t len);
/* Cuts data into values and notifies each in order. TINYFL_E_IO if a notification fails
 * (the rest is not sent: the host recovers the lost frame by asking again). */
tinyfl_status tinyfl_ble_send(const uint8_t *data, size_t len, uint16_t mtu,
                              tinyfl_ble_notify_fn notify, void *user);

#ifdef __cplusplus
}
#endif

#endif /* TINYFL_BLE_STREAM_H */
