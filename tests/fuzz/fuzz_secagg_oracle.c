#define TINYFL_WIRE_EXPECTED_SPEC_VERSION 3 /* reads the secure-aggregation messages */
#include "fuzz_secagg_oracle.h"

#include <string.h>

#include "fuzz_fail.h"
#include "tinyfl_cobs.h"
#include "tinyfl_secagg_image.h"

#define HEADER_AT_TYPE 1
#define HEADER_AT_CHUNK 4

static const int32_t eps_offset[TINYFL_RDP_ORDERS] = TINYFL_DP_EPS_OFFSET;
/* the budget is enforced on the local curve (docs/privacy.md "Budget") */
static const tinyfl_rdp_curve local_curve = {tinyfl_secagg_rdp_local, eps_offset, TINYFL_DP_KL_ZERO_BELOW,
                                             TINYFL_DP_EPS_LIMIT_UNITS};

static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static uint64_t key_of(uint32_t run, uint32_t round) { return ((uint64_t)run << 32) | round; }

static int all_zero(const void *buf, size_t len)
{
    const uint8_t *p = (const uint8_t *)buf;
    uint8_t acc = 0;
    for (size_t i = 0; i < len; i++) {
        acc |= p[i];
    }
    return acc == 0u;
}

static void check_secrets_wiped(const tinyfl_device *dev)
{
    const tinyfl_secagg_device *s = &dev->secagg;
    TINYFL_FUZZ_CHECK(all_zero(s->sa.c_sk, sizeof(s->sa.c_sk)) && all_zero(s->sa.s_sk, sizeof(s->sa.s_sk)),
                      "a secret key left after the round ended");
    TINYFL_FUZZ_CHECK(all_zero(s->sa.b, sizeof(s->sa.b)), "the self-mask seed left after the round ended");
    TINYFL_FUZZ_CHECK(all_zero(s->sa.peers, sizeof(s->sa.peers)),
                      "received shares or agreed keys left after the round ended");
    TINYFL_FUZZ_CHECK(all_zero(dev->values, sizeof(dev->values)), "the noised update left after the round ended");
    TINYFL_FUZZ_CHECK(all_zero(s->masked, sizeof(s->masked)), "masked words left after the round ended");
    TINYFL_FUZZ_CHECK(all_zero(&s->io, sizeof(s->io)), "a step's records left after the round ended");
}

static void load_stored(tinyfl_fuzz_secagg_oracle *o, tinyfl_ledger *ledger)
{
    memset(ledger, 0, sizeof(*ledger));
    if (tinyfl_ledger_load(ledger, &o->truth) != TINYFL_OK || ledger->locked) {
        memset(ledger, 0, sizeof(*ledger));
        ledger->locked = 1;
    }
}

void tinyfl_fuzz_secagg_oracle_start(tinyfl_fuzz_secagg_oracle *o, tinyfl_device *dev, tinyfl_fuzz_board *board)
{
    tinyfl_ledger ledger;
    memset(o, 0, sizeof(*o));
    o->dev = dev;
    o->board = board;
    tinyfl_fuzz_board_truth_port(board, &o->truth);
    tinyfl_frame_rx_init(&o->out);
    load_stored(o, &ledger);
    if (!ledger.locked) {
        o->last_release = key_of(ledger.last_run, ledger.last_round);
        o->charged = ledger.releases_done;
    }
}

void tinyfl_fuzz_secagg_oracle_before_boot(tinyfl_fuzz_secagg_oracle *o)
{
    o->frame_len = 0;
    o->have_keys = 0;
    tinyfl_frame_rx_init(&o->out);
}

/* The first frame of a masked update is about to reach the link: its charge must be durable. */
static void check_release_starts(tinyfl_fuzz_secagg_oracle *o, const uint8_t *payload, size_t len)
{
    tinyfl_ledger ledger;
    uint64_t key;
    TINYFL_FUZZ_CHECK(len >= 8, "a masked update's first frame too short for its run and round");
    key = key_of(get_u32(payload), get_u32(payload + 4));
    load_stored(o, &ledger);
    TINYFL_FUZZ_CHECK(!ledger.locked, "a masked update while the stored ledger is unreadable");
    TINYFL_FUZZ_CHECK(key_of(ledger.last_run, ledger.last_round) == key,
                      "a masked update sent before it was charged (the stored ledger lacks its run and round)");
    TINYFL_FUZZ_CHECK(ledger.releases_done > o->charged, "a masked update sent before its release was counted");
    TINYFL_FUZZ_CHECK(key > o->last_release, "(run, round) of releases not increasing");
    TINYFL_FUZZ_CHECK(tinyfl_rdp_eps(ledger.rdp, &local_curve, 0) <= local_curve.eps_limit,
                      "a release past the budget");
    o->last_release = key;
    o->charged = ledger.releases_done;
    o->releases++;
}

static void check_reveal(tinyfl_fuzz_secagg_oracle *o)
{
    static uint8_t records[TINYFL_SECAGG_MAX_NEIGHBOURS * 2u][TINYFL_SECAGG_REVEAL_SIZE];
    tinyfl_msg_secagg_reveal r;
    uint64_t key;
    memset(&r, 0, sizeof(r));
    r.records = records;
    r.records_cap = (uint16_t)(sizeof(records) / sizeof(records[0]));
    TINYFL_FUZZ_CHECK(tinyfl_msg_secagg_reveal_decode(&r, o->out.msg, o->out.msg_len) == TINYFL_OK,
                      "the device sent a reveal that does not decode");
    key = key_of(r.run, r.round);
    TINYFL_FUZZ_CHECK(key == o->last_release, "a reveal for a round the device did not release in");
    for (size_t i = 0; i < o->revealed_len; i++) {
        TINYFL_FUZZ_CHECK(o->revealed[i] != key, "two unmasks in one round");
    }
    if (o->revealed_len < TINYFL_FUZZ_SECAGG_REVEALS) {
        o->revealed[o->revealed_len++] = key;
    }
    TINYFL_FUZZ_CHECK(r.records_count <= TINYFL_SECAGG_MAX_NEIGHBOURS, "more reveal records than neighbours");
    for (size_t i = 0; i < r.records_count; i++) {
        uint16_t owner = (uint16_t)(records[i][0] | (records[i][1] << 8));
        uint8_t kind = records[i][2];
        TINYFL_FUZZ_CHECK(kind == TINYFL_SECAGG_REVEAL_SELF_MASK || kind == TINYFL_SECAGG_REVEAL_MASK_KEY,
                          "a reveal record of an unknown kind");
        for (size_t j = 0; j < i; j++) {
            uint16_t other = (uint16_t)(records[j][0] | (records[j][1] << 8));
            TINYFL_FUZZ_CHECK(other != owner, "both kinds of share (or one twice) revealed for one neighbour");
        }
    }
    o->reveals++;
    o->revealed_in_step = 1;
}

static void check_keys(tinyfl_fuzz_secagg_oracle *o)
{
    tinyfl_msg_secagg_keys k;
    TINYFL_FUZZ_CHECK(tinyfl_msg_secagg_keys_decode(&k, o->out.msg, o->out.msg_len) == TINYFL_OK,
                      "the device sent secagg_keys that do not decode");
    o->have_keys = 1;
    o->keys_run = k.run;
    o->keys_round = k.round;
    memcpy(o->c_pk, k.c_pk, 32);
    memcpy(o->s_pk, k.s_pk, 32);
}

static void frame_ends(tinyfl_fuzz_secagg_oracle *o)
{
    uint8_t raw[TINYFL_FRAME_MAX_ENCODED];
    size_t n = 0;
    if (o->frame_len == 0) {
        return;
    }
    TINYFL_FUZZ_CHECK(tinyfl_cobs_decode(o->frame, o->frame_len, raw, sizeof(raw), &n) == TINYFL_OK &&
                          n >= TINYFL_WIRE_HEADER_SIZE + TINYFL_WIRE_CRC_SIZE,
                      "the device sent a malformed frame");
    TINYFL_FUZZ_CHECK(raw[HEADER_AT_TYPE] != TINYFL_MSG_UPDATE, "a secure-aggregation image sent a plain update");
    if (raw[HEADER_AT_TYPE] == TINYFL_MSG_SECAGG_MASKED_UPDATE && raw[HEADER_AT_CHUNK] == 0) {
        check_release_starts(o, raw + TINYFL_WIRE_HEADER_SIZE, n - TINYFL_WIRE_HEADER_SIZE - TINYFL_WIRE_CRC_SIZE);
    }
    o->frame_len = 0;
}

void tinyfl_fuzz_secagg_oracle_watch(void *oracle, const uint8_t *buf, size_t len)
{
    tinyfl_fuzz_secagg_oracle *o = (tinyfl_fuzz_secagg_oracle *)oracle;
    if (buf == NULL) { /* a failed write: the host sees a cut frame */
        o->frame_len = 0;
        tinyfl_frame_rx_init(&o->out);
        return;
    }
    for (size_t i = 0; i < len; i++) {
        tinyfl_status st;
        if (buf[i] == 0u) {
            frame_ends(o);
        } else {
            TINYFL_FUZZ_CHECK(o->frame_len < sizeof(o->frame), "the device sent an overlong frame");
            o->frame[o->frame_len++] = buf[i];
        }
        st = tinyfl_frame_rx_push(&o->out, buf[i]);
        TINYFL_FUZZ_CHECK(st == TINYFL_OK || st == TINYFL_AGAIN, "a frame the device sent is rejected");
        if (st == TINYFL_OK) {
            if (o->out.msg_type == TINYFL_MSG_SECAGG_KEYS) {
                check_keys(o);
            } else if (o->out.msg_type == TINYFL_MSG_SECAGG_REVEAL) {
                check_reveal(o);
            }
        }
    }
}

void tinyfl_fuzz_secagg_oracle_after_step(tinyfl_fuzz_secagg_oracle *o)
{
    if (o->revealed_in_step) {
        TINYFL_FUZZ_CHECK(!o->dev->secagg.active, "the round still under way after its reveal");
        o->revealed_in_step = 0;
    }
    if (!o->dev->secagg.active) {
        check_secrets_wiped(o->dev);
    }
}
