#include "tinyfl_shamir.h"

#include <string.h>

#include "monocypher.h"

uint8_t tinyfl_gf256_mul(uint8_t a, uint8_t b)
{
    uint8_t product = 0;
    for (int i = 0; i < 8; i++) {
        product ^= (uint8_t)(-(b & 1u) & a);
        uint8_t carry = (uint8_t)(-(a >> 7) & 0x1Bu);
        a = (uint8_t)((a << 1) ^ carry);
        b >>= 1;
    }
    return product;
}

tinyfl_status tinyfl_shamir_init(tinyfl_shamir_poly *poly, tinyfl_drbg *drbg,
                                 const uint8_t secret[TINYFL_SHAMIR_SECRET_SIZE], uint8_t t)
{
    if (t < 1 || t > TINYFL_SHAMIR_MAX_THRESHOLD) {
        return TINYFL_E_ARG;
    }
    memset(poly, 0, sizeof(*poly));
    memcpy(poly->secret, secret, TINYFL_SHAMIR_SECRET_SIZE);
    poly->threshold = t;
    size_t n = (size_t)(t - 1) * TINYFL_SHAMIR_SECRET_SIZE; /* a multiple of 4 */
    for (size_t i = 0; i < n; i += 4) {
        uint32_t w = tinyfl_drbg_u32(drbg);
        for (size_t j = 0; j < 4; j++) {
            poly->coeffs[i + j] = (uint8_t)(w >> (8 * j));
        }
    }
    return TINYFL_OK;
}

tinyfl_status tinyfl_shamir_share(const tinyfl_shamir_poly *poly, uint8_t x,
                                  uint8_t share[TINYFL_SHAMIR_SECRET_SIZE])
{
    if (x == 0 || poly->threshold < 1 || poly->threshold > TINYFL_SHAMIR_MAX_THRESHOLD) {
        return TINYFL_E_ARG;
    }
    for (size_t i = 0; i < TINYFL_SHAMIR_SECRET_SIZE; i++) {
        /* Horner from the highest coefficient down to the secret */
        uint8_t acc = 0;
        for (size_t c = poly->threshold - 1u; c >= 1; c--) {
            acc = tinyfl_gf256_mul(acc, x) ^ poly->coeffs[(c - 1) * TINYFL_SHAMIR_SECRET_SIZE + i];
        }
        share[i] = tinyfl_gf256_mul(acc, x) ^ poly->secret[i];
    }
    return TINYFL_OK;
}

void tinyfl_shamir_wipe(tinyfl_shamir_poly *poly) { crypto_wipe(poly, sizeof(*poly)); }
