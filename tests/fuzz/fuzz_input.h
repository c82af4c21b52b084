/* Reads a fuzzer's input as a stream of small fields. Past the end every read returns zero, so
 * a harness never needs a length check of its own and a short input is still a valid script. */
#ifndef TINYFL_FUZZ_INPUT_H
#define TINYFL_FUZZ_INPUT_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    const uint8_t *data;
    size_t len;
    size_t pos;
} tinyfl_fuzz_input;

static inline int tinyfl_fuzz_more(const tinyfl_fuzz_input *in) { return in->pos < in->len; }

static inline uint8_t tinyfl_fuzz_u8(tinyfl_fuzz_input *in)
{
    return in->pos < in->len ? in->data[in->pos++] : 0u;
}

static inline uint16_t tinyfl_fuzz_u16(tinyfl_fuzz_input *in)
{
    uint16_t lo = tinyfl_fuzz_u8(in);
    return (uint16_t)(lo | (uint16_t)(tinyfl_fuzz_u8(in) << 8));
}

static inline uint32_t tinyfl_fuzz_u32(tinyfl_fuzz_input *in)
{
    uint32_t lo = tinyfl_fuzz_u16(in);
    return lo | ((uint32_t)tinyfl_fuzz_u16(in) << 16);
}

/* Up to `want` bytes in place (fewer at the end of the input); *got says how many. */
static inline const uint8_t *tinyfl_fuzz_bytes(tinyfl_fuzz_input *in, size_t want, size_t *got)
{
    size_t left = in->len - in->pos;
    const uint8_t *at = in->data + in->pos;
    *got = want < left ? want : left;
    in->pos += *got;
    return at;
}

#endif /* TINYFL_FUZZ_INPUT_H */
