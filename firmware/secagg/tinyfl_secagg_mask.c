#include "tinyfl_secagg_mask.h"

#include "monocypher.h"

void tinyfl_secagg_mask_add(uint32_t *y, size_t n, const uint8_t seed[32], int sign)
{
    static const uint8_t nonce[12] = {0};
    uint8_t block[64];
    uint32_t counter = 0;
    for (size_t i = 0; i < n; i += 16) {
        counter = crypto_chacha20_ietf(block, NULL, sizeof(block), seed, nonce, counter);
        size_t words = n - i < 16 ? n - i : 16;
        for (size_t j = 0; j < words; j++) {
            const uint8_t *p = block + 4 * j;
            uint32_t m = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                         (uint32_t)p[3] << 24;
            y[i + j] = sign < 0 ? y[i + j] - m : y[i + j] + m;
        }
    }
    crypto_wipe(block, sizeof(block));
}
