/* DEPTHWISE_CONV_2D, fast path (TINYFL_KERNELS_OPTIMIZED): same arguments and bit-identical
 * results as tinyfl_depthwise_conv_2d_s8. Four channels at a time: one word of input and one of
 * filter per tap (NHWC keeps channels adjacent), widened to 16-bit lanes (with the input offset
 * added on the way), then one 16x16 multiply-accumulate per channel (SMLABB/SMLATT). Interior
 * pixels run a loop over the whole (constant) filter that the compiler unrolls; border pixels
 * loop over their valid taps. Depth multipliers > 1 and dilation take the reference kernel. */
#ifndef TINYFL_DEPTHWISE_CONV_2D_S8_FAST_H
#define TINYFL_DEPTHWISE_CONV_2D_S8_FAST_H

#include "tinyfl_fast_common.h"
#include "tinyfl_kernels.h"

/* acc[k] += taps of channels c..c+3 over filter rows fy0..fy1-1 and columns fx0..fx1-1;
 * x_origin = the input at (iy0, ix0, channel c), w = the filter at channel c. */
/* The filter word of channels c..c+3 at tap t as SXTB16/SXTB16-ROR8 would give it: from int8
 * weights (w) or from pre-widened ones (wide, tinyfl_fast_widen_weights layout: one LDRD). */
static TINYFL_ALWAYS_INLINE void tinyfl_fast_dw_weights(const int8_t *w, const int16_t *wide, int32_t t,
                                                        uint32_t *we, uint32_t *wo)
{
    if (wide != NULL) {
        tinyfl_load_wide4(wide + t, we, wo);
    } else {
        const uint32_t wv = tinyfl_load_s8x4(w + t);
        *we = tinyfl_sxtb16(wv);
        *wo = tinyfl_sxtb16_ror8(wv);
    }
}

static TINYFL_ALWAYS_INLINE void tinyfl_fast_dw_taps4(const int8_t *input, int32_t x_origin,
                                                      const int8_t *w, const int16_t *wide,
                                                      int32_t fy0, int32_t fy1,
                                                      int32_t fx0, int32_t fx1, int32_t in_w,
                                                      int32_t in_c, int32_t f_w, int32_t out_c,
                                                      uint32_t offset2, int32_t acc[4])
{
    int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
    for (int32_t fy = fy0; fy < fy1; ++fy) {
        for (int32_t fx = fx0; fx < fx1; ++fx) {
            const uint32_t xv = tinyfl_load_s8x4(input + x_origin + (fy * in_w + fx) * in_c);
            uint32_t we, wo;
            tinyfl_fast_dw_weights(w, wide, (fy * f_w + fx) * out_c, &we, &wo);
            const uint32_t xe = tinyfl_sxtab16(offset2, xv), xo = tinyfl_sxtab16_ror8(offset2, xv);
            a0 = tinyfl_smlabb(xe, we, a0); /* channel c     (byte 0) */
            a1 = tinyfl_smlabb(xo, wo, a1); /* channel c + 1 (byte 1) */
            a2 = tinyfl_smlatt(xe, we, a2); /* channel c + 2 (byte 2) */
            a3 = tinyfl_smlatt(xo, wo, a3); /* channel c + 3 (byte 3) */
        }
    }
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
}

/* The same over the whole filter; its constant bounds let the compiler unroll every tap. */
static TINYFL_ALWAYS_INLINE void tinyfl_fast_dw_taps4_all(const int8_t *input, int32_t x_origin,
                                                          const int8_t *w, const int16_t *wide,
                                                          int32_t f_h, int32_t f_w,
                                                          int32_t in_w, int32_t in_c, int32_t out_c,
                                                          uint32_t offset2, int32_t acc[4])
{
    int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
    TINYFL_UNROLL_SMALL
    for (int32_t fy = 0; fy < f_h; ++fy) {
        TINYFL_UNROLL_SMALL
        for (int32_t fx = 0; fx < f_w; ++fx) {
            const uint32_t xv = tinyfl_load_s8x4(input + x_origin + (fy * in_w + fx) * in_c);
            uint32_t we, wo;
            tinyfl_fast_dw_weights(w, wide, (fy * f_w + fx) * out_c, &we, &wo);
            const uint32_t xe = tinyfl_sxtab16(offset2, xv), xo = tinyfl_sxtab16_ror8(offset2, xv);
            a0 = tinyfl_smlabb(xe, we, a0);
            a1 = tinyfl_smlabb(xo, wo, a1);
            a2 = tinyfl_smlatt(xe, we, a2);
            a3 = tinyfl_smlatt(xo, wo, a3);
        }
    }
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
}

/* Exactly one of filter and wide (pre-widened, channels a multiple of 4) is set; each caller
 * passes a constant NULL, so the unused branch compiles away. */
static TINYFL_ALWAYS_INLINE tinyfl_status tinyfl_depthwise_conv_2d_s8_fast_any(
    const tinyfl_conv_params *params, const tinyfl_dims *input_dims, const int8_t *input,
    const tinyfl_dims *filter_dims, const int8_t *filter, const int16_t *wide, const int32_t *bias,
    const int32_t *multipliers, const int32_t *shifts, const tinyfl_dims *output_dims, int8_t *output)
{
    const int32_t in_h = input_dims->h, in_w = input_dims->w, in_c = input_dims->c;
    const int32_t f_h = filter_dims->h, f_w = filter_dims->w;
    const int32_t out_h = output_dims->h, out_w = output_dims->w, out_c = output_dims->c;
    if (wide != NULL && (params->depth_multiplier != 1 || params->dilation_h != 1 ||
                         params->dilation_w != 1 || out_c % 4 != 0)) {
        return TINYFL_E_ARG; /* the generator widens only what this kernel takes */
    }
    if (wide == NULL && (params->depth_multiplier != 1 || params->dilation_h != 1 || params->dilation_w != 1)) {
        return tinyfl_depthwise_conv_2d_s8(params, input_dims, input, filter_dims, filter, bias,
                                           multipliers, shifts, output_dims, output);
    }
    if (out_c != in_c || filter_dims->c != out_c || input_dims->n != output_dims->n) {
        return TINYFL_E_ARG;
    }
    const int32_t offset = params->input_offset;
    const uint32_t offset2 = tinyfl_simd_dup16(offset);
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
                const int interior = fy0 == 0 && fy1 == f_h && fx0 == 0 && fx1 == f_w;
                const int32_t origin = ((b * in_h + iy0) * in_w + ix0) * in_c;
                int8_t *out = output + ((b * out_h + oy) * out_w + ox) * out_c;
                int32_t c = 0;
                const int32_t c_blocks = in_c & ~3; /* whole groups of four */
                for (; c < c_blocks; c += 4) {
                    int32_t acc[4] = {0, 0, 0, 0};
                    if (bias != NULL) {
                        acc[0] = bias[c];
                        acc[1] = bias[c + 1];
                        acc[2] = bias[c + 2];
                        acc[3] = bias[c + 3];
                    }
                    if (interior) {
                        tinyfl_fast_dw_taps4_all(input, origin + c, filter != NULL ? filter + c : NULL,
                                                 wide != NULL ? wide + c : NULL, f_h, f_w, in_w, in_c,
                                                 out_c, offset2, acc);
                    } else {
                        tinyfl_fast_dw_taps4(input, origin + c, filter != NULL ? filter + c : NULL,
                                             wide != NULL ? wide + c : NULL, fy0, fy1, fx0, fx1, in_w,
                                             in_c, f_w, out_c, offset2, acc);
                    }
                    tinyfl_fast_output4(out + c, acc, multipliers + c, shifts + c, rq,
                                        params->output_offset, params->act_min, params->act_max);
                }
                for (; c < in_c; ++c) {
                    int32_t acc = bias != NULL ? bias[c] : 0;
                    for (int32_t fy = fy0; fy < fy1; ++fy) {
                        for (int32_t fx = fx0; fx < fx1; ++fx) {
                            const int32_t xv = input[origin + (fy * in_w + fx) * in_c + c];
                            acc += (xv + offset) * filter[(fy * f_w + fx) * out_c + c];
                        }
                    }
                    out[c] = tinyfl_fast_output(acc, multipliers[c], shifts[c], rq, params->output_offset,
                                                params->act_min, params->act_max);
                }
            }
        }
    }
    return TINYFL_OK;
}

static TINYFL_ALWAYS_INLINE tinyfl_status tinyfl_depthwise_conv_2d_s8_fast(
    const tinyfl_conv_params *params, const tinyfl_dims *input_dims, const int8_t *input,
    const tinyfl_dims *filter_dims, const int8_t *filter, const int32_t *bias,
    const int32_t *multipliers, const int32_t *shifts, const tinyfl_dims *output_dims, int8_t *output)
{
    return tinyfl_depthwise_conv_2d_s8_fast_any(params, input_dims, input, filter_dims, filter, NULL, bias,
                                                multipliers, shifts, output_dims, output);
}

/* The same on pre-widened weights: channels a multiple of 4, depth multiplier 1, no dilation. */
static TINYFL_ALWAYS_INLINE tinyfl_status tinyfl_depthwise_conv_2d_s8_fast_wide(
    const tinyfl_conv_params *params, const tinyfl_dims *input_dims, const int8_t *input,
    const tinyfl_dims *filter_dims, const int16_t *filter, const int32_t *bias,
    const int32_t *multipliers, const int32_t *shifts, const tinyfl_dims *output_dims, int8_t *output)
{
    return tinyfl_depthwise_conv_2d_s8_fast_any(params, input_dims, input, filter_dims, NULL, filter, bias,
                                                multipliers, shifts, output_dims, output);
}

#endif /* TINYFL_DEPTHWISE_CONV_2D_S8_FAST_H */
