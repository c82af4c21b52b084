/* CONV_2D, fast path (TINYFL_KERNELS_OPTIMIZED): same arguments and bit-identical results as
 * tinyfl_conv_2d_s8. No im2col: in NHWC, the taps of one filter row that fall inside the input
 * are one contiguous run of (valid width x in_c) bytes in the input and in the filter, so each
 * output pixel is a few contiguous dot products, four output channels at a time. Padding taps
 * are skipped (they add (zp - zp) * w = 0). Dilated convolutions take the reference kernel. */
#ifndef TINYFL_CONV_2D_S8_FAST_H
#define TINYFL_CONV_2D_S8_FAST_H

#include "tinyfl_fast_common.h"
#include "tinyfl_kernels.h"

/* Widest pointwise input the 1x1 path below widens on the stack (2 bytes per channel). */
#define TINYFL_FAST_POINTWISE_MAX_CHANNELS 256

/* 1x1 convolution on wide weights (pointwise layers: most of a depthwise-separable network's
 * MACs): each input pixel is widened once into 16-bit pairs, as the weights are, so the inner
 * loop is one LDRD of inputs, four of weights and eight SMLAD per 16 MACs. */
static TINYFL_ALWAYS_INLINE void tinyfl_conv_2d_s8_fast_pointwise(
    const tinyfl_conv_params *params, const tinyfl_dims *input_dims, const int8_t *input,
    const int16_t *wide, const int32_t *bias, const int32_t *multipliers, const int32_t *shifts,
    const tinyfl_dims *output_dims, int8_t *output)
{
    const int32_t in_w = input_dims->w, in_h = input_dims->h;
    /* The caller checked in_c against the buffer; bounding it here again tells the compiler so
     * (it folds away for a layer's constant shape). */
    const int32_t in_c = input_dims->c < TINYFL_FAST_POINTWISE_MAX_CHANNELS ? input_dims->c
                                                                            : TINYFL_FAST_POINTWISE_MAX_CHANNELS;
    const int32_t out_h = output_dims->h, out_w = output_dims->w, out_c = output_dims->c;
    const uint32_t offset2 = tinyfl_simd_dup16(params->input_offset);
    uint32_t x_wide[TINYFL_FAST_POINTWISE_MAX_CHANNELS / 2] TINYFL_ALIGN8;
    for (int32_t b = 0; b < input_dims->n; ++b) {
        for (int32_t oy = 0; oy < out_h; ++oy) {
            for (int32_t ox = 0; ox < out_w; ++ox) {
                const int8_t *x = input + ((b * in_h + oy * params->stride_h) * in_w + ox * params->stride_w) * in_c;
                for (int32_t i = 0; i < in_c; i += 4) {
                    const uint32_t xv = tinyfl_load_s8x4(x + i);
                    x_wide[i / 2] = tinyfl_sxtab16(offset2, xv);
                    x_wide[i / 2 + 1] = tinyfl_sxtab16_ror8(offset2, xv);
                }
                /* Read the pixel through an opaque pointer: otherwise GCC splits the unrolled
                 * array into scalars and spills them, twice the loads. */
                const uint32_t *xw = x_wide;
#if defined(__GNUC__)
                __asm__("" : "+r"(xw) : : "memory");
#endif
                int8_t *out = output + ((b * out_h + oy) * out_w + ox) * out_c;
                int32_t oc = 0;
                const int16_t *w_oc = wide; /* advanced per channel (no oc * in_c products) */
                for (; oc + 4 <= out_c; oc += 4) {
                    int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
                    if (bias != NULL) {
                        a0 = bias[oc];
                        a1 = bias[oc + 1];
                        a2 = bias[oc + 2];
                        a3 = bias[oc + 3];
                    }
                    const int16_t *w0 = w_oc, *w1 = w0 + in_c, *w2 = w1 + in_c, *w3 = w2 + in_c;
                    w_oc = w3 + in_c;
                    TINYFL_UNROLL_SMALL
                    for (int32_t i = 0; i < in_c; i += 4) {
                        const uint32_t xe = xw[i / 2], xo = xw[i / 2 + 1];
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
                    const int32_t acc[4] = {a0, a1, a2, a3};
                    tinyfl_fast_output4(out + oc, acc, multipliers + oc, shifts + oc, params->requant_short,
                                        params->output_offset, params->act_min, params->act_max);
                }
                for (; oc < out_c; ++oc) {
                    int32_t acc = bias != NULL ? bias[oc] : 0;
                    const int16_t *w = w_oc;
                    w_oc += in_c;
                    for (int32_t i = 0; i < in_c; i += 4) {
                        uint32_t we, wo;
                        tinyfl_load_wide4(w + i, &we, &wo);
                        acc = tinyfl_smlad(xw[i / 2 + 1], wo, tinyfl_smlad(xw[i / 2], we, acc));
                    }
                    out[oc] = tinyfl_fast_output(acc, multipliers[oc], shifts[oc], params->requant_short,
                                                 params->output_offset, params->act_min, params->act_max);
                }
            }
        }
    }
    /* The stack copy held activations derived from sensor data; the barrier keeps the clearing
     * from being dropped as a dead store. */
    memset(x_wide, 0, (size_t)in_c * 2u);
#if defined(__GNUC__)
    __asm__ volatile("" : : "r"(x_wide) : "memory");
#endif
}

/* Exactly one of filter (int8) and wide (pre-widened, see tinyfl_fast_widen_weights) is set;
 * each caller passes a constant NULL, so the unused branch compiles away. */
static TINYFL_ALWAYS_INLINE tinyfl_status tinyfl_conv_2d_s8_fast_any(
    const tinyfl_conv_params *params, const tinyfl_dims *input_dims, const int8_t *input,
    const tinyfl_dims *filter_dims, const int8_t *filter, const int16_t *wide, const int32_t *bias,
    const int32_t *multipliers, const int32_t *shifts, const tinyfl_dims *output_dims, int8_t *output)
{
    const int32_t in_h = input_dims->h, in_w = input_dims->w, in_c = input_dims->c;
    const int32_t f_h = filter_dims->h, f_w = filter_dims->w;
    const int32_t out_h = output_dims->h, out_w = output_dims->w, out_c = output_dims->c;
    if (wide != NULL && (params->dilation_h != 1 || params->dilation_w != 1 || in_c % 4 != 0)) {
        return TINYFL_E_ARG; /* the generator widens only what this kernel takes */
    }
    if (wide == NULL && (params->dilation_h != 1 || params->dilation_w != 1)) {
        return tinyfl_conv_2d_s8(params, input_dims, input, filter_dims, filter, bias, multipliers,
                                 shifts, output_dims, output);
    }
    if (filter_dims->c != in_c || filter_dims->n != out_c || input_dims->n != output_dims->n) {
        return TINYFL_E_ARG;
    }
    if (wide != NULL && f_h == 1 && f_w == 1 && params->pad_h == 0 && params->pad_w == 0 &&
        in_c <= TINYFL_FAST_POINTWISE_MAX_CHANNELS) {
        tinyfl_conv_2d_s8_fast_pointwise(params, input_dims, input, wide, bias, multipliers, shifts,
                                         output_dims, output);
        return TINYFL_OK;
    }
    const int32_t offset = params->input_offset;
    const int32_t filter_stride = f_h * f_w * in_c; /* between output channels */
    const int32_t rq = params->requant_short;
    for (int32_t b = 0; b < input_dims->n; ++b) {
        for (int32_t oy = 0; oy < out_h; ++oy) {
            const int32_t iy0 = oy * params->stride_h - params->pad_h;
            const int32_t fy0 = iy0 < 0 ? -iy0 : 0;
            const int32_t fy1 = in_h - iy0 < f_h ? in_h - iy0 : f_h;
            for (int32_t ox = 0; ox < out_w; ++ox) {
                const int32_t ix0 = ox * params->stride_w - params->pad_w;
                const int32_t fx0 = ix0 < 0 ? -ix0 : 0;
                const int32_t fx1 = in_w - ix0 < f_w ? in_w - ix0 : f_w;
                const int32_t run = (fx1 - fx0) * in_c;
                const int full_row = fx0 == 0 && fx1 == f_w;
                const int8_t *x_first = input + ((b * in_h + iy0 + fy0) * in_w + ix0 + fx0) * in_c;
                const int32_t w_first = (fy0 * f_w + fx0) * in_c;
                int8_t *out = output + ((b * out_h + oy) * out_w + ox) * out_c;
                int32_t oc = 0;
                const int32_t oc_blocks = out_c & ~3; /* whole groups of four */
                for (; oc < oc_blocks; oc += 4) {
                    int32_t acc[4] = {0, 0, 0, 0};
                    if (bias != NULL) {
                        acc[0] = bias[oc];
                        acc[1] = bias[oc + 1];
                        acc[2] = bias[oc + 2];
                        acc[3] = bias[oc + 3];
                    }
                    const int8_t *xp = x_first;
                    int32_t wi = w_first + oc * filter_stride;
                    for (int32_t fy = fy0; fy < fy1; ++fy) {
                        /* Whole filter rows of int8 weights (every pixel away from the left and
                         * right edges) get a run of constant length, so the compiler drops the
                         * loop and tail of short runs (first layers: 1-3 input channels). The
                         * wide path is already unrolled; a second copy only costs there. */
                        if (wide != NULL) {
                            tinyfl_fast_dot4_wide(xp, wide + wi, filter_stride, run, offset, acc);
                        } else if (full_row) {
                            tinyfl_fast_dot4(xp, filter + wi, filter_stride, f_w * in_c, offset, acc);
                        } else {
                            tinyfl_fast_dot4(xp, filter + wi, filter_stride, run, offset, acc);
                        }
                        xp += in_w * in_c;
                        wi += f_w * in_c;
                    }
                    tinyfl_fast_output4(out + oc, acc, multipliers + oc, shifts + oc, rq,
                                        params->output_offset, params->act_min, params->act_max);
                }
                for (; oc < out_c; ++oc) {
                    int32_t acc = bias != NULL ? bias[oc] : 0;
                    const int8_t *xp = x_first;
                    int32_t wi = w_first + oc * filter_stride;
                    for (int32_t fy = fy0; fy < fy1; ++fy) {
                        acc = wide != NULL ? tinyfl_fast_dot1_wide(xp, wide + wi, run, offset, acc)
                                           : tinyfl_fast_dot1(xp, filter + wi, run, offset, acc);
                        xp += in_w * in_c;
                        wi += f_w * in_c;
                    }
                    out[oc] = tinyfl_fast_output(acc, multipliers[oc], shifts[oc], rq, params->output_offset,
                                                 params->act_min, params->act_max);
                }
            }
        }
    }
    return TINYFL_OK;
}

static TINYFL_ALWAYS_INLINE tinyfl_status tinyfl_conv_2d_s8_fast(
    const tinyfl_conv_params *params, const tinyfl_dims *input_dims, const int8_t *input,
    const tinyfl_dims *filter_dims, const int8_t *filter, const int32_t *bias,
    const int32_t *multipliers, const int32_t *shifts, const tinyfl_dims *output_dims, int8_t *output)
{
    return tinyfl_conv_2d_s8_fast_any(params, input_dims, input, filter_dims, filter, NULL, bias,
                                      multipliers, shifts, output_dims, output);
}

/* The same on pre-widened weights: input channels a multiple of 4, no dilation. */
static TINYFL_ALWAYS_INLINE tinyfl_status tinyfl_conv_2d_s8_fast_wide(
    const tinyfl_conv_params *params, const tinyfl_dims *input_dims, const int8_t *input,
    const tinyfl_dims *filter_dims, const int16_t *filter, const int32_t *bias,
    const int32_t *multipliers, const int32_t *shifts, const tinyfl_dims *output_dims, int8_t *output)
{
    return tinyfl_conv_2d_s8_fast_any(params, input_dims, input, filter_dims, NULL, filter, bias,
                                      multipliers, shifts, output_dims, output);
}

#endif /* TINYFL_CONV_2D_S8_FAST_H */
