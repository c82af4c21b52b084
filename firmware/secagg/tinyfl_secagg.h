/* The device's side of one secure-aggregation round (SecAgg+ of Bell et al. 2020 over the
 * pairwise/self masking of Bonawitz et al. 2017), with the distributed discrete Gaussian noise
 * of Kairouz, Liu and Steinke 2021. All state lives in the caller's tinyfl_secagg; no malloc.
 *
 * Round steps (each refuses to run out of order: E_ARG, state unchanged):
 *   1. begin:    fresh X25519 pairs c (share encryption) and s (pairwise masks); send c_pk, s_pk.
 *   2. share:    the server names k neighbours (ids ascending, their c_pk and s_pk) and the
 *                threshold t; agree both keys with every neighbour (each X25519 once per
 *                round: ~1.2 M instructions on a Cortex-M4), draw the self-mask seed b, split b
 *                and s_sk t-of-k, encrypt share j for neighbour j with ChaCha20-Poly1305 (IETF)
 *                under the key agreed from the c keys; send the k ciphertexts.
 *   3. receive:  each neighbour's ciphertext for us (authenticated; stored).
 *   4. mask:     the server names the neighbours still alive (U2) and the cohort size it
 *                claims; y = x + PRG(b) + sum_v (+1 if id < v else -1) PRG(s_uv) mod 2^32.
 *   5. unmask:   the server names the neighbours whose y arrived (U3 within U2) and the
 *                surviving cohort size; the device reveals, per neighbour in U2, the share of
 *                b_v if v survived and the share of s_sk_v if it dropped: never both (one
 *                unmask per round, then every secret is wiped). Refused below n_min survivors.
 * Every input that came from the link is checked; a refusal leaves the state as it was.
 */
#ifndef TINYFL_SECAGG_H
#define TINYFL_SECAGG_H

#include <stddef.h>
#include <stdint.h>

#include "tinyfl_dgauss.h"
#include "tinyfl_drbg.h"
#include "tinyfl_secagg_kdf.h"
#include "tinyfl_status.h"

#ifndef TINYFL_SECAGG_MAX_NEIGHBOURS
#define TINYFL_SECAGG_MAX_NEIGHBOURS 16
#endif
#if TINYFL_SECAGG_MAX_NEIGHBOURS < 1 || TINYFL_SECAGG_MAX_NEIGHBOURS > 32
#error "TINYFL_SECAGG_MAX_NEIGHBOURS must be 1..32"
#endif

/* Share plaintext: owner id u16 | holder id u16 | x u8 | share of b (32) | share of s_sk (32) */
#define TINYFL_SECAGG_PLAIN_SIZE 69
#define TINYFL_SECAGG_TAG_SIZE 16
#define TINYFL_SECAGG_CIPHER_SIZE (TINYFL_SECAGG_PLAIN_SIZE + TINYFL_SECAGG_TAG_SIZE)
/* Unmask record: owner id u16 | kind u8 | x u8 | share (32) */
#define TINYFL_SECAGG_REVEAL_SIZE 36
#define TINYFL_SECAGG_REVEAL_SELF_MASK 0u /* the share of b_v: v survived */
#define TINYFL_SECAGG_REVEAL_MASK_KEY 1u  /* the share of s_sk_v: v dropped */

/* Compiled-in policy (from the image's configuration, never from the link). */
typedef struct {
    uint16_t n_min;           /* smallest cohort the device unmasks for (>= 2) */
    uint16_t n_max;           /* largest cohort the modulus is sized for */
    uint32_t bound;           /* |x_i| <= bound before noise (2^grid_bits grid steps) */
    tinyfl_dgauss_var noise;  /* per-device variance, grid steps^2: max(sigma^2/n_min, local^2) */
} tinyfl_secagg_config;

typedef struct {
    uint16_t id;
    uint8_t c_pk[32];
    uint8_t s_pk[32];
} tinyfl_secagg_neighbour;

typedef struct {
    tinyfl_secagg_neighbour who;
    uint8_t channel_key[32]; /* agreed from the c keys at the share step */
    uint8_t mask_seed[32];   /* agreed from the s keys at the share step */
    uint8_t received; /* its ciphertext for us arrived and authenticated */
    uint8_t alive;    /* in U2 (named alive when we masked) */
    uint8_t x;        /* evaluation point of the shares it gave us */
    uint8_t b_share[32];
    uint8_t s_share[32];
} tinyfl_secagg_peer;

typedef enum {
    TINYFL_SECAGG_IDLE = 0,
    TINYFL_SECAGG_KEYS,
    TINYFL_SECAGG_SHARED,
    TINYFL_SECAGG_MASKED,
    TINYFL_SECAGG_DONE
} tinyfl_secagg_state;

typedef struct {
    uint8_t state;
    uint8_t started; /* a round has begun since init: `round` is the last one */
    uint8_t k;
    uint8_t t;
    uint16_t id;
    uint32_t round;
    uint8_t c_sk[32], c_pk[32];
    uint8_t s_sk[32], s_pk[32];
    uint8_t b[32];
    tinyfl_secagg_peer peers[TINYFL_SECAGG_MAX_NEIGHBOURS];
} tinyfl_secagg;

/* E_ARG for a config that cannot be honoured: n_min < 2, n_max < n_min, a variance outside the
 * sampler's range, or a sum of n_max updates that could wrap modulo 2^32 (|sum| must stay
 * below 2^31 with 14 standard deviations of the summed noise: see docs/privacy.md). */
tinyfl_status tinyfl_secagg_config_check(const tinyfl_secagg_config *cfg);

/* Zeroes the state before first use (no round begun yet). */
void tinyfl_secagg_init(tinyfl_secagg *sa);
/* Step 1. id 0 is reserved (never a device). E_ROUND unless round is newer than every round
 * begun since init: a server cannot replay a round to get a second masked input for it (each
 * masked input is a release; phase 2 ties this to the device's persisted round). */
tinyfl_status tinyfl_secagg_begin(tinyfl_secagg *sa, tinyfl_drbg *drbg, uint16_t id,
                                  uint32_t round, uint8_t c_pk[32], uint8_t s_pk[32]);
/* Step 2. neighbours: k entries, ids strictly ascending, none equal to ours or 0;
 * k/2 < t <= k <= TINYFL_SECAGG_MAX_NEIGHBOURS, t <= TINYFL_SHAMIR_MAX_THRESHOLD. out: k ciphertexts, out[j] for neighbour j.
 * E_VALUE (nothing drawn, state unchanged) when a neighbour's public key is low order. */
tinyfl_status tinyfl_secagg_share(tinyfl_secagg *sa, tinyfl_drbg *drbg,
                                  const tinyfl_secagg_neighbour *neighbours, size_t k, size_t t,
                                  uint8_t (*out)[TINYFL_SECAGG_CIPHER_SIZE]);
/* Step 3. E_VALUE when the ciphertext does not authenticate or names other parties; E_ARG when
 * the sender is no neighbour or already delivered. */
tinyfl_status tinyfl_secagg_receive(tinyfl_secagg *sa, uint16_t sender,
                                    const uint8_t cipher[TINYFL_SECAGG_CIPHER_SIZE]);
/* Adds the device's share of the distributed noise in place: x[i] += N_Z(0, cfg->noise).
 * E_ARG for a config that fails the check; E_INTERNAL if a sum would leave int32. */
tinyfl_status tinyfl_secagg_add_noise(const tinyfl_secagg_config *cfg, tinyfl_drbg *drbg,
                                      int32_t *x, size_t n);
/* Step 4. x: the noised update (n values, the device's own); alive: the
 * neighbours in U2, ids ascending, every one of them delivered its share; at least t of them;
 * cohort: the size of U2 the server claims (n_min..n_max). y: n masked words. */
tinyfl_status tinyfl_secagg_mask(tinyfl_secagg *sa, const tinyfl_secagg_config *cfg,
                                 const int32_t *x, size_t n, const uint16_t *alive,
                                 size_t n_alive, uint16_t cohort, uint32_t *y);
/* Step 5. survived: the neighbours in U3 (ids ascending, each in U2); cohort: the size of U3
 * the server claims; refused (E_REFUSED) below n_min. out (room for k records): one record per
 * neighbour in U2, in id order; *n_out is their count. Wipes every secret afterwards. */
tinyfl_status tinyfl_secagg_unmask(tinyfl_secagg *sa, const tinyfl_secagg_config *cfg,
                                   const uint16_t *survived, size_t n_survived, uint16_t cohort,
                                   uint8_t (*out)[TINYFL_SECAGG_REVEAL_SIZE], size_t *n_out);
/* Wipes every secret and abandons the round (back to IDLE); the last round is kept. */
void tinyfl_secagg_wipe(tinyfl_secagg *sa);

#endif /* TINYFL_SECAGG_H */
