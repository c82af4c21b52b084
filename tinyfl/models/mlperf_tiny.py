"""The four MLPerf Tiny architectures as Keras builders, seeded and never downloaded: at full size
cut before their last Dense (the backbones bench/kernels_models.py measures, PERF_NOTES.md
"Whole models"), and small with their classifiers (the code generator's tests). TensorFlow is
imported when a builder runs, not when this module loads.

    backbone_tflite("resnet8")      # full size, float IO, cached
    classifier_tflite("resnet8")    # small, with its head, the batch left open, cached
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from .tflite_cache import convert_cached

__all__ = [
    "BACKBONES",
    "CLASSIFIERS",
    "anomaly_autoencoder",
    "backbone_tflite",
    "classifier_tflite",
    "kws_ds_cnn",
    "lively_statistics",
    "resnet8",
    "seeded_tflite",
    "vww_mobilenet_v1",
]


def _keras():
    from ._tf import keras

    return keras


def _bn_relu(k, x, relu6: bool = False):
    x = k.layers.BatchNormalization()(x)
    return k.layers.ReLU(6.0 if relu6 else None)(x)


def kws_ds_cnn(input_shape=(49, 10, 1), filters: int = 64, blocks: int = 4, classes: int | None = None):
    """KWS DS-CNN (MLPerf Tiny: 49x10 MFCC, 64 filters, four blocks): a strided 10x4 conv,
    depthwise-separable blocks, global average pool; with `classes`, dropout and a softmax Dense
    (else cut before it)."""
    k = _keras()
    inp = k.Input(input_shape)
    x = _bn_relu(k, k.layers.Conv2D(filters, (10, 4), strides=(2, 2), padding="same")(inp))
    for _ in range(blocks):
        x = _bn_relu(k, k.layers.DepthwiseConv2D(3, padding="same")(x))
        x = _bn_relu(k, k.layers.Conv2D(filters, 1)(x))
    if classes is not None:
        x = k.layers.Dropout(0.4)(x)
    x = k.layers.AveragePooling2D(pool_size=x.shape[1:3])(x)
    x = k.layers.Flatten()(x)
    if classes is not None:
        x = k.layers.Dense(classes, activation="softmax")(x)
    return k.Model(inp, x)


def anomaly_autoencoder(inputs: int = 640, units=(128, 128, 128, 128, 8, 128, 128, 128, 128),
                        reconstruct: bool = False):
    """AD autoencoder (MLPerf Tiny: 640 inputs): Dense + BatchNorm + ReLU down to a bottleneck and
    back; with `reconstruct`, the output Dense as wide as the input (else cut before it)."""
    k = _keras()
    inp = k.Input((inputs,))
    x = inp
    for n in units:
        x = _bn_relu(k, k.layers.Dense(n)(x))
    if reconstruct:
        x = k.layers.Dense(inputs)(x)
    return k.Model(inp, x)


def resnet8(input_shape=(32, 32, 3), filters=(16, 32, 64), classes: int | None = None):
    """ResNet-8 (MLPerf Tiny: 32x32x3, 16/32/64 filters): a stem, three residual stacks (ADD) with
    1x1 projection shortcuts, average pool; with `classes`, a softmax Dense (else cut before it)."""
    k = _keras()
    inp = k.Input(input_shape)
    x = _bn_relu(k, k.layers.Conv2D(filters[0], 3, padding="same")(inp))
    for n, stride in zip(filters, (1, 2, 2)):
        y = _bn_relu(k, k.layers.Conv2D(n, 3, strides=stride, padding="same")(x))
        y = k.layers.BatchNormalization()(k.layers.Conv2D(n, 3, padding="same")(y))
        if stride != 1:
            x = k.layers.Conv2D(n, 1, strides=stride)(x)
        x = k.layers.ReLU()(k.layers.Add()([x, y]))
    x = k.layers.AveragePooling2D(pool_size=x.shape[1:3])(x)
    x = k.layers.Flatten()(x)
    if classes is not None:
        x = k.layers.Dense(classes, activation="softmax")(x)
    return k.Model(inp, x)


def vww_mobilenet_v1(input_shape=(96, 96, 3), classes: int | None = None):
    """Visual wake words (MLPerf Tiny: 96x96x3): keras.applications' MobileNet alpha 0.25
    (ZeroPadding, ReLU6, depthwise-separable stack); without `classes` its global average pool,
    with them its own classifier (1x1 conv, Reshape, softmax)."""
    k = _keras()
    if classes is None:
        return k.applications.MobileNet(input_shape=input_shape, alpha=0.25, weights=None,
                                        include_top=False, pooling="avg")
    return k.applications.MobileNet(input_shape=input_shape, alpha=0.25, weights=None, classes=classes,
                                    dropout=0.0)


def lively_statistics(model: Any, rng: np.random.Generator) -> None:
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


BACKBONES: dict[str, Callable[[], Any]] = {
    "kws_ds_cnn": kws_ds_cnn,
    "anomaly_autoencoder": anomaly_autoencoder,
    "resnet8": resnet8,
    "vww_mobilenet_v1": vww_mobilenet_v1,
}

# name -> (builder, convert_cached options): small enough for the codegen tests' host runs.
CLASSIFIERS: dict[str, tuple[Callable[[], Any], dict[str, bool]]] = {
    "kws_ds_cnn": (lambda: kws_ds_cnn((25, 10, 1), filters=16, blocks=2, classes=12), {"int8_io": True}),
    "anomaly_autoencoder": (lambda: anomaly_autoencoder(64, (32, 32, 8, 32, 32), reconstruct=True),
                            {"per_tensor_dense": True}),
    "resnet8": (lambda: resnet8((16, 16, 3), filters=(8, 16, 32), classes=10), {}),
    "vww_mobilenet_v1": (lambda: vww_mobilenet_v1((32, 32, 3), classes=2), {"int8_io": True}),
}


def seeded_tflite(build: Callable[[], Any], calibration: int, **options: bool) -> bytes:
    """build() under seed 3, lively statistics, converted with `calibration` normal samples."""
    from .train import set_seed

    set_seed(3)
    model = build()
    rng = np.random.default_rng(3)
    lively_statistics(model, rng)
    shape = tuple(model.input_shape[1:])
    return convert_cached(model, rng.normal(0.0, 1.0, (calibration, *shape)), **options)


def backbone_tflite(name: str) -> bytes:
    """The named full-size backbone, float IO (cached)."""
    return seeded_tflite(BACKBONES[name], 32)


def classifier_tflite(name: str) -> bytes:
    """The named small classifier, converted with the batch left open (cached)."""
    build, options = CLASSIFIERS[name]
    return seeded_tflite(build, 48, open_batch=True, **options)
