/* Int8 reference kernels for the generated backbone. Their arithmetic follows the tflite-micro
 * reference kernels exactly (double-rounding requantization), so a generated model is bit-exact
 * with the TFLM interpreter. Layouts are NHWC; filters are [out_c][h][w][in_c] (conv),
 * [1][h][w][out_c] (depthwise) and [out][in] (fully connected), as in a .tflite file.
 *
 * Every multiplier/shift pair is a TFLM QuantizeMultiplier() result (shift > 0 = left), computed
 * at generation time. Each kernel returns TINYFL_OK or TINYFL_E_ARG on inconsistent arguments. */
#ifndef TINYFL_KERNELS_H
#define TINYFL_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#include "tinyfl_status.h"

/* Generated models check this and refuse to compile against other kernels. */
#define TINYFL_KERNELS_VERSION 4

typedef struct {
    int32_t n, h, w, c;
} tinyfl_dims;

/* Shared by CONV_2D and DEPTHWISE_CONV_2D. */
typedef struct {
    int32_t input_offset;  /* -input zero point */
    int32_t output_offset; /* output zero point */
    int32_t stride_h, stride_w;
    int32_t dilation_h, dilation_w;
    int32_t pad_h, pad_w;  /* leading padding (TFLM: the smaller half for SAME) */
    int32_t depth_multiplier; /* depthwise only */
    int32_t act_min, act_max; /* fused activation as a clamp in [-128, 127] */
    int32_t requant_short; /* 1: every channel passes tinyfl_requant_short_ok (fast kernels) */
} tinyfl_conv_params;

typedef struct {
    int32_t stride_h, stride_w;
    int32_t filter_h, filter_w;
    int32_t pad_h, pad_w;
    int32_t act_min, act_max;
} tinyfl_pool_params;

typedef struct {
    int32_t input_offset;
    int32_t output_offset;
    int32_t act_min, act_max;
    int32_t requant_short; /* as in tinyfl_conv_params */
} tinyfl_fc_params;

typedef struct {
    int32_t input1_offset, input2_offset, output_offset;
    int32_t left_shift;
    int32_t input1_multiplier, input1_shift;
    int32_t input2_multiplier, input2_shift;
    int32_t output_multiplier, output_shift;
    int32_t act_min, act_max;
} tinyfl_add_params;

/* SOFTMAX (int8 -> int8, output scale 1/256, zero point -128): TFLM's PreprocessSoftmaxScaling
 * of beta * input scale (Q5.26, left shift >= 0) and the smallest difference to the row maximum
 * that still counts (-input radius). */
typedef struct {
    int32_t input_multiplier;
    int32_t input_left_shift;
    int32_t diff_min;
} tinyfl_softmax_params;

typedef struct {
    int32_t input1_offset, input2_offset, output_offset; /* -zp1, -zp2, output zp */
    int32_t output_multiplier, output_shift;             /* scale1 * scale2 / output scale */
    int32_t act_min, act_max;
} tinyfl_mul_params;

/* HARD_SWISH: TFLM's 16-bit multipliers (DownScaleInt32ToInt16Multiplier) and exponents. */
typedef struct {
    int32_t input_zero_point, output_zero_point;
    int32_t reluish_multiplier_fixedpoint_int16, reluish_multiplier_exponent;
    int32_t output_multiplier_fixedpoint_int16, output_multiplier_exponent;
} tinyfl_hard_swish_params;

/* multipliers/shifts: one per output channel. bias may be NULL. */
tinyfl_status tinyfl_conv_2d_s8(const tinyfl_conv_params *params, const tinyfl_dims *input_dims,
                                const int8_t *input, const tinyfl_dims *filter_dims,
                                const int8_t *filter, const int32_t *bias,
                                const int32_t *multipliers, const int32_t *shifts,
                                const tinyfl_dims *output_dims, int8_t *output);

tinyfl_status tinyfl_depthwise_conv_2d_s8(const tinyfl_conv_params *params,
                                          const tinyfl_dims *input_dims, const int8_t *input,
                                          const tinyfl_dims *filter_dims, const int8_t *filter,
                                          const int32_t *bias, const int32_t *multipliers,
                                          const int32_t *shifts, const tinyfl_dims *output_dims,
                                          int8_t *output);

/* output[b][o] from input[b][i] and filter[o][i]; n_channel_params is 1 (per-tensor) or
 * out_features (per-channel multipliers/shifts). */
tinyfl_status tinyfl_fully_connected_s8(const tinyfl_fc_params *params, int32_t batches,
                                        int32_t in_features, int32_t out_features,
                                        const int8_t *input, const int8_t *filter,
                                        const int32_t *bias, const int32_t *multipliers,
                                        const int32_t *shifts, int32_t n_channel_params,
                                        int8_t *output);

tinyfl_status tinyfl_avg_pool_2d_s8(const tinyfl_pool_params *params,
                                    const tinyfl_dims *input_dims, const int8_t *input,
                                    const tinyfl_dims *output_dims, int8_t *output);

tinyfl_status tinyfl_max_pool_2d_s8(const tinyfl_pool_params *params,
                                    const tinyfl_dims *input_dims, const int8_t *input,
                                    const tinyfl_dims *output_dims, int8_t *output);

/* Mean over the axes flagged in reduce_mask (bit k = dimension k of dims[0..3]); the output
 * holds the kept dimensions in order. multiplier/shift already include 1/count (as TFLM's
 * QuantizedMeanOrSum adapts them). */
tinyfl_status tinyfl_mean_s8(const int32_t dims[4], uint32_t reduce_mask, const int8_t *input,
                             int32_t input_zero_point, int32_t multiplier, int32_t shift,
                             int32_t output_zero_point, int8_t *output);

/* Elementwise; when input2_count is 1 the second input is broadcast. */
tinyfl_status tinyfl_add_s8(const tinyfl_add_params *params, size_t count, const int8_t *input1,
                            const int8_t *input2, size_t input2_count, int8_t *output);

/* float -> int8: round-half-away(x / scale) + zero_point, clamped. */
tinyfl_status tinyfl_quantize_f32_s8(size_t count, const float *input, float scale,
                                     int32_t zero_point, int8_t *output);

/* int8 -> int8 with a new scale/zero point (TFLM Requantize). */
tinyfl_status tinyfl_requantize_s8(size_t count, const int8_t *input, int32_t input_zero_point,
                                   int32_t multiplier, int32_t shift, int32_t output_zero_point,
                                   int8_t *output);

tinyfl_status tinyfl_dequantize_s8_f32(size_t count, const int8_t *input, float scale,
                                       int32_t zero_point, float *output);

/* Softmax of each of `rows` rows of `depth` values (the last dimension). */
tinyfl_status tinyfl_softmax_s8(const tinyfl_softmax_params *params, int32_t rows, int32_t depth,
                                const int8_t *input, int8_t *output);

/* 1 / (1 + exp(-x)), output scale 1/256, zero point -128. multiplier/left_shift take the input
 * to Q4.27 (TFLM frexp of scale * 2^27); inputs at or beyond +-radius saturate. */
tinyfl_status tinyfl_logistic_s8(size_t count, const int8_t *input, int32_t input_zero_point,
                                 int32_t input_range_radius, int32_t input_multiplier,
                                 int32_t input_left_shift, int8_t *output);

/* Elementwise product; each input dimension equals the output's or is 1 (broadcast). */
tinyfl_status tinyfl_mul_s8(const tinyfl_mul_params *params, const tinyfl_dims *input1_dims,
                            const int8_t *input1, const tinyfl_dims *input2_dims,
                            const int8_t *input2, const tinyfl_dims *output_dims, int8_t *output);

/* Inputs i = 0..n_inputs-1 of outer x axis_sizes[i] x inner values each, joined on the axis. */
tinyfl_status tinyfl_concatenation_s8(size_t n_inputs, const int8_t *const *inputs,
                                      const int32_t *axis_sizes, int32_t outer, int32_t inner,
                                      int8_t *output);

/* pads[k] = {before, after} for dimension k (n, h, w, c); new cells hold pad_value. */
tinyfl_status tinyfl_pad_s8(const tinyfl_dims *input_dims, const int8_t *input,
                            const int32_t pads[4][2], int8_t pad_value,
                            const tinyfl_dims *output_dims, int8_t *output);

/* Maximum over the axes flagged in reduce_mask (as tinyfl_mean_s8; same scale in and out). */
tinyfl_status tinyfl_reduce_max_s8(const int32_t dims[4], uint32_t reduce_mask,
                                   const int8_t *input, int8_t *output);

/* Output dimension k is input dimension perm[k]. */
tinyfl_status tinyfl_transpose_s8(const int32_t input_dims[4], const int32_t perm[4],
                                  const int8_t *input, int8_t *output);

tinyfl_status tinyfl_hard_swish_s8(const tinyfl_hard_swish_params *params, size_t count,
                                   const int8_t *input, int8_t *output);

/* RESHAPE / EXPAND_DIMS / SQUEEZE when the planner could not alias the buffers. */
tinyfl_status tinyfl_copy_s8(size_t count, const int8_t *input, int8_t *output);

/* Build-time kernel choice. Generated models call the TINYFL_<OP> names: the reference kernels
 * above, or with -DTINYFL_KERNELS_OPTIMIZED=1 the fast ones (tinyfl_*_fast.h: inline, so each
 * layer gets a copy specialized to its constant shapes; Cortex-M4 DSP instructions, portable C
 * elsewhere). Both give the same bits.
 *
 * TINYFL_KERNELS_WIDE_WEIGHTS (default 1 with the fast kernels; define it 0 to save the flash):
 * the generated model holds the weights of every CONV_2D (input channels a multiple of 4, no
 * dilation), DEPTHWISE_CONV_2D (channels a multiple of 4, depth multiplier 1, no dilation) and
 * FULLY_CONNECTED (inputs a multiple of 4) twice under #if, int8 and pre-widened
 * int16; this selects which one is compiled and which kernel the TINYFL_<OP>_WIDE names call.
 * Pre-widened weights take twice the flash and save the inner loop's weight widening. */
#if defined(TINYFL_KERNELS_OPTIMIZED) && TINYFL_KERNELS_OPTIMIZED
#include "tinyfl_conv_2d_s8_fast.h"
#include "tinyfl_depthwise_conv_2d_s8_fast.h"
#include "tinyfl_fully_connected_s8_fast.h"
#include "tinyfl_add_s8_fast.h"
#include "tinyfl_quantize_f32_s8_fast.h"
#include "tinyfl_avg_pool_2d_s8_fast.h"
#include "tinyfl_max_pool_2d_s8_fast.h"
#define TINYFL_KERNELS_FAST 1
#define TINYFL_MAX_POOL_2D_S8 tinyfl_max_pool_2d_s8_fast
#define TINYFL_AVG_POOL_2D_S8 tinyfl_avg_pool_2d_s8_fast
#define TINYFL_QUANTIZE_F32_S8 tinyfl_quantize_f32_s8_fast
#define TINYFL_ADD_S8(params, table, count, in1, in2, in2_count, out) \
    tinyfl_add_s8_fast(params, table, count, in1, in2, in2_count, out)
#define TINYFL_CONV_2D_S8 tinyfl_conv_2d_s8_fast
#define TINYFL_DEPTHWISE_CONV_2D_S8 tinyfl_depthwise_conv_2d_s8_fast
#define TINYFL_FULLY_CONNECTED_S8 tinyfl_fully_connected_s8_fast
#ifndef TINYFL_KERNELS_WIDE_WEIGHTS
#define TINYFL_KERNELS_WIDE_WEIGHTS 1
#endif
#else
#define TINYFL_KERNELS_FAST 0
#define TINYFL_AVG_POOL_2D_S8 tinyfl_avg_pool_2d_s8
#define TINYFL_MAX_POOL_2D_S8 tinyfl_max_pool_2d_s8
#define TINYFL_QUANTIZE_F32_S8 tinyfl_quantize_f32_s8
/* The generated lookup table exists only in fast builds (#if TINYFL_KERNELS_FAST). */
#define TINYFL_ADD_S8(params, table, count, in1, in2, in2_count, out) \
    tinyfl_add_s8(params, count, in1, in2, in2_count, out)
#define TINYFL_CONV_2D_S8 tinyfl_conv_2d_s8
#define TINYFL_DEPTHWISE_CONV_2D_S8 tinyfl_depthwise_conv_2d_s8
#define TINYFL_FULLY_CONNECTED_S8 tinyfl_fully_connected_s8
#undef TINYFL_KERNELS_WIDE_WEIGHTS
#define TINYFL_KERNELS_WIDE_WEIGHTS 0 /* the reference kernels take int8 weights only */
#endif
#if TINYFL_KERNELS_WIDE_WEIGHTS
#define TINYFL_CONV_2D_S8_WIDE tinyfl_conv_2d_s8_fast_wide
#define TINYFL_DEPTHWISE_CONV_2D_S8_WIDE tinyfl_depthwise_conv_2d_s8_fast_wide
#define TINYFL_FULLY_CONNECTED_S8_WIDE tinyfl_fully_connected_s8_fast_wide
#else
#define TINYFL_CONV_2D_S8_WIDE TINYFL_CONV_2D_S8
#define TINYFL_DEPTHWISE_CONV_2D_S8_WIDE TINYFL_DEPTHWISE_CONV_2D_S8
#define TINYFL_FULLY_CONNECTED_S8_WIDE TINYFL_FULLY_CONNECTED_S8
#endif

#endif /* TINYFL_KERNELS_H */
