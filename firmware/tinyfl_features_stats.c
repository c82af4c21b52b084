/* Per-channel mean, standard deviation, minimum and maximum of a sensor window.
 *
 * Window layout: time-major, channels interleaved (window[step * n_channels + channel]), as an
 * IMU FIFO delivers it. Output for channel c: features[4c..4c+3] = mean, std (population),
 * min, max. tinyfl/device_model/features.py repeats the same float operations. */
#include "tinyfl_features_stats.h"

#include <math.h>

/* CRC-32 of "tinyfl_features_stats": names the extractor in hello's model_hash. */
#define TINYFL_FEATURES_STATS_HASH 0x8f7d7842u

static tinyfl_status tinyfl_features_stats_extract(const tinyfl_backbone *bb, const float *window,
                                                   float *features)
{
    const tinyfl_features_stats_shape *shape;
    size_t n_channels;
    size_t n_steps;
    size_t c;
    if (bb == NULL || bb->state == NULL || window == NULL || features == NULL) {
        return TINYFL_E_ARG;
    }
    shape = (const tinyfl_features_stats_shape *)bb->state;
    n_channels = shape->n_channels;
    n_steps = shape->n_steps;
    if (n_channels == 0u || n_steps == 0u) {
        return TINYFL_E_ARG;
    }
    for (c = 0; c < n_channels; c++) {
        float sum = 0.0f;
        float sq = 0.0f;
        float lo = window[c];
        float hi = window[c];
        float mean;
        size_t s;
        for (s = 0; s < n_steps; s++) {
            sum += window[s * n_channels + c];
        }
        mean = sum / (float)n_steps;
        for (s = 0; s < n_steps; s++) {
            const float x = window[s * n_channels + c];
            const float d = x - mean;
            sq += d * d;
            lo = x < lo ? x : lo;
            hi = x > hi ? x : hi;
        }
        features[4u * c + 0u] = mean;
        features[4u * c + 1u] = sqrtf(sq / (float)n_steps);
        features[4u * c + 2u] = lo;
        features[4u * c + 3u] = hi;
    }
    return TINYFL_OK;
}

void tinyfl_features_stats_init(tinyfl_backbone *bb, tinyfl_features_stats_shape *shape)
{
    bb->input_len = (uint16_t)(shape->n_channels * shape->n_steps);
    bb->feature_len = (uint16_t)(4u * shape->n_channels);
    bb->model_hash = TINYFL_FEATURES_STATS_HASH;
    bb->extract = tinyfl_features_stats_extract;
    bb->state = shape;
}
