/* AVERAGE_POOL_2D, int8: input and output share scale and zero point, so the mean of the raw
 * values is rounded half away from zero over the window's in-bounds cells (TFLM reference). */
#include "tinyfl_kernels.h"
#include "tinyfl_requant.h"

tinyfl_status tinyfl_avg_pool_2d_s8(const tinyfl_pool_params *params,
                                    const tinyfl_dims *input_dims, const int8_t *input,
                                    const tinyfl_dims *output_dims, int8_t *output)
{
    const int32_t in_h = input_dims->h, in_w = input_dims->w, depth = input_dims->c;
    const int32_t out_h = output_dims->h, out_w = output_dims->w;
    if (output_dims->c != depth || output_dims->n != input_dims->n) {
        return TINYFL_E_ARG;
    }
    for (int32_t b = 0; b < input_dims->n; ++b) {
        for (int32_t oy = 0; oy < out_h; ++oy) {
            const int32_t y0 = oy * params->stride_h - params->pad_h;
            const int32_t fy_start = y0 < 0 ? -y0 : 0;
            const int32_t fy_end = params->filter_h < in_h - y0 ? params->filter_h : in_h - y0;
            for (int32_t ox = 0; ox < out_w; ++ox) {
                const int32_t x0 = ox * params->stride_w - params->pad_w;
                const int32_t fx_start = x0 < 0 ? -x0 : 0;
                const int32_t fx_end = params->filter_w < in_w - x0 ? params->filter_w : in_w - x0;
                for (int32_t c = 0; c < depth; ++c) {
                    int32_t acc = 0;
                    int32_t count = 0;
                    for (int32_t fy = fy_start; fy < fy_end; ++fy) {
                        for (int32_t fx = fx_start; fx < fx_end; ++fx) {
                            acc += input[((b * in_h + y0 + fy) * in_w + x0 + fx) * depth + c];
                            ++count;
                        }
                    }
                    if (count == 0) {
                        return TINYFL_E_ARG;
                    }
                    acc = acc > 0 ? (acc + count / 2) / count : (acc - count / 2) / count;
                    acc = tinyfl_clamp_i32(acc, params->act_min, params->act_max);
                    output[((b * out_h + oy) * out_w + ox) * depth + c] = (int8_t)acc;
                }
            }
        }
    }
    return TINYFL_OK;
}
