/* The six anchor layers of /work/shared/PERF_NOTES.md through the reference kernels and the
 * fast kernels (TINYFL_KERNELS_OPTIMIZED paths), for bench/kernels.py and
 * tests/test_kernels_fast.py. Runs on the AN386 under QEMU, or on the host with
 * -DTINYFL_BENCH_HOST (portable C in place of the DSP instructions; no counter).
 *
 * Command line (semihosting, or argv on the host):
 *   bench          per layer: `BENCH name macs reps plain_ticks fast_ticks empty_ticks`
 *                  (ticks of the 25 MHz FPGA counter: 40 instructions each under -icount shift=0)
 *   check N SEED   N trials per layer with fresh random weights, biases, requantization and
 *                  inputs; fast output must equal reference output byte for byte
 *   random N SEED  N random layers (shapes, strides, padding, dilation, depth multiplier,
 *                  activation, multipliers that do or do not allow the short requantization),
 *                  the fast kernels compiled for any shape (no constant specialization);
 *                  convolutions with input channels a multiple of 4 and fully connected layers
 *                  with inputs a multiple of 4 also through the pre-widened-weight kernels;
 *                  ADD (random rescaling, broadcast, activation) through its lookup table;
 *                  QUANTIZE on random floats: halves, near-halves, out of range, random bits
 *                  (NaN, infinities, subnormals); AVERAGE_POOL_2D and MAX_POOL_2D of
 *                  random windows
 * Every mode ends with `PASS <mode> <count>`; a mismatch prints `FAIL ...` and exits 1. */
#include <stdint.h>
#include <string.h>

#include "kernels/tinyfl_add_s8_fast.h"
#include "kernels/tinyfl_avg_pool_2d_s8_fast.h"
#include "kernels/tinyfl_max_pool_2d_s8_fast.h"
#include "kernels/tinyfl_conv_2d_s8_fast.h"
#include "kernels/tinyfl_quantize_f32_s8_fast.h"
#include "kernels/tinyfl_depthwise_conv_2d_s8_fast.h"
#include "kernels/tinyfl_fully_connected_s8_fast.h"
#include "kernels/tinyfl_kernels.h"

#if defined(TINYFL_BENCH_HOST)
#include <stdio.h>
#include <stdlib.h>
static void out_text(const char *text) { fputs(text, stdout); }
static uint32_t counter_now(void) { return 0u; }
#else
#include "an386.h"
#include "semihost.h"
static void out_text(const char *text) { tinyfl_an386_uart_puts(text); }
static uint32_t counter_now(void) { return tinyfl_an386_counter(); }
#endif

#if defined(__GNUC__)
#define BENCH_NOINLINE __attribute__((noinline))
#define BENCH_ALIGN16 __attribute__((aligned(16)))
#else
#define BENCH_NOINLINE
#define BENCH_ALIGN16
#endif

static void out_u32(uint32_t v)
{
    char text[11];
    char rev[11];
    size_t n = 0;
    do {
        rev[n++] = (char)('0' + v % 10u);
        v /= 10u;
    } while (v != 0u);
    for (size_t i = 0; i < n; ++i) {
        text[i] = rev[n - 1 - i];
    }
    text[n] = '\0';
    out_text(text);
}

static void out_i32(int32_t v)
{
    if (v < 0) {
        out_text("-");
        out_u32((uint32_t)0 - (uint32_t)v);
    } else {
        out_u32((uint32_t)v);
    }
}

static uint32_t rng_state = 1u;

static uint32_t rng_next(void)
{
    uint32_t x = rng_state; /* xorshift32 */
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    rng_state = x;
    return x;
}

static int32_t rng_range(int32_t lo, int32_t hi) /* inclusive */
{
    return lo + (int32_t)(rng_next() % (uint32_t)(hi - lo + 1));
}

static void fill_s8(int8_t *p, int32_t n, int32_t lo, int32_t hi)
{
    for (int32_t i = 0; i < n; ++i) {
        p[i] = (int8_t)rng_range(lo, hi);
    }
}

/* Realistic per-channel requantization: m in (2^30, 2^31), shift in [-11, -5]. */
static void fill_requant(int32_t *mult, int32_t *shift, int32_t n)
{
    for (int32_t i = 0; i < n; ++i) {
        mult[i] = (int32_t)((1u << 30) + 1u + rng_next() % ((1u << 30) - 1u));
        shift[i] = rng_range(-11, -5);
    }
}

static void fill_bias(int32_t *bias, int32_t n)
{
    for (int32_t i = 0; i < n; ++i) {
        bias[i] = rng_range(-20000, 20000);
    }
}

/* ---- the six anchor layers, shapes constant so the fast kernels specialize ---- */

#define MAX_IN 6400
#define MAX_OUT 6400
#define MAX_FILTER 4096
#define MAX_CH 64

static int8_t input_buf[MAX_IN + 4];
static int8_t out_plain[MAX_OUT];
static int8_t out_fast[MAX_OUT];
static int8_t filter_buf[MAX_FILTER];
static int16_t filter_wide[MAX_FILTER] BENCH_ALIGN16;
static uint32_t wide_done; /* random layers also run through the pre-widened-weight kernels */
static int32_t bias_buf[MAX_CH];
static int32_t mult_buf[MAX_CH];
static int32_t shift_buf[MAX_CH];

/* a. conv 1x100x6 -> 16 filters 1x5, stride 1, valid (input after a ReLU: zp -128) */
static const tinyfl_conv_params a_params = {128, -3, 1, 1, 1, 1, 0, 0, 1, -3, 127, 1};
static const tinyfl_dims a_in = {1, 1, 100, 6}, a_flt = {16, 1, 5, 6}, a_out = {1, 1, 96, 16};
/* b. conv 1x50x16 -> 16 filters 1x5, stride 2, valid */
static const tinyfl_conv_params b_params = {128, -128, 1, 2, 1, 1, 0, 0, 1, -128, 127, 1};
static const tinyfl_dims b_in = {1, 1, 50, 16}, b_flt = {16, 1, 5, 16}, b_out = {1, 1, 23, 16};
/* c. conv 20x20x8 -> 16 filters 3x3, stride 1, same */
static const tinyfl_conv_params c_params = {-7, 4, 1, 1, 1, 1, 1, 1, 1, 4, 127, 1};
static const tinyfl_dims c_in = {1, 20, 20, 8}, c_flt = {16, 3, 3, 8}, c_out = {1, 20, 20, 16};
/* d. depthwise 3x3 on 20x20x16, stride 1, same */
static const tinyfl_conv_params d_params = {128, 2, 1, 1, 1, 1, 1, 1, 1, -128, 127, 1};
static const tinyfl_dims d_in = {1, 20, 20, 16}, d_flt = {1, 3, 3, 16}, d_out = {1, 20, 20, 16};
/* e1. fully connected 64 -> 32; e2. 32 -> 10 */
static const tinyfl_fc_params e1_params = {128, -128, -128, 127, 1};
static const tinyfl_fc_params e2_params = {11, 6, -128, 127, 1};

#define CONV_RUNNERS(x, fn_plain, fn_fast)                                                         \
    static BENCH_NOINLINE void x##_plain(void)                                                    \
    {                                                                                              \
        (void)fn_plain(&x##_params, &x##_in, input_buf, &x##_flt, filter_buf, bias_buf, mult_buf, \
                       shift_buf, &x##_out, out_plain);                                            \
    }                                                                                              \
    static BENCH_NOINLINE void x##_fast(void)                                                     \
    {                                                                                              \
        (void)fn_fast(&x##_params, &x##_in, input_buf, &x##_flt, filter_buf, bias_buf, mult_buf,  \
                      shift_buf, &x##_out, out_fast);                                              \
    }

CONV_RUNNERS(a, tinyfl_conv_2d_s8, tinyfl_conv_2d_s8_fast)
CONV_RUNNERS(b, tinyfl_conv_2d_s8, tinyfl_conv_2d_s8_fast)
CONV_RUNNERS(c, tinyfl_conv_2d_s8, tinyfl_conv_2d_s8_fast)
CONV_RUNNERS(d, tinyfl_depthwise_conv_2d_s8, tinyfl_depthwise_conv_2d_s8_fast)

#define FC_RUNNERS(x, n_in, n_out)                                                                 \
    static BENCH_NOINLINE void x##_plain(void)                                                    \
    {                                                                                              \
        (void)tinyfl_fully_connected_s8(&x##_params, 1, n_in, n_out, input_buf, filter_buf,       \
                                        bias_buf, mult_buf, shift_buf, n_out, out_plain);          \
    }                                                                                              \
    static BENCH_NOINLINE void x##_fast(void)                                                     \
    {                                                                                              \
        (void)tinyfl_fully_connected_s8_fast(&x##_params, 1, n_in, n_out, input_buf, filter_buf,  \
                                             bias_buf, mult_buf, shift_buf, n_out, out_fast);      \
    }

FC_RUNNERS(e1, 64, 32)
FC_RUNNERS(e2, 32, 10)

static BENCH_NOINLINE void empty_call(void) { __asm__ volatile("" ::: "memory"); }

typedef struct {
    const char *name;
    int32_t macs, in_len, out_len, filter_len, channels;
    void (*plain)(void);
    void (*fast)(void);
} anchor_layer;

static const anchor_layer layers[] = {
    {"a_conv_1x5_c6", 46080, 600, 1536, 480, 16, a_plain, a_fast},
    {"b_conv_1x5_s2_c16", 29440, 800, 368, 1280, 16, b_plain, b_fast},
    {"c_conv_3x3_same_c8", 460800, 3200, 6400, 1152, 16, c_plain, c_fast},
    {"d_depthwise_3x3_same_c16", 57600, 6400, 6400, 144, 16, d_plain, d_fast},
    {"e1_fc_64_32", 2048, 64, 32, 2048, 32, e1_plain, e1_fast},
    {"e2_fc_32_10", 320, 32, 10, 320, 10, e2_plain, e2_fast},
};
#define N_LAYERS (sizeof layers / sizeof layers[0])

static void randomize_layer(const anchor_layer *l)
{
    fill_s8(input_buf, l->in_len, -128, 127);
    fill_s8(filter_buf, l->filter_len, -127, 127);
    fill_bias(bias_buf, l->channels);
    fill_requant(mult_buf, shift_buf, l->channels);
}

static uint32_t time_calls(void (*fn)(void), uint32_t reps)
{
    const uint32_t start = counter_now();
    for (uint32_t r = 0; r < reps; ++r) {
        fn();
    }
    return counter_now() - start;
}

static int run_bench(void)
{
    rng_state = 12345u;
    for (size_t i = 0; i < N_LAYERS; ++i) {
        const anchor_layer *l = &layers[i];
        randomize_layer(l);
        /* About 2 million multiply-accumulates per measurement: the counter's 40-instruction
         * tick is then far below 0.01 instructions per MAC. */
        const uint32_t reps = 2000000u / (uint32_t)l->macs + 1u;
        const uint32_t plain = time_calls(l->plain, reps);
        const uint32_t fast = time_calls(l->fast, reps);
        const uint32_t empty = time_calls(empty_call, reps);
        out_text("BENCH ");
        out_text(l->name);
        out_text(" ");
        out_u32((uint32_t)l->macs);
        out_text(" ");
        out_u32(reps);
        out_text(" ");
        out_u32(plain);
        out_text(" ");
        out_u32(fast);
        out_text(" ");
        out_u32(empty);
        out_text("\n");
        if (memcmp(out_plain, out_fast, (size_t)l->out_len) != 0) {
            out_text("FAIL bench outputs differ\n");
            return 1;
        }
    }
    out_text("PASS bench ");
    out_u32((uint32_t)N_LAYERS);
    out_text("\n");
    return 0;
}

static int report_mismatch(const char *what, uint32_t trial, int32_t count)
{
    for (int32_t i = 0; i < count; ++i) {
        if (out_plain[i] != out_fast[i]) {
            out_text("FAIL ");
            out_text(what);
            out_text(" trial ");
            out_u32(trial);
            out_text(" index ");
            out_i32(i);
            out_text(" plain ");
            out_i32(out_plain[i]);
            out_text(" fast ");
            out_i32(out_fast[i]);
            out_text("\n");
            return 1;
        }
    }
    return 0;
}

static int run_check(uint32_t trials)
{
    for (size_t i = 0; i < N_LAYERS; ++i) {
        const anchor_layer *l = &layers[i];
        for (uint32_t t = 0; t < trials; ++t) {
            randomize_layer(l);
            memset(out_plain, 0x55, sizeof out_plain);
            memset(out_fast, 0x2A, sizeof out_fast);
            l->plain();
            l->fast();
            if (report_mismatch(l->name, t, l->out_len)) {
                return 1;
            }
        }
    }
    out_text("PASS check ");
    out_u32((uint32_t)(N_LAYERS * trials));
    out_text("\n");
    return 0;
}

/* ---- random layers, shapes at run time ---- */

static void random_requant(int32_t n)
{
    const int edge = rng_range(0, 3) == 0; /* sometimes pairs the short form cannot take */
    fill_requant(mult_buf, shift_buf, n);
    for (int32_t i = 0; edge && i < n; ++i) {
        switch (rng_range(0, 3)) {
        case 0: mult_buf[i] = 1 << 30; break;
        case 1: shift_buf[i] = rng_range(-1, 2); break;
        case 2: shift_buf[i] = -31; break;
        default: break;
        }
    }
}

static int32_t requant_short_all(int32_t n)
{
    for (int32_t i = 0; i < n; ++i) {
        if (!tinyfl_requant_short_ok(mult_buf[i], shift_buf[i])) {
            return 0;
        }
    }
    return 1;
}

static int32_t out_size(int same, int32_t in, int32_t eff, int32_t stride)
{
    return same ? (in + stride - 1) / stride : (in - eff + stride) / stride;
}

static int32_t pad_of(int same, int32_t in, int32_t eff, int32_t stride, int32_t out)
{
    const int32_t p = ((out - 1) * stride + eff - in) / 2;
    return same && p > 0 ? p : 0;
}

static int random_conv_like(uint32_t trial, int depthwise)
{
    tinyfl_conv_params p;
    tinyfl_dims in, flt, out;
    in.n = rng_range(1, 2);
    in.h = rng_range(1, 9);
    in.w = rng_range(1, 12);
    in.c = depthwise ? rng_range(1, 9) : rng_range(1, 12);
    const int32_t mult = depthwise ? rng_range(1, 4) == 1 ? 2 : 1 : 1;
    const int32_t out_c = depthwise ? in.c * mult : rng_range(1, 11);
    const int pointwise = rng_range(0, 3) == 0; /* 1x1 filters: the fast kernels' own path */
    const int32_t fh = pointwise ? 1 : rng_range(1, in.h < 4 ? in.h : 4);
    const int32_t fw = pointwise ? 1 : rng_range(1, in.w < 5 ? in.w : 5);
    const int same = rng_range(0, 1);
    p.stride_h = rng_range(1, 3);
    p.stride_w = rng_range(1, 3);
    p.dilation_h = rng_range(0, 5) == 0 && fh * 2 - 1 <= in.h ? 2 : 1;
    p.dilation_w = 1;
    const int32_t eff_h = (fh - 1) * p.dilation_h + 1;
    out.n = in.n;
    out.h = out_size(same, in.h, eff_h, p.stride_h);
    out.w = out_size(same, in.w, fw, p.stride_w);
    out.c = out_c;
    if (out.h < 1 || out.w < 1 || in.n * in.h * in.w * in.c > MAX_IN ||
        out.n * out.h * out.w * out.c > MAX_OUT) {
        return -1;
    }
    p.pad_h = pad_of(same, in.h, eff_h, p.stride_h, out.h);
    p.pad_w = pad_of(same, in.w, fw, p.stride_w, out.w);
    flt.n = depthwise ? 1 : out_c;
    flt.h = fh;
    flt.w = fw;
    flt.c = depthwise ? out_c : in.c;
    p.depth_multiplier = mult;
    p.input_offset = -rng_range(-128, 127);
    p.output_offset = rng_range(-128, 127);
    p.act_min = rng_range(0, 1) ? -128 : rng_range(-128, 0);
    p.act_max = rng_range(0, 1) ? 127 : rng_range(p.act_min, 127);
    fill_s8(input_buf, in.n * in.h * in.w * in.c, -128, 127);
    fill_s8(filter_buf, flt.n * fh * fw * flt.c, -127, 127);
    fill_bias(bias_buf, out_c);
    random_requant(out_c);
    p.requant_short = requant_short_all(out_c);
    const int32_t *bias = rng_range(0, 4) == 0 ? NULL : bias_buf;
    tinyfl_status s1, s2;
    if (depthwise) {
        s1 = tinyfl_depthwise_conv_2d_s8(&p, &in, input_buf, &flt, filter_buf, bias, mult_buf, shift_buf,
                                         &out, out_plain);
        s2 = tinyfl_depthwise_conv_2d_s8_fast(&p, &in, input_buf, &flt, filter_buf, bias, mult_buf,
                                              shift_buf, &out, out_fast);
    } else {
        s1 = tinyfl_conv_2d_s8(&p, &in, input_buf, &flt, filter_buf, bias, mult_buf, shift_buf, &out,
                               out_plain);
        s2 = tinyfl_conv_2d_s8_fast(&p, &in, input_buf, &flt, filter_buf, bias, mult_buf, shift_buf, &out,
                                    out_fast);
    }
    if (s1 != TINYFL_OK || s2 != TINYFL_OK) {
        out_text("FAIL status\n");
        return 1;
    }
    const int32_t n_out = out.n * out.h * out.w * out.c;
    if (report_mismatch(depthwise ? "random depthwise" : "random conv", trial, n_out)) {
        return 1;
    }
    /* The pre-widened-weight kernels, where the generator would use them. */
    if (p.dilation_h != 1 || (depthwise ? mult != 1 || out_c % 4 != 0 : in.c % 4 != 0)) {
        return 0;
    }
    tinyfl_fast_widen_weights(filter_buf, flt.n * fh * fw * flt.c, filter_wide);
    memset(out_fast, 0x2A, (size_t)n_out);
    const tinyfl_status s3 =
        depthwise ? tinyfl_depthwise_conv_2d_s8_fast_wide(&p, &in, input_buf, &flt, filter_wide, bias, mult_buf,
                                                          shift_buf, &out, out_fast)
                  : tinyfl_conv_2d_s8_fast_wide(&p, &in, input_buf, &flt, filter_wide, bias, mult_buf, shift_buf,
                                                &out, out_fast);
    if (s3 != TINYFL_OK) {
        out_text("FAIL status\n");
        return 1;
    }
    ++wide_done;
    return report_mismatch(depthwise ? "random depthwise wide" : "random conv wide", trial, n_out);
}

static int random_fc(uint32_t trial)
{
    tinyfl_fc_params p;
    const int32_t batches = rng_range(1, 3), n_in = rng_range(1, 80), n_out = rng_range(1, 40);
    const int32_t n_params = rng_range(0, 1) ? n_out : 1;
    p.input_offset = -rng_range(-128, 127);
    p.output_offset = rng_range(-128, 127);
    p.act_min = rng_range(0, 1) ? -128 : rng_range(-128, 0);
    p.act_max = 127;
    fill_s8(input_buf, batches * n_in, -128, 127);
    fill_s8(filter_buf, n_in * n_out, -127, 127);
    fill_bias(bias_buf, n_out);
    random_requant(n_params);
    p.requant_short = requant_short_all(n_params);
    const int32_t *bias = rng_range(0, 4) == 0 ? NULL : bias_buf;
    const tinyfl_status s1 = tinyfl_fully_connected_s8(&p, batches, n_in, n_out, input_buf, filter_buf,
                                                       bias, mult_buf, shift_buf, n_params, out_plain);
    const tinyfl_status s2 = tinyfl_fully_connected_s8_fast(&p, batches, n_in, n_out, input_buf, filter_buf,
                                                            bias, mult_buf, shift_buf, n_params, out_fast);
    if (s1 != TINYFL_OK || s2 != TINYFL_OK) {
        out_text("FAIL status\n");
        return 1;
    }
    if (report_mismatch("random fc", trial, batches * n_out) || n_in % 4 != 0) {
        return report_mismatch("random fc", trial, batches * n_out);
    }
    tinyfl_fast_widen_weights(filter_buf, n_in * n_out, filter_wide);
    memset(out_fast, 0x2A, (size_t)(batches * n_out));
    if (tinyfl_fully_connected_s8_fast_wide(&p, batches, n_in, n_out, input_buf, filter_wide, bias, mult_buf,
                                            shift_buf, n_params, out_fast) != TINYFL_OK) {
        out_text("FAIL status\n");
        return 1;
    }
    ++wide_done;
    return report_mismatch("random fc wide", trial, batches * n_out);
}

static int32_t add_table[512];

static int random_add(uint32_t trial)
{
    tinyfl_add_params p;
    const int32_t count = rng_range(1, 300);
    const int32_t count2 = rng_range(0, 5) == 0 ? 1 : count;
    p.input1_offset = -rng_range(-128, 127);
    p.input2_offset = -rng_range(-128, 127);
    p.output_offset = rng_range(-128, 127);
    p.left_shift = 20;
    /* PrepareAdd's ranges: inputs at most half the larger scale (shift <= 0), the output a
     * small multiplier; sometimes 2^30 exactly, which the short requantization cannot take. */
    p.input1_multiplier = (int32_t)(0x40000000u | (rng_next() & 0x3FFFFFFFu));
    p.input1_shift = rng_range(0, 1) ? 0 : rng_range(-8, -1);
    p.input2_multiplier = (int32_t)(0x40000000u | (rng_next() & 0x3FFFFFFFu));
    p.input2_shift = rng_range(-8, 0);
    p.output_multiplier = rng_range(0, 4) == 0 ? 1 << 30 : (int32_t)(0x40000000u | (rng_next() & 0x3FFFFFFFu));
    p.output_shift = rng_range(-24, -14);
    p.act_min = rng_range(0, 1) ? -128 : rng_range(-128, 0);
    p.act_max = rng_range(0, 1) ? 127 : rng_range(p.act_min, 127);
    fill_s8(input_buf, count, -128, 127);
    fill_s8(filter_buf, count2, -128, 127);
    tinyfl_add_s8_table(&p, add_table);
    memset(out_fast, 0x2A, (size_t)count);
    const tinyfl_status s1 = tinyfl_add_s8(&p, (size_t)count, input_buf, filter_buf, (size_t)count2, out_plain);
    const tinyfl_status s2 = tinyfl_add_s8_fast(&p, add_table, (size_t)count, input_buf, filter_buf,
                                                (size_t)count2, out_fast);
    if (s1 != TINYFL_OK || s2 != TINYFL_OK) {
        out_text("FAIL status\n");
        return 1;
    }
    return report_mismatch("random add", trial, count);
}

static float quantize_in[300];

static int random_quantize(uint32_t trial)
{
    const int32_t count = rng_range(1, 300);
    uint32_t scale_bits = 0x3C000000u + (rng_next() & 0x03FFFFFFu); /* about 0.008 to 0.5 */
    float scale;
    memcpy(&scale, &scale_bits, sizeof scale);
    const int32_t zero_point = rng_range(-128, 127);
    for (int32_t i = 0; i < count; ++i) {
        const int32_t k = rng_range(-300, 300);
        uint32_t bits;
        switch (rng_range(0, 4)) {
        case 0: quantize_in[i] = ((float)k + 0.5f) * scale; break; /* ties */
        case 1: /* one ulp either side of a tie */
            quantize_in[i] = ((float)k + 0.5f) * scale;
            memcpy(&bits, &quantize_in[i], sizeof bits);
            bits += rng_range(0, 1) ? 1u : 0xFFFFFFFFu;
            memcpy(&quantize_in[i], &bits, sizeof bits);
            break;
        case 2: quantize_in[i] = (float)k * scale * 0.37f; break;
        case 3: bits = rng_next(); memcpy(&quantize_in[i], &bits, sizeof bits); break;
        default: quantize_in[i] = (float)rng_range(-1000000, 1000000) * 1e-3f; break;
        }
    }
    memset(out_fast, 0x2A, (size_t)count);
    const tinyfl_status s1 = tinyfl_quantize_f32_s8((size_t)count, quantize_in, scale, zero_point, out_plain);
    const tinyfl_status s2 = tinyfl_quantize_f32_s8_fast((size_t)count, quantize_in, scale, zero_point, out_fast);
    if (s1 != TINYFL_OK || s2 != TINYFL_OK) {
        out_text("FAIL status\n");
        return 1;
    }
    return report_mismatch("random quantize", trial, count);
}

static int random_pool(uint32_t trial)
{
    tinyfl_pool_params p;
    tinyfl_dims in, out;
    in.n = rng_range(1, 2);
    in.h = rng_range(1, 20);
    in.w = rng_range(1, 20);
    in.c = rng_range(1, 12);
    const int same = rng_range(0, 1);
    p.filter_h = rng_range(1, in.h);
    p.filter_w = rng_range(1, in.w);
    p.stride_h = rng_range(1, 3);
    p.stride_w = rng_range(1, 3);
    out.n = in.n;
    out.h = out_size(same, in.h, p.filter_h, p.stride_h);
    out.w = out_size(same, in.w, p.filter_w, p.stride_w);
    out.c = in.c;
    if (out.h < 1 || out.w < 1 || in.n * in.h * in.w * in.c > MAX_IN || out.n * out.h * out.w * out.c > MAX_OUT) {
        return -1;
    }
    p.pad_h = pad_of(same, in.h, p.filter_h, p.stride_h, out.h);
    p.pad_w = pad_of(same, in.w, p.filter_w, p.stride_w, out.w);
    p.act_min = rng_range(0, 1) ? -128 : rng_range(-128, 0);
    p.act_max = rng_range(0, 1) ? 127 : rng_range(p.act_min, 127);
    /* Sometimes every value at an extreme: the 16-bit lane sums at their limits. */
    const int32_t extreme = rng_range(0, 3);
    const int32_t lo = extreme == 1 ? 127 : -128, hi = extreme == 0 ? -128 : 127;
    fill_s8(input_buf, in.n * in.h * in.w * in.c, lo, hi);
    const int32_t n_out = out.n * out.h * out.w * out.c;
    memset(out_fast, 0x2A, (size_t)n_out);
    const int average = trial % 12u == 5u; /* every other pooling trial (see run_random) */
    const tinyfl_status s1 = average ? tinyfl_avg_pool_2d_s8(&p, &in, input_buf, &out, out_plain)
                                     : tinyfl_max_pool_2d_s8(&p, &in, input_buf, &out, out_plain);
    const tinyfl_status s2 = average ? tinyfl_avg_pool_2d_s8_fast(&p, &in, input_buf, &out, out_fast)
                                     : tinyfl_max_pool_2d_s8_fast(&p, &in, input_buf, &out, out_fast);
    if (s1 != s2) {
        out_text("FAIL status\n");
        return 1;
    }
    return s1 == TINYFL_OK ? report_mismatch(average ? "random average pool" : "random max pool", trial, n_out)
                           : 0;
}

static int run_random(uint32_t trials)
{
    uint32_t done = 0;
    for (uint32_t t = 0; done < trials; ++t) {
        int r;
        switch (t % 6u) {
        case 0: r = random_conv_like(t, 0); break;
        case 1: r = random_conv_like(t, 1); break;
        case 2: r = random_fc(t); break;
        case 3: r = random_add(t); break;
        case 4: r = random_quantize(t); break;
        default: r = random_pool(t); break;
        }
        if (r > 0) {
            return 1;
        }
        done += r == 0 ? 1u : 0u;
    }
    out_text("PASS random ");
    out_u32(done);
    out_text(" wide ");
    out_u32(wide_done);
    out_text("\n");
    return 0;
}

static uint32_t parse_u32(const char *s)
{
    uint32_t v = 0;
    while (*s >= '0' && *s <= '9') {
        v = v * 10u + (uint32_t)(*s++ - '0');
    }
    return v;
}

static int dispatch(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "bench") == 0) {
        return run_bench();
    }
    if (argc >= 4) {
        rng_state = parse_u32(argv[3]) | 1u;
        if (strcmp(argv[1], "check") == 0) {
            return run_check(parse_u32(argv[2]));
        }
        if (strcmp(argv[1], "random") == 0) {
            return run_random(parse_u32(argv[2]));
        }
    }
    out_text("usage: bench | check N SEED | random N SEED\n");
    return 2;
}

#if defined(TINYFL_BENCH_HOST)
int main(int argc, char **argv) { return dispatch(argc, argv); }
#else
int main(void)
{
    char line[128];
    char *argv[6];
    int argc = 0;
    tinyfl_an386_uart_init();
    if (tinyfl_semihost_cmdline(line, sizeof line) != 0) {
        return 3;
    }
    for (char *p = line; *p != '\0' && argc < 6;) {
        while (*p == ' ') {
            *p++ = '\0';
        }
        if (*p != '\0') {
            argv[argc++] = p;
        }
        while (*p != '\0' && *p != ' ') {
            p++;
        }
    }
    return dispatch(argc, argv);
}
#endif
