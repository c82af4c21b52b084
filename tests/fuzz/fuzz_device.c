/* libFuzzer harness: the whole device receive path (tinyfl_device_init/poll with the firmware's
 * real framing, codec, guard, training, protection and ledger) on an in-memory board, driven by
 * a script the fuzzer writes. fuzz_oracle.h lists what is checked after every step.
 *
 * Input layout (fuzz_input.h reads zeros past the end, so every input is a valid script):
 *   storage: mode (fresh, a valid record, raw bytes, a valid record with one byte flipped),
 *            releases_done, last_run, last_round
 *   faults:  flags (entropy fails, storage reads fail, failing writes are torn), write-fault mask
 *            (serial write faults start off; OP_LINK_FAULTS sets them)
 *   then operations until the input ends, each an opcode byte and its arguments (see OP_*).
 * The fuzzer can write raw link bytes, but most operations build well-formed frames (CRC and
 * all), so that mutations reach the device's message handling instead of the CRC check. */
#define TINYFL_WIRE_EXPECTED_SPEC_VERSION 3 /* builds global_model messages field by field */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_board.h"
#include "fuzz_input.h"
#include "fuzz_oracle.h"
#include "tinyfl_device.h"
#include "tinyfl_model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum {
    OP_RAW,          /* n, n bytes onto the link */
    OP_FRAME,        /* type, seq, chunk, length, payload: any payload, framed correctly */
    OP_GLOBAL_MODEL, /* a global_model near the device's last release, framed */
    OP_POLL,         /* bytes per serial_read, then one tinyfl_device_poll */
    OP_SAMPLES,      /* n, then n sensor events (fuzz_board.h) */
    OP_REBOOT,       /* tinyfl_device_init again on the same storage */
    OP_WRITE_FAULTS, /* a new storage write-fault mask */
    OP_LINK_FAULTS,  /* a new serial write-fault mask */
    OP_COUNT
};

enum { STORAGE_FRESH, STORAGE_VALID, STORAGE_RAW, STORAGE_FLIPPED, STORAGE_MODES };

#define FLAG_ENTROPY_FAILS 0x01u
#define FLAG_READ_FAILS 0x02u
#define FLAG_TORN_WRITES 0x04u

#define DEVICE_ID 0x7F0Fu
#define MAX_DRAIN_POLLS 256u

static tinyfl_fuzz_board board;
static tinyfl_fuzz_oracle oracle;
static tinyfl_port port;
static tinyfl_device dev;
static tinyfl_backbone backbone;
static float params[(TINYFL_HEAD_CLASSES + 1) * (TINYFL_HEAD_FEATURES + 2)]; /* room for a wrong shape */
static uint8_t message[TINYFL_WIRE_MAX_MESSAGE];

/* TINYFL_FUZZ_TRACE=1 in the environment: one line per step on stderr, to read a crash. */
static int tracing;

static void trace(const char *what, unsigned long a, unsigned long b)
{
    if (tracing) {
        fprintf(stderr, "[device] %s %lu %lu\n", what, a, b);
    }
}

static tinyfl_status to_link(void *user, const uint8_t *buf, size_t len)
{
    tinyfl_fuzz_board_send((tinyfl_fuzz_board *)user, buf, len);
    return TINYFL_OK;
}

static size_t chunk_size(uint8_t b)
{
    return TINYFL_WIRE_MIN_CHUNK + b % (TINYFL_WIRE_MAX_CHUNK - TINYFL_WIRE_MIN_CHUNK + 1u);
}

static void setup_storage(tinyfl_fuzz_input *in)
{
    uint8_t mode = (uint8_t)(tinyfl_fuzz_u8(in) % STORAGE_MODES);
    tinyfl_ledger ledger;
    tinyfl_port truth;
    memset(&ledger, 0, sizeof(ledger));
    {   /* a consistent record: k releases of this image, k up to one past its budget */
        uint32_t allowed = tinyfl_rdp_releases_left(ledger.rdp, tinyfl_fuzz_rdp_curve(), UINT16_MAX);
        uint32_t k = tinyfl_fuzz_u8(in) % (allowed + 2u);
        ledger.releases_done = (uint16_t)k;
        tinyfl_rdp_charge(ledger.rdp, tinyfl_fuzz_rdp_curve(), k);
    }
    ledger.last_run = tinyfl_fuzz_u32(in);
    ledger.last_round = tinyfl_fuzz_u32(in);
    tinyfl_fuzz_board_truth_port(&board, &truth);
    if (mode == STORAGE_VALID || mode == STORAGE_FLIPPED) {
        (void)tinyfl_ledger_store(&ledger, &truth);
        if (mode == STORAGE_FLIPPED) {
            uint8_t at = tinyfl_fuzz_u8(in);
            board.record[at % TINYFL_LEDGER_SIZE] ^= (uint8_t)(1u << (at % 8u));
        }
    } else if (mode == STORAGE_RAW) {
        size_t got = 0;
        const uint8_t *raw = tinyfl_fuzz_bytes(in, TINYFL_LEDGER_SIZE, &got);
        memcpy(board.record, raw, got);
        board.record_len = TINYFL_LEDGER_SIZE;
    }
}

static void boot(void)
{
    tinyfl_status st;
    tinyfl_fuzz_oracle_before_boot(&oracle);
    st = tinyfl_device_init(&dev, &port, &backbone, DEVICE_ID);
    trace("boot, status", (unsigned long)st, (unsigned long)oracle.may_release);
    tinyfl_fuzz_oracle_after_step(&oracle);
}

static void poll_once(void)
{
    tinyfl_status st = tinyfl_device_poll(&dev);
    trace("poll, status", (unsigned long)st, (unsigned long)tinyfl_fuzz_board_pending(&board));
    tinyfl_fuzz_oracle_after_step(&oracle);
}

static void send_frame(tinyfl_fuzz_input *in)
{
    uint8_t type = tinyfl_fuzz_u8(in);
    uint16_t seq = tinyfl_fuzz_u16(in);
    size_t chunk = chunk_size(tinyfl_fuzz_u8(in));
    size_t len = tinyfl_fuzz_u16(in) % (TINYFL_WIRE_MAX_MESSAGE + 1u);
    const uint8_t *payload = tinyfl_fuzz_bytes(in, len, &len);
    trace("frame, type", type, (unsigned long)len);
    (void)tinyfl_frame_send(type, seq, payload, len, chunk, to_link, &board);
}

/* (run, round) around the last release the oracle knows of: equal, just above, just below. */
static void pick_run_round(tinyfl_fuzz_input *in, uint32_t *run, uint32_t *round)
{
    uint8_t how = tinyfl_fuzz_u8(in);
    int8_t step = (int8_t)tinyfl_fuzz_u8(in);
    uint32_t last_run = (uint32_t)(oracle.last_release >> 32);
    uint32_t last_round = (uint32_t)oracle.last_release;
    switch (how % 4u) {
    case 0: /* the same run */
        *run = last_run;
        *round = last_round + (uint32_t)(int32_t)step;
        break;
    case 1: /* the next run */
        *run = last_run + 1u;
        *round = (uint32_t)(int32_t)step;
        break;
    case 2: /* an older run */
        *run = last_run - 1u;
        *round = last_round + (uint32_t)(int32_t)step;
        break;
    default:
        *run = tinyfl_fuzz_u32(in);
        *round = tinyfl_fuzz_u32(in);
        break;
    }
    *run = *run ? *run : 1u; /* the spec's minimum, so the message encodes */
    *round = *round ? *round : 1u;
}

static void send_global_model(tinyfl_fuzz_input *in)
{
    tinyfl_msg_global_model m;
    uint8_t shape, seed, scale;
    size_t chunk, len = 0, i;
    uint16_t seq;
    memset(&m, 0, sizeof(m));
    pick_run_round(in, &m.run, &m.round);
    m.nonce = tinyfl_fuzz_u32(in);
    m.lr = (float)(tinyfl_fuzz_u8(in) % 101u) / 10.0f;
    m.local_epochs = (uint8_t)(1u + tinyfl_fuzz_u8(in) % 20u);
    m.batch_size = (uint8_t)(1u + tinyfl_fuzz_u8(in) % 64u);
    shape = tinyfl_fuzz_u8(in);
    seed = tinyfl_fuzz_u8(in);
    scale = tinyfl_fuzz_u8(in);
    chunk = chunk_size(tinyfl_fuzz_u8(in));
    seq = tinyfl_fuzz_u16(in);
    /* mostly the device's shape; sometimes a wrong shape field, a count that disagrees with
     * the shape, or a head too large for the device's buffer */
    m.n_classes = (uint16_t)(TINYFL_HEAD_CLASSES + (shape % 8u == 1u || shape % 8u == 4u));
    m.n_features = (uint16_t)(TINYFL_HEAD_FEATURES + (shape % 8u == 2u || shape % 8u == 4u));
    m.params_count = (uint16_t)(shape % 8u == 4u ? m.n_classes * (m.n_features + 1u)
                                                 : TINYFL_PARAMS - (shape % 8u == 3u));
    m.params = params;
    for (i = 0; i < m.params_count; i++) {
        uint32_t x = (uint32_t)seed * 2246822519u + (uint32_t)i * 3266489917u;
        x ^= x >> 15;
        /* |w| <= scale / 8 (up to 32): some heads pass the crafted-head guard, some do not */
        params[i] = (float)scale / 8.0f * ((float)(int32_t)(x % 2001u) / 1000.0f - 1.0f);
    }
    trace("global_model, run", m.run, m.round);
    if (tinyfl_msg_global_model_encode(&m, message, sizeof(message), &len) == TINYFL_OK) {
        (void)tinyfl_frame_send(TINYFL_MSG_GLOBAL_MODEL, seq, message, len, chunk, to_link, &board);
    }
}

static void add_samples(tinyfl_fuzz_input *in)
{
    uint8_t n = (uint8_t)(tinyfl_fuzz_u8(in) % 16u);
    while (n-- > 0) {
        tinyfl_fuzz_sample s;
        s.kind = tinyfl_fuzz_u8(in);
        s.label = tinyfl_fuzz_u8(in);
        s.seed = tinyfl_fuzz_u8(in);
        s.where = tinyfl_fuzz_u8(in);
        trace("sample, kind", s.kind % TINYFL_FUZZ_SAMPLE_KINDS, s.label);
        tinyfl_fuzz_board_add_sample(&board, s);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tinyfl_fuzz_input in = {data, size, 0};
    uint8_t flags;
    unsigned drain;

    tracing = getenv("TINYFL_FUZZ_TRACE") != NULL;
    tinyfl_fuzz_board_reset(&board, tinyfl_fuzz_oracle_watch, &oracle);
    setup_storage(&in);
    flags = tinyfl_fuzz_u8(&in);
    board.entropy_fails = (flags & FLAG_ENTROPY_FAILS) != 0;
    board.read_fails = (flags & FLAG_READ_FAILS) != 0;
    board.torn_writes = (flags & FLAG_TORN_WRITES) != 0;
    board.write_fails = tinyfl_fuzz_u32(&in);
    tinyfl_fuzz_board_port(&board, &port);
    tinyfl_model_backbone(&backbone);
    tinyfl_fuzz_oracle_start(&oracle, &dev, &board);

    boot();
    while (tinyfl_fuzz_more(&in)) {
        switch (tinyfl_fuzz_u8(&in) % OP_COUNT) {
        case OP_RAW: {
            size_t n = 0;
            const uint8_t *raw = tinyfl_fuzz_bytes(&in, tinyfl_fuzz_u8(&in), &n);
            trace("raw bytes", (unsigned long)n, 0);
            tinyfl_fuzz_board_send(&board, raw, n);
            break;
        }
        case OP_FRAME:
            send_frame(&in);
            break;
        case OP_GLOBAL_MODEL:
            send_global_model(&in);
            break;
        case OP_POLL:
            board.read_size = 1u + tinyfl_fuzz_u8(&in) % 64u;
            poll_once();
            break;
        case OP_SAMPLES:
            add_samples(&in);
            break;
        case OP_REBOOT:
            trace("reboot", 0, 0);
            boot();
            break;
        case OP_WRITE_FAULTS:
            board.write_fails = tinyfl_fuzz_u32(&in);
            break;
        default:
            board.link_fails = tinyfl_fuzz_u32(&in);
            break;
        }
    }
    board.read_size = 64u;
    for (drain = 0; drain < MAX_DRAIN_POLLS && tinyfl_fuzz_board_pending(&board) > 0; drain++) {
        poll_once();
    }
    return 0;
}
