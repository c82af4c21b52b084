/* libFuzzer harness: the receive path of a device built with secure aggregation (TINYFL_SECAGG,
 * k_max 4) on the in-memory board, driven by a script the fuzzer writes, while the harness
 * plays the device's neighbours with the same C library (tinyfl_secagg, seeded by the script):
 * real public keys and ciphertexts addressed to the device, so mutations reach the mask and
 * unmask steps instead of stopping at the first AEAD check. fuzz_secagg_oracle.h lists what is
 * checked after every step.
 *
 * Input layout (fuzz_input.h reads zeros past the end): a storage write-fault mask (u32), then
 * operations until the input ends, each an opcode byte and its arguments (see OP_*). */
#define TINYFL_WIRE_EXPECTED_SPEC_VERSION 3 /* builds the secure-aggregation messages field by field */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_board.h"
#include "fuzz_input.h"
#include "fuzz_secagg_oracle.h"
#include "tinyfl_device.h"
#include "tinyfl_model.h"

#if TINYFL_SECAGG_MAX_NEIGHBOURS != 4
#error "the harness plays up to 4 neighbours: build with TINYFL_SECAGG_MAX_NEIGHBOURS=4"
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum {
    OP_FRAME,        /* type, length, payload: any payload, framed correctly */
    OP_GLOBAL_MODEL, /* a global_model near the device's last release */
    OP_SAMPLES,      /* n ordinary sensor windows */
    OP_NEIGHBOURS,   /* peers, seed, t, tweak: the neighbours (played here) of the device's last keys */
    OP_SHARE,        /* which, tweak: a neighbour's share for the device */
    OP_MASK,         /* alive bits, cohort choice: a mask request */
    OP_UNMASK,       /* survived bits, cohort choice: an unmask request */
    OP_POLL,         /* bytes per serial_read, then one tinyfl_device_poll */
    OP_DRAIN,        /* poll until the device has read everything queued */
    OP_REBOOT,       /* tinyfl_device_init again on the same storage */
    OP_WRITE_FAULTS, /* a new storage write-fault mask */
    OP_COUNT
};

#define DEVICE_ID 3u
#define MAX_PEERS 4u
#define MAX_DRAIN_POLLS 256u

static const uint16_t peer_ids[MAX_PEERS] = {1u, 2u, 4u, 5u}; /* below and above the device */

static tinyfl_fuzz_board board;
static tinyfl_fuzz_secagg_oracle oracle;
static tinyfl_port port;
static tinyfl_device dev;
static tinyfl_backbone backbone;
static float params[TINYFL_PARAMS];
static uint8_t message[TINYFL_WIRE_MAX_MESSAGE];
static uint16_t seq;

/* the neighbours the harness plays in the round under way */
static struct {
    size_t n;
    uint32_t run, round;
    tinyfl_secagg sa[MAX_PEERS];
    uint8_t for_device[MAX_PEERS][TINYFL_SECAGG_CIPHER_SIZE]; /* each one's share for the device */
} peers;

static int tracing; /* TINYFL_FUZZ_TRACE=1: one line per step on stderr */

static void trace(const char *what, unsigned long a, unsigned long b)
{
    if (tracing) {
        fprintf(stderr, "[secagg] %s %lu %lu\n", what, a, b);
    }
}

static tinyfl_status to_link(void *user, const uint8_t *buf, size_t len)
{
    tinyfl_fuzz_board_send((tinyfl_fuzz_board *)user, buf, len);
    return TINYFL_OK;
}

static void send_message(uint8_t type, tinyfl_status encoded, size_t len)
{
    if (encoded == TINYFL_OK) {
        (void)tinyfl_frame_send(type, seq++, message, len, TINYFL_WIRE_MAX_CHUNK, to_link, &board);
    }
}

static void boot(void)
{
    tinyfl_status st;
    tinyfl_fuzz_secagg_oracle_before_boot(&oracle);
    st = tinyfl_device_init(&dev, &port, &backbone, DEVICE_ID);
    trace("boot, status", (unsigned long)st, 0);
    tinyfl_fuzz_secagg_oracle_after_step(&oracle);
}

static void poll_once(void)
{
    tinyfl_status st = tinyfl_device_poll(&dev);
    trace("poll, status", (unsigned long)st, (unsigned long)tinyfl_fuzz_board_pending(&board));
    tinyfl_fuzz_secagg_oracle_after_step(&oracle);
}

static void drain(void)
{
    board.read_size = 64u;
    for (unsigned i = 0; i < MAX_DRAIN_POLLS && tinyfl_fuzz_board_pending(&board) > 0; i++) {
        poll_once();
    }
}

static void send_frame(tinyfl_fuzz_input *in)
{
    uint8_t type = tinyfl_fuzz_u8(in);
    size_t len = tinyfl_fuzz_u16(in) % (TINYFL_WIRE_MAX_MESSAGE + 1u);
    const uint8_t *payload = tinyfl_fuzz_bytes(in, len, &len);
    trace("frame, type", type, (unsigned long)len);
    (void)tinyfl_frame_send(type, seq++, payload, len, TINYFL_WIRE_MAX_CHUNK, to_link, &board);
}

static void send_global_model(tinyfl_fuzz_input *in)
{
    tinyfl_msg_global_model m;
    uint8_t how = tinyfl_fuzz_u8(in);
    uint8_t seed = tinyfl_fuzz_u8(in);
    uint32_t last_run = (uint32_t)(oracle.last_release >> 32);
    uint32_t last_round = (uint32_t)oracle.last_release;
    size_t len = 0;
    memset(&m, 0, sizeof(m));
    /* mostly the next round of the run; sometimes the same, an older one, or the next run */
    m.run = last_run + (how % 8u == 7u);
    m.round = how % 8u == 7u ? 1u : last_round + 1u + (how % 4u) - (how % 8u == 6u ? 2u : 0u);
    m.run = m.run ? m.run : 1u;
    m.round = m.round ? m.round : 1u;
    m.nonce = ((uint64_t)seed << 32) | how;
    m.lr = 0.1f;
    m.local_epochs = 1u;
    m.batch_size = 4u;
    m.n_classes = TINYFL_HEAD_CLASSES;
    m.n_features = TINYFL_HEAD_FEATURES;
    m.params_count = TINYFL_PARAMS;
    m.params = params;
    for (size_t i = 0; i < TINYFL_PARAMS; i++) {
        params[i] = (float)((int)((seed + i * 37u) % 21u) - 10) / 100.0f; /* small: passes the guard */
    }
    trace("global_model, round", m.run, m.round);
    send_message(TINYFL_MSG_GLOBAL_MODEL, tinyfl_msg_global_model_encode(&m, message, sizeof(message), &len), len);
}

static void add_samples(tinyfl_fuzz_input *in)
{
    uint8_t n = (uint8_t)(tinyfl_fuzz_u8(in) % 16u);
    while (n-- > 0) {
        tinyfl_fuzz_sample s;
        s.kind = TINYFL_FUZZ_SAMPLE_OK;
        s.label = (uint8_t)(n % TINYFL_HEAD_CLASSES);
        s.seed = tinyfl_fuzz_u8(in);
        s.where = 0;
        tinyfl_fuzz_board_add_sample(&board, s);
    }
}

/* The neighbours' keys and shares for the device's last secagg_keys: each peer is a
 * tinyfl_secagg of its own, whose neighbours are the device and the other peers. */
static int play_peers(uint8_t count, uint8_t seed_byte)
{
    tinyfl_drbg drbg;
    uint8_t seed[TINYFL_DRBG_SEED_SIZE];
    tinyfl_secagg_neighbour nbs[MAX_PEERS];
    uint8_t ciphers[MAX_PEERS][TINYFL_SECAGG_CIPHER_SIZE];
    if (!oracle.have_keys) {
        return 0;
    }
    memset(seed, seed_byte, sizeof(seed));
    tinyfl_drbg_seed(&drbg, seed);
    peers.n = 2u + count % 3u;
    peers.run = oracle.keys_run;
    peers.round = oracle.keys_round;
    for (size_t p = 0; p < peers.n; p++) {
        uint8_t c_pk[32], s_pk[32];
        tinyfl_secagg_init(&peers.sa[p]);
        if (tinyfl_secagg_begin(&peers.sa[p], &drbg, peer_ids[p], peers.round, c_pk, s_pk) != TINYFL_OK) {
            return 0;
        }
    }
    for (size_t p = 0; p < peers.n; p++) {
        size_t k = 0, at_device = 0;
        for (size_t q = 0; q <= peers.n; q++) { /* everyone else, ids ascending (the device is 3) */
            uint16_t id = q < peers.n ? peer_ids[q] : (uint16_t)DEVICE_ID;
            if (q == p) {
                continue;
            }
            nbs[k].id = id;
            if (q < peers.n) {
                memcpy(nbs[k].c_pk, peers.sa[q].c_pk, 32);
                memcpy(nbs[k].s_pk, peers.sa[q].s_pk, 32);
            } else {
                memcpy(nbs[k].c_pk, oracle.c_pk, 32);
                memcpy(nbs[k].s_pk, oracle.s_pk, 32);
            }
            k++;
        }
        for (size_t i = 1; i < k; i++) { /* insertion sort by id */
            tinyfl_secagg_neighbour x = nbs[i];
            size_t j = i;
            while (j > 0 && nbs[j - 1].id > x.id) {
                nbs[j] = nbs[j - 1];
                j--;
            }
            nbs[j] = x;
        }
        for (size_t i = 0; i < k; i++) {
            at_device = nbs[i].id == DEVICE_ID ? i : at_device;
        }
        if (tinyfl_secagg_share(&peers.sa[p], &drbg, nbs, k, k / 2u + 1u, ciphers) != TINYFL_OK) {
            return 0;
        }
        memcpy(peers.for_device[p], ciphers[at_device], TINYFL_SECAGG_CIPHER_SIZE);
    }
    tinyfl_drbg_wipe(&drbg);
    return 1;
}

static void send_neighbours(tinyfl_fuzz_input *in)
{
    static uint8_t records[MAX_PEERS][66];
    uint8_t count = tinyfl_fuzz_u8(in), seed = tinyfl_fuzz_u8(in), t = tinyfl_fuzz_u8(in);
    uint8_t tweak = tinyfl_fuzz_u8(in);
    tinyfl_msg_secagg_neighbours m;
    size_t len = 0;
    if (!play_peers(count, seed)) {
        return;
    }
    for (size_t p = 0; p < peers.n; p++) {
        records[p][0] = (uint8_t)peer_ids[p];
        records[p][1] = (uint8_t)(peer_ids[p] >> 8);
        memcpy(records[p] + 2, peers.sa[p].c_pk, 32);
        memcpy(records[p] + 34, peers.sa[p].s_pk, 32);
    }
    if (tweak % 4u == 1u) { /* a flipped bit somewhere in the records: an id or a key */
        records[(tweak >> 2) % peers.n][(tweak * 7u) % 66u] ^= (uint8_t)(1u << (tweak % 8u));
    }
    m.run = peers.run;
    m.round = peers.round;
    m.t = (uint8_t)(t % 4u == 0u ? t >> 2 : peers.n / 2u + 1u);
    m.neighbours = records;
    m.neighbours_count = (uint16_t)peers.n;
    m.neighbours_cap = MAX_PEERS;
    trace("neighbours, n", (unsigned long)peers.n, m.t);
    send_message(TINYFL_MSG_SECAGG_NEIGHBOURS,
                 tinyfl_msg_secagg_neighbours_encode(&m, message, sizeof(message), &len), len);
}

static void send_share(tinyfl_fuzz_input *in)
{
    uint8_t which = tinyfl_fuzz_u8(in), tweak = tinyfl_fuzz_u8(in);
    tinyfl_msg_secagg_share_for_you m;
    size_t len = 0, p;
    if (peers.n == 0) {
        return;
    }
    p = which % peers.n;
    m.run = peers.run;
    m.round = peers.round;
    m.sender = peer_ids[tweak % 4u == 2u ? (p + 1u) % peers.n : p]; /* sometimes another's name */
    memcpy(m.cipher, peers.for_device[p], TINYFL_SECAGG_CIPHER_SIZE);
    if (tweak % 4u == 1u) {
        m.cipher[(tweak >> 2) % TINYFL_SECAGG_CIPHER_SIZE] ^= 1u;
    }
    trace("share from", m.sender, tweak % 4u);
    send_message(TINYFL_MSG_SECAGG_SHARE_FOR_YOU,
                 tinyfl_msg_secagg_share_for_you_encode(&m, message, sizeof(message), &len), len);
}

/* The peers named in `bits` (ids ascending) and a cohort: mostly them plus the device,
 * sometimes any number. Returns the count. */
static size_t pick_ids(uint8_t bits, uint16_t *ids)
{
    size_t n = 0;
    for (size_t p = 0; p < peers.n; p++) {
        if (bits & (1u << p)) {
            ids[n++] = peer_ids[p];
        }
    }
    if (bits & 0x80u && n > 0) { /* a neighbour named twice */
        ids[n] = ids[n - 1];
        n++;
    }
    return n;
}

static void send_mask_or_unmask(tinyfl_fuzz_input *in, int unmask)
{
    uint16_t ids[MAX_PEERS + 1];
    uint8_t bits = tinyfl_fuzz_u8(in), choice = tinyfl_fuzz_u8(in);
    uint16_t any = tinyfl_fuzz_u16(in);
    size_t n = pick_ids(bits, ids), len = 0;
    uint16_t cohort = choice % 4u == 0u ? any : (uint16_t)(n + 1u);
    if (unmask) {
        tinyfl_msg_secagg_unmask_request m;
        m.run = peers.run;
        m.round = peers.round;
        m.cohort = cohort;
        m.survived = ids;
        m.survived_count = (uint16_t)n;
        m.survived_cap = MAX_PEERS + 1;
        trace("unmask request, survivors", (unsigned long)n, cohort);
        send_message(TINYFL_MSG_SECAGG_UNMASK_REQUEST,
                     tinyfl_msg_secagg_unmask_request_encode(&m, message, sizeof(message), &len), len);
    } else {
        tinyfl_msg_secagg_mask_request m;
        m.run = peers.run;
        m.round = peers.round;
        m.cohort = cohort;
        m.alive = ids;
        m.alive_count = (uint16_t)n;
        m.alive_cap = MAX_PEERS + 1;
        trace("mask request, alive", (unsigned long)n, cohort);
        send_message(TINYFL_MSG_SECAGG_MASK_REQUEST,
                     tinyfl_msg_secagg_mask_request_encode(&m, message, sizeof(message), &len), len);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tinyfl_fuzz_input in = {data, size, 0};

    tracing = getenv("TINYFL_FUZZ_TRACE") != NULL;
    memset(&peers, 0, sizeof(peers));
    seq = 0;
    tinyfl_fuzz_board_reset(&board, tinyfl_fuzz_secagg_oracle_watch, &oracle);
    board.write_fails = tinyfl_fuzz_u32(&in);
    tinyfl_fuzz_board_port(&board, &port);
    tinyfl_model_backbone(&backbone);
    tinyfl_fuzz_secagg_oracle_start(&oracle, &dev, &board);

    boot();
    while (tinyfl_fuzz_more(&in)) {
        switch (tinyfl_fuzz_u8(&in) % OP_COUNT) {
        case OP_FRAME:
            send_frame(&in);
            break;
        case OP_GLOBAL_MODEL:
            send_global_model(&in);
            break;
        case OP_SAMPLES:
            add_samples(&in);
            break;
        case OP_NEIGHBOURS:
            send_neighbours(&in);
            break;
        case OP_SHARE:
            send_share(&in);
            break;
        case OP_MASK:
            send_mask_or_unmask(&in, 0);
            break;
        case OP_UNMASK:
            send_mask_or_unmask(&in, 1);
            break;
        case OP_POLL:
            board.read_size = 1u + tinyfl_fuzz_u8(&in) % 64u;
            poll_once();
            break;
        case OP_DRAIN:
            drain();
            break;
        case OP_REBOOT:
            trace("reboot", 0, 0);
            boot();
            break;
        default:
            board.write_fails = tinyfl_fuzz_u32(&in);
            break;
        }
    }
    drain();
    trace("masked updates, reveals", oracle.releases, oracle.reveals);
    return 0;
}
