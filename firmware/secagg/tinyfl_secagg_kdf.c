#include "tinyfl_secagg_kdf.h"

#include <string.h>

#include "monocypher.h"

static void put_u16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

void tinyfl_secagg_keypair(tinyfl_drbg *drbg, uint8_t secret[32], uint8_t public_key[32])
{
    for (int i = 0; i < 8; i++) {
        put_u32(secret + 4 * i, tinyfl_drbg_u32(drbg));
    }
    crypto_x25519_public_key(public_key, secret);
}

tinyfl_status tinyfl_secagg_agree(uint8_t key[TINYFL_SECAGG_KEY_SIZE], uint8_t label,
                                  uint32_t round, uint16_t my_id, const uint8_t my_secret[32],
                                  const uint8_t my_public[32], uint16_t their_id,
                                  const uint8_t their_public[32])
{
    enum { MSG = TINYFL_SECAGG_DOMAIN_SIZE + 1 + 4 + 2 + 2 + 32 + 32 };
    uint8_t shared[32];
    uint8_t msg[MSG];
    if (my_id == their_id) {
        return TINYFL_E_VALUE;
    }
    crypto_x25519(shared, my_secret, their_public);
    static const uint8_t zero[32] = {0};
    /* constant time: the all-zero result comes from a low-order point chosen by an attacker */
    if (crypto_verify32(shared, zero) == 0) {
        crypto_wipe(shared, sizeof(shared));
        return TINYFL_E_VALUE;
    }
    int mine_first = my_id < their_id;
    memcpy(msg, TINYFL_SECAGG_DOMAIN, TINYFL_SECAGG_DOMAIN_SIZE);
    msg[16] = label;
    put_u32(msg + 17, round);
    put_u16(msg + 21, mine_first ? my_id : their_id);
    put_u16(msg + 23, mine_first ? their_id : my_id);
    memcpy(msg + 25, mine_first ? my_public : their_public, 32);
    memcpy(msg + 57, mine_first ? their_public : my_public, 32);
    crypto_blake2b_keyed(key, TINYFL_SECAGG_KEY_SIZE, shared, sizeof(shared), msg, sizeof(msg));
    crypto_wipe(shared, sizeof(shared));
    return TINYFL_OK;
}
