#include "tinyfl_guard.h"

#include <math.h>

tinyfl_status tinyfl_guard_global_head(const float *params, uint16_t n_classes, uint16_t n_features,
                                       const tinyfl_guard_limits *limits, tinyfl_guard_reason *reason)
{
    *reason = TINYFL_GUARD_OK;
    for (uint16_t c = 0; c < n_classes; c++) {
        const float *row = &params[(uint32_t)c * n_features];
        float norm2 = 0.0f;
        for (uint16_t j = 0; j < n_features; j++) {
            if (!(fabsf(row[j]) <= limits->max_abs_weight)) {
                *reason = TINYFL_GUARD_WEIGHT;
                return TINYFL_E_CRAFTED;
            }
            norm2 += row[j] * row[j];
        }
        if (!(norm2 >= limits->min_row_norm * limits->min_row_norm)) {
            *reason = TINYFL_GUARD_ZERO_ROW;
            return TINYFL_E_CRAFTED;
        }
    }
    const float *bias = &params[(uint32_t)n_classes * n_features];
    for (uint16_t c = 0; c < n_classes; c++) {
        if (!(fabsf(bias[c]) <= limits->max_abs_bias)) {
            *reason = TINYFL_GUARD_BIAS;
            return TINYFL_E_CRAFTED;
        }
    }
    return TINYFL_OK;
}
