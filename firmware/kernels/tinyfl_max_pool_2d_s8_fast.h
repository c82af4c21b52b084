/* MAX_POOL_2D, fast path (TINYFL_KERNELS_OPTIMIZED): same results as tinyfl_max_pool_2d_s8.
 * Four channels per word: a per-byte signed maximum (SSUB8 + SEL) over the window's in-bounds
 * cells, starting from -128 as the reference kernel does, then the clamp per byte. */
#ifndef TINYFL_MAX_POOL_2D_S8_FAST_H
#define TINYFL_MAX_POOL_2D_S8_FAST_H

#include "tinyfl_kernels.h"
#include "tinyfl_requant.h"
#include "tinyfl_simd.h"

static TINYFL_ALWAYS_INLINE uint32_t tinyfl_fast_splat_s8(int32_t v)
{
    return ((uint32_t)v & 0xFFu) * 0x01010101u;
}

static TINYFL_ALWAYS_INLINE tinyfl_status tinyfl_max_pool_2d_s8_fast(const tinyfl_pool_params *params,
                                                                     const tinyfl_dims *input_dims,
                                                                     const int8_t *input,
                                                                     const tinyfl_dims *output_dims,
                                                                     int8_t *output)
{
    const int32_t in_h = input_dims->h, in_w = input_dims->w, depth = input_dims->c;
    const int32_t out_h = output_dims->h, out_w = output_dims->w;
    if (output_dims->c != depth || output_dims->n != input_dims->n) {
        return TINYFL_E_ARG;
    }
    const uint32_t lowest = tinyfl_fast_splat_s8(params->act_min);
    const uint32_t highest = tinyfl_fast_splat_s8(params->act_max);
    for (int32_t b = 0; b < input_dims->n; ++b) {
        for (int32_t oy = 0; oy < out_h; ++oy) {
            const int32_t y0 = oy * params->stride_h - params->pad_h;
            const int32_t fy_start = y0 < 0 ? -y0 : 0;
            const int32_t fy_end = params->filter_h < in_h - y0 ? params->filter_h : in_h - y0;
            for (int32_t ox = 0; ox < out_w; ++ox) {
                const int32_t x0 = ox * params->stride_w - params->pad_w;
                const int32_t fx_start = x0 < 0 ? -x0 : 0;
                const int32_t fx_end = params->filter_w < in_w - x0 ? params->filter_w : in_w - x0;
                const int8_t *window = input + ((b * in_h + y0) * in_w + x0) * depth;
                int8_t *out = output + ((b * out_h + oy) * out_w + ox) * depth;
                int32_t c = 0;
                for (; c + 4 <= depth; c += 4) {
                    uint32_t best = 0x80808080u; /* -128 in every lane */
                    for (int32_t fy = fy_start; fy < fy_end; ++fy) {
                        for (int32_t fx = fx_start; fx < fx_end; ++fx) {
                            best = tinyfl_max_s8x4(best, tinyfl_load_s8x4(window + (fy * in_w + fx) * depth + c));
                        }
                    }
                    if (params->act_min > INT8_MIN) {
                        best = tinyfl_max_s8x4(best, lowest);
                    }
                    if (params->act_max < INT8_MAX) {
                        best = tinyfl_min_s8x4(best, highest);
                    }
                    memcpy(out + c, &best, sizeof best);
                }
                for (; c < depth; ++c) {
                    int32_t best = INT8_MIN;
                    for (int32_t fy = fy_start; fy < fy_end; ++fy) {
                        for (int32_t fx = fx_start; fx < fx_end; ++fx) {
                            const int32_t v = window[(fy * in_w + fx) * depth + c];
                            best = v > best ? v : best;
                        }
                    }
                    out[c] = (int8_t)tinyfl_clamp_i32(best, params->act_min, params->act_max);
                }
            }
        }
    }
    return TINYFL_OK;
}

#endif /* TINYFL_MAX_POOL_2D_S8_FAST_H */
