/* The trainable float32 dense head: z = W h + b, softmax cross-entropy, plain SGD.
 *
 * Parameters are one flat array, W row-major [n_classes][n_features] then b[n_classes]: the
 * same order as the wire's `params` and `values`. */
#ifndef TINYFL_HEAD_H
#define TINYFL_HEAD_H

#include <stddef.h>
#include <stdint.h>

#include "tinyfl_status.h"

typedef struct {
    uint16_t n_classes;
    uint16_t n_features;
    float *params; /* n_classes * (n_features + 1), owned by the caller */
} tinyfl_head;

static inline size_t tinyfl_head_param_count(uint16_t n_classes, uint16_t n_features)
{
    return (size_t)n_classes * ((size_t)n_features + 1u);
}

/* logits[n_classes] = W h + b */
void tinyfl_head_logits(const tinyfl_head *head, const float *features, float *logits);
/* argmax of the logits */
uint16_t tinyfl_head_predict(const tinyfl_head *head, const float *features, float *scratch_logits);

/* E epochs of mini-batch SGD over n samples in stored order; batches of `batch` samples (the
 * last one may be smaller); the gradient of the mean cross-entropy over the batch.
 * features: n * n_features floats; labels: n values < n_classes.
 * scratch: tinyfl_head_train_scratch_size() floats. */
size_t tinyfl_head_train_scratch_size(uint16_t n_classes, uint16_t n_features);
/* Compile-time bound of the same, for static buffers: gradients of W and b plus the logits. */
#define TINYFL_HEAD_TRAIN_SCRATCH(n_classes, n_features) ((n_classes) * ((n_features) + 2))
tinyfl_status tinyfl_head_train(tinyfl_head *head, const float *features, const uint8_t *labels,
                                size_t n, float lr, uint8_t epochs, uint8_t batch, float *scratch);

#endif /* TINYFL_HEAD_H */
