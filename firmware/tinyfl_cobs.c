#include "tinyfl_cobs.h"

tinyfl_status tinyfl_cobs_encode(const uint8_t *in, size_t len, uint8_t *out, size_t cap,
                                 size_t *out_len)
{
    size_t code_at = 0; /* where the current block's code byte goes */
    size_t pos = 1;
    uint8_t code = 1;
    size_t i;
    if ((in == NULL && len > 0) || out == NULL || out_len == NULL) {
        return TINYFL_E_ARG;
    }
    if (cap < 1) {
        return TINYFL_E_OVERSIZE;
    }
    for (i = 0; i < len; ++i) {
        if (in[i] == 0u) {
            out[code_at] = code;
            code = 1;
            code_at = pos;
            if (pos >= cap) {
                return TINYFL_E_OVERSIZE;
            }
            ++pos;
        } else {
            if (pos >= cap) {
                return TINYFL_E_OVERSIZE;
            }
            out[pos++] = in[i];
            ++code;
            if (code == 0xFFu) { /* a full block of 254 non-zero bytes */
                out[code_at] = code;
                code = 1;
                code_at = pos;
                if (pos >= cap) {
                    return TINYFL_E_OVERSIZE;
                }
                ++pos;
            }
        }
    }
    out[code_at] = code;
    *out_len = pos;
    return TINYFL_OK;
}

tinyfl_status tinyfl_cobs_decode(const uint8_t *in, size_t len, uint8_t *out, size_t cap,
                                 size_t *out_len)
{
    size_t r = 0; /* read position; the write position never passes it */
    size_t w = 0;
    if ((in == NULL && len > 0) || out == NULL || out_len == NULL) {
        return TINYFL_E_ARG;
    }
    while (r < len) {
        uint8_t code = in[r];
        size_t k;
        if (code == 0u || (size_t)code - 1u > len - r - 1u) {
            return TINYFL_E_COBS;
        }
        ++r;
        for (k = 1; k < code; ++k) {
            if (in[r] == 0u) {
                return TINYFL_E_COBS;
            }
            if (w >= cap) {
                return TINYFL_E_OVERSIZE;
            }
            out[w++] = in[r++];
        }
        /* every block but a full one ends in a 0x00, except at the very end */
        if (code != 0xFFu && r < len) {
            if (w >= cap) {
                return TINYFL_E_OVERSIZE;
            }
            out[w++] = 0u;
        }
    }
    *out_len = w;
    return TINYFL_OK;
}
