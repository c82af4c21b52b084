#define TINYFL_WIRE_EXPECTED_SPEC_VERSION 3 /* reads the update message and the frame header */
#include "fuzz_oracle.h"

#include <string.h>

#include "fuzz_fail.h"
#include "tinyfl_cobs.h"
#include "wire_check.h"

#define HEADER_AT_TYPE 1
#define HEADER_AT_CHUNK 4

static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static uint64_t release_key(uint32_t run, uint32_t round) { return ((uint64_t)run << 32) | round; }

static int all_zero(const void *buf, size_t len)
{
    const uint8_t *p = (const uint8_t *)buf;
    size_t i;
    for (i = 0; i < len; i++) {
        if (p[i] != 0u) {
            return 0;
        }
    }
    return 1;
}

static void check_round_buffers_wiped(const tinyfl_device *dev)
{
    TINYFL_FUZZ_CHECK(all_zero(dev->window, sizeof(dev->window)), "raw window left in memory");
    TINYFL_FUZZ_CHECK(all_zero(dev->features, sizeof(dev->features)), "features left in memory");
    TINYFL_FUZZ_CHECK(all_zero(dev->labels, sizeof(dev->labels)), "labels left in memory");
    TINYFL_FUZZ_CHECK(all_zero(dev->trained, sizeof(dev->trained)), "trained head left in memory");
    TINYFL_FUZZ_CHECK(all_zero(dev->scratch, sizeof(dev->scratch)), "training scratch left in memory");
}

#ifdef TINYFL_TEST_NO_NOISE
#error "the fuzz oracle checks the budget of a noised image"
#endif
static const int32_t oracle_eps_offset[TINYFL_RDP_ORDERS] = TINYFL_DP_EPS_OFFSET;
static const uint32_t oracle_release_rdp[TINYFL_RDP_ORDERS] = TINYFL_DP_RDP_PER_RELEASE;
static const tinyfl_rdp_curve oracle_curve = {oracle_release_rdp, oracle_eps_offset, TINYFL_DP_KL_ZERO_BELOW,
                                              TINYFL_DP_EPS_LIMIT_UNITS};

const tinyfl_rdp_curve *tinyfl_fuzz_rdp_curve(void)
{
    return &oracle_curve;
}

static tinyfl_status stored_ledger(tinyfl_fuzz_oracle *o, tinyfl_ledger *ledger)
{
    return tinyfl_ledger_load(ledger, &o->truth);
}

void tinyfl_fuzz_oracle_start(tinyfl_fuzz_oracle *o, tinyfl_device *dev, tinyfl_fuzz_board *board)
{
    tinyfl_ledger ledger;
    memset(o, 0, sizeof(*o));
    o->dev = dev;
    o->board = board;
    tinyfl_fuzz_board_truth_port(board, &o->truth);
    tinyfl_frame_rx_init(&o->out);
    if (stored_ledger(o, &ledger) == TINYFL_OK && !ledger.locked) {
        o->last_release = release_key(ledger.last_run, ledger.last_round);
        o->charged = ledger.releases_done;
    }
}

void tinyfl_fuzz_oracle_before_boot(tinyfl_fuzz_oracle *o)
{
    tinyfl_ledger ledger;
    o->may_release = !o->board->read_fails && !o->board->entropy_fails &&
                     stored_ledger(o, &ledger) == TINYFL_OK && !ledger.locked;
    /* a frame cut short by the reboot is not continued by the next boot */
    o->frame_len = 0;
    o->in_release = 0;
    tinyfl_frame_rx_init(&o->out);
}

/* The first frame of an update is about to reach the link; `payload` is its first chunk, which
 * begins with the update's run and round (u32 each, spec order). */
static void check_release_starts(tinyfl_fuzz_oracle *o, const uint8_t *payload, size_t len)
{
    tinyfl_ledger ledger;
    uint64_t key;
    TINYFL_FUZZ_CHECK(len >= 8, "an update's first frame too short for its run and round");
    key = release_key(get_u32(payload), get_u32(payload + 4));
    TINYFL_FUZZ_CHECK(o->may_release, "an update after a boot with a bad ledger or failed entropy");
    TINYFL_FUZZ_CHECK(stored_ledger(o, &ledger) == TINYFL_OK && !ledger.locked,
                      "an update while the stored ledger is unreadable");
    TINYFL_FUZZ_CHECK(release_key(ledger.last_run, ledger.last_round) == key,
                      "an update sent before it was charged (the stored ledger lacks its run and round)");
    TINYFL_FUZZ_CHECK(tinyfl_rdp_eps(ledger.rdp, &oracle_curve, 0) <= oracle_curve.eps_limit,
                      "a release past the budget");
    check_round_buffers_wiped(o->dev);
    if (key == o->last_release && o->released) {
        TINYFL_FUZZ_CHECK(ledger.releases_done == o->charged, "the same (run, round) released twice (charged again)");
        o->resend = 1;
    } else {
        TINYFL_FUZZ_CHECK(key > o->last_release, "(run, round) of releases not increasing");
        TINYFL_FUZZ_CHECK(ledger.releases_done > o->charged, "an update sent before it was charged");
        o->last_release = key;
        o->charged = ledger.releases_done;
        o->released = 1;
        o->last_update_len = 0; /* until this release's message has been seen whole */
        o->resend = 0;
        o->releases++;
    }
    o->in_release = 1;
}

static void check_update_message(tinyfl_fuzz_oracle *o)
{
    static int32_t values[TINYFL_WIRE_MAX_PARAMS];
    tinyfl_msg_update u;
    memset(&u, 0, sizeof(u));
    u.values = values;
    u.values_cap = TINYFL_WIRE_MAX_PARAMS;
    TINYFL_FUZZ_CHECK(o->in_release, "an update message without its first frame");
    TINYFL_FUZZ_CHECK(tinyfl_msg_update_decode(&u, o->out.msg, o->out.msg_len) == TINYFL_OK,
                      "the device sent an update that does not decode");
    TINYFL_FUZZ_CHECK(release_key(u.run, u.round) == o->last_release, "update (run, round) is not the one charged");
    TINYFL_FUZZ_CHECK(u.releases_done == o->charged, "update releases_done is not the stored count");
    TINYFL_FUZZ_CHECK(u.eps_spent <= TINYFL_DP_EPS_LIMIT, "update reports eps spent past the limit");
    TINYFL_FUZZ_CHECK(u.sample_count >= 1 && u.sample_count <= TINYFL_SAMPLES_PER_ROUND,
                      "update trained on no samples or more than a round holds");
    TINYFL_FUZZ_CHECK(u.values_count == TINYFL_PARAMS && u.n_classes == TINYFL_HEAD_CLASSES &&
                          u.n_features == TINYFL_HEAD_FEATURES,
                      "update shape is not the device's");
    if (o->resend && o->last_update_len > 0) {
        TINYFL_FUZZ_CHECK(o->out.msg_len == o->last_update_len &&
                              memcmp(o->out.msg, o->last_update, o->last_update_len) == 0,
                          "a resend differs from the release (fresh noise on the same round)");
    }
    memcpy(o->last_update, o->out.msg, o->out.msg_len);
    o->last_update_len = o->out.msg_len;
    o->in_release = 0;
}

/* A hello tells the host what the device enforces: it must not under-report what storage says
 * was spent, and a device that will refuse every release says so in its flags. */
static void check_hello_message(tinyfl_fuzz_oracle *o)
{
    static int32_t refusals[TINYFL_STATUS_COUNT];
    tinyfl_msg_hello h;
    tinyfl_ledger ledger;
    memset(&h, 0, sizeof(h));
    h.refusals = refusals;
    h.refusals_cap = TINYFL_STATUS_COUNT;
    TINYFL_FUZZ_CHECK(tinyfl_msg_hello_decode(&h, o->out.msg, o->out.msg_len) == TINYFL_OK,
                      "the device sent a hello that does not decode");
    TINYFL_FUZZ_CHECK(h.releases_max >= h.releases_done, "hello reports fewer releases allowed than done");
    if (!o->may_release) {
        TINYFL_FUZZ_CHECK((h.flags & (TINYFL_HELLO_FLAG_LEDGER_LOCKED | TINYFL_HELLO_FLAG_ENTROPY_FAILED)) != 0,
                          "hello hides that the device refuses every release");
    }
    /* a device that could read its ledger at boot (one that could not says so, above) */
    if (o->may_release && stored_ledger(o, &ledger) == TINYFL_OK && !ledger.locked) {
        TINYFL_FUZZ_CHECK(h.releases_done >= ledger.releases_done, "hello under-reports the releases stored");
        TINYFL_FUZZ_CHECK((uint32_t)(h.releases_max - h.releases_done) <=
                              tinyfl_rdp_releases_left(ledger.rdp, &oracle_curve, UINT16_MAX),
                          "hello reports more budget left than the stored ledger allows");
        TINYFL_FUZZ_CHECK(release_key(h.last_run, h.last_round) >= release_key(ledger.last_run, ledger.last_round),
                          "hello reports a last release older than the stored one");
    }
}

static void frame_ends(tinyfl_fuzz_oracle *o)
{
    uint8_t raw[TINYFL_FRAME_MAX_ENCODED];
    size_t n = 0;
    if (o->frame_len == 0) {
        return;
    }
    TINYFL_FUZZ_CHECK(tinyfl_cobs_decode(o->frame, o->frame_len, raw, sizeof(raw), &n) == TINYFL_OK &&
                          n >= TINYFL_WIRE_HEADER_SIZE,
                      "the device sent a malformed frame");
    TINYFL_FUZZ_CHECK(n >= TINYFL_WIRE_HEADER_SIZE + TINYFL_WIRE_CRC_SIZE, "the device sent a truncated frame");
    if (raw[HEADER_AT_TYPE] == TINYFL_MSG_UPDATE && raw[HEADER_AT_CHUNK] == 0) {
        check_release_starts(o, raw + TINYFL_WIRE_HEADER_SIZE, n - TINYFL_WIRE_HEADER_SIZE - TINYFL_WIRE_CRC_SIZE);
    }
    o->frame_len = 0;
}

void tinyfl_fuzz_oracle_watch(void *oracle, const uint8_t *buf, size_t len)
{
    tinyfl_fuzz_oracle *o = (tinyfl_fuzz_oracle *)oracle;
    size_t i;
    if (buf == NULL) {
        /* A failed write: the host sees a cut frame, then whatever comes next. An update cut
         * off this way was charged and never (wholly) sent, which is safe. */
        o->frame_len = 0;
        o->in_release = 0;
        tinyfl_frame_rx_init(&o->out);
        return;
    }
    for (i = 0; i < len; i++) {
        tinyfl_status st;
        if (buf[i] == 0u) {
            frame_ends(o); /* before the receiver: a one-frame update ends its message here */
        } else {
            TINYFL_FUZZ_CHECK(o->frame_len < sizeof(o->frame), "the device sent an overlong frame");
            o->frame[o->frame_len++] = buf[i];
        }
        st = tinyfl_frame_rx_push(&o->out, buf[i]);
        TINYFL_FUZZ_CHECK(st == TINYFL_OK || st == TINYFL_AGAIN, "a frame the device sent is rejected");
        if (st == TINYFL_OK) {
            TINYFL_FUZZ_CHECK(tinyfl_fuzz_wire_roundtrip(o->out.msg_type, o->out.msg, o->out.msg_len,
                                                         TINYFL_WIRE_MAX_PARAMS) == TINYFL_OK,
                              "the device sent a message that does not decode");
            if (o->out.msg_type == TINYFL_MSG_UPDATE) {
                check_update_message(o);
            } else if (o->out.msg_type == TINYFL_MSG_HELLO) {
                check_hello_message(o);
            }
        }
    }
}

void tinyfl_fuzz_oracle_after_step(tinyfl_fuzz_oracle *o)
{
    o->no_samples_refusals = o->dev->refusals[TINYFL_E_NO_SAMPLES];
    check_round_buffers_wiped(o->dev);
    /* The integers of the last release stay cached for an idempotent resend (they were sent:
     * public); anything else there is a leak. */
    TINYFL_FUZZ_CHECK(o->dev->last_release.valid || all_zero(o->dev->values, sizeof(o->dev->values)),
                      "update integers left in memory");
    TINYFL_FUZZ_CHECK(!o->in_release, "an update cut off in the middle");
}
