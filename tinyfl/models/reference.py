"""Reference Keras models: small enough to pretrain in seconds and to run on a Cortex-M4.

Both end in Dense(n_classes) on logits: that last layer is the head the devices train; all
layers before it form the frozen backbone. Every layer converts to an op that tinyfl.codegen
supports (Conv1D -> EXPAND_DIMS + CONV_2D + RESHAPE, GlobalAveragePooling -> MEAN, ...).
"""
from __future__ import annotations

from typing import Any

from ._tf import keras


def basic_motions_cnn(
    n_steps: int = 100,
    n_channels: int = 6,
    n_classes: int = 4,
    *,
    filters: tuple[int, int] = (16, 24),
    kernel_size: int = 5,
) -> Any:
    """1D CNN over time-major IMU windows (n_steps, n_channels); features = filters[1]."""
    layers = keras.layers
    inputs = keras.Input((n_steps, n_channels), name="window")
    x = layers.Conv1D(filters[0], kernel_size, activation="relu", name="conv1")(inputs)
    x = layers.MaxPooling1D(2, name="pool1")(x)
    x = layers.Conv1D(filters[1], kernel_size, strides=2, activation="relu", name="conv2")(x)
    x = layers.GlobalAveragePooling1D(name="features")(x)
    outputs = layers.Dense(n_classes, name="head")(x)
    return keras.Model(inputs, outputs, name="basic_motions_cnn")


def digits_cnn(n_classes: int = 10, *, filters: int = 8, features: int = 32) -> Any:
    """Small 2D CNN for 8x8x1 digits; features = `features` (a Dense + ReLU layer)."""
    layers = keras.layers
    inputs = keras.Input((8, 8, 1), name="image")
    x = layers.Conv2D(filters, 3, padding="same", activation="relu", name="conv1")(inputs)
    x = layers.MaxPooling2D(2, name="pool1")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(features, activation="relu", name="features")(x)
    outputs = layers.Dense(n_classes, name="head")(x)
    return keras.Model(inputs, outputs, name="digits_cnn")
