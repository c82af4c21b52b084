"""Full-integer int8 conversion of the backbone with the TFLite converter.

Decision (see docs/models.md): the backbone keeps FLOAT input and output; the converter adds a
QUANTIZE op at the start and a DEQUANTIZE op at the end. The device hands the raw float window
in tinyfl's layout and receives float features, and the input quantization is part of the
model, so it is checked bit for bit against TFLM together with everything else.
"""
from __future__ import annotations

import contextlib
import io
import warnings
from typing import Any, Iterator

import numpy as np

from ._tf import keras, tf


def convert_int8(backbone: Any, representative: np.ndarray, *, max_samples: int = 200) -> bytes:
    """int8 weights and activations; per-channel conv weights; float32 IO."""
    samples = np.ascontiguousarray(representative[:max_samples], dtype=np.float32)
    if len(samples) == 0:
        raise ValueError("the representative dataset is empty")

    def gen() -> Iterator[list[np.ndarray]]:
        for s in samples:
            yield [s[None, ...]]

    # A batch of exactly 1 (what the device runs) lets the converter fold shape computations,
    # e.g. Keras' Flatten becomes one RESHAPE instead of SHAPE/STRIDED_SLICE/PACK.
    fixed_input = keras.Input(batch_shape=(1, *samples.shape[1:]), name="window")
    fixed = keras.Model(fixed_input, backbone(fixed_input), name=backbone.name)
    converter = tf.lite.TFLiteConverter.from_keras_model(fixed)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = gen
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    # The converter prints progress on stdout; keep stdout clean for CLI JSON output.
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        # "Statistics for quantized inputs were expected": expected with float IO.
        warnings.filterwarnings("ignore", message="Statistics for quantized inputs")
        return bytes(converter.convert())


def convert_float(model: Any) -> bytes:
    """Plain float32 .tflite (for reference comparisons)."""
    with contextlib.redirect_stdout(io.StringIO()):
        return bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())
