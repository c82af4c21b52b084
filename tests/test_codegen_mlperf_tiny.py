"""Whole classifiers shaped like the MLPerf Tiny reference models (scaled down so the reference
interpreter stays quick), converted the way users convert them: the batch dimension left open
(Keras' default), int8 input and output as the MLPerf Tiny .tflite files have, per-tensor Dense
weights for the autoencoder. Each generated model is bit-exact with the tflite-micro interpreter
on 224 inputs, reference and fast kernels."""
from __future__ import annotations

import numpy as np
import pytest

from codegen_helpers import MLPERF_TINY_MODELS, assert_bit_exact, mlperf_tiny_tflite
from tinyfl.codegen import generate, read_tflite

pytest.importorskip("tensorflow")

N_INPUTS = 224


@pytest.mark.parametrize("name", list(MLPERF_TINY_MODELS))
def test_mlperf_tiny_shaped_classifier_bit_exact(name: str) -> None:
    tflite = mlperf_tiny_tflite(name)
    model = read_tflite(tflite)
    ops = [op.op for op in model.operators]
    gen = generate(tflite, name=name)
    # What each conversion exercises: whole classifiers ending in SOFTMAX, open-batch shape
    # arithmetic (folded), int8 IO, per-tensor Dense weights.
    if name != "anomaly_autoencoder":
        assert {"SOFTMAX", "SHAPE", "STRIDED_SLICE", "PACK"} <= set(ops)
    int8_io = MLPERF_TINY_MODELS[name][1].get("int8_io", False)
    assert (model.tensors[model.inputs[0]].dtype == "INT8") == int8_io
    if name == "anomaly_autoencoder":
        fcs = [op for op in model.operators if op.op == "FULLY_CONNECTED"]
        assert len(fcs) == 6 and all(len(model.tensors[op.inputs[1]].scales) == 1 for op in fcs)
    shape = model.tensors[model.inputs[0]].shape[1:]
    rng = np.random.default_rng(4)
    x = rng.normal(0.0, 1.0, (N_INPUTS, *shape)).astype(np.float32)
    x[:32] *= 4.0
    assert assert_bit_exact(tflite, x, tag=f"mlperf_{name}") == N_INPUTS
    assert assert_bit_exact(tflite, x, tag=f"mlperf_{name}", optimized=True) == N_INPUTS
    assert gen.ram_bytes == gen.arena_bytes + 4 * (gen.input_len + gen.feature_len)
