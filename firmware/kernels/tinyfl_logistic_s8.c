/* LOGISTIC, int8 -> int8 (TFLM reference): inputs beyond the radius saturate; the rest go to Q4.27
 * and through gemmlowp's fixed-point logistic; output scale 1/256, zero point -128. */
#include "tinyfl_fixedpoint.h"
#include "tinyfl_kernels.h"

tinyfl_status tinyfl_logistic_s8(size_t count, const int8_t *input, int32_t input_zero_point,
                                 int32_t input_range_radius, int32_t input_multiplier,
                                 int32_t input_left_shift, int8_t *output)
{
    for (size_t i = 0; i < count; ++i) {
        const int32_t x = (int32_t)input[i] - input_zero_point;
        int32_t v;
        if (x <= -input_range_radius) {
            v = INT8_MIN;
        } else if (x >= input_range_radius) {
            v = INT8_MAX;
        } else {
            /* Inside the radius, x * 2^left_shift fits in int32 (left_shift <= 31 then). */
            const int32_t q4 = tinyfl_multiply_by_quantized_multiplier(x, input_multiplier,
                                                                       input_left_shift);
            v = tinyfl_rounding_divide_by_pot(tinyfl_fp_logistic(q4, 4), 31 - 8) + INT8_MIN;
            v = tinyfl_clamp_i32(v, INT8_MIN, INT8_MAX);
        }
        output[i] = (int8_t)v;
    }
    return TINYFL_OK;
}
