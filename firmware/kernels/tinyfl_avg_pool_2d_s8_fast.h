/* AVERAGE_POOL_2D, fast path (TINYFL_KERNELS_OPTIMIZED): same results as tinyfl_avg_pool_2d_s8.
 * Four channels per word: SXTAB16 adds the even and the odd channels' bytes into 16-bit lanes,
 * exact while a window holds at most 256 cells (|sum| <= 256 * 128); larger windows take the
 * reference kernel. The rounding division and the clamp are the reference kernel's. */
#ifndef TINYFL_AVG_POOL_2D_S8_FAST_H
#define TINYFL_AVG_POOL_2D_S8_FAST_H

#include "tinyfl_kernels.h"
#include "tinyfl_requant.h"
#include "tinyfl_simd.h"

static TINYFL_ALWAYS_INLINE int8_t tinyfl_fast_pool_mean(int32_t sum, int32_t count, int32_t act_min,
                                                         int32_t act_max)
{
    sum = sum > 0 ? (sum + count / 2) / count : (sum - count / 2) / count;
    return (int8_t)tinyfl_clamp_i32(sum, act_min, act_max);
}

static TINYFL_ALWAYS_INLINE tinyfl_status tinyfl_avg_pool_2d_s8_fast(const tinyfl_pool_params *params,
                                                                     const tinyfl_dims *input_dims,
                                                                     const int8_t *input,
                                                                     const tinyfl_dims *output_dims,
                                                                     int8_t *output)
{
    const int32_t in_h = input_dims->h, in_w = input_dims->w, depth = input_dims->c;
    const int32_t out_h = output_dims->h, out_w = output_dims->w;
    if (params->filter_h * params->filter_w > 256 || params->filter_h < 1 || params->filter_w < 1) {
        return tinyfl_avg_pool_2d_s8(params, input_dims, input, output_dims, output);
    }
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
                const int32_t count = (fy_end - fy_start) * (fx_end - fx_start);
                if (fy_end <= fy_start || fx_end <= fx_start) {
                    return TINYFL_E_ARG;
                }
                const int8_t *window = input + ((b * in_h + y0) * in_w + x0) * depth;
                int8_t *out = output + ((b * out_h + oy) * out_w + ox) * depth;
                int32_t c = 0;
                for (; c + 4 <= depth; c += 4) {
                    uint32_t even = 0, odd = 0; /* 16-bit lanes: channels c, c + 2 and c + 1, c + 3 */
                    for (int32_t fy = fy_start; fy < fy_end; ++fy) {
                        for (int32_t fx = fx_start; fx < fx_end; ++fx) {
                            const uint32_t xv = tinyfl_load_s8x4(window + (fy * in_w + fx) * depth + c);
                            even = tinyfl_sxtab16(even, xv);
                            odd = tinyfl_sxtab16_ror8(odd, xv);
                        }
                    }
                    out[c] = tinyfl_fast_pool_mean((int16_t)(even & 0xFFFFu), count, params->act_min, params->act_max);
                    out[c + 1] = tinyfl_fast_pool_mean((int16_t)(odd & 0xFFFFu), count, params->act_min, params->act_max);
                    out[c + 2] = tinyfl_fast_pool_mean((int16_t)(even >> 16), count, params->act_min, params->act_max);
                    out[c + 3] = tinyfl_fast_pool_mean((int16_t)(odd >> 16), count, params->act_min, params->act_max);
                }
                for (; c < depth; ++c) {
                    int32_t sum = 0;
                    for (int32_t fy = fy_start; fy < fy_end; ++fy) {
                        for (int32_t fx = fx_start; fx < fx_end; ++fx) {
                            sum += window[(fy * in_w + fx) * depth + c];
                        }
                    }
                    out[c] = tinyfl_fast_pool_mean(sum, count, params->act_min, params->act_max);
                }
            }
        }
    }
    return TINYFL_OK;
}

#endif /* TINYFL_AVG_POOL_2D_S8_FAST_H */
