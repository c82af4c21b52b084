/* ChaCha20-based deterministic random bit generator for the noise.
 *
 * Seeded once from the board's entropy hook (32 bytes key + 12 bytes nonce from the TRNG);
 * output is the ChaCha20 keystream (RFC 8439 block function, 32-bit counter). Nothing that
 * arrives from the link can reach the key. */
#ifndef TINYFL_DRBG_H
#define TINYFL_DRBG_H

#include <stddef.h>
#include <stdint.h>

#include "tinyfl_status.h"

typedef struct {
    uint32_t key[8];
    uint32_t nonce[3];
    uint32_t counter;
    uint32_t block[16]; /* current keystream block */
    uint8_t used;       /* 32-bit words of `block` already handed out (0..16) */
    uint8_t bit_count;  /* bits left in bit_buf (0..32) */
    uint32_t bit_buf;   /* unused bits of the last word taken for tinyfl_drbg_bits, low first */
    uint32_t comparisons; /* Bernoulli comparisons the sampler has made: with the coins, its
                           * work meter (tinyfl_protect.c pads to a fixed amount of work) */
} tinyfl_drbg;

/* seed: 44 bytes = key[32] | nonce[12], little-endian words as in RFC 8439. */
#define TINYFL_DRBG_SEED_SIZE 44
void tinyfl_drbg_seed(tinyfl_drbg *drbg, const uint8_t seed[TINYFL_DRBG_SEED_SIZE]);
uint32_t tinyfl_drbg_u32(tinyfl_drbg *drbg);
uint64_t tinyfl_drbg_u64(tinyfl_drbg *drbg); /* low word first */
/* Uniform integer in [0, bound), bound >= 1, unbiased (rejection sampling on u64 draws). */
uint64_t tinyfl_drbg_below(tinyfl_drbg *drbg, uint64_t bound);
/* The keystream as a bit stream, for samplers that need one coin at a time: whole words are
 * taken from the same stream as tinyfl_drbg_u32 and handed out least significant bit first.
 * tinyfl_drbg_bits(k), 1 <= k <= 32, returns the next k bits with the first one in bit 0. */
uint32_t tinyfl_drbg_bits_refill(tinyfl_drbg *drbg, unsigned k);
static inline uint32_t tinyfl_drbg_bits(tinyfl_drbg *drbg, unsigned k)
{
    if (k < 32u && k <= drbg->bit_count) {
        uint32_t low = drbg->bit_buf & ((1u << k) - 1u);
        drbg->bit_buf >>= k;
        drbg->bit_count = (uint8_t)(drbg->bit_count - k);
        return low;
    }
    return tinyfl_drbg_bits_refill(drbg, k);
}
static inline uint32_t tinyfl_drbg_bit(tinyfl_drbg *drbg)
{
    uint32_t b;
    if (drbg->bit_count == 0u) {
        drbg->bit_buf = tinyfl_drbg_u32(drbg);
        drbg->bit_count = 32u;
    }
    b = drbg->bit_buf & 1u;
    drbg->bit_buf >>= 1;
    drbg->bit_count--;
    return b;
}
/* Position in the keystream in bits (every bit handed out, or skipped by whole words), modulo
 * 2^32 blocks like the block counter. */
uint64_t tinyfl_drbg_bit_position(const tinyfl_drbg *drbg);
/* Drops the rest of the current block, then computes (and drops) blocks until the next one to
 * compute is `block` (nothing more if the stream is already there or past it, compared mod
 * 2^32), so that the next draw starts a fresh block. Padding for fixed generator work. */
void tinyfl_drbg_discard_to_block(tinyfl_drbg *drbg, uint32_t block);
/* Wipes the state (key included). */
void tinyfl_drbg_wipe(tinyfl_drbg *drbg);

#endif /* TINYFL_DRBG_H */
