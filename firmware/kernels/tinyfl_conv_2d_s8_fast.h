/* CONV_2D, fast path (TINYFL_KERNELS_OPTIMIZED): same arguments and bit-identical results as
 * tinyfl_conv_2d_s8. No im2col: in NHWC, the taps of one filter row that fall inside the input
 * are one contiguous run of (valid width x in_c) bytes in the input and in the filter, so each
 * output pixel is a few contiguous dot products, four output channels at a time. Padding taps
 * are skipped (they add (zp - zp) * w = 0). Dilated convolutions take the reference kernel. */
#ifndef TINYFL_CONV_2D_S8_FAST_H
#define TINYFL_CONV_2D_S8_FAST_H

#include "tinyfl_fast_common.h"
#include "tinyfl_kernels.h"

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
                        if (wide != NULL) {
                            tinyfl_fast_dot4_wide(xp, wide + wi, filter_stride, run, offset, acc);
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
