/* Building blocks of the fast kernels: int8 dot products on 16-bit SIMD lanes (SXTAB16 widens
 * four int8 inputs and adds the input offset in two instructions, SMLAD then does two MACs in
 * one) and the requantization of one accumulator. The arithmetic is the reference kernels'
 * exactly: integer sums are order-independent, and the requantization is TFLM's (see
 * tinyfl_requant.h). Inline only: each layer gets a copy specialized to its constant shape. */
#ifndef TINYFL_FAST_COMMON_H
#define TINYFL_FAST_COMMON_H

#include <stdint.h>

#include "tinyfl_requant.h"
#include "tinyfl_simd.h"

#if defined(__GNUC__) && !defined(__clang__)
#define TINYFL_UNROLL_SMALL _Pragma("GCC unroll 16")
#else
#define TINYFL_UNROLL_SMALL
#endif

/* acc[k] += sum_i (x[i] + offset) * w[k * w_stride + i], k = 0..3, i < n. */
static TINYFL_ALWAYS_INLINE void tinyfl_fast_dot4(const int8_t *x, const int8_t *w, int32_t w_stride,
                                                  int32_t n, int32_t offset, int32_t acc[4])
{
    const uint32_t offset2 = tinyfl_simd_dup16(offset);
    int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
    const int8_t *w0 = w, *w1 = w + w_stride, *w2 = w + 2 * w_stride, *w3 = w + 3 * w_stride;
    int32_t i = 0;
    for (; i + 4 <= n; i += 4) {
        const uint32_t xv = tinyfl_load_s8x4(x + i);
        const uint32_t xe = tinyfl_sxtab16(offset2, xv);
        const uint32_t xo = tinyfl_sxtab16_ror8(offset2, xv);
        uint32_t wv = tinyfl_load_s8x4(w0 + i);
        a0 = tinyfl_smlad(xe, tinyfl_sxtb16(wv), a0);
        a0 = tinyfl_smlad(xo, tinyfl_sxtb16_ror8(wv), a0);
        wv = tinyfl_load_s8x4(w1 + i);
        a1 = tinyfl_smlad(xe, tinyfl_sxtb16(wv), a1);
        a1 = tinyfl_smlad(xo, tinyfl_sxtb16_ror8(wv), a1);
        wv = tinyfl_load_s8x4(w2 + i);
        a2 = tinyfl_smlad(xe, tinyfl_sxtb16(wv), a2);
        a2 = tinyfl_smlad(xo, tinyfl_sxtb16_ror8(wv), a2);
        wv = tinyfl_load_s8x4(w3 + i);
        a3 = tinyfl_smlad(xe, tinyfl_sxtb16(wv), a3);
        a3 = tinyfl_smlad(xo, tinyfl_sxtb16_ror8(wv), a3);
    }
    for (; i < n; ++i) {
        const int32_t xi = (int32_t)x[i] + offset;
        a0 += xi * w0[i];
        a1 += xi * w1[i];
        a2 += xi * w2[i];
        a3 += xi * w3[i];
    }
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
}

/* acc + sum_i (x[i] + offset) * w[i], i < n. */
static TINYFL_ALWAYS_INLINE int32_t tinyfl_fast_dot1(const int8_t *x, const int8_t *w, int32_t n,
                                                     int32_t offset, int32_t acc)
{
    const uint32_t offset2 = tinyfl_simd_dup16(offset);
    int32_t i = 0;
    for (; i + 4 <= n; i += 4) {
        const uint32_t xv = tinyfl_load_s8x4(x + i);
        const uint32_t wv = tinyfl_load_s8x4(w + i);
        acc = tinyfl_smlad(tinyfl_sxtab16(offset2, xv), tinyfl_sxtb16(wv), acc);
        acc = tinyfl_smlad(tinyfl_sxtab16_ror8(offset2, xv), tinyfl_sxtb16_ror8(wv), acc);
    }
    for (; i < n; ++i) {
        acc += ((int32_t)x[i] + offset) * w[i];
    }
    return acc;
}

/* Pre-widened weights ("wide" layout, TINYFL_KERNELS_WIDE_WEIGHTS): each run of four int8
 * weights w0 w1 w2 w3 is stored as the int16 words (w0, w2) and (w1, w3), the lanes SMLAD pairs
 * with SXTAB16's even and odd input bytes, so the inner loop loads weights without widening them.
 * A row's length is a multiple of 4; tinyfl.codegen.quant.widen_weights() writes the same. */
static inline void tinyfl_fast_widen_weights(const int8_t *w, int32_t n, int16_t *out)
{
    for (int32_t i = 0; i + 4 <= n; i += 4) {
        out[i] = w[i];
        out[i + 1] = w[i + 2];
        out[i + 2] = w[i + 1];
        out[i + 3] = w[i + 3];
    }
}

/* Two words of wide weights at p, which is 8-byte aligned (rows and runs start at multiples of
 * four weights in 16-byte aligned arrays): one LDRD. */
static TINYFL_ALWAYS_INLINE void tinyfl_load_wide4(const int16_t *p, uint32_t *lo, uint32_t *hi)
{
    uint32_t v[2];
#if defined(__GNUC__)
    p = (const int16_t *)__builtin_assume_aligned(p, 8);
#endif
    memcpy(v, p, sizeof v);
    *lo = v[0];
    *hi = v[1];
}

/* tinyfl_fast_dot4 on wide weights; n is a multiple of 4, w_stride counts int16 values. For
 * convolution rows (short, constant): unrolled, the weight offsets become LDRD immediates. */
static TINYFL_ALWAYS_INLINE void tinyfl_fast_dot4_wide(const int8_t *x, const int16_t *w, int32_t w_stride,
                                                       int32_t n, int32_t offset, int32_t acc[4])
{
    const uint32_t offset2 = tinyfl_simd_dup16(offset);
    int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
    const int16_t *w0 = w, *w1 = w + w_stride, *w2 = w + 2 * w_stride, *w3 = w + 3 * w_stride;
    TINYFL_UNROLL_SMALL
    for (int32_t i = 0; i < n; i += 4) {
        const uint32_t xv = tinyfl_load_s8x4(x + i);
        const uint32_t xe = tinyfl_sxtab16(offset2, xv);
        const uint32_t xo = tinyfl_sxtab16_ror8(offset2, xv);
        uint32_t we, wo;
        tinyfl_load_wide4(w0 + i, &we, &wo);
        a0 = tinyfl_smlad(xo, wo, tinyfl_smlad(xe, we, a0));
        tinyfl_load_wide4(w1 + i, &we, &wo);
        a1 = tinyfl_smlad(xo, wo, tinyfl_smlad(xe, we, a1));
        tinyfl_load_wide4(w2 + i, &we, &wo);
        a2 = tinyfl_smlad(xo, wo, tinyfl_smlad(xe, we, a2));
        tinyfl_load_wide4(w3 + i, &we, &wo);
        a3 = tinyfl_smlad(xo, wo, tinyfl_smlad(xe, we, a3));
    }
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
}

/* The same as a plain loop: long fully connected rows, whose stride is out of LDRD's reach
 * (unrolling them only adds address arithmetic). */
static TINYFL_ALWAYS_INLINE void tinyfl_fast_dot4_wide_rolled(const int8_t *x, const int16_t *w,
                                                              int32_t w_stride, int32_t n, int32_t offset,
                                                              int32_t acc[4])
{
    const uint32_t offset2 = tinyfl_simd_dup16(offset);
    int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
    const int16_t *w0 = w, *w1 = w + w_stride, *w2 = w + 2 * w_stride, *w3 = w + 3 * w_stride;
    for (int32_t i = 0; i < n; i += 4) {
        const uint32_t xv = tinyfl_load_s8x4(x + i);
        const uint32_t xe = tinyfl_sxtab16(offset2, xv);
        const uint32_t xo = tinyfl_sxtab16_ror8(offset2, xv);
        uint32_t we, wo;
        tinyfl_load_wide4(w0 + i, &we, &wo);
        a0 = tinyfl_smlad(xo, wo, tinyfl_smlad(xe, we, a0));
        tinyfl_load_wide4(w1 + i, &we, &wo);
        a1 = tinyfl_smlad(xo, wo, tinyfl_smlad(xe, we, a1));
        tinyfl_load_wide4(w2 + i, &we, &wo);
        a2 = tinyfl_smlad(xo, wo, tinyfl_smlad(xe, we, a2));
        tinyfl_load_wide4(w3 + i, &we, &wo);
        a3 = tinyfl_smlad(xo, wo, tinyfl_smlad(xe, we, a3));
    }
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
}

/* tinyfl_fast_dot1 on wide weights; n is a multiple of 4. */
static TINYFL_ALWAYS_INLINE int32_t tinyfl_fast_dot1_wide(const int8_t *x, const int16_t *w, int32_t n,
                                                          int32_t offset, int32_t acc)
{
    const uint32_t offset2 = tinyfl_simd_dup16(offset);
    for (int32_t i = 0; i < n; i += 4) {
        const uint32_t xv = tinyfl_load_s8x4(x + i);
        uint32_t we, wo;
        tinyfl_load_wide4(w + i, &we, &wo);
        acc = tinyfl_smlad(tinyfl_sxtab16(offset2, xv), we, acc);
        acc = tinyfl_smlad(tinyfl_sxtab16_ror8(offset2, xv), wo, acc);
    }
    return acc;
}

/* One output value: requantize (short exact form when the generator said every channel
 * allows it), add the output zero point, clamp to the fused activation (act_min >= -128 and
 * act_max <= 127 always: saturating to int8 first changes nothing, and is one SSAT). */
static TINYFL_ALWAYS_INLINE int8_t tinyfl_fast_output(int32_t acc, int32_t multiplier, int32_t shift,
                                                      int32_t requant_short, int32_t output_offset,
                                                      int32_t act_min, int32_t act_max)
{
    int32_t v = requant_short ? tinyfl_requant_short(acc, multiplier, shift)
                              : tinyfl_multiply_by_quantized_multiplier(acc, multiplier, shift);
    v += output_offset;
#if TINYFL_SIMD_NATIVE
    v = __ssat(v, 8);
#else
    v = tinyfl_clamp_i32(v, INT8_MIN, INT8_MAX);
#endif
    if (act_min > INT8_MIN && v < act_min) {
        v = act_min;
    }
    if (act_max < INT8_MAX && v > act_max) {
        v = act_max;
    }
    return (int8_t)v;
}

/* Four consecutive outputs (channels c..c+3) from acc[0..3]. */
static TINYFL_ALWAYS_INLINE void tinyfl_fast_output4(int8_t *out, const int32_t acc[4],
                                                     const int32_t *multipliers, const int32_t *shifts,
                                                     int32_t requant_short, int32_t output_offset,
                                                     int32_t act_min, int32_t act_max)
{
    out[0] = tinyfl_fast_output(acc[0], multipliers[0], shifts[0], requant_short, output_offset, act_min, act_max);
    out[1] = tinyfl_fast_output(acc[1], multipliers[1], shifts[1], requant_short, output_offset, act_min, act_max);
    out[2] = tinyfl_fast_output(acc[2], multipliers[2], shifts[2], requant_short, output_offset, act_min, act_max);
    out[3] = tinyfl_fast_output(acc[3], multipliers[3], shifts[3], requant_short, output_offset, act_min, act_max);
}

#endif /* TINYFL_FAST_COMMON_H */
