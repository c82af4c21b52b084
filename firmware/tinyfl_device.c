#define TINYFL_WIRE_EXPECTED_SPEC_VERSION 3 /* uses the message structs field by field */
#include "tinyfl_device.h"

#include <math.h>
#include <string.h>

#include "tinyfl_entropy_health.h"
#include "tinyfl_guard.h"
#ifdef TINYFL_SECAGG
#include "tinyfl_secagg_round.h"
#endif

/* This image's ledger arithmetic, computed by dp-accounting at build time (tinyfl_rdp.h). */
#if TINYFL_DP_RDP_ORDERS != TINYFL_RDP_ORDERS
#error "tinyfl_config_gen.h has another number of RDP orders than the ledger: regenerate it"
#endif
static const int32_t eps_offset[TINYFL_RDP_ORDERS] = TINYFL_DP_EPS_OFFSET;
#if defined(TINYFL_SECAGG)
/* Secure aggregation: the ledger's own sum is the local guarantee (the device's noise share,
 * against any server), the budget it enforces; the central sum lives in its extension. */
static const tinyfl_rdp_curve rdp_curve = {tinyfl_secagg_rdp_local, eps_offset, TINYFL_DP_KL_ZERO_BELOW,
                                           TINYFL_DP_EPS_LIMIT_UNITS};
static const tinyfl_rdp_curve central_curve = {tinyfl_secagg_rdp_central, eps_offset, TINYFL_DP_KL_ZERO_BELOW,
                                               TINYFL_DP_EPS_LIMIT_UNITS};
#elif defined(TINYFL_TEST_NO_NOISE)
/* Test builds only: without noise a release has no RDP bound at any order (NULL). */
static const tinyfl_rdp_curve rdp_curve = {NULL, eps_offset, TINYFL_DP_KL_ZERO_BELOW, TINYFL_DP_EPS_LIMIT_UNITS};
#define NOISE_MULTIPLIER_TOLD 0.0f
#else
static const uint32_t release_rdp[TINYFL_RDP_ORDERS] = TINYFL_DP_RDP_PER_RELEASE;
static const tinyfl_rdp_curve rdp_curve = {release_rdp, eps_offset, TINYFL_DP_KL_ZERO_BELOW,
                                           TINYFL_DP_EPS_LIMIT_UNITS};
#define NOISE_MULTIPLIER_TOLD TINYFL_DP_NOISE_MULTIPLIER
#endif

#if TINYFL_ENTROPY_BOOT_BYTES != TINYFL_ENTROPY_STARTUP_BYTES + TINYFL_DRBG_SEED_SIZE
#error "TINYFL_ENTROPY_BOOT_BYTES must count the health-test bytes and the seed"
#endif

#define MAX_READS_PER_POLL 16u

/* The port the ledger is stored through (secure aggregation adds its extension). */
static const tinyfl_port *ledger_port(const tinyfl_device *dev)
{
#ifdef TINYFL_SECAGG
    return &dev->secagg.ledger.port;
#else
    return dev->port;
#endif
}

static tinyfl_status write_link(void *user, const uint8_t *buf, size_t len)
{
    const tinyfl_device *dev = (const tinyfl_device *)user;
    return dev->port->serial_write(dev->port->user, buf, len);
}

/* `len` by pointer: C leaves the order of argument evaluation open, so a by-value length
 * could be read before the encoder in the same call has set it (gcc on x86-64 does). */
static tinyfl_status send_encoded(tinyfl_device *dev, uint8_t type, tinyfl_status encoded, const size_t *len)
{
    if (encoded != TINYFL_OK) {
        return encoded;
    }
    return tinyfl_frame_send(type, dev->tx_seq++, dev->tx, *len, TINYFL_MAX_CHUNK, write_link, dev);
}

static tinyfl_status send_error(tinyfl_device *dev, tinyfl_status code, uint32_t round, uint32_t detail)
{
    tinyfl_msg_error m;
    size_t len = 0;
    m.code = (uint16_t)code;
    m.round = round;
    m.detail = detail;
    return send_encoded(dev, TINYFL_MSG_ERROR, tinyfl_msg_error_encode(&m, dev->tx, sizeof(dev->tx), &len), &len);
}

/* A locked ledger's content is unknown: report no bound rather than a guess. */
static float eps_spent(const tinyfl_device *dev)
{
    return dev->ledger.locked ? tinyfl_rdp_eps_float(TINYFL_RDP_EPS_UNBOUNDED)
                              : tinyfl_rdp_eps_float(tinyfl_rdp_eps(dev->ledger.rdp, &rdp_curve, 0));
}

/* Releases this image may still make: each must keep eps within the budget, whatever images
 * made the earlier ones (their loss is in the ledger's RDP). */
static uint32_t releases_left(const tinyfl_device *dev)
{
    if (dev->ledger.locked) {
        return 0;
    }
    uint32_t left = tinyfl_rdp_releases_left(dev->ledger.rdp, &rdp_curve, UINT16_MAX - (uint32_t)dev->ledger.releases_done);
#ifdef TINYFL_SECAGG
    uint32_t central = tinyfl_rdp_releases_left(dev->secagg.ledger.rdp_central, &central_curve, left);
    left = central < left ? central : left;
#endif
    return left;
}

static int budget_left(const tinyfl_device *dev)
{
#ifdef TINYFL_TEST_NO_NOISE
    /* Test builds only: no noise, so no budget to enforce; the ledger still records the
     * release as unbounded loss, which every later image reports. */
    return !dev->ledger.locked && dev->ledger.releases_done < UINT16_MAX;
#else
    return releases_left(dev) >= 1u;
#endif
}

static tinyfl_status send_hello(tinyfl_device *dev)
{
    tinyfl_msg_hello m;
    size_t len = 0;
    memset(&m, 0, sizeof(m));
    m.device_id = dev->device_id;
    m.firmware_hash = TINYFL_CONFIG_ID;
    m.model_hash = dev->backbone->model_hash;
    m.n_classes = TINYFL_HEAD_CLASSES;
    m.n_features = TINYFL_HEAD_FEATURES;
    m.clip = TINYFL_DP_CLIP;
#ifdef TINYFL_SECAGG
    /* the noise this image really adds to one update: its share, sqrt(v) / C */
    m.noise_multiplier = (float)(sqrt((double)tinyfl_secagg_image_policy.noise_num /
                                      (double)tinyfl_secagg_image_policy.noise_den) /
                                 (double)(1ul << TINYFL_DP_GRID_BITS));
    m.flags |= TINYFL_HELLO_FLAG_SECAGG;
#else
    m.noise_multiplier = NOISE_MULTIPLIER_TOLD; /* the noise this image really adds */
#endif
    m.grid_bits = TINYFL_DP_GRID_BITS;
    m.delta = TINYFL_DP_DELTA;
    m.eps_limit = TINYFL_DP_EPS_LIMIT;
    m.eps_spent = eps_spent(dev);
    m.releases_done = dev->ledger.releases_done;
    m.releases_max = (uint16_t)(dev->ledger.releases_done + releases_left(dev));
#ifdef TINYFL_TEST_BUILD
    m.flags |= TINYFL_HELLO_FLAG_TEST_BUILD;
#endif
    if (!dev->entropy_ok) {
        m.flags |= TINYFL_HELLO_FLAG_ENTROPY_FAILED;
    }
    if (dev->ledger.locked) {
        m.flags |= TINYFL_HELLO_FLAG_LEDGER_LOCKED;
    }
    m.max_chunk = TINYFL_MAX_CHUNK;
    m.last_run = dev->ledger.last_run;
    m.last_round = dev->ledger.last_round;
    m.refusals = dev->refusals;
    m.refusals_count = TINYFL_STATUS_COUNT;
    m.refusals_cap = TINYFL_STATUS_COUNT;
#ifdef TINYFL_SECAGG
    tinyfl_status st = send_encoded(dev, TINYFL_MSG_HELLO, tinyfl_msg_hello_encode(&m, dev->tx, sizeof(dev->tx), &len), &len);
    return st == TINYFL_OK ? tinyfl_secagg_device_send_policy(dev) : st;
#else
    return send_encoded(dev, TINYFL_MSG_HELLO, tinyfl_msg_hello_encode(&m, dev->tx, sizeof(dev->tx), &len), &len);
#endif
}

/* Start-up health tests (tinyfl_entropy_health.h) on the entropy hook's output. */
static tinyfl_status check_entropy(tinyfl_device *dev)
{
    uint8_t buf[64];
    tinyfl_entropy_health_init(&dev->entropy_health);
    for (size_t done = 0; done < TINYFL_ENTROPY_STARTUP_BYTES; done += sizeof(buf)) {
        if (dev->port->entropy(dev->port->user, buf, sizeof(buf)) != TINYFL_OK ||
            tinyfl_entropy_health_feed(&dev->entropy_health, buf, sizeof(buf)) != TINYFL_OK) {
            memset(buf, 0, sizeof(buf));
            return TINYFL_E_ENTROPY;
        }
    }
    memset(buf, 0, sizeof(buf));
    return TINYFL_OK;
}

static tinyfl_status seed_noise(tinyfl_device *dev)
{
    uint8_t seed[TINYFL_DRBG_SEED_SIZE];
    memset(seed, 0, sizeof(seed));
#ifdef TINYFL_TEST_SEED
    /* Test builds only (tinyfl_config.h refuses this elsewhere): reproducible noise. */
    uint32_t fixed[2] = {(uint32_t)(TINYFL_TEST_SEED), dev->device_id};
    for (size_t i = 0; i < 8; i++) {
        seed[i] = (uint8_t)(fixed[i / 4] >> (8 * (i % 4)));
    }
#else
    /* The seed bytes go through the same health tests (continuously, after start-up). */
    tinyfl_status st = dev->port->entropy(dev->port->user, seed, sizeof(seed));
    if (st == TINYFL_OK) {
        st = tinyfl_entropy_health_feed(&dev->entropy_health, seed, sizeof(seed));
    }
    if (st != TINYFL_OK) {
        memset(seed, 0, sizeof(seed));
        return TINYFL_E_ENTROPY;
    }
#endif
#ifdef TINYFL_TEST_CONSTANT_KEY
    /* Broken on purpose (test builds only): the entropy is dropped for a per-device constant. */
    memset(seed, 0, sizeof(seed));
    for (size_t i = 0; i < 4; i++) {
        seed[i] = (uint8_t)(dev->device_id >> (8 * i));
    }
    seed[4] = 0xC7;
#endif
    tinyfl_drbg_seed(&dev->drbg, seed);
    memset(seed, 0, sizeof(seed)); /* the key now lives only in the generator */
    return TINYFL_OK;
}

tinyfl_status tinyfl_device_init(tinyfl_device *dev, const tinyfl_port *port,
                                 const tinyfl_backbone *backbone, uint32_t device_id)
{
    if (dev == NULL || port == NULL || backbone == NULL || backbone->input_len != TINYFL_INPUT_LEN ||
        backbone->feature_len != TINYFL_HEAD_FEATURES) {
        return TINYFL_E_ARG;
    }
    memset(dev, 0, sizeof(*dev));
    dev->port = port;
    dev->backbone = backbone;
    dev->device_id = device_id;
    dev->protect.clip = TINYFL_DP_CLIP;
    dev->protect.grid_bits = TINYFL_DP_GRID_BITS;
#ifdef TINYFL_TEST_CLIP_SCALE_LOG2
    /* broken on purpose: same grid step as told, but a clip bound 2^n times larger */
    dev->protect.clip = TINYFL_DP_CLIP * (float)(1ul << (TINYFL_TEST_CLIP_SCALE_LOG2));
    dev->protect.grid_bits = TINYFL_DP_GRID_BITS + (TINYFL_TEST_CLIP_SCALE_LOG2);
#endif
    {
        uint64_t sigma_num = (uint64_t)TINYFL_DP_NOISE_NUM << TINYFL_DP_GRID_BITS;
        dev->protect.noise.num = sigma_num * sigma_num;
        dev->protect.noise.den = (uint64_t)TINYFL_DP_NOISE_DEN * TINYFL_DP_NOISE_DEN;
    }
#if defined(TINYFL_TEST_NO_NOISE) || defined(TINYFL_TEST_NOISE_BEFORE_CLIP)
    dev->protect.noise_enabled = 0;
#else
    dev->protect.noise_enabled = 1;
#endif
    tinyfl_frame_rx_init(&dev->rx);
#ifdef TINYFL_SECAGG
    tinyfl_secagg_device_init(dev);
#endif

    tinyfl_status ledger_st = tinyfl_ledger_load(&dev->ledger, ledger_port(dev));
#ifdef TINYFL_SECAGG
    tinyfl_secagg_ledger_loaded(&dev->secagg.ledger, &dev->ledger);
#endif
    if (!dev->ledger.locked) {
        dev->ledger.boot_count++;
        ledger_st = tinyfl_ledger_store(&dev->ledger, ledger_port(dev));
    }
    /* A failed health test or a dead source: never seed from it; serve hello, refuse every
     * release with ENTROPY (the generator stays unseeded and is never drawn from). */
    tinyfl_status st = check_entropy(dev);
    if (st == TINYFL_OK) {
        st = seed_noise(dev);
    }
    dev->entropy_ok = st == TINYFL_OK;
    send_hello(dev);
    if (st != TINYFL_OK) {
        send_error(dev, st, 0, 0);
        return st;
    }
    if (ledger_st != TINYFL_OK) {
        send_error(dev, ledger_st, 0, 0);
    }
    return ledger_st;
}

/* Pulls up to TINYFL_SAMPLES_PER_ROUND new samples and turns them into features at once, so a
 * raw window never outlives its feature vector. */
static size_t collect_samples(tinyfl_device *dev)
{
    size_t n = 0;
    for (size_t tries = 0; n < TINYFL_SAMPLES_PER_ROUND && tries < 2u * TINYFL_SAMPLES_PER_ROUND; tries++) {
        uint8_t label = 0;
        if (dev->port->sample(dev->port->user, dev->window, TINYFL_INPUT_LEN, &label) != TINYFL_OK) {
            break;
        }
        float *features = &dev->features[n * TINYFL_HEAD_FEATURES];
        if (label >= TINYFL_HEAD_CLASSES ||
            dev->backbone->extract(dev->backbone, dev->window, features) != TINYFL_OK) {
            continue;
        }
        int finite = 1;
        for (size_t j = 0; j < TINYFL_HEAD_FEATURES; j++) {
            finite = finite && isfinite(features[j]);
        }
        if (finite) {
            dev->labels[n++] = label;
        }
    }
    memset(dev->window, 0, sizeof(dev->window));
    return n;
}

static void wipe_round(tinyfl_device *dev)
{
    memset(dev->features, 0, sizeof(dev->features));
    memset(dev->labels, 0, sizeof(dev->labels));
    memset(dev->trained, 0, sizeof(dev->trained));
    memset(dev->scratch, 0, sizeof(dev->scratch));
}

static void count_refusal(tinyfl_device *dev, tinyfl_status code)
{
    dev->messages_refused++;
    if ((unsigned)code < TINYFL_STATUS_COUNT && dev->refusals[code] < INT32_MAX) {
        dev->refusals[code]++;
    }
}

static tinyfl_status refuse(tinyfl_device *dev, tinyfl_status code, uint32_t round, uint32_t detail)
{
#ifdef TINYFL_SECAGG
    tinyfl_secagg_device_abort(dev); /* any refused message ends the secure round under way */
#endif
    count_refusal(dev, code);
    send_error(dev, code, round, detail);
    return code;
}

static uint32_t get_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

#ifndef TINYFL_SECAGG /* a secure-aggregation image never sends an update */
static tinyfl_status send_update(tinyfl_device *dev)
{
    const tinyfl_release_cache *c = &dev->last_release;
    tinyfl_msg_update u;
    size_t ulen = 0;
    u.run = c->run;
    u.round = c->round;
    u.nonce = c->nonce;
    u.sample_count = c->sample_count;
    u.grid_step = tinyfl_protect_grid_step(&dev->protect);
    u.eps_spent = c->eps_spent;
    u.releases_done = c->releases_done;
    u.n_classes = TINYFL_HEAD_CLASSES;
    u.n_features = TINYFL_HEAD_FEATURES;
    u.values = dev->values;
    u.values_count = TINYFL_PARAMS;
    u.values_cap = TINYFL_PARAMS;
    return send_encoded(dev, TINYFL_MSG_UPDATE, tinyfl_msg_update_encode(&u, dev->tx, sizeof(dev->tx), &ulen), &ulen);
}
#endif

static tinyfl_status handle_global_model(tinyfl_device *dev, const uint8_t *payload, size_t len)
{
    tinyfl_msg_global_model m;
#ifdef TINYFL_SECAGG
    tinyfl_secagg_device_abort(dev); /* a new round, or a refused one, ends the one under way */
#endif
    memset(&m, 0, sizeof(m));
    m.params = dev->global;
    m.params_cap = TINYFL_PARAMS;
    tinyfl_status st = tinyfl_msg_global_model_decode(&m, payload, len);
    if (st != TINYFL_OK) {
        /* run and round lead the message: report them when they arrived (detail = run). */
        return len >= 8u ? refuse(dev, st, get_le32(payload + 4), get_le32(payload)) : refuse(dev, st, 0, 0);
    }
    if (m.n_classes != TINYFL_HEAD_CLASSES || m.n_features != TINYFL_HEAD_FEATURES ||
        m.params_count != TINYFL_PARAMS) {
        return refuse(dev, TINYFL_E_SHAPE, m.round, TINYFL_PARAMS);
    }
#ifndef TINYFL_SECAGG /* a masked update is never resent: the round's secrets are gone */
    /* The same (run, round, nonce) as the last release is a resend (the host lost the update):
     * the same integers again, already public, at no new cost. The cache lives in RAM only, so
     * after a reboot that (run, round) is refused like any replay. */
    if (dev->last_release.valid && m.run == dev->last_release.run && m.round == dev->last_release.round &&
        m.nonce == dev->last_release.nonce) {
        return send_update(dev);
    }
#endif
    /* (run, round) must be newer than the last release: a new run may start at round 1, a
     * replay of any earlier round of any run is refused. */
    if (m.run < dev->ledger.last_run || (m.run == dev->ledger.last_run && m.round <= dev->ledger.last_round)) {
        return refuse(dev, TINYFL_E_ROUND, m.round, dev->ledger.last_round);
    }
    if (!dev->entropy_ok) {
        return refuse(dev, TINYFL_E_ENTROPY, m.round, 0);
    }
    {
        static const tinyfl_guard_limits limits = {TINYFL_GUARD_MAX_ABS_BIAS, TINYFL_GUARD_MAX_ABS_WEIGHT,
                                                   TINYFL_GUARD_MIN_ROW_NORM};
        tinyfl_guard_reason reason;
        if (tinyfl_guard_global_head(dev->global, TINYFL_HEAD_CLASSES, TINYFL_HEAD_FEATURES, &limits,
                                     &reason) != TINYFL_OK) {
            return refuse(dev, TINYFL_E_CRAFTED, m.round, (uint32_t)reason);
        }
    }
    if (!budget_left(dev)) {
        tinyfl_msg_budget_exhausted b;
        size_t blen = 0;
        count_refusal(dev, TINYFL_E_BUDGET);
        b.round = m.round;
        b.eps_spent = eps_spent(dev);
        b.eps_limit = TINYFL_DP_EPS_LIMIT;
        b.releases_done = dev->ledger.releases_done;
        send_encoded(dev, TINYFL_MSG_BUDGET_EXHAUSTED,
                     tinyfl_msg_budget_exhausted_encode(&b, dev->tx, sizeof(dev->tx), &blen), &blen);
        return TINYFL_E_BUDGET;
    }

    size_t n = collect_samples(dev);
    if (n == 0) {
        wipe_round(dev); /* a rejected window's features may be there (found by tests/fuzz) */
        return refuse(dev, TINYFL_E_NO_SAMPLES, m.round, 0);
    }
    dev->last_release.valid = 0; /* dev->values is about to hold the new release */
    memcpy(dev->trained, dev->global, sizeof(dev->trained));
    tinyfl_head head = {TINYFL_HEAD_CLASSES, TINYFL_HEAD_FEATURES, dev->trained};
    st = tinyfl_head_train(&head, dev->features, dev->labels, n, m.lr, m.local_epochs, m.batch_size,
                           dev->scratch);
    if (st == TINYFL_OK) {
        for (size_t i = 0; i < TINYFL_PARAMS; i++) {
            dev->trained[i] -= dev->global[i]; /* the update: after minus received */
        }
#ifdef TINYFL_SECAGG
        /* clipped and rounded as in a plain round; the noise share is added by the round */
        st = tinyfl_protect_clip_round(&dev->protect, dev->trained, TINYFL_PARAMS, dev->values);
    }
    wipe_round(dev);
    if (st != TINYFL_OK) {
        memset(dev->values, 0, sizeof(dev->values));
        return refuse(dev, st, m.round, 0);
    }
    return tinyfl_secagg_device_begin(dev, m.run, m.round, m.nonce, (uint16_t)n);
}
#else
#ifdef TINYFL_TEST_REUSE_SEED
        seed_noise(dev); /* broken on purpose: the same noise every round */
#endif
#ifdef TINYFL_TEST_NOISE_BEFORE_CLIP
        { /* broken on purpose: noise first, so clipping shrinks it */
            float step = tinyfl_protect_grid_step(&dev->protect);
            for (size_t i = 0; i < TINYFL_PARAMS; i++) {
                dev->trained[i] += (float)tinyfl_dgauss(&dev->drbg, dev->protect.noise) * step;
            }
        }
#endif
#ifdef TINYFL_TEST_UNNOISED_COORD
        float unnoised_update[TINYFL_PARAMS]; /* broken on purpose: see after the protection */
        memcpy(unnoised_update, dev->trained, sizeof(unnoised_update));
#endif
        st = tinyfl_protect_update(&dev->protect, &dev->drbg, dev->trained, TINYFL_PARAMS, dev->values);
#ifdef TINYFL_TEST_UNNOISED_COORD
        if (st == TINYFL_OK) { /* broken on purpose: one coordinate leaves without its noise */
            int32_t unnoised[TINYFL_PARAMS];
            st = tinyfl_protect_clip_round(&dev->protect, unnoised_update, TINYFL_PARAMS, unnoised);
            dev->values[TINYFL_TEST_UNNOISED_COORD] = unnoised[TINYFL_TEST_UNNOISED_COORD];
            memset(unnoised, 0, sizeof(unnoised));
        }
        memset(unnoised_update, 0, sizeof(unnoised_update));
#endif
    }
    wipe_round(dev);
    if (st != TINYFL_OK) {
        return refuse(dev, st, m.round, 0);
    }

    /* Charge the budget durably before a single byte of the update leaves: this image's RDP
     * is added to the loss the ledger holds. */
    dev->ledger.releases_done++;
    dev->ledger.last_run = m.run;
    dev->ledger.last_round = m.round;
    tinyfl_rdp_charge(dev->ledger.rdp, &rdp_curve, 1);
    st = tinyfl_ledger_store(&dev->ledger, ledger_port(dev));
    if (st != TINYFL_OK) {
        memset(dev->values, 0, sizeof(dev->values));
        return refuse(dev, TINYFL_E_STORAGE, m.round, 0);
    }

    /* The integers stay in dev->values after sending: they are public, and a resend needs them. */
    dev->last_release.run = m.run;
    dev->last_release.round = m.round;
    dev->last_release.nonce = m.nonce;
    dev->last_release.sample_count = (uint16_t)n;
    dev->last_release.eps_spent = eps_spent(dev);
    dev->last_release.releases_done = dev->ledger.releases_done;
    dev->last_release.valid = 1;
    return send_update(dev);
}
#endif /* TINYFL_SECAGG */

#ifdef TINYFL_SECAGG
tinyfl_status tinyfl_device_send(tinyfl_device *dev, uint8_t type, tinyfl_status encoded, const size_t *len)
{
    return send_encoded(dev, type, encoded, len);
}

tinyfl_status tinyfl_device_refuse(tinyfl_device *dev, tinyfl_status code, uint32_t round, uint32_t detail)
{
    return refuse(dev, code, round, detail);
}

tinyfl_status tinyfl_device_charge_release(tinyfl_device *dev, uint32_t run, uint32_t round)
{
    dev->ledger.releases_done++;
    dev->ledger.last_run = run;
    dev->ledger.last_round = round;
    tinyfl_rdp_charge(dev->ledger.rdp, &rdp_curve, 1);
    tinyfl_rdp_charge(dev->secagg.ledger.rdp_central, &central_curve, 1);
    return tinyfl_ledger_store(&dev->ledger, ledger_port(dev));
}

float tinyfl_device_eps(const tinyfl_device *dev, int central)
{
    if (!central) {
        return eps_spent(dev);
    }
    return dev->ledger.locked ? tinyfl_rdp_eps_float(TINYFL_RDP_EPS_UNBOUNDED)
                              : tinyfl_rdp_eps_float(tinyfl_rdp_eps(dev->secagg.ledger.rdp_central, &central_curve, 0));
}
#endif

static tinyfl_status handle_message(tinyfl_device *dev)
{
    const uint8_t *payload = dev->rx.msg;
    size_t len = dev->rx.msg_len;
    switch (dev->rx.msg_type) {
    case TINYFL_MSG_HELLO_REQUEST:
        return send_hello(dev);
    case TINYFL_MSG_GLOBAL_MODEL:
        return handle_global_model(dev, payload, len);
#ifdef TINYFL_SECAGG
    case TINYFL_MSG_SECAGG_NEIGHBOURS:
    case TINYFL_MSG_SECAGG_SHARE_FOR_YOU:
    case TINYFL_MSG_SECAGG_MASK_REQUEST:
    case TINYFL_MSG_SECAGG_UNMASK_REQUEST:
        return tinyfl_secagg_device_handle(dev, dev->rx.msg_type, payload, len);
#endif
    case TINYFL_MSG_SET_DP_CONFIG: {
        /* The privacy parameters and the seed are compiled in: never changed from the link. */
        tinyfl_msg_set_dp_config c;
        tinyfl_status st = tinyfl_msg_set_dp_config_decode(&c, payload, len);
        memset(&c, 0, sizeof(c));
        return refuse(dev, st == TINYFL_OK ? TINYFL_E_REFUSED : st, 0, 0);
    }
    default:
        return refuse(dev, TINYFL_E_TYPE, 0, dev->rx.msg_type);
    }
}

tinyfl_status tinyfl_device_poll(tinyfl_device *dev)
{
    uint8_t buf[64];
    tinyfl_status last = TINYFL_OK;
    for (unsigned reads = 0; reads < MAX_READS_PER_POLL; reads++) {
        size_t got = dev->port->serial_read(dev->port->user, buf, sizeof(buf));
        if (got == 0) {
            break;
        }
        if (got > sizeof(buf)) {
            return TINYFL_E_IO; /* a broken board hook: never trust its count */
        }
        for (size_t i = 0; i < got; i++) {
            tinyfl_status st = tinyfl_frame_rx_push(&dev->rx, buf[i]);
            if (st == TINYFL_OK) {
                dev->rx_error_sent = 0;
                last = handle_message(dev);
            } else if (st != TINYFL_AGAIN) {
                /* A dropped frame: tell the host once, then stay quiet until the next complete
                 * message, so garbage in never costs more than one small frame out. */
                if (!dev->rx_error_sent) {
                    send_error(dev, st, 0, 0);
                    dev->rx_error_sent = 1;
                }
                last = st;
            }
        }
    }
    return last;
}
