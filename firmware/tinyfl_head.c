/* Float32 dense head with softmax cross-entropy and plain mini-batch SGD.
 *
 * The order of every float operation is part of the contract: tinyfl/device_model/head.py
 * repeats it (sequential sums, no fused multiply-add: -std=c99 keeps -ffp-contract=off). */
#include "tinyfl_head.h"

#include <math.h>

void tinyfl_head_logits(const tinyfl_head *head, const float *features, float *logits)
{
    const size_t n_features = head->n_features;
    const float *w = head->params;
    const float *b = head->params + (size_t)head->n_classes * n_features;
    size_t c;
    size_t f;
    for (c = 0; c < head->n_classes; c++) {
        float acc = b[c];
        const float *row = w + c * n_features;
        for (f = 0; f < n_features; f++) {
            acc += row[f] * features[f];
        }
        logits[c] = acc;
    }
}

uint16_t tinyfl_head_predict(const tinyfl_head *head, const float *features, float *scratch_logits)
{
    uint16_t best = 0;
    uint16_t c;
    tinyfl_head_logits(head, features, scratch_logits);
    for (c = 1; c < head->n_classes; c++) {
        if (scratch_logits[c] > scratch_logits[best]) {
            best = c;
        }
    }
    return best;
}

size_t tinyfl_head_train_scratch_size(uint16_t n_classes, uint16_t n_features)
{
    return (size_t)TINYFL_HEAD_TRAIN_SCRATCH((size_t)n_classes, (size_t)n_features);
}

/* probs[c] = softmax(logits)[c] - onehot(label)[c], in place */
static void tinyfl_softmax_minus_onehot(float *z, size_t n_classes, uint8_t label)
{
    float max = z[0];
    float sum = 0.0f;
    size_t c;
    for (c = 1; c < n_classes; c++) {
        if (z[c] > max) {
            max = z[c];
        }
    }
    for (c = 0; c < n_classes; c++) {
        z[c] = expf(z[c] - max);
        sum += z[c];
    }
    for (c = 0; c < n_classes; c++) {
        z[c] = z[c] / sum;
    }
    z[label] -= 1.0f;
}

tinyfl_status tinyfl_head_train(tinyfl_head *head, const float *features, const uint8_t *labels,
                                size_t n, float lr, uint8_t epochs, uint8_t batch, float *scratch)
{
    size_t n_classes;
    size_t n_features;
    size_t n_params;
    float *grad;  /* same layout as params: dW then db, summed over the batch */
    float *delta; /* softmax - onehot of one sample */
    size_t i;
    uint8_t epoch;

    if (head == NULL || head->params == NULL || head->n_classes < 1u || head->n_features < 1u ||
        batch == 0u || scratch == NULL || (n > 0u && (features == NULL || labels == NULL))) {
        return TINYFL_E_ARG;
    }
    if (!(lr >= 0.0f) || isinf(lr)) {
        return TINYFL_E_ARG;
    }
    n_classes = head->n_classes;
    n_features = head->n_features;
    n_params = tinyfl_head_param_count(head->n_classes, head->n_features);
    for (i = 0; i < n; i++) {
        if (labels[i] >= n_classes) {
            return TINYFL_E_VALUE;
        }
    }
    grad = scratch;
    delta = scratch + n_params;

    for (epoch = 0; epoch < epochs; epoch++) {
        size_t start;
        for (start = 0; start < n; start += batch) {
            size_t stop = (n - start < batch) ? n : start + batch;
            float *gb = grad + n_classes * n_features;
            float scale;
            size_t j;
            for (j = 0; j < n_params; j++) {
                grad[j] = 0.0f;
            }
            for (i = start; i < stop; i++) {
                const float *h = features + i * n_features;
                size_t c;
                tinyfl_head_logits(head, h, delta);
                tinyfl_softmax_minus_onehot(delta, n_classes, labels[i]);
                for (c = 0; c < n_classes; c++) {
                    float *gw = grad + c * n_features;
                    size_t f;
                    for (f = 0; f < n_features; f++) {
                        gw[f] += delta[c] * h[f];
                    }
                    gb[c] += delta[c];
                }
            }
            /* mean over the batch folded into the step size */
            scale = lr / (float)(stop - start);
            for (j = 0; j < n_params; j++) {
                head->params[j] -= scale * grad[j];
            }
        }
    }
    /* the gradients are a function of the samples: do not leave them behind */
    for (i = 0; i < n_params + n_classes; i++) {
        scratch[i] = 0.0f;
    }
    return TINYFL_OK;
}
