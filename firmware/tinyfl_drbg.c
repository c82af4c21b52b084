/* ChaCha20 keystream as a DRBG (RFC 8439 block function, 32-bit block counter from 0). */
#include "tinyfl_drbg.h"

#define TINYFL_CHACHA_WORDS 16u

static uint32_t tinyfl_rotl32(uint32_t v, unsigned n)
{
    return (v << n) | (v >> (32u - n));
}

static uint32_t tinyfl_load_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

#define TINYFL_QUARTER(x, a, b, c, d)                                                              \
    do {                                                                                           \
        x[a] += x[b]; x[d] = tinyfl_rotl32(x[d] ^ x[a], 16);                                      \
        x[c] += x[d]; x[b] = tinyfl_rotl32(x[b] ^ x[c], 12);                                      \
        x[a] += x[b]; x[d] = tinyfl_rotl32(x[d] ^ x[a], 8);                                       \
        x[c] += x[d]; x[b] = tinyfl_rotl32(x[b] ^ x[c], 7);                                       \
    } while (0)

static void tinyfl_chacha_block(tinyfl_drbg *drbg)
{
    uint32_t init[TINYFL_CHACHA_WORDS];
    uint32_t *x = drbg->block;
    unsigned i;
    /* "expand 32-byte k" */
    init[0] = 0x61707865u;
    init[1] = 0x3320646eu;
    init[2] = 0x79622d32u;
    init[3] = 0x6b206574u;
    for (i = 0; i < 8u; i++) {
        init[4u + i] = drbg->key[i];
    }
    init[12] = drbg->counter;
    init[13] = drbg->nonce[0];
    init[14] = drbg->nonce[1];
    init[15] = drbg->nonce[2];
    for (i = 0; i < TINYFL_CHACHA_WORDS; i++) {
        x[i] = init[i];
    }
    for (i = 0; i < 10u; i++) {
        TINYFL_QUARTER(x, 0, 4, 8, 12);
        TINYFL_QUARTER(x, 1, 5, 9, 13);
        TINYFL_QUARTER(x, 2, 6, 10, 14);
        TINYFL_QUARTER(x, 3, 7, 11, 15);
        TINYFL_QUARTER(x, 0, 5, 10, 15);
        TINYFL_QUARTER(x, 1, 6, 11, 12);
        TINYFL_QUARTER(x, 2, 7, 8, 13);
        TINYFL_QUARTER(x, 3, 4, 9, 14);
    }
    for (i = 0; i < TINYFL_CHACHA_WORDS; i++) {
        x[i] += init[i];
        init[i] = 0u;
    }
    drbg->counter++;
    if (drbg->counter == 0u) {
        /* 2^32 blocks (256 GiB) later: carry into the nonce so the stream never repeats. */
        drbg->nonce[0]++;
    }
    drbg->used = 0u;
}

void tinyfl_drbg_seed(tinyfl_drbg *drbg, const uint8_t seed[TINYFL_DRBG_SEED_SIZE])
{
    unsigned i;
    for (i = 0; i < 8u; i++) {
        drbg->key[i] = tinyfl_load_le32(seed + 4u * i);
    }
    for (i = 0; i < 3u; i++) {
        drbg->nonce[i] = tinyfl_load_le32(seed + 32u + 4u * i);
    }
    drbg->counter = 0u;
    for (i = 0; i < TINYFL_CHACHA_WORDS; i++) {
        drbg->block[i] = 0u;
    }
    drbg->used = (uint8_t)TINYFL_CHACHA_WORDS; /* empty: the first draw computes block 0 */
    drbg->bit_count = 0u;
    drbg->bit_buf = 0u;
    drbg->comparisons = 0u;
}

uint32_t tinyfl_drbg_u32(tinyfl_drbg *drbg)
{
    if (drbg->used >= TINYFL_CHACHA_WORDS) {
        tinyfl_chacha_block(drbg);
    }
    return drbg->block[drbg->used++];
}

/* tinyfl_drbg_bits when the buffer holds fewer than k bits, or k == 32 */
uint32_t tinyfl_drbg_bits_refill(tinyfl_drbg *drbg, unsigned k)
{
    uint32_t low;
    uint32_t word;
    unsigned need;
    if (k <= drbg->bit_count) {
        uint32_t mask = k >= 32u ? 0xFFFFFFFFu : (1u << k) - 1u;
        low = drbg->bit_buf & mask;
        drbg->bit_buf = k >= 32u ? 0u : drbg->bit_buf >> k;
        drbg->bit_count = (uint8_t)(drbg->bit_count - k);
        return low;
    }
    /* the buffered bits (fewer than k) come first, then the low bits of a fresh word */
    low = drbg->bit_buf;
    need = k - drbg->bit_count;
    word = tinyfl_drbg_u32(drbg);
    low |= (need >= 32u ? word : word & ((1u << need) - 1u)) << drbg->bit_count;
    drbg->bit_buf = need >= 32u ? 0u : word >> need;
    drbg->bit_count = (uint8_t)(32u - need);
    return low;
}

uint64_t tinyfl_drbg_u64(tinyfl_drbg *drbg)
{
    uint64_t lo = tinyfl_drbg_u32(drbg);
    uint64_t hi = tinyfl_drbg_u32(drbg);
    return lo | (hi << 32);
}

uint64_t tinyfl_drbg_below(tinyfl_drbg *drbg, uint64_t bound)
{
    /* Accept x < 2^64 - (2^64 mod bound): a whole number of copies of [0, bound). */
    uint64_t excess;
    uint64_t x;
    if (bound == 0u) {
        return 0u;
    }
    excess = (0u - bound) % bound; /* (2^64 - bound) mod bound == 2^64 mod bound */
    for (;;) {
        x = tinyfl_drbg_u64(drbg);
        if (excess == 0u || x < 0u - excess) {
            return x % bound;
        }
    }
}

uint64_t tinyfl_drbg_bit_position(const tinyfl_drbg *drbg)
{
    /* blocks made so far, minus the words of the last one not taken, minus buffered bits */
    uint64_t words = (uint64_t)drbg->counter * TINYFL_CHACHA_WORDS - (TINYFL_CHACHA_WORDS - drbg->used);
    return words * 32u - drbg->bit_count;
}

void tinyfl_drbg_discard_to_block(tinyfl_drbg *drbg, uint32_t block)
{
    uint32_t ahead = block - drbg->counter; /* mod 2^32; "behind" reads as 2^31 or more */
    for (; ahead != 0u && ahead < 0x80000000u; ahead--) {
        tinyfl_chacha_block(drbg);
    }
    drbg->used = (uint8_t)TINYFL_CHACHA_WORDS;
    drbg->bit_count = 0u;
    drbg->bit_buf = 0u;
}

void tinyfl_drbg_wipe(tinyfl_drbg *drbg)
{
    /* volatile: the compiler may not drop stores to memory that is never read again */
    volatile uint8_t *p = (volatile uint8_t *)drbg;
    size_t i;
    for (i = 0; i < sizeof(*drbg); i++) {
        p[i] = 0u;
    }
}
