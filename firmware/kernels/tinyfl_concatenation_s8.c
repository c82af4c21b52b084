/* CONCATENATION, int8: every input shares the output's scale and zero point (TFLM requires it),
 * so this is a copy. Each input holds outer x axis_sizes[i] x inner values. */
#include <string.h>

#include "tinyfl_kernels.h"

tinyfl_status tinyfl_concatenation_s8(size_t n_inputs, const int8_t *const *inputs,
                                      const int32_t *axis_sizes, int32_t outer, int32_t inner,
                                      int8_t *output)
{
    if (n_inputs == 0u || outer < 1 || inner < 1) {
        return TINYFL_E_ARG;
    }
    int8_t *out = output;
    for (int32_t o = 0; o < outer; ++o) {
        for (size_t i = 0; i < n_inputs; ++i) {
            const size_t run = (size_t)axis_sizes[i] * (size_t)inner;
            memcpy(out, inputs[i] + (size_t)o * run, run);
            out += run;
        }
    }
    return TINYFL_OK;
}
