/* Key agreement for secure aggregation: X25519 (Monocypher), then a key derived with keyed
 * BLAKE2b-256 over both parties' ids and public keys, so the key is bound to the round and the
 * pair and the same on both sides (tinyfl/secagg/kdf.py is the host's copy). */
#ifndef TINYFL_SECAGG_KDF_H
#define TINYFL_SECAGG_KDF_H

#include <stdint.h>

#include "tinyfl_drbg.h"
#include "tinyfl_status.h"

#define TINYFL_SECAGG_KEY_SIZE 32
/* What a derived key is for: one label per use, so no key serves two purposes. */
#define TINYFL_SECAGG_LABEL_MASK ((uint8_t)'M')    /* pairwise mask seed (from the s keys) */
#define TINYFL_SECAGG_LABEL_ENCRYPT ((uint8_t)'E') /* share encryption key (from the c keys) */
/* Domain string that starts every KDF input and AEAD associated data (16 bytes, no NUL). */
#define TINYFL_SECAGG_DOMAIN "tinyfl-secagg-v1"
#define TINYFL_SECAGG_DOMAIN_SIZE 16

/* A fresh X25519 key pair: the secret is 32 bytes drawn as 8 little-endian DRBG words. */
void tinyfl_secagg_keypair(tinyfl_drbg *drbg, uint8_t secret[32], uint8_t public_key[32]);

/* key = BLAKE2b-256(key = X25519(my_secret, their_public),
 *                   DOMAIN | label | round | lo_id | hi_id | pk(lo) | pk(hi))
 * with ids as little-endian u16, round as little-endian u32 and (lo, hi) the two parties
 * ordered by id. E_VALUE when the shared secret is all zero (a low-order public key) or the ids
 * are equal. */
tinyfl_status tinyfl_secagg_agree(uint8_t key[TINYFL_SECAGG_KEY_SIZE], uint8_t label,
                                  uint32_t round, uint16_t my_id, const uint8_t my_secret[32],
                                  const uint8_t my_public[32], uint16_t their_id,
                                  const uint8_t their_public[32]);

#endif /* TINYFL_SECAGG_KDF_H */
