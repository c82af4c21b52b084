/* Framing: COBS + header + CRC-32 (layout in tinyfl/wire/spec.py), chunking and reassembly.
 *
 * Invariants (docs/security.md): the receiver never writes past its buffers, drops any frame
 * that fails a check, counts every drop by status, and never trusts a length it has not
 * checked against what it actually received. */
#ifndef TINYFL_FRAME_H
#define TINYFL_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "tinyfl_status.h"

/* Largest frame on the link before COBS, and after (COBS adds 1 byte per 254, plus delimiter). */
#define TINYFL_FRAME_MAX_RAW (TINYFL_WIRE_HEADER_SIZE + TINYFL_WIRE_MAX_CHUNK + TINYFL_WIRE_CRC_SIZE)
#define TINYFL_FRAME_MAX_ENCODED (TINYFL_FRAME_MAX_RAW + TINYFL_FRAME_MAX_RAW / 254 + 2)

typedef tinyfl_status (*tinyfl_write_fn)(void *user, const uint8_t *buf, size_t len);

/* Sends `msg` (len <= TINYFL_WIRE_MAX_MESSAGE) as ceil(len / chunk) frames (one frame when
 * len == 0), chunk in [TINYFL_WIRE_MIN_CHUNK, TINYFL_WIRE_MAX_CHUNK]. */
tinyfl_status tinyfl_frame_send(uint8_t type, uint16_t seq, const uint8_t *msg, size_t len,
                                size_t chunk, tinyfl_write_fn write, void *user);

typedef struct {
    uint8_t raw[TINYFL_FRAME_MAX_ENCODED]; /* bytes of the frame being received */
    size_t raw_len;
    uint8_t discarding;                   /* an oversize frame: drop bytes until 0x00 */
    uint8_t msg[TINYFL_WIRE_MAX_MESSAGE];  /* reassembled message */
    size_t msg_len;
    uint8_t msg_type;
    uint16_t msg_seq;
    uint8_t next_chunk;                   /* 0 when no message is in progress */
    uint8_t nchunks;
    uint32_t frames_ok;
    uint32_t rejected[TINYFL_STATUS_COUNT]; /* drops, by status */
} tinyfl_frame_rx;

void tinyfl_frame_rx_init(tinyfl_frame_rx *rx);
/* Feeds one byte. Returns OK when a whole message is ready in rx->msg/msg_len/msg_type/msg_seq
 * (valid until the next call), AGAIN when more bytes are needed, or the status of a frame it
 * just dropped (also counted in rx->rejected). */
tinyfl_status tinyfl_frame_rx_push(tinyfl_frame_rx *rx, uint8_t byte);

#endif /* TINYFL_FRAME_H */
