/* Shamir t-of-k secret sharing of a 32-byte secret over GF(2^8), byte by byte (AES field,
 * x^8 + x^4 + x^3 + x + 1). Share j is the value at x = j (1..255) of a polynomial of degree
 * t - 1 per byte, whose constant term is the secret byte and whose other coefficients come from
 * the DRBG. Any t shares give the secret (Lagrange at 0, done by the host: tinyfl/secagg/
 * shamir.py); fewer give no information. Multiplication is branch-free (no tables, no
 * secret-dependent branches or memory access). */
#ifndef TINYFL_SHAMIR_H
#define TINYFL_SHAMIR_H

#include <stdint.h>

#include "tinyfl_drbg.h"
#include "tinyfl_status.h"

#define TINYFL_SHAMIR_SECRET_SIZE 32
/* Bounds the polynomial a caller keeps (on the stack during sharing): 16 -> 513 bytes. */
#ifndef TINYFL_SHAMIR_MAX_THRESHOLD
#define TINYFL_SHAMIR_MAX_THRESHOLD 16
#endif
#if TINYFL_SHAMIR_MAX_THRESHOLD < 1 || TINYFL_SHAMIR_MAX_THRESHOLD > 255
#error "TINYFL_SHAMIR_MAX_THRESHOLD must be 1..255"
#endif

uint8_t tinyfl_gf256_mul(uint8_t a, uint8_t b);

/* Coefficients of the t - 1 random terms for every byte: caller-owned so the same polynomial
 * gives every share. coeffs[(c - 1) * 32 + i] is the x^c coefficient of byte i. */
typedef struct {
    uint8_t secret[TINYFL_SHAMIR_SECRET_SIZE];
    uint8_t coeffs[(TINYFL_SHAMIR_MAX_THRESHOLD - 1) * TINYFL_SHAMIR_SECRET_SIZE];
    uint8_t threshold;
} tinyfl_shamir_poly;

/* Draws the polynomial: (t - 1) * 32 bytes as little-endian DRBG words, coefficient 1 of all
 * bytes first. E_ARG unless 1 <= t <= TINYFL_SHAMIR_MAX_THRESHOLD. */
tinyfl_status tinyfl_shamir_init(tinyfl_shamir_poly *poly, tinyfl_drbg *drbg,
                                 const uint8_t secret[TINYFL_SHAMIR_SECRET_SIZE], uint8_t t);
/* The share at x (1..255; E_ARG for 0, which is the secret itself). */
tinyfl_status tinyfl_shamir_share(const tinyfl_shamir_poly *poly, uint8_t x,
                                  uint8_t share[TINYFL_SHAMIR_SECRET_SIZE]);
void tinyfl_shamir_wipe(tinyfl_shamir_poly *poly);

#endif /* TINYFL_SHAMIR_H */
