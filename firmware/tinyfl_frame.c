/* Framing: see tinyfl_frame.h and docs/protocol.md. tinyfl/wire/frame.py mirrors this receiver
 * step for step (same checks, same order, same counters); tests feed both the same bytes. */
#define TINYFL_WIRE_EXPECTED_SPEC_VERSION 3 /* the header layout below is spelled out by hand */
#include "tinyfl_frame.h"

#include <string.h>

#include "tinyfl_cobs.h"
#include "tinyfl_crc32.h"

/* Header offsets (spec.py: version:u8 type:u8 seq:u16 chunk:u8 nchunks:u8 length:u16). */
enum {
    TINYFL_FRAME_AT_VERSION = 0,
    TINYFL_FRAME_AT_TYPE = 1,
    TINYFL_FRAME_AT_SEQ = 2,
    TINYFL_FRAME_AT_CHUNK = 4,
    TINYFL_FRAME_AT_NCHUNKS = 5,
    TINYFL_FRAME_AT_LENGTH = 6
};

static uint16_t tinyfl_frame_get_u16(const uint8_t *p)
{
    return (uint16_t)((uint16_t)p[0] | (uint16_t)((uint16_t)p[1] << 8));
}

static void tinyfl_frame_put_u16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v & 0xFFu);
    p[1] = (uint8_t)(v >> 8);
}

static uint32_t tinyfl_frame_get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static void tinyfl_frame_put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v & 0xFFu);
    p[1] = (uint8_t)((v >> 8) & 0xFFu);
    p[2] = (uint8_t)((v >> 16) & 0xFFu);
    p[3] = (uint8_t)(v >> 24);
}

tinyfl_status tinyfl_frame_send(uint8_t type, uint16_t seq, const uint8_t *msg, size_t len,
                                size_t chunk, tinyfl_write_fn write, void *user)
{
    uint8_t raw[TINYFL_FRAME_MAX_RAW];
    uint8_t encoded[TINYFL_FRAME_MAX_ENCODED];
    size_t nchunks;
    size_t i;
    if ((msg == NULL && len > 0) || write == NULL || chunk < TINYFL_WIRE_MIN_CHUNK ||
        chunk > TINYFL_WIRE_MAX_CHUNK) {
        return TINYFL_E_ARG;
    }
    if (!tinyfl_wire_type_known(type)) {
        return TINYFL_E_TYPE;
    }
    if (len > TINYFL_WIRE_MAX_MESSAGE) {
        return TINYFL_E_OVERSIZE;
    }
    nchunks = len == 0 ? 1u : (len + chunk - 1u) / chunk;
    for (i = 0; i < nchunks; ++i) {
        size_t offset = i * chunk;
        size_t n = len - offset < chunk ? len - offset : chunk;
        size_t encoded_len = 0;
        size_t k;
        tinyfl_status st;
        raw[TINYFL_FRAME_AT_VERSION] = TINYFL_WIRE_PROTOCOL_VERSION;
        raw[TINYFL_FRAME_AT_TYPE] = type;
        tinyfl_frame_put_u16(raw + TINYFL_FRAME_AT_SEQ, seq);
        raw[TINYFL_FRAME_AT_CHUNK] = (uint8_t)i;
        raw[TINYFL_FRAME_AT_NCHUNKS] = (uint8_t)nchunks;
        tinyfl_frame_put_u16(raw + TINYFL_FRAME_AT_LENGTH, (uint16_t)n);
        for (k = 0; k < n; ++k) {
            raw[TINYFL_WIRE_HEADER_SIZE + k] = msg[offset + k];
        }
        tinyfl_frame_put_u32(raw + TINYFL_WIRE_HEADER_SIZE + n,
                             tinyfl_crc32(raw, TINYFL_WIRE_HEADER_SIZE + n));
        st = tinyfl_cobs_encode(raw, TINYFL_WIRE_HEADER_SIZE + n + TINYFL_WIRE_CRC_SIZE, encoded,
                                sizeof encoded - 1u, &encoded_len);
        if (st != TINYFL_OK) {
            return TINYFL_E_INTERNAL; /* cannot happen: encoded is sized for the largest frame */
        }
        encoded[encoded_len++] = 0u;
        st = write(user, encoded, encoded_len);
        if (st != TINYFL_OK) {
            return st;
        }
    }
    return TINYFL_OK;
}

void tinyfl_frame_rx_init(tinyfl_frame_rx *rx)
{
    memset(rx, 0, sizeof *rx);
}

static tinyfl_status tinyfl_frame_reject(tinyfl_frame_rx *rx, tinyfl_status st)
{
    rx->rejected[st]++;
    return st;
}

/* A message in progress that will not complete is counted once, as CHUNK. */
static void tinyfl_frame_abandon(tinyfl_frame_rx *rx)
{
    rx->next_chunk = 0;
    rx->msg_len = 0;
    rx->rejected[TINYFL_E_CHUNK]++;
}

/* One whole frame body (COBS-encoded, delimiter removed) is in rx->raw. */
static tinyfl_status tinyfl_frame_accept(tinyfl_frame_rx *rx)
{
    uint8_t *raw = rx->raw;
    size_t n = 0;
    size_t received;
    uint16_t length;
    uint8_t type;
    uint16_t seq;
    uint8_t chunk;
    uint8_t nchunks;
    int abandoned = 0;
    size_t k;
    if (tinyfl_cobs_decode(raw, rx->raw_len, raw, rx->raw_len, &n) != TINYFL_OK) {
        return tinyfl_frame_reject(rx, TINYFL_E_COBS);
    }
    if (n < TINYFL_WIRE_HEADER_SIZE + TINYFL_WIRE_CRC_SIZE) {
        return tinyfl_frame_reject(rx, TINYFL_E_TRUNCATED);
    }
    if (tinyfl_crc32(raw, n - TINYFL_WIRE_CRC_SIZE) !=
        tinyfl_frame_get_u32(raw + n - TINYFL_WIRE_CRC_SIZE)) {
        return tinyfl_frame_reject(rx, TINYFL_E_CRC);
    }
    if (raw[TINYFL_FRAME_AT_VERSION] != TINYFL_WIRE_PROTOCOL_VERSION) {
        return tinyfl_frame_reject(rx, TINYFL_E_VERSION);
    }
    /* the stated length must equal what arrived */
    length = tinyfl_frame_get_u16(raw + TINYFL_FRAME_AT_LENGTH);
    received = n - TINYFL_WIRE_HEADER_SIZE - TINYFL_WIRE_CRC_SIZE;
    if (length > TINYFL_WIRE_MAX_CHUNK) {
        return tinyfl_frame_reject(rx, TINYFL_E_OVERSIZE);
    }
    if (received < length) {
        return tinyfl_frame_reject(rx, TINYFL_E_TRUNCATED);
    }
    if (received > length) {
        return tinyfl_frame_reject(rx, TINYFL_E_OVERSIZE);
    }
    type = raw[TINYFL_FRAME_AT_TYPE];
    if (!tinyfl_wire_type_known(type)) {
        return tinyfl_frame_reject(rx, TINYFL_E_TYPE);
    }
    seq = tinyfl_frame_get_u16(raw + TINYFL_FRAME_AT_SEQ);
    chunk = raw[TINYFL_FRAME_AT_CHUNK];
    nchunks = raw[TINYFL_FRAME_AT_NCHUNKS];

    /* reassembly: continue the message in progress, or start one at chunk 0 */
    if (rx->next_chunk != 0 && (chunk != rx->next_chunk || type != rx->msg_type ||
                                seq != rx->msg_seq || nchunks != rx->nchunks)) {
        tinyfl_frame_abandon(rx);
        abandoned = 1;
    }
    if (rx->next_chunk == 0) {
        if (chunk != 0 || nchunks == 0) {
            return tinyfl_frame_reject(rx, TINYFL_E_CHUNK);
        }
        rx->msg_type = type;
        rx->msg_seq = seq;
        rx->nchunks = nchunks;
        rx->msg_len = 0;
    }
    if (rx->msg_len + length > TINYFL_WIRE_MAX_MESSAGE) {
        tinyfl_frame_abandon(rx);
        return tinyfl_frame_reject(rx, TINYFL_E_OVERSIZE);
    }
    for (k = 0; k < length; ++k) {
        rx->msg[rx->msg_len + k] = raw[TINYFL_WIRE_HEADER_SIZE + k];
    }
    rx->msg_len += length;
    rx->frames_ok++;
    rx->next_chunk++;
    if (rx->next_chunk == rx->nchunks) {
        rx->next_chunk = 0;
        return TINYFL_OK;
    }
    return abandoned ? TINYFL_E_CHUNK : TINYFL_AGAIN;
}

tinyfl_status tinyfl_frame_rx_push(tinyfl_frame_rx *rx, uint8_t byte)
{
    tinyfl_status st;
    if (rx == NULL) {
        return TINYFL_E_ARG;
    }
    if (byte == 0u) {
        if (rx->discarding) {
            rx->discarding = 0;
            return TINYFL_AGAIN;
        }
        if (rx->raw_len == 0) {
            return TINYFL_AGAIN; /* idle delimiters between frames are not frames */
        }
        st = tinyfl_frame_accept(rx);
        rx->raw_len = 0;
        return st;
    }
    if (rx->discarding) {
        return TINYFL_AGAIN;
    }
    if (rx->raw_len >= TINYFL_FRAME_MAX_ENCODED - 1u) {
        /* longer than any valid frame: drop it and everything up to the next delimiter */
        rx->discarding = 1;
        rx->raw_len = 0;
        return tinyfl_frame_reject(rx, TINYFL_E_OVERSIZE);
    }
    rx->raw[rx->raw_len++] = byte;
    return TINYFL_AGAIN;
}
