/* A fixed (not learned) feature extractor behind the backbone seam, used until the generated
 * int8 backbone lands: for a window of n_steps x n_channels (time-major, channels interleaved:
 * window[step * n_channels + channel]), per channel the mean, standard deviation (population),
 * minimum and maximum -> features[4 * channel + 0..3], 4 * n_channels features. */
#ifndef TINYFL_FEATURES_STATS_H
#define TINYFL_FEATURES_STATS_H

#include "tinyfl_backbone.h"

typedef struct {
    uint16_t n_channels;
    uint16_t n_steps;
} tinyfl_features_stats_shape;

/* bb->state must point to a tinyfl_features_stats_shape that outlives bb. */
void tinyfl_features_stats_init(tinyfl_backbone *bb, tinyfl_features_stats_shape *shape);

#endif /* TINYFL_FEATURES_STATS_H */
