#include "tinyfl_secagg.h"

#include <string.h>

#include "monocypher.h"
#include "tinyfl_secagg_mask.h"
#include "tinyfl_shamir.h"

/* summed noise tail kept inside the modulus: P(|N(0, s^2)| > 14 s) < 2^-140 per coordinate */
#define TAIL_SIGMAS 14u
#define AD_SIZE (TINYFL_SECAGG_DOMAIN_SIZE + 4 + 2 + 2)

static void put_u16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static uint16_t get_u16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }

static void put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

/* floor(sqrt(v)) for v < 2^64, by bits */
static uint64_t isqrt_u64(uint64_t v)
{
    uint64_t root = 0;
    for (int shift = 31; shift >= 0; shift--) {
        uint64_t candidate = root | (1ull << shift);
        if (candidate <= v / candidate) {
            root = candidate;
        }
    }
    return root;
}

tinyfl_status tinyfl_secagg_config_check(const tinyfl_secagg_config *cfg)
{
    if (cfg->n_min < 2 || cfg->n_max < cfg->n_min || cfg->bound < 1 || cfg->bound > (1ul << 20)) {
        return TINYFL_E_ARG;
    }
    if (tinyfl_dgauss_check(cfg->noise) != TINYFL_OK) {
        return TINYFL_E_ARG;
    }
    /* std of the summed noise, rounded up: sqrt(n_max * num / den) <= isqrt(ceil) + 1 */
    uint64_t summed_var = (cfg->noise.num * cfg->n_max + cfg->noise.den - 1) / cfg->noise.den;
    uint64_t summed_std = isqrt_u64(summed_var) + 1u;
    uint64_t worst = (uint64_t)cfg->n_max * cfg->bound + TAIL_SIGMAS * summed_std;
    return worst < (1ull << 31) ? TINYFL_OK : TINYFL_E_ARG;
}

void tinyfl_secagg_init(tinyfl_secagg *sa) { crypto_wipe(sa, sizeof(*sa)); }

void tinyfl_secagg_wipe(tinyfl_secagg *sa)
{
    uint32_t round = sa->round;
    uint8_t started = sa->started;
    crypto_wipe(sa, sizeof(*sa));
    sa->round = round;
    sa->started = started;
}

tinyfl_status tinyfl_secagg_begin(tinyfl_secagg *sa, tinyfl_drbg *drbg, uint16_t id,
                                  uint32_t round, uint8_t c_pk[32], uint8_t s_pk[32])
{
    if (id == 0) {
        return TINYFL_E_ARG;
    }
    if (sa->started && round <= sa->round) {
        return TINYFL_E_ROUND;
    }
    tinyfl_secagg_wipe(sa);
    sa->id = id;
    sa->round = round;
    sa->started = 1;
    tinyfl_secagg_keypair(drbg, sa->c_sk, sa->c_pk);
    tinyfl_secagg_keypair(drbg, sa->s_sk, sa->s_pk);
    memcpy(c_pk, sa->c_pk, 32);
    memcpy(s_pk, sa->s_pk, 32);
    sa->state = TINYFL_SECAGG_KEYS;
    return TINYFL_OK;
}

/* nonce: round | sender | receiver | 0 0 0 0; the key is shared by both directions of a pair */
static void aead_nonce_ad(const tinyfl_secagg *sa, uint16_t sender, uint16_t receiver,
                          uint8_t nonce[12], uint8_t ad[AD_SIZE])
{
    memset(nonce, 0, 12);
    put_u32(nonce, sa->round);
    put_u16(nonce + 4, sender);
    put_u16(nonce + 6, receiver);
    memcpy(ad, TINYFL_SECAGG_DOMAIN, TINYFL_SECAGG_DOMAIN_SIZE);
    memcpy(ad + TINYFL_SECAGG_DOMAIN_SIZE, nonce, 8);
}

static tinyfl_status check_neighbours(const tinyfl_secagg *sa, const tinyfl_secagg_neighbour *nb,
                                      size_t k, size_t t)
{
    if (nb == NULL || k < 1 || k > TINYFL_SECAGG_MAX_NEIGHBOURS || t > k || 2 * t <= k ||
        t > TINYFL_SHAMIR_MAX_THRESHOLD) {
        return TINYFL_E_ARG;
    }
    for (size_t j = 0; j < k; j++) {
        if (nb[j].id == 0 || nb[j].id == sa->id || (j > 0 && nb[j].id <= nb[j - 1].id)) {
            return TINYFL_E_ARG;
        }
    }
    return TINYFL_OK;
}

tinyfl_status tinyfl_secagg_share(tinyfl_secagg *sa, tinyfl_drbg *drbg,
                                  const tinyfl_secagg_neighbour *neighbours, size_t k, size_t t,
                                  uint8_t (*out)[TINYFL_SECAGG_CIPHER_SIZE])
{
    if (sa->state != TINYFL_SECAGG_KEYS) {
        return TINYFL_E_ARG;
    }
    tinyfl_status st = check_neighbours(sa, neighbours, k, t);
    if (st != TINYFL_OK) {
        return st;
    }
    /* both agreements per neighbour, once: a bad public key refuses the step before anything
     * is drawn; the keys are kept for the receive and mask steps */
    for (size_t j = 0; j < k; j++) {
        tinyfl_secagg_peer *peer = &sa->peers[j];
        memset(peer, 0, sizeof(*peer));
        peer->who = neighbours[j];
        st = tinyfl_secagg_agree(peer->channel_key, TINYFL_SECAGG_LABEL_ENCRYPT, sa->round,
                                 sa->id, sa->c_sk, sa->c_pk, peer->who.id, peer->who.c_pk);
        if (st == TINYFL_OK) {
            st = tinyfl_secagg_agree(peer->mask_seed, TINYFL_SECAGG_LABEL_MASK, sa->round, sa->id,
                                     sa->s_sk, sa->s_pk, peer->who.id, peer->who.s_pk);
        }
        if (st != TINYFL_OK) {
            crypto_wipe(sa->peers, sizeof(sa->peers));
            return st;
        }
    }
    for (size_t i = 0; i < 32; i += 4) {
        put_u32(sa->b + i, tinyfl_drbg_u32(drbg));
    }
    tinyfl_shamir_poly b_poly, s_poly;
    (void)tinyfl_shamir_init(&b_poly, drbg, sa->b, (uint8_t)t);
    (void)tinyfl_shamir_init(&s_poly, drbg, sa->s_sk, (uint8_t)t);
    uint8_t plain[TINYFL_SECAGG_PLAIN_SIZE];
    uint8_t nonce[12], ad[AD_SIZE];
    for (size_t j = 0; j < k; j++) {
        uint8_t x = (uint8_t)(j + 1);
        put_u16(plain, sa->id);
        put_u16(plain + 2, neighbours[j].id);
        plain[4] = x;
        (void)tinyfl_shamir_share(&b_poly, x, plain + 5);
        (void)tinyfl_shamir_share(&s_poly, x, plain + 37);
        aead_nonce_ad(sa, sa->id, neighbours[j].id, nonce, ad);
        crypto_aead_ctx ctx;
        crypto_aead_init_ietf(&ctx, sa->peers[j].channel_key, nonce);
        crypto_aead_write(&ctx, out[j], out[j] + TINYFL_SECAGG_PLAIN_SIZE, ad, sizeof(ad), plain,
                          sizeof(plain));
        crypto_wipe(&ctx, sizeof(ctx));
    }
    crypto_wipe(plain, sizeof(plain));
    tinyfl_shamir_wipe(&b_poly);
    tinyfl_shamir_wipe(&s_poly);
    sa->k = (uint8_t)k;
    sa->t = (uint8_t)t;
    sa->state = TINYFL_SECAGG_SHARED;
    return TINYFL_OK;
}

static tinyfl_secagg_peer *find_peer(tinyfl_secagg *sa, uint16_t id)
{
    for (size_t j = 0; j < sa->k; j++) {
        if (sa->peers[j].who.id == id) {
            return &sa->peers[j];
        }
    }
    return NULL;
}

tinyfl_status tinyfl_secagg_receive(tinyfl_secagg *sa, uint16_t sender,
                                    const uint8_t cipher[TINYFL_SECAGG_CIPHER_SIZE])
{
    if (sa->state != TINYFL_SECAGG_SHARED) {
        return TINYFL_E_ARG;
    }
    tinyfl_secagg_peer *peer = find_peer(sa, sender);
    if (peer == NULL || peer->received) {
        return TINYFL_E_ARG;
    }
    uint8_t nonce[12], ad[AD_SIZE], plain[TINYFL_SECAGG_PLAIN_SIZE];
    aead_nonce_ad(sa, sender, sa->id, nonce, ad);
    crypto_aead_ctx ctx;
    crypto_aead_init_ietf(&ctx, peer->channel_key, nonce);
    int bad = crypto_aead_read(&ctx, plain, cipher + TINYFL_SECAGG_PLAIN_SIZE, ad, sizeof(ad),
                               cipher, TINYFL_SECAGG_PLAIN_SIZE);
    crypto_wipe(&ctx, sizeof(ctx));
    if (bad || get_u16(plain) != sender || get_u16(plain + 2) != sa->id || plain[4] == 0) {
        crypto_wipe(plain, sizeof(plain));
        return TINYFL_E_VALUE;
    }
    peer->x = plain[4];
    memcpy(peer->b_share, plain + 5, 32);
    memcpy(peer->s_share, plain + 37, 32);
    peer->received = 1;
    crypto_wipe(plain, sizeof(plain));
    return TINYFL_OK;
}

tinyfl_status tinyfl_secagg_add_noise(const tinyfl_secagg_config *cfg, tinyfl_drbg *drbg,
                                      int32_t *x, size_t n)
{
    if (tinyfl_secagg_config_check(cfg) != TINYFL_OK) {
        return TINYFL_E_ARG;
    }
    for (size_t i = 0; i < n; i++) {
        int64_t v = (int64_t)x[i] + tinyfl_dgauss(drbg, cfg->noise);
        if (v < INT32_MIN || v > INT32_MAX) {
            return TINYFL_E_INTERNAL;
        }
        x[i] = (int32_t)v;
    }
    return TINYFL_OK;
}

/* ids ascending, each a neighbour; with need_received, each one delivered its share; with
 * need_alive, each one was named alive at the mask step */
static tinyfl_status check_subset(tinyfl_secagg *sa, const uint16_t *ids, size_t n,
                                  int need_received, int need_alive)
{
    if (n > sa->k || (n > 0 && ids == NULL)) {
        return TINYFL_E_ARG;
    }
    for (size_t i = 0; i < n; i++) {
        const tinyfl_secagg_peer *peer = find_peer(sa, ids[i]);
        if (peer == NULL || (i > 0 && ids[i] <= ids[i - 1]) ||
            (need_received && !peer->received) || (need_alive && !peer->alive)) {
            return TINYFL_E_ARG;
        }
    }
    return TINYFL_OK;
}

tinyfl_status tinyfl_secagg_mask(tinyfl_secagg *sa, const tinyfl_secagg_config *cfg,
                                 const int32_t *x, size_t n, const uint16_t *alive,
                                 size_t n_alive, uint16_t cohort, uint32_t *y)
{
    if (sa->state != TINYFL_SECAGG_SHARED || tinyfl_secagg_config_check(cfg) != TINYFL_OK) {
        return TINYFL_E_ARG;
    }
    tinyfl_status st = check_subset(sa, alive, n_alive, 1, 0);
    if (st != TINYFL_OK) {
        return st;
    }
    if (n_alive < sa->t || cohort < cfg->n_min || cohort > cfg->n_max) {
        return TINYFL_E_REFUSED;
    }
    for (size_t i = 0; i < n; i++) {
        y[i] = (uint32_t)x[i];
    }
    tinyfl_secagg_mask_add(y, n, sa->b, +1);
    for (size_t i = 0; i < n_alive; i++) {
        tinyfl_secagg_peer *peer = find_peer(sa, alive[i]);
        tinyfl_secagg_mask_add(y, n, peer->mask_seed, sa->id < peer->who.id ? +1 : -1);
        peer->alive = 1;
    }
    sa->state = TINYFL_SECAGG_MASKED;
    return TINYFL_OK;
}

tinyfl_status tinyfl_secagg_unmask(tinyfl_secagg *sa, const tinyfl_secagg_config *cfg,
                                   const uint16_t *survived, size_t n_survived, uint16_t cohort,
                                   uint8_t (*out)[TINYFL_SECAGG_REVEAL_SIZE], size_t *n_out)
{
    if (sa->state != TINYFL_SECAGG_MASKED || tinyfl_secagg_config_check(cfg) != TINYFL_OK) {
        return TINYFL_E_ARG;
    }
    tinyfl_status st = check_subset(sa, survived, n_survived, 1, 1);
    if (st != TINYFL_OK) {
        return st;
    }
    if (cohort < cfg->n_min || cohort > cfg->n_max) {
        return TINYFL_E_REFUSED;
    }
    size_t m = 0;
    size_t next = 0; /* survived[] is ascending, like peers[] */
    for (size_t j = 0; j < sa->k; j++) {
        const tinyfl_secagg_peer *peer = &sa->peers[j];
        if (!peer->alive) {
            continue;
        }
        int lived = next < n_survived && survived[next] == peer->who.id;
        next += (size_t)lived;
        put_u16(out[m], peer->who.id);
        out[m][2] = lived ? TINYFL_SECAGG_REVEAL_SELF_MASK : TINYFL_SECAGG_REVEAL_MASK_KEY;
        out[m][3] = peer->x;
        memcpy(out[m] + 4, lived ? peer->b_share : peer->s_share, 32);
        m++;
    }
    *n_out = m;
    tinyfl_secagg_wipe(sa); /* one unmask per round: nothing is left to reveal twice */
    sa->state = TINYFL_SECAGG_DONE;
    return TINYFL_OK;
}
