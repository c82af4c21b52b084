/* ctypes entry point for the statistics model (firmware/tinyfl_model_stats.c). */
#include "tinyfl_model.h"

tinyfl_status tinyfl_test_model_extract(const float *window, float *features, uint16_t *input_len,
                                        uint16_t *feature_len, uint32_t *model_hash)
{
    tinyfl_backbone bb;
    tinyfl_model_backbone(&bb);
    *input_len = bb.input_len;
    *feature_len = bb.feature_len;
    *model_hash = bb.model_hash;
    return bb.extract(&bb, window, features);
}
