/* Mask expansion: a 32-byte seed becomes n 32-bit words of the ChaCha20 keystream (RFC 8439,
 * nonce all zero, block counter from 0; word i is bytes 4i..4i+3 little-endian). Every seed is
 * used for one mask only (fresh per round and pair), so the fixed nonce never repeats a key. */
#ifndef TINYFL_SECAGG_MASK_H
#define TINYFL_SECAGG_MASK_H

#include <stddef.h>
#include <stdint.h>

/* y[i] += sign * mask[i] modulo 2^32; sign is +1 or -1 (anything negative subtracts). */
void tinyfl_secagg_mask_add(uint32_t *y, size_t n, const uint8_t seed[32], int sign);

#endif /* TINYFL_SECAGG_MASK_H */
