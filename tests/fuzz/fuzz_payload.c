/* libFuzzer harness: every generated message decoder on the same payload bytes (no framing, so
 * the fuzzer reaches the field checks without having to forge a CRC).
 *
 * Checks, besides ASan/UBSan: a decoder never reads past `len` (ASan: the input is a heap
 * copy of exactly len bytes) nor writes past the caller's array capacity (arrays that end at a
 * red zone, with the spec's maximum and with a small capacity), a smaller capacity changes a verdict
 * only to OVERSIZE, and every payload it accepts re-encodes to itself. */
#include <stddef.h>
#include <stdint.h>

#include "fuzz_fail.h"
#include "wire_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t type;
    /* a caller capacity below the spec's max_count, chosen by the length so it varies */
    uint16_t small_cap = (uint16_t)(size % 41u);
    for (type = 1; tinyfl_wire_type_known(type); ++type) {
        tinyfl_status st = tinyfl_fuzz_wire_roundtrip(type, data, size, TINYFL_WIRE_MAX_PARAMS);
        tinyfl_status small = tinyfl_fuzz_wire_roundtrip(type, data, size, small_cap);
        TINYFL_FUZZ_CHECK(st == TINYFL_OK || st == TINYFL_E_TRUNCATED || st == TINYFL_E_OVERSIZE ||
                              st == TINYFL_E_VALUE,
                          "a decoder returned a status outside its contract");
        /* less room can only turn an accepted array into OVERSIZE, nothing else */
        TINYFL_FUZZ_CHECK(small == st || small == TINYFL_E_OVERSIZE,
                          "a smaller caller capacity changed the verdict other than to OVERSIZE");
    }
    return 0;
}
