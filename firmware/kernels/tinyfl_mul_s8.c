/* MUL, int8 (TFLM reference): (a + offset1) * (b + offset2) requantized once, with NumPy-style
 * broadcasting over 4-D shapes (a dimension of 1 repeats). */
#include "tinyfl_kernels.h"
#include "tinyfl_requant.h"

/* Element stride of each dimension, 0 where the input is broadcast along it. */
static int tinyfl_mul_strides(const tinyfl_dims *in, const tinyfl_dims *out, int32_t stride[4])
{
    const int32_t d[4] = {in->n, in->h, in->w, in->c};
    const int32_t o[4] = {out->n, out->h, out->w, out->c};
    int32_t step = 1;
    for (int k = 3; k >= 0; --k) {
        if (d[k] != o[k] && d[k] != 1) {
            return -1;
        }
        stride[k] = d[k] == 1 ? 0 : step;
        step *= d[k];
    }
    return 0;
}

tinyfl_status tinyfl_mul_s8(const tinyfl_mul_params *params, const tinyfl_dims *input1_dims,
                            const int8_t *input1, const tinyfl_dims *input2_dims,
                            const int8_t *input2, const tinyfl_dims *output_dims, int8_t *output)
{
    int32_t s1[4], s2[4];
    if (tinyfl_mul_strides(input1_dims, output_dims, s1) != 0 ||
        tinyfl_mul_strides(input2_dims, output_dims, s2) != 0) {
        return TINYFL_E_ARG;
    }
    int8_t *out = output;
    for (int32_t n = 0; n < output_dims->n; ++n) {
        for (int32_t h = 0; h < output_dims->h; ++h) {
            for (int32_t w = 0; w < output_dims->w; ++w) {
                for (int32_t c = 0; c < output_dims->c; ++c) {
                    const int32_t a = params->input1_offset +
                                      input1[n * s1[0] + h * s1[1] + w * s1[2] + c * s1[3]];
                    const int32_t b = params->input2_offset +
                                      input2[n * s2[0] + h * s2[1] + w * s2[2] + c * s2[3]];
                    int32_t v = params->output_offset +
                                tinyfl_multiply_by_quantized_multiplier(a * b, params->output_multiplier,
                                                                        params->output_shift);
                    v = tinyfl_clamp_i32(v, params->act_min, params->act_max);
                    *out++ = (int8_t)v;
                }
            }
        }
    }
    return TINYFL_OK;
}
