/* The codec's round-trip invariant, shared by the wire harnesses: a payload that a generated
 * decoder accepts re-encodes to exactly the same bytes (so nothing is lost or invented). */
#ifndef TINYFL_FUZZ_WIRE_CHECK_H
#define TINYFL_FUZZ_WIRE_CHECK_H

#include <stddef.h>
#include <stdint.h>

#include "tinyfl_status.h"

/* Decodes `payload` as message `type` into arrays of exactly `cap` elements (ending at a
 * global's end, so ASan catches a decoder that writes past its caller's capacity) and, when it decodes, re-encodes
 * it and aborts unless the bytes are identical. Returns the decode status (TYPE for an unknown
 * type). */
tinyfl_status tinyfl_fuzz_wire_roundtrip(uint8_t type, const uint8_t *payload, size_t len, uint16_t cap);

#endif /* TINYFL_FUZZ_WIRE_CHECK_H */
