/* The few Cortex-M4 DSP (SIMD32) instructions the fast kernels use, with bit-identical plain C
 * for other targets, so that the fast kernels' arithmetic can be tested on the host too.
 *
 * Halfword lanes: "lo" = bits 15:0, "hi" = bits 31:16. Words are little endian. */
#ifndef TINYFL_SIMD_H
#define TINYFL_SIMD_H

#include <stdint.h>
#include <string.h>

#if defined(__GNUC__)
#define TINYFL_ALWAYS_INLINE inline __attribute__((always_inline))
#define TINYFL_ALIGN8 __attribute__((aligned(8))) /* word pairs read with one LDRD */
#else
#define TINYFL_ALWAYS_INLINE inline
#define TINYFL_ALIGN8
#endif

#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
#define TINYFL_SIMD_NATIVE 1
#include <arm_acle.h>
#else
#define TINYFL_SIMD_NATIVE 0
#endif

/* Four int8 from any address. memcpy becomes one LDR (M4 allows unaligned LDR); never compile
 * with -ffreestanding/-fno-builtin, which would turn it into a call. */
static TINYFL_ALWAYS_INLINE uint32_t tinyfl_load_s8x4(const int8_t *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

#if TINYFL_SIMD_NATIVE

/* lo = sext(byte 0), hi = sext(byte 2) */
static TINYFL_ALWAYS_INLINE uint32_t tinyfl_sxtb16(uint32_t x) { return (uint32_t)__sxtb16((int32_t)x); }

/* lo = sext(byte 1), hi = sext(byte 3) */
static TINYFL_ALWAYS_INLINE uint32_t tinyfl_sxtb16_ror8(uint32_t x)
{
    uint32_t r;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(x));
    return r;
}

/* lo = a.lo + sext(byte 0), hi = a.hi + sext(byte 2) (each mod 2^16) */
static TINYFL_ALWAYS_INLINE uint32_t tinyfl_sxtab16(uint32_t a, uint32_t x)
{
    return (uint32_t)__sxtab16((int32_t)a, (int32_t)x);
}

/* lo = a.lo + sext(byte 1), hi = a.hi + sext(byte 3) */
static TINYFL_ALWAYS_INLINE uint32_t tinyfl_sxtab16_ror8(uint32_t a, uint32_t x)
{
    uint32_t r;
    __asm__("sxtab16 %0, %1, %2, ror #8" : "=r"(r) : "r"(a), "r"(x));
    return r;
}

/* acc + a.lo * b.lo + a.hi * b.hi (wraps; the kernels' sums never reach 2^31) */
static TINYFL_ALWAYS_INLINE int32_t tinyfl_smlad(uint32_t a, uint32_t b, int32_t acc)
{
    return __smlad((int32_t)a, (int32_t)b, acc);
}

/* acc + a.lo * b.lo */
static TINYFL_ALWAYS_INLINE int32_t tinyfl_smlabb(uint32_t a, uint32_t b, int32_t acc)
{
    return __smlabb((int32_t)a, (int32_t)b, acc);
}

/* acc + a.hi * b.hi */
static TINYFL_ALWAYS_INLINE int32_t tinyfl_smlatt(uint32_t a, uint32_t b, int32_t acc)
{
    return __smlatt((int32_t)a, (int32_t)b, acc);
}

/* Per byte, the larger / smaller of two signed int8 lanes: SSUB8 sets a GE flag per byte where
 * a >= b, SEL picks by those flags (one asm block, so nothing comes between the two). */
static TINYFL_ALWAYS_INLINE uint32_t tinyfl_max_s8x4(uint32_t a, uint32_t b)
{
    uint32_t r;
    __asm__("ssub8 %0, %1, %2\n\tsel %0, %1, %2" : "=&r"(r) : "r"(a), "r"(b) : "cc");
    return r;
}

static TINYFL_ALWAYS_INLINE uint32_t tinyfl_min_s8x4(uint32_t a, uint32_t b)
{
    uint32_t r;
    __asm__("ssub8 %0, %1, %2\n\tsel %0, %2, %1" : "=&r"(r) : "r"(a), "r"(b) : "cc");
    return r;
}

#else /* portable C with the same results */

static TINYFL_ALWAYS_INLINE uint32_t tinyfl_pick_s8x4(uint32_t a, uint32_t b, int larger)
{
    uint32_t r = 0;
    for (int k = 0; k < 4; ++k) {
        const int32_t x = (int8_t)(uint8_t)(a >> (8 * k)), y = (int8_t)(uint8_t)(b >> (8 * k));
        const int32_t v = (larger ? x >= y : x <= y) ? x : y;
        r |= ((uint32_t)v & 0xFFu) << (8 * k);
    }
    return r;
}

static TINYFL_ALWAYS_INLINE uint32_t tinyfl_max_s8x4(uint32_t a, uint32_t b) { return tinyfl_pick_s8x4(a, b, 1); }

static TINYFL_ALWAYS_INLINE uint32_t tinyfl_min_s8x4(uint32_t a, uint32_t b) { return tinyfl_pick_s8x4(a, b, 0); }

static TINYFL_ALWAYS_INLINE uint32_t tinyfl_simd_lane(int32_t v) { return (uint32_t)v & 0xFFFFu; }

static TINYFL_ALWAYS_INLINE int32_t tinyfl_simd_byte(uint32_t x, int k) { return (int8_t)(uint8_t)(x >> (8 * k)); }

static TINYFL_ALWAYS_INLINE int32_t tinyfl_simd_lo(uint32_t a) { return (int16_t)(uint16_t)(a & 0xFFFFu); }

static TINYFL_ALWAYS_INLINE int32_t tinyfl_simd_hi(uint32_t a) { return (int16_t)(uint16_t)(a >> 16); }

static TINYFL_ALWAYS_INLINE uint32_t tinyfl_sxtb16(uint32_t x)
{
    return tinyfl_simd_lane(tinyfl_simd_byte(x, 0)) | (tinyfl_simd_lane(tinyfl_simd_byte(x, 2)) << 16);
}

static TINYFL_ALWAYS_INLINE uint32_t tinyfl_sxtb16_ror8(uint32_t x)
{
    return tinyfl_simd_lane(tinyfl_simd_byte(x, 1)) | (tinyfl_simd_lane(tinyfl_simd_byte(x, 3)) << 16);
}

static TINYFL_ALWAYS_INLINE uint32_t tinyfl_sxtab16(uint32_t a, uint32_t x)
{
    return tinyfl_simd_lane(tinyfl_simd_lo(a) + tinyfl_simd_byte(x, 0)) |
           (tinyfl_simd_lane(tinyfl_simd_hi(a) + tinyfl_simd_byte(x, 2)) << 16);
}

static TINYFL_ALWAYS_INLINE uint32_t tinyfl_sxtab16_ror8(uint32_t a, uint32_t x)
{
    return tinyfl_simd_lane(tinyfl_simd_lo(a) + tinyfl_simd_byte(x, 1)) |
           (tinyfl_simd_lane(tinyfl_simd_hi(a) + tinyfl_simd_byte(x, 3)) << 16);
}

static TINYFL_ALWAYS_INLINE int32_t tinyfl_smlad(uint32_t a, uint32_t b, int32_t acc)
{
    const uint32_t sum = (uint32_t)acc + (uint32_t)(tinyfl_simd_lo(a) * tinyfl_simd_lo(b)) +
                         (uint32_t)(tinyfl_simd_hi(a) * tinyfl_simd_hi(b));
    return (int32_t)sum;
}

static TINYFL_ALWAYS_INLINE int32_t tinyfl_smlabb(uint32_t a, uint32_t b, int32_t acc)
{
    return (int32_t)((uint32_t)acc + (uint32_t)(tinyfl_simd_lo(a) * tinyfl_simd_lo(b)));
}

static TINYFL_ALWAYS_INLINE int32_t tinyfl_smlatt(uint32_t a, uint32_t b, int32_t acc)
{
    return (int32_t)((uint32_t)acc + (uint32_t)(tinyfl_simd_hi(a) * tinyfl_simd_hi(b)));
}

#endif /* TINYFL_SIMD_NATIVE */

/* Both halfword lanes = v (the input offset that SXTAB16 adds while widening). */
static TINYFL_ALWAYS_INLINE uint32_t tinyfl_simd_dup16(int32_t v)
{
    return ((uint32_t)v & 0xFFFFu) | ((uint32_t)v << 16);
}

#endif /* TINYFL_SIMD_H */
