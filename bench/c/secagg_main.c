/* On-target check and benchmark of the device's secure aggregation on Cortex-M4F (QEMU AN386).
 * First prints fixed vectors (hex) that tests/test_secagg_qemu.py recomputes with the host's
 * `cryptography`; then instructions per piece under `-icount shift=0` (the FPGA counter ticks
 * once per 40 instructions; each piece repeats REPS times). Prints key=value lines. */
#include <stdint.h>
#include <string.h>

#include "an386.h"
#include "monocypher.h"
#include "qemu_text.h"
#include "tinyfl_drbg.h"
#include "tinyfl_secagg.h"
#include "tinyfl_secagg_kdf.h"
#include "tinyfl_secagg_mask.h"
#include "tinyfl_shamir.h"

#define REPS 4
#ifndef TINYFL_SECAGG_BENCH
#define TINYFL_SECAGG_BENCH 0
#endif
#define MAX_PARAMS 1000
#define K_MAX 16

static tinyfl_drbg drbg;
static tinyfl_secagg device;
static tinyfl_secagg_neighbour neighbours[K_MAX];
static uint8_t ciphers[K_MAX][TINYFL_SECAGG_CIPHER_SIZE];
static uint8_t peer_sk[K_MAX][32];
static int32_t x[MAX_PARAMS];
static uint32_t y[MAX_PARAMS];
static tinyfl_shamir_poly poly;

static void put_kv(const char *key, uint32_t value)
{
    tinyfl_an386_uart_puts(key);
    tinyfl_an386_uart_putc('=');
    tinyfl_qemu_uart_put_u32(value);
    tinyfl_an386_uart_putc('\n');
}

static void put_hex(const char *key, const uint8_t *bytes, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    tinyfl_an386_uart_puts(key);
    tinyfl_an386_uart_putc('=');
    for (size_t i = 0; i < n; i++) {
        tinyfl_an386_uart_putc((uint8_t)hex[bytes[i] >> 4]);
        tinyfl_an386_uart_putc((uint8_t)hex[bytes[i] & 15u]);
    }
    tinyfl_an386_uart_putc('\n');
}

static void seed_drbg(uint8_t base)
{
    uint8_t seed[TINYFL_DRBG_SEED_SIZE];
    for (size_t i = 0; i < sizeof(seed); i++) {
        seed[i] = (uint8_t)(base + i);
    }
    tinyfl_drbg_seed(&drbg, seed);
}

/* instructions per call from counter ticks over `reps` calls */
static uint32_t per_call(uint32_t ticks, uint32_t reps)
{
    return (uint32_t)(((uint64_t)ticks * 40u + reps / 2) / reps);
}

static int vectors(void)
{
    uint8_t a_sk[32], a_pk[32], b_sk[32], b_pk[32], key[32], share[32];
    seed_drbg(0);
    tinyfl_secagg_keypair(&drbg, a_sk, a_pk);
    seed_drbg(100);
    tinyfl_secagg_keypair(&drbg, b_sk, b_pk);
    put_hex("vec_a_pk", a_pk, 32);
    put_hex("vec_b_pk", b_pk, 32);
    if (tinyfl_secagg_agree(key, TINYFL_SECAGG_LABEL_MASK, 7u, 3u, a_sk, a_pk, 9u, b_pk) != TINYFL_OK) {
        return 1;
    }
    put_hex("vec_key", key, 32);
    if (tinyfl_shamir_init(&poly, &drbg, key, 5u) != TINYFL_OK ||
        tinyfl_shamir_share(&poly, 8u, share) != TINYFL_OK) {
        return 2;
    }
    put_hex("vec_share8", share, 32);
    memset(y, 0, 20 * sizeof(uint32_t));
    tinyfl_secagg_mask_add(y, 20, key, +1);
    put_hex("vec_mask20", (const uint8_t *)y, 20 * sizeof(uint32_t)); /* little-endian target */
    uint8_t c_pk[32], s_pk[32];
    seed_drbg(50);
    if (tinyfl_secagg_begin(&device, &drbg, 3u, 7u, c_pk, s_pk) != TINYFL_OK) {
        return 3;
    }
    neighbours[0].id = 9u;
    memcpy(neighbours[0].c_pk, b_pk, 32);
    memcpy(neighbours[0].s_pk, b_pk, 32);
    if (tinyfl_secagg_share(&device, &drbg, neighbours, 1u, 1u, ciphers) != TINYFL_OK) {
        return 4;
    }
    put_hex("vec_cipher", ciphers[0], TINYFL_SECAGG_CIPHER_SIZE);
    return 0;
}

/* neighbours 1..k with key pairs from the DRBG; our device is id 100 */
static void make_neighbours(size_t k)
{
    for (size_t j = 0; j < k; j++) {
        uint8_t unused[32];
        neighbours[j].id = (uint16_t)(j + 1);
        tinyfl_secagg_keypair(&drbg, peer_sk[j], neighbours[j].c_pk);
        tinyfl_secagg_keypair(&drbg, unused, neighbours[j].s_pk);
    }
}

static int bench(void)
{
    static const tinyfl_secagg_config cfg = {10u, 1000u, 256u, {65536u, 10u}};
    uint8_t sk[32], pk[32], key[32], share[32], c_pk[32], s_pk[32];
    uint32_t t0, round = 100u; /* every begin needs a newer round */
    seed_drbg(1);
    make_neighbours(K_MAX);

    t0 = tinyfl_an386_counter();
    for (int r = 0; r < REPS; r++) {
        tinyfl_secagg_keypair(&drbg, sk, pk);
    }
    put_kv("keypair", per_call(tinyfl_an386_counter() - t0, REPS));

    t0 = tinyfl_an386_counter();
    for (int r = 0; r < REPS; r++) {
        (void)tinyfl_secagg_agree(key, TINYFL_SECAGG_LABEL_MASK, 1u, 100u, sk, pk, 1u,
                                  neighbours[0].s_pk);
    }
    put_kv("agree", per_call(tinyfl_an386_counter() - t0, REPS));

    static const uint32_t sizes[2] = {100u, 1000u};
    for (int s = 0; s < 2; s++) {
        t0 = tinyfl_an386_counter();
        for (int r = 0; r < REPS; r++) {
            tinyfl_secagg_mask_add(y, sizes[s], key, +1);
        }
        tinyfl_an386_uart_puts(s == 0 ? "mask_expand_100" : "mask_expand_1000");
        put_kv("", per_call(tinyfl_an386_counter() - t0, REPS));
    }

    uint8_t plain[TINYFL_SECAGG_PLAIN_SIZE] = {0}, nonce[12] = {0}, ad[24] = {0};
    t0 = tinyfl_an386_counter();
    for (int r = 0; r < REPS; r++) {
        crypto_aead_ctx ctx;
        crypto_aead_init_ietf(&ctx, key, nonce);
        crypto_aead_write(&ctx, ciphers[0], ciphers[0] + TINYFL_SECAGG_PLAIN_SIZE, ad, sizeof(ad),
                          plain, sizeof(plain));
    }
    put_kv("aead_one_share", per_call(tinyfl_an386_counter() - t0, REPS));

    static const uint8_t ks[2] = {8u, 16u};
    for (int q = 0; q < 2; q++) {
        uint8_t k = ks[q], t = (uint8_t)(k / 2 + 1);
        t0 = tinyfl_an386_counter();
        for (int r = 0; r < REPS; r++) { /* both secrets, k shares each */
            (void)tinyfl_shamir_init(&poly, &drbg, key, t);
            for (uint8_t j = 1; j <= k; j++) {
                (void)tinyfl_shamir_share(&poly, j, share);
            }
            (void)tinyfl_shamir_init(&poly, &drbg, sk, t);
            for (uint8_t j = 1; j <= k; j++) {
                (void)tinyfl_shamir_share(&poly, j, share);
            }
        }
        put_kv(k == 8 ? "shamir_k8" : "shamir_k16", per_call(tinyfl_an386_counter() - t0, REPS));

        /* whole protocol steps at this k: begin, share (k agreements + Shamir + k AEAD),
         * receive k shares (k agreements + AEAD open), mask at 100 and 1000 parameters */
        uint32_t t_begin = 0, t_share = 0, t_mask[2] = {0, 0}, t_unmask = 0;
        uint16_t alive[K_MAX];
        for (size_t j = 0; j < k; j++) {
            alive[j] = neighbours[j].id;
        }
        for (int s = 0; s < 2; s++) {
            for (int r = 0; r < REPS / 2; r++) {
                t0 = tinyfl_an386_counter();
                if (tinyfl_secagg_begin(&device, &drbg, 100u, round++, c_pk, s_pk) != TINYFL_OK) {
                    return 9;
                }
                t_begin += tinyfl_an386_counter() - t0;
                t0 = tinyfl_an386_counter();
                if (tinyfl_secagg_share(&device, &drbg, neighbours, k, t, ciphers) != TINYFL_OK) {
                    return 10;
                }
                t_share += tinyfl_an386_counter() - t0;
                /* mark every neighbour's share received (the receive step is a copy after one
                 * agreement and one AEAD open, measured by agree + aead_one_share) */
                for (size_t j = 0; j < k; j++) {
                    device.peers[j].received = 1;
                    device.peers[j].x = (uint8_t)(j + 1);
                }
                t0 = tinyfl_an386_counter();
                if (tinyfl_secagg_mask(&device, &cfg, x, sizes[s], alive, k, 10u, y) != TINYFL_OK) {
                    return 11;
                }
                t_mask[s] += tinyfl_an386_counter() - t0;
                uint8_t reveal[K_MAX][TINYFL_SECAGG_REVEAL_SIZE];
                size_t n_out = 0;
                t0 = tinyfl_an386_counter();
                if (tinyfl_secagg_unmask(&device, &cfg, alive, k - 1u, 10u, reveal, &n_out) != TINYFL_OK) {
                    return 12;
                }
                t_unmask += tinyfl_an386_counter() - t0;
            }
        }
        tinyfl_an386_uart_puts(k == 8 ? "k8_" : "k16_");
        put_kv("begin", per_call(t_begin, REPS));
        tinyfl_an386_uart_puts(k == 8 ? "k8_" : "k16_");
        put_kv("share", per_call(t_share, REPS));
        tinyfl_an386_uart_puts(k == 8 ? "k8_" : "k16_");
        put_kv("mask_100", per_call(t_mask[0], REPS / 2));
        tinyfl_an386_uart_puts(k == 8 ? "k8_" : "k16_");
        put_kv("mask_1000", per_call(t_mask[1], REPS / 2));
        tinyfl_an386_uart_puts(k == 8 ? "k8_" : "k16_");
        put_kv("unmask", per_call(t_unmask, REPS));
    }

    t0 = tinyfl_an386_counter();
    for (int r = 0; r < REPS; r++) {
        (void)tinyfl_secagg_add_noise(&cfg, &drbg, x, 100u);
    }
    put_kv("noise_100", per_call(tinyfl_an386_counter() - t0, REPS));
    put_kv("state_bytes", (uint32_t)sizeof(tinyfl_secagg));
    return 0;
}

int main(void)
{
    tinyfl_an386_uart_init();
    int rc = vectors();
#if TINYFL_SECAGG_BENCH
    if (rc == 0) {
        rc = bench();
    }
#else
    (void)bench;
#endif
    return rc;
}
