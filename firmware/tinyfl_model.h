/* The model a firmware image is built with: fills the backbone seam. Exactly one
 * implementation is linked: tinyfl_model_stats.c (fixed statistics extractor) or the C that
 * tinyfl.codegen generates from a .tflite backbone. */
#ifndef TINYFL_MODEL_H
#define TINYFL_MODEL_H

#include "tinyfl_backbone.h"

void tinyfl_model_backbone(tinyfl_backbone *bb);

#endif /* TINYFL_MODEL_H */
