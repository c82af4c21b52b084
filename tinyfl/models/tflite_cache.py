"""Full-int8 conversion of any Keras model, cached in the build folder, for benchmarks and tests
that convert the same seeded models again and again. TensorFlow is imported when a conversion
runs, not when this module loads."""
from __future__ import annotations

import os
from typing import Any

import numpy as np

__all__ = ["convert_cached"]


def convert_cached(model: Any, representative: np.ndarray, *, int8_io: bool = False,
                   open_batch: bool = False, per_tensor_dense: bool = False) -> bytes:
    """Full-int8 conversion of a Keras model, cached in the build folder by everything that
    determines the result (architecture, weights, calibration data, options, TF version), so a
    rerun costs no converter time. open_batch keeps the batch dimension unknown (the Keras
    default, which makes shape arithmetic ops); per_tensor_dense gives every Dense one weight
    scale (older converters, many published .tflite files); int8_io: int8 input and output."""
    import contextlib
    import io
    import warnings

    from ..toolchain import cached_output
    from ._tf import keras, tf

    samples = np.ascontiguousarray(representative, dtype=np.float32)
    key = [model.to_json(), samples.tobytes(), tf.__version__,
           repr((int8_io, open_batch, per_tensor_dense))]
    key += [w.tobytes() for w in model.get_weights()]
    path = cached_output("tflite", key, ".tflite")
    if path.exists():
        return path.read_bytes()
    if not open_batch:
        fixed_input = keras.Input(batch_shape=(1, *samples.shape[1:]))
        model = keras.Model(fixed_input, model(fixed_input))
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([s[None, ...]] for s in samples)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    if int8_io:
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    if per_tensor_dense:
        converter._experimental_disable_per_channel_quantization_for_dense_layers = True
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.filterwarnings("ignore")
        tflite = bytes(converter.convert())
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")  # concurrent runs never share a partial file
    tmp.write_bytes(tflite)
    tmp.replace(path)
    return tflite
