/* CONV_2D, int8 activations and per-channel int8 weights (TFLM reference arithmetic). */
#include "tinyfl_kernels.h"
#include "tinyfl_requant.h"

tinyfl_status tinyfl_conv_2d_s8(const tinyfl_conv_params *params, const tinyfl_dims *input_dims,
                                const int8_t *input, const tinyfl_dims *filter_dims,
                                const int8_t *filter, const int32_t *bias,
                                const int32_t *multipliers, const int32_t *shifts,
                                const tinyfl_dims *output_dims, int8_t *output)
{
    const int32_t in_h = input_dims->h, in_w = input_dims->w, in_c = input_dims->c;
    const int32_t f_h = filter_dims->h, f_w = filter_dims->w;
    const int32_t out_h = output_dims->h, out_w = output_dims->w, out_c = output_dims->c;
    /* Grouped convolution is not generated; the filter must see every input channel. */
    if (filter_dims->c != in_c || filter_dims->n != out_c || input_dims->n != output_dims->n) {
        return TINYFL_E_ARG;
    }
    for (int32_t b = 0; b < input_dims->n; ++b) {
        for (int32_t oy = 0; oy < out_h; ++oy) {
            const int32_t in_y0 = oy * params->stride_h - params->pad_h;
            for (int32_t ox = 0; ox < out_w; ++ox) {
                const int32_t in_x0 = ox * params->stride_w - params->pad_w;
                for (int32_t oc = 0; oc < out_c; ++oc) {
                    int32_t acc = 0;
                    for (int32_t fy = 0; fy < f_h; ++fy) {
                        const int32_t iy = in_y0 + params->dilation_h * fy;
                        if (iy < 0 || iy >= in_h) {
                            continue; /* padding contributes (zp - zp) * w = 0 */
                        }
                        for (int32_t fx = 0; fx < f_w; ++fx) {
                            const int32_t ix = in_x0 + params->dilation_w * fx;
                            if (ix < 0 || ix >= in_w) {
                                continue;
                            }
                            const int8_t *in_px = input + ((b * in_h + iy) * in_w + ix) * in_c;
                            const int8_t *f_px = filter + ((oc * f_h + fy) * f_w + fx) * in_c;
                            for (int32_t ic = 0; ic < in_c; ++ic) {
                                acc += ((int32_t)in_px[ic] + params->input_offset) * (int32_t)f_px[ic];
                            }
                        }
                    }
                    if (bias != NULL) {
                        acc += bias[oc];
                    }
                    acc = tinyfl_multiply_by_quantized_multiplier(acc, multipliers[oc], shifts[oc]);
                    acc += params->output_offset;
                    acc = tinyfl_clamp_i32(acc, params->act_min, params->act_max);
                    output[((b * out_h + oy) * out_w + ox) * out_c + oc] = (int8_t)acc;
                }
            }
        }
    }
    return TINYFL_OK;
}
