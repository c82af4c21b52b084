/* libFuzzer harness: link bytes into the frame receiver, every reassembled message into the
 * decoder of its type, and every message back out through the sender.
 *
 * Checks, besides ASan/UBSan, the receiver's counting contract (tinyfl_frame.h): inside a
 * frame every byte returns AGAIN except the one that makes it overlong (OVERSIZE, counted once);
 * each delimited frame is counted once, plus once more only for an abandoned message; idle
 * delimiters are not counted; a returned rejection is counted.
 * Per message: its length is within the spec, an accepted payload re-encodes to itself, and
 * tinyfl_frame_send of it (chunk size from its seq) comes back through a fresh receiver as the
 * same type, seq and bytes. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "fuzz_fail.h"
#include "tinyfl_frame.h"
#include "wire_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static tinyfl_frame_rx rx;
static tinyfl_frame_rx echo;
static int echo_done;

static uint32_t counted(const tinyfl_frame_rx *r)
{
    uint32_t total = r->frames_ok;
    size_t i;
    for (i = 0; i < TINYFL_STATUS_COUNT; ++i) {
        total += r->rejected[i];
    }
    return total;
}

static tinyfl_status to_echo(void *user, const uint8_t *buf, size_t len)
{
    size_t i;
    (void)user;
    for (i = 0; i < len; ++i) {
        tinyfl_status st = tinyfl_frame_rx_push(&echo, buf[i]);
        TINYFL_FUZZ_CHECK(st == TINYFL_OK || st == TINYFL_AGAIN, "a sent frame is rejected");
        if (st == TINYFL_OK) {
            TINYFL_FUZZ_CHECK(!echo_done, "one message sent came back as two");
            echo_done = 1;
        }
    }
    return TINYFL_OK;
}

static void check_message(void)
{
    size_t chunk = TINYFL_WIRE_MIN_CHUNK + rx.msg_seq % (TINYFL_WIRE_MAX_CHUNK - TINYFL_WIRE_MIN_CHUNK + 1u);
    TINYFL_FUZZ_CHECK(rx.msg_len <= TINYFL_WIRE_MAX_MESSAGE, "message longer than the spec allows");
    TINYFL_FUZZ_CHECK(tinyfl_wire_type_known(rx.msg_type), "a message of an unknown type");
    (void)tinyfl_fuzz_wire_roundtrip(rx.msg_type, rx.msg, rx.msg_len, TINYFL_WIRE_MAX_PARAMS);

    tinyfl_frame_rx_init(&echo);
    echo_done = 0;
    TINYFL_FUZZ_CHECK(tinyfl_frame_send(rx.msg_type, rx.msg_seq, rx.msg, rx.msg_len, chunk, to_echo, NULL) ==
                          TINYFL_OK,
                      "a received message cannot be sent");
    TINYFL_FUZZ_CHECK(echo_done && echo.msg_type == rx.msg_type && echo.msg_seq == rx.msg_seq &&
                          echo.msg_len == rx.msg_len && memcmp(echo.msg, rx.msg, rx.msg_len) == 0,
                      "a message does not survive send and receive");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t i;
    size_t segment = 0; /* non-delimiter bytes since the last delimiter */
    uint32_t before;    /* counters when the segment began (one sum per frame, not per byte) */
    uint32_t chunk_before;
    tinyfl_frame_rx_init(&rx);
    before = counted(&rx);
    chunk_before = 0;
    for (i = 0; i < size; ++i) {
        tinyfl_status st = tinyfl_frame_rx_push(&rx, data[i]);
        if (data[i] != 0u) {
            /* inside a frame only the byte that makes it overlong is counted (and returned) */
            TINYFL_FUZZ_CHECK(st == (++segment == TINYFL_FRAME_MAX_ENCODED ? TINYFL_E_OVERSIZE : TINYFL_AGAIN),
                              "status while receiving a frame");
        } else {
            uint32_t delta = counted(&rx) - before;
            if (segment == 0) {
                TINYFL_FUZZ_CHECK(delta == 0 && st == TINYFL_AGAIN, "an idle delimiter counted");
            } else if (segment >= TINYFL_FRAME_MAX_ENCODED) {
                TINYFL_FUZZ_CHECK(delta == 1 && st == TINYFL_AGAIN, "an overlong frame not counted exactly once");
            } else {
                TINYFL_FUZZ_CHECK(delta == 1 || (delta == 2 && rx.rejected[TINYFL_E_CHUNK] > chunk_before),
                                  "a frame not counted exactly once (plus an abandoned message)");
                TINYFL_FUZZ_CHECK(st == TINYFL_OK || st == TINYFL_AGAIN || rx.rejected[st] > 0,
                                  "a returned rejection not counted");
            }
            segment = 0;
            before = counted(&rx);
            chunk_before = rx.rejected[TINYFL_E_CHUNK];
        }
        if (st == TINYFL_OK) {
            check_message();
        }
    }
    /* an unterminated frame at the end: counted only if it already became overlong */
    TINYFL_FUZZ_CHECK(counted(&rx) - before == (segment >= TINYFL_FRAME_MAX_ENCODED ? 1u : 0u),
                      "count while receiving a frame");
    return 0;
}
