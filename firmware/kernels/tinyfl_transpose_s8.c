/* TRANSPOSE, int8: output dimension k is input dimension perm[k] (4-D, leading ones padded). */
#include "tinyfl_kernels.h"

tinyfl_status tinyfl_transpose_s8(const int32_t input_dims[4], const int32_t perm[4],
                                  const int8_t *input, int8_t *output)
{
    int32_t in_stride[4], out_dims[4], step[4];
    uint32_t seen = 0u;
    in_stride[3] = 1;
    for (int k = 2; k >= 0; --k) {
        in_stride[k] = in_stride[k + 1] * input_dims[k + 1];
    }
    for (int k = 0; k < 4; ++k) {
        if (perm[k] < 0 || perm[k] > 3 || ((seen >> perm[k]) & 1u) != 0u) {
            return TINYFL_E_ARG;
        }
        seen |= 1u << perm[k];
        out_dims[k] = input_dims[perm[k]];
        step[k] = in_stride[perm[k]];
    }
    int8_t *out = output;
    for (int32_t a = 0; a < out_dims[0]; ++a) {
        for (int32_t b = 0; b < out_dims[1]; ++b) {
            for (int32_t c = 0; c < out_dims[2]; ++c) {
                const int8_t *row = input + a * step[0] + b * step[1] + c * step[2];
                for (int32_t d = 0; d < out_dims[3]; ++d) {
                    *out++ = row[d * step[3]];
                }
            }
        }
    }
    return TINYFL_OK;
}
