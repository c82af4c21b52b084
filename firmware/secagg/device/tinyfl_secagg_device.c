#define TINYFL_WIRE_EXPECTED_SPEC_VERSION 3 /* uses the secure-aggregation messages field by field */
#include "tinyfl_secagg_round.h"

#include <string.h>

#define K TINYFL_SECAGG_MAX_NEIGHBOURS

static uint16_t get_le16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }

static uint32_t get_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

void tinyfl_secagg_device_init(tinyfl_device *dev)
{
    tinyfl_secagg_device *s = &dev->secagg;
    memset(s, 0, sizeof(*s));
    tinyfl_secagg_init(&s->sa);
    s->cfg.n_min = tinyfl_secagg_image_policy.n_min;
    s->cfg.n_max = tinyfl_secagg_image_policy.n_max;
    s->cfg.bound = 1ul << TINYFL_DP_GRID_BITS;
    s->cfg.noise.num = tinyfl_secagg_image_policy.noise_num;
    s->cfg.noise.den = tinyfl_secagg_image_policy.noise_den;
    tinyfl_secagg_ledger_init(&s->ledger, dev->port);
}

void tinyfl_secagg_device_abort(tinyfl_device *dev)
{
    tinyfl_secagg_device *s = &dev->secagg;
    tinyfl_secagg_wipe(&s->sa);
    memset(dev->values, 0, sizeof(dev->values));
    memset(s->masked, 0, sizeof(s->masked));
    memset(&s->io, 0, sizeof(s->io));
    s->active = 0;
}

/* Any refusal ends the round: a host that breaks the protocol gets nothing more from it. */
static tinyfl_status fail(tinyfl_device *dev, tinyfl_status code, uint32_t round, uint32_t detail)
{
    tinyfl_secagg_device_abort(dev);
    /* a step the policy forbids is REFUSED (tinyfl_secagg says ARG: the caller is the link) */
    return tinyfl_device_refuse(dev, code == TINYFL_E_ARG ? TINYFL_E_REFUSED : code, round, detail);
}

static tinyfl_status decode_failed(tinyfl_device *dev, tinyfl_status st, const uint8_t *payload, size_t len)
{
    /* run and round lead every message: report them when they arrived (detail = run) */
    return len >= 8u ? fail(dev, st, get_le32(payload + 4), get_le32(payload)) : fail(dev, st, 0, 0);
}

/* Messages of another (run, round) than the one under way, or none under way: ROUND. */
static int wrong_round(const tinyfl_secagg_device *s, uint32_t run, uint32_t round)
{
    return !s->active || run != s->run || round != s->round;
}

tinyfl_status tinyfl_secagg_device_send_policy(tinyfl_device *dev)
{
    tinyfl_msg_secagg_policy m;
    size_t len = 0;
    m.device_id = dev->device_id;
    m.n_min = tinyfl_secagg_image_policy.n_min;
    m.n_max = tinyfl_secagg_image_policy.n_max;
    m.k_max = K;
    m.noise_num = tinyfl_secagg_image_policy.noise_num;
    m.noise_den = tinyfl_secagg_image_policy.noise_den;
    m.local_multiplier = tinyfl_secagg_image_policy.local_multiplier;
    m.central_eps_spent = tinyfl_device_eps(dev, 1);
    m.local_eps_spent = tinyfl_device_eps(dev, 0);
    return tinyfl_device_send(dev, TINYFL_MSG_SECAGG_POLICY,
                              tinyfl_msg_secagg_policy_encode(&m, dev->tx, sizeof(dev->tx), &len), &len);
}

tinyfl_status tinyfl_secagg_device_begin(tinyfl_device *dev, uint32_t run, uint32_t round,
                                         uint64_t nonce, uint16_t sample_count)
{
    tinyfl_secagg_device *s = &dev->secagg;
    tinyfl_msg_secagg_keys k;
    size_t len = 0;
    if (dev->device_id == 0 || dev->device_id > 0xFFFFu) {
        return fail(dev, TINYFL_E_REFUSED, round, dev->device_id); /* ids are u16 in the protocol */
    }
    tinyfl_status st = tinyfl_secagg_add_noise(&s->cfg, &dev->drbg, dev->values, TINYFL_PARAMS);
    if (st != TINYFL_OK) {
        return fail(dev, st, round, 0);
    }
    if (s->sa_run != run) {
        tinyfl_secagg_init(&s->sa); /* rounds restart at 1 in a new run; the ledger orders runs */
        s->sa_run = run;
    }
    st = tinyfl_secagg_begin(&s->sa, &dev->drbg, (uint16_t)dev->device_id, round, k.c_pk, k.s_pk);
    if (st != TINYFL_OK) {
        return fail(dev, st, round, s->sa.round);
    }
    s->active = 1;
    s->run = run;
    s->round = round;
    s->nonce = nonce;
    s->sample_count = sample_count;
    k.run = run;
    k.round = round;
    return tinyfl_device_send(dev, TINYFL_MSG_SECAGG_KEYS,
                              tinyfl_msg_secagg_keys_encode(&k, dev->tx, sizeof(dev->tx), &len), &len);
}

static tinyfl_status handle_neighbours(tinyfl_device *dev, const uint8_t *payload, size_t len)
{
    tinyfl_secagg_device *s = &dev->secagg;
    tinyfl_msg_secagg_neighbours m;
    m.neighbours = s->io.neighbour;
    m.neighbours_cap = K;
    tinyfl_status st = tinyfl_msg_secagg_neighbours_decode(&m, payload, len);
    if (st != TINYFL_OK) {
        return decode_failed(dev, st, payload, len);
    }
    if (wrong_round(s, m.run, m.round)) {
        return fail(dev, TINYFL_E_ROUND, m.round, s->round);
    }
    for (size_t j = 0; j < m.neighbours_count; j++) {
        s->neighbours[j].id = get_le16(s->io.neighbour[j]);
        memcpy(s->neighbours[j].c_pk, s->io.neighbour[j] + 2, 32);
        memcpy(s->neighbours[j].s_pk, s->io.neighbour[j] + 34, 32);
    }
    /* the ciphertexts overwrite the records just copied (one union) */
    st = tinyfl_secagg_share(&s->sa, &dev->drbg, s->neighbours, m.neighbours_count, m.t, s->io.cipher);
    if (st != TINYFL_OK) {
        return fail(dev, st, m.round, 0);
    }
    tinyfl_msg_secagg_shares out;
    size_t out_len = 0;
    out.run = s->run;
    out.round = s->round;
    out.ciphers = s->io.cipher;
    out.ciphers_count = m.neighbours_count;
    out.ciphers_cap = K;
    return tinyfl_device_send(dev, TINYFL_MSG_SECAGG_SHARES,
                              tinyfl_msg_secagg_shares_encode(&out, dev->tx, sizeof(dev->tx), &out_len),
                              &out_len);
}

static tinyfl_status handle_share(tinyfl_device *dev, const uint8_t *payload, size_t len)
{
    tinyfl_secagg_device *s = &dev->secagg;
    tinyfl_msg_secagg_share_for_you m;
    tinyfl_status st = tinyfl_msg_secagg_share_for_you_decode(&m, payload, len);
    if (st != TINYFL_OK) {
        return decode_failed(dev, st, payload, len);
    }
    if (wrong_round(s, m.run, m.round)) {
        return fail(dev, TINYFL_E_ROUND, m.round, s->round);
    }
    st = tinyfl_secagg_receive(&s->sa, m.sender, m.cipher);
    return st == TINYFL_OK ? TINYFL_OK : fail(dev, st, m.round, m.sender); /* no answer: the host sends the next */
}

#ifdef TINYFL_TEST_SECAGG_LOG_INPUT
#ifndef TINYFL_TEST_BUILD
#error "TINYFL_TEST_SECAGG_LOG_INPUT writes the secret noised update to the log: test builds only"
#endif
/* Test builds only: the noised update (the round's ground truth) on the board's log, as
 * "secagg_input <round> <index> <8 words in hex>" lines, so a test can check the unmasked sum. */
static void log_input(tinyfl_device *dev)
{
    static const char hex[] = "0123456789abcdef";
    char line[16 + 11 + 6 + 8 * 9 + 1];
    if (dev->port->log == NULL) {
        return;
    }
    for (size_t i = 0; i < TINYFL_PARAMS; i += 8) {
        size_t pos = 0;
        const char *tag = "secagg_input ";
        while (*tag) {
            line[pos++] = *tag++;
        }
        uint32_t fields[2] = {dev->secagg.round, (uint32_t)i};
        for (int f = 0; f < 2; f++) {
            for (int b = 7; b >= 0; b--) {
                line[pos++] = hex[(fields[f] >> (4 * b)) & 0xFu];
            }
            line[pos++] = ' ';
        }
        for (size_t j = i; j < i + 8 && j < TINYFL_PARAMS; j++) {
            uint32_t w = (uint32_t)dev->values[j];
            for (int b = 7; b >= 0; b--) {
                line[pos++] = hex[(w >> (4 * b)) & 0xFu];
            }
            line[pos++] = ' ';
        }
        line[pos - 1] = '\0';
        dev->port->log(dev->port->user, line);
    }
}
#endif

static tinyfl_status handle_mask(tinyfl_device *dev, const uint8_t *payload, size_t len)
{
    tinyfl_secagg_device *s = &dev->secagg;
    tinyfl_msg_secagg_mask_request m;
    m.alive = s->ids;
    m.alive_cap = K;
    tinyfl_status st = tinyfl_msg_secagg_mask_request_decode(&m, payload, len);
    if (st != TINYFL_OK) {
        return decode_failed(dev, st, payload, len);
    }
    if (wrong_round(s, m.run, m.round)) {
        return fail(dev, TINYFL_E_ROUND, m.round, s->round);
    }
#ifdef TINYFL_TEST_SECAGG_LOG_INPUT
    log_input(dev);
#endif
    st = tinyfl_secagg_mask(&s->sa, &s->cfg, dev->values, TINYFL_PARAMS, m.alive, m.alive_count, m.cohort,
                            s->masked);
    memset(dev->values, 0, sizeof(dev->values)); /* the noised update lives on only masked */
    if (st != TINYFL_OK) {
        return fail(dev, st, m.round, m.cohort);
    }
    /* the release: durable in the ledger (both curves) before a byte of it leaves */
    st = tinyfl_device_charge_release(dev, s->run, s->round);
    if (st != TINYFL_OK) {
        return fail(dev, TINYFL_E_STORAGE, m.round, 0);
    }
    tinyfl_msg_secagg_masked_update u;
    size_t ulen = 0;
    u.run = s->run;
    u.round = s->round;
    u.nonce = s->nonce;
    u.sample_count = s->sample_count;
    u.grid_step = tinyfl_protect_grid_step(&dev->protect);
    u.central_eps_spent = tinyfl_device_eps(dev, 1);
    u.local_eps_spent = tinyfl_device_eps(dev, 0);
    u.releases_done = dev->ledger.releases_done;
    u.n_classes = TINYFL_HEAD_CLASSES;
    u.n_features = TINYFL_HEAD_FEATURES;
    u.values = s->masked;
    u.values_count = TINYFL_PARAMS;
    u.values_cap = TINYFL_PARAMS;
    return tinyfl_device_send(dev, TINYFL_MSG_SECAGG_MASKED_UPDATE,
                              tinyfl_msg_secagg_masked_update_encode(&u, dev->tx, sizeof(dev->tx), &ulen),
                              &ulen);
}

static tinyfl_status handle_unmask(tinyfl_device *dev, const uint8_t *payload, size_t len)
{
    tinyfl_secagg_device *s = &dev->secagg;
    tinyfl_msg_secagg_unmask_request m;
    m.survived = s->ids;
    m.survived_cap = K;
    tinyfl_status st = tinyfl_msg_secagg_unmask_request_decode(&m, payload, len);
    if (st != TINYFL_OK) {
        return decode_failed(dev, st, payload, len);
    }
    if (wrong_round(s, m.run, m.round)) {
        return fail(dev, TINYFL_E_ROUND, m.round, s->round);
    }
    size_t n_out = 0;
    st = tinyfl_secagg_unmask(&s->sa, &s->cfg, m.survived, m.survived_count, m.cohort, s->io.reveal, &n_out);
    if (st != TINYFL_OK) {
        return fail(dev, st, m.round, m.cohort);
    }
    tinyfl_msg_secagg_reveal r;
    size_t rlen = 0;
    r.run = s->run;
    r.round = s->round;
    r.records = s->io.reveal;
    r.records_count = (uint16_t)n_out;
    r.records_cap = K;
    st = tinyfl_device_send(dev, TINYFL_MSG_SECAGG_REVEAL,
                            tinyfl_msg_secagg_reveal_encode(&r, dev->tx, sizeof(dev->tx), &rlen), &rlen);
    tinyfl_secagg_device_abort(dev); /* the round is over (unmask wiped its secrets already) */
    return st;
}

tinyfl_status tinyfl_secagg_device_handle(tinyfl_device *dev, uint8_t type, const uint8_t *payload,
                                          size_t len)
{
    switch (type) {
    case TINYFL_MSG_SECAGG_NEIGHBOURS:
        return handle_neighbours(dev, payload, len);
    case TINYFL_MSG_SECAGG_SHARE_FOR_YOU:
        return handle_share(dev, payload, len);
    case TINYFL_MSG_SECAGG_MASK_REQUEST:
        return handle_mask(dev, payload, len);
    case TINYFL_MSG_SECAGG_UNMASK_REQUEST:
        return handle_unmask(dev, payload, len);
    default:
        return TINYFL_E_TYPE;
    }
}
