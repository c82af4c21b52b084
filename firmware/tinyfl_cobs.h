/* Consistent Overhead Byte Stuffing: removes every 0x00 from a frame so that 0x00 can delimit
 * frames on the link (and a receiver can resynchronise at the next one). */
#ifndef TINYFL_COBS_H
#define TINYFL_COBS_H

#include <stddef.h>
#include <stdint.h>

#include "tinyfl_status.h"

/* Largest encoding of n bytes, without the 0x00 delimiter. */
#define TINYFL_COBS_MAX_ENCODED(n) ((n) + (n) / 254u + 1u)

/* Encodes `len` bytes into `out` (no delimiter added). OVERSIZE if `cap` is too small. */
tinyfl_status tinyfl_cobs_encode(const uint8_t *in, size_t len, uint8_t *out, size_t cap,
                                 size_t *out_len);

/* Decodes one frame body (the bytes between delimiters, none of them 0x00). `out` may be `in`
 * (decoding in place: the output is never longer than the input). COBS if a code byte is 0x00
 * or points past the end, OVERSIZE if `cap` is too small. Never reads past in[len - 1]. */
tinyfl_status tinyfl_cobs_decode(const uint8_t *in, size_t len, uint8_t *out, size_t cap,
                                 size_t *out_len);

#endif /* TINYFL_COBS_H */
