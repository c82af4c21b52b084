"""Whole classifiers shaped like the MLPerf Tiny reference models (scaled down so the reference
interpreter stays quick), converted the way users convert them: the batch dimension left open
(Keras' default), int8 input and output as the MLPerf Tiny .tflite files have, per-tensor Dense
weights for the autoencoder. Each generated model is bit-exact with the tflite-micro interpreter
on 224 inputs, reference and fast kernels."""
from __future__ import annotations

import numpy as np
import pytest

from codegen_helpers import assert_bit_exact, convert_cached
from tinyfl.codegen import generate, read_tflite

pytest.importorskip("tensorflow")

N_INPUTS = 224


def _k():
    from tinyfl.models._tf import keras

    return keras


def _bn_relu(k, x, relu6: bool = False):
    x = k.layers.BatchNormalization()(x)
    return k.layers.ReLU(6.0 if relu6 else None)(x)


def kws_ds_cnn():
    """KWS DS-CNN: strided conv, depthwise-separable blocks, average pool, Dense + softmax."""
    k = _k()
    inp = k.Input((25, 10, 1))
    x = _bn_relu(k, k.layers.Conv2D(16, (10, 4), strides=(2, 2), padding="same")(inp))
    for _ in range(2):
        x = _bn_relu(k, k.layers.DepthwiseConv2D(3, padding="same")(x))
        x = _bn_relu(k, k.layers.Conv2D(16, 1)(x))
    x = k.layers.Dropout(0.4)(x)
    x = k.layers.AveragePooling2D(pool_size=x.shape[1:3])(x)
    x = k.layers.Flatten()(x)
    return k.Model(inp, k.layers.Dense(12, activation="softmax")(x))


def anomaly_autoencoder():
    """AD autoencoder: Dense + BatchNorm + ReLU down to a bottleneck and back."""
    k = _k()
    inp = k.Input((64,))
    x = inp
    for units in (32, 32, 8, 32, 32):
        x = _bn_relu(k, k.layers.Dense(units)(x))
    return k.Model(inp, k.layers.Dense(64)(x))


def resnet8():
    """ResNet-8: three residual stacks (ADD), 1x1 projection shortcuts, average pool, softmax."""
    k = _k()
    inp = k.Input((16, 16, 3))
    x = _bn_relu(k, k.layers.Conv2D(8, 3, padding="same")(inp))
    for filters, stride in ((8, 1), (16, 2), (32, 2)):
        y = _bn_relu(k, k.layers.Conv2D(filters, 3, strides=stride, padding="same")(x))
        y = k.layers.BatchNormalization()(k.layers.Conv2D(filters, 3, padding="same")(y))
        if stride != 1:
            x = k.layers.Conv2D(filters, 1, strides=stride)(x)
        x = k.layers.ReLU()(k.layers.Add()([x, y]))
    x = k.layers.AveragePooling2D(pool_size=x.shape[1:3])(x)
    x = k.layers.Flatten()(x)
    return k.Model(inp, k.layers.Dense(10, activation="softmax")(x))


def vww_mobilenet_v1():
    """Visual wake words: keras.applications MobileNet alpha 0.25 (ZeroPadding, ReLU6,
    depthwise-separable stack, global average pool, 1x1 conv classifier, Reshape, softmax)."""
    k = _k()
    return k.applications.MobileNet(input_shape=(32, 32, 3), alpha=0.25, weights=None, classes=2,
                                    dropout=0.0)


def _lively(model, rng: np.random.Generator) -> None:
    """Trained-looking BatchNorm statistics and small biases: with the untrained defaults the
    deep ReLU stacks can go silent and calibrate degenerate (constant) activations."""
    for layer in model.layers:
        ws = layer.get_weights()
        if type(layer).__name__ == "BatchNormalization":
            gamma, beta, mean, var = ws
            layer.set_weights([rng.uniform(0.8, 1.2, gamma.shape), rng.uniform(0.0, 0.3, beta.shape),
                               rng.normal(0.0, 0.1, mean.shape), rng.uniform(0.5, 1.5, var.shape)])
        elif ws and ws[-1].ndim == 1 and len(ws) == 2:
            layer.set_weights([ws[0], rng.normal(0.0, 0.1, ws[1].shape).astype(np.float32)])


MODELS = {
    "kws_ds_cnn": (kws_ds_cnn, {"int8_io": True}),
    "anomaly_autoencoder": (anomaly_autoencoder, {"per_tensor_dense": True}),
    "resnet8": (resnet8, {}),
    "vww_mobilenet_v1": (vww_mobilenet_v1, {"int8_io": True}),
}


@pytest.mark.parametrize("name", list(MODELS))
def test_mlperf_tiny_shaped_classifier_bit_exact(name: str) -> None:
    from tinyfl.models.train import set_seed

    build, options = MODELS[name]
    set_seed(3)
    model = build()
    rng = np.random.default_rng(3)
    _lively(model, rng)
    shape = tuple(model.input_shape[1:])
    tflite = convert_cached(model, rng.normal(0.0, 1.0, (48, *shape)), open_batch=True, **options)
    ops = [op.op for op in read_tflite(tflite).operators]
    gen = generate(tflite, name=name)
    if name != "anomaly_autoencoder":
        assert "SOFTMAX" in ops  # the whole classifier, not only its backbone
    x = rng.normal(0.0, 1.0, (N_INPUTS, *shape)).astype(np.float32)
    x[:32] *= 4.0
    assert assert_bit_exact(tflite, x, tag=f"mlperf_{name}") == N_INPUTS
    assert assert_bit_exact(tflite, x, tag=f"mlperf_{name}", optimized=True) == N_INPUTS
    assert gen.ram_bytes == gen.arena_bytes + 4 * (gen.input_len + gen.feature_len)
