/* A cheap sanity check of the global head a device receives. A malicious server can choose the
 * head to make inversion easier (PRIVACY_NOTES: an all-zero head gives exact label counts in
 * closed form; boosted biases and "trap" rows raise exact recovery for batches). The device's
 * noise is the protection; this refuses the blatant cases before any training. */
#ifndef TINYFL_GUARD_H
#define TINYFL_GUARD_H

#include <stdint.h>

#include "tinyfl_status.h"

typedef struct {
    float max_abs_bias;   /* any |b_c| above: refused */
    float max_abs_weight; /* any |W_cj| above: refused */
    float min_row_norm;   /* any row of W with a smaller L2 norm (zero / trap rows): refused */
} tinyfl_guard_limits;

/* Why a head was refused: the `detail` of the error message. */
typedef enum {
    TINYFL_GUARD_OK = 0,
    TINYFL_GUARD_ZERO_ROW = 1,
    TINYFL_GUARD_BIAS = 2,
    TINYFL_GUARD_WEIGHT = 3
} tinyfl_guard_reason;

/* params: W row-major [n_classes][n_features] then b. OK, or CRAFTED with *reason set. */
tinyfl_status tinyfl_guard_global_head(const float *params, uint16_t n_classes, uint16_t n_features,
                                       const tinyfl_guard_limits *limits, tinyfl_guard_reason *reason);

#endif /* TINYFL_GUARD_H */
