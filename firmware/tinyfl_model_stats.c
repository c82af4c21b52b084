/* The model of a firmware image built without a generated backbone: the fixed statistics
 * extractor over a window of TINYFL_INPUT_CHANNELS x TINYFL_INPUT_STEPS (tinyfl_config.h). */
#include "tinyfl_config.h"
#include "tinyfl_features_stats.h"
#include "tinyfl_model.h"

#if TINYFL_INPUT_CHANNELS * TINYFL_INPUT_STEPS > 65535
#error "window too long for tinyfl_backbone.input_len"
#endif

/* Read-only after initialisation: the shape is compile-time configuration, not state. */
static tinyfl_features_stats_shape tinyfl_model_stats_shape = {TINYFL_INPUT_CHANNELS,
                                                              TINYFL_INPUT_STEPS};

void tinyfl_model_backbone(tinyfl_backbone *bb)
{
    tinyfl_features_stats_init(bb, &tinyfl_model_stats_shape);
}
