/* PAD, int8 (TFLM reference): the output filled with the zero point (real 0), the input copied
 * at its leading offsets. Shapes are 4-D; pads[k] = {before, after} of dimension k. */
#include <string.h>

#include "tinyfl_kernels.h"

tinyfl_status tinyfl_pad_s8(const tinyfl_dims *input_dims, const int8_t *input,
                            const int32_t pads[4][2], int8_t pad_value,
                            const tinyfl_dims *output_dims, int8_t *output)
{
    const int32_t in[4] = {input_dims->n, input_dims->h, input_dims->w, input_dims->c};
    const int32_t out[4] = {output_dims->n, output_dims->h, output_dims->w, output_dims->c};
    for (int k = 0; k < 4; ++k) {
        if (pads[k][0] < 0 || pads[k][1] < 0 || in[k] + pads[k][0] + pads[k][1] != out[k]) {
            return TINYFL_E_ARG;
        }
    }
    memset(output, pad_value, (size_t)out[0] * (size_t)out[1] * (size_t)out[2] * (size_t)out[3]);
    const int8_t *src = input;
    for (int32_t n = 0; n < in[0]; ++n) {
        for (int32_t h = 0; h < in[1]; ++h) {
            for (int32_t w = 0; w < in[2]; ++w) {
                const int32_t on = n + pads[0][0], oh = h + pads[1][0], ow = w + pads[2][0];
                memcpy(output + (((size_t)on * out[1] + oh) * out[2] + ow) * out[3] + pads[3][0],
                       src, (size_t)in[3]);
                src += in[3];
            }
        }
    }
    return TINYFL_OK;
}
