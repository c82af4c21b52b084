/* libFuzzer harness: every generated message decoder on the same payload bytes (no framing, so
 * the fuzzer reaches the field checks without having to forge a CRC).
 *
 * Checks, besides ASan/UBSan: a decoder never reads past `len` (ASan: the input is a heap
 * copy of exactly len bytes), and every payload it accepts re-encodes to itself. */
#include <stddef.h>
#include <stdint.h>

#include "fuzz_fail.h"
#include "wire_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t type;
    for (type = 1; tinyfl_wire_type_known(type); ++type) {
        tinyfl_status st = tinyfl_fuzz_wire_roundtrip(type, data, size);
        TINYFL_FUZZ_CHECK(st == TINYFL_OK || st == TINYFL_E_TRUNCATED || st == TINYFL_E_OVERSIZE ||
                              st == TINYFL_E_VALUE,
                          "a decoder returned a status outside its contract");
    }
    return 0;
}
