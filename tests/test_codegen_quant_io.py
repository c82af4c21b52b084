"""Per-tensor FULLY_CONNECTED, int8-input/output models and int8 -> int8 requantization, bit-exact
with the tflite-micro interpreter. Hand-made models (tests/codegen_helpers.TfliteBuilder) pin the
quantization parameters exactly; converter-made ones show real .tflite files behave the same."""
from __future__ import annotations

import numpy as np
import pytest

from codegen_helpers import TfliteBuilder, assert_bit_exact, convert_cached
from tinyfl.codegen import generate, quant, read_tflite

N_RANDOM = 256


def _mbqm(acc: np.ndarray, multiplier: int, shift: int) -> np.ndarray:
    """TFLM MultiplyByQuantizedMultiplier (double rounding) on int64 arrays, shift <= 0."""
    ab = acc.astype(np.int64) * multiplier
    nudged = ab + np.where(ab >= 0, 1 << 30, 1 - (1 << 30))
    high = np.sign(nudged) * (np.abs(nudged) >> 31)
    right = -shift
    mask = (1 << right) - 1
    threshold = (mask >> 1) + (high < 0)
    return (high >> right) + ((high & mask) > threshold)


def _float32_product_multiplier(si: float, sw: float, so: float) -> tuple[int, int]:
    """The multiplier older TFLM computed (scale product in float32): what the fix replaced."""
    return quant.quantize_multiplier(float(np.float32(si) * np.float32(sw)) / so)


def _sensitive_scales() -> tuple[float, float, float, np.ndarray]:
    """Scales whose float32 and double scale products give different multipliers, and in-range
    accumulators on which the two requantize to different int8 outputs."""
    rng = np.random.default_rng(1)
    best = None
    for _ in range(4000):
        si, sw = (float(np.float32(v)) for v in rng.uniform(0.001, 0.05, 2))
        so = float(np.float32(si * sw * rng.uniform(5000, 20000)))
        gap = abs(_float32_product_multiplier(si, sw, so)[0] - quant.quantize_multiplier(si * sw / so)[0])
        if best is None or gap > best[0]:
            best = (gap, si, sw, so)
    _, si, sw, so = best
    old = _float32_product_multiplier(si, sw, so)
    new = quant.quantize_multiplier(si * sw / so)  # double product, as the interpreter
    limit = int(120 / (si * sw / so))
    accs = np.arange(-limit, limit, dtype=np.int64)
    differ = accs[_mbqm(accs, *old) != _mbqm(accs, *new)]
    return si, sw, so, differ


def test_fc_per_tensor_multiplier_takes_the_scale_product_in_double() -> None:
    si, sw, so, _ = _sensitive_scales()
    assert quant.fc_per_tensor_multiplier(si, sw, so) == quant.quantize_multiplier(si * sw / so)
    assert quant.fc_per_tensor_multiplier(si, sw, so) != _float32_product_multiplier(si, sw, so)


def _per_tensor_fc_model(biases: np.ndarray, si: float, sw: float, so: float, in_f: int, seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    b = TfliteBuilder()
    x = b.tensor([1, in_f], "INT8", si, 3, name="x")
    w = b.tensor([len(biases), in_f], "INT8", sw, 0, data=rng.integers(-127, 128, (len(biases), in_f)))
    bias = b.tensor([len(biases)], "INT32", float(np.float32(si) * np.float32(sw)), 0, data=biases)
    y = b.tensor([1, len(biases)], "INT8", so, -5, name="y")
    b.op("FULLY_CONNECTED", [x, w, bias], [y], b.options("FullyConnected"))
    return b.finish([x], [y])


def test_per_tensor_dense_on_accumulators_where_float32_and_double_differ() -> None:
    """Biases are accumulators on which the old float32-product multiplier is one step off; an
    input at the zero point makes each output's accumulator exactly its bias."""
    si, sw, so, differ = _sensitive_scales()
    assert len(differ) >= 8, "no sensitive accumulators: the test would not catch the bug"
    biases = differ[:16]
    tflite = _per_tensor_fc_model(biases, si, sw, so, in_f=8, seed=2)
    assert len(read_tflite(tflite).tensors[1].scales) == 1
    x = np.zeros((1 + N_RANDOM, 8), dtype=np.float32)  # row 0: the zero point (3) -> 0.0
    x[1:] = np.random.default_rng(3).normal(0.0, 3.0, (N_RANDOM, 8)) * np.float32(si)
    assert assert_bit_exact(tflite, x, tag="fc_per_tensor_crafted") == 1 + N_RANDOM
    assert assert_bit_exact(tflite, x, tag="fc_per_tensor_crafted", optimized=True) == 1 + N_RANDOM


def _keras():
    pytest.importorskip("tensorflow")
    from tinyfl.models._tf import keras

    return keras


def _random_weights(model, rng: np.random.Generator) -> None:
    for layer in model.layers:
        ws = layer.get_weights()
        if ws:
            layer.set_weights([rng.normal(0.0, 0.4, w.shape).astype(np.float32) for w in ws])


@pytest.mark.parametrize("seed", [0, 1])
def test_per_tensor_dense_from_the_converter(seed: int) -> None:
    k = _keras()
    rng = np.random.default_rng(seed)
    inp = k.Input((int(rng.integers(8, 40)),))
    x = k.layers.Dense(int(rng.integers(8, 32)), activation="relu")(inp)
    out = k.layers.Dense(int(rng.integers(4, 16)))(x)
    model = k.Model(inp, out)
    _random_weights(model, rng)
    shape = model.input_shape[1:]
    tflite = convert_cached(model, rng.normal(0.0, 1.0, (64, *shape)), per_tensor_dense=True)
    fcs = [op for op in read_tflite(tflite).operators if op.op == "FULLY_CONNECTED"]
    assert len(fcs) == 2
    assert all(len(read_tflite(tflite).tensors[op.inputs[1]].scales) == 1 for op in fcs)
    x = rng.normal(0.0, 1.5, (N_RANDOM, *shape)).astype(np.float32)
    assert assert_bit_exact(tflite, x, tag=f"fc_per_tensor_{seed}") == N_RANDOM
    assert assert_bit_exact(tflite, x, tag=f"fc_per_tensor_{seed}", optimized=True) == N_RANDOM


@pytest.mark.parametrize("kind", ["dense", "conv"])
def test_int8_input_and_output_models(kind: str) -> None:
    """inference_input_type/output_type int8: no QUANTIZE/DEQUANTIZE ops in the model; the
    generated C quantizes the window and dequantizes the features with the model's parameters."""
    k = _keras()
    rng = np.random.default_rng(5 if kind == "dense" else 6)
    if kind == "dense":
        inp = k.Input((24,))
        out = k.layers.Dense(12, activation="relu6")(inp)
    else:
        inp = k.Input((9, 7, 2))
        x = k.layers.Conv2D(6, 3, padding="same", activation="relu")(inp)
        out = k.layers.GlobalAveragePooling2D()(x)
    model = k.Model(inp, out)
    _random_weights(model, rng)
    shape = model.input_shape[1:]
    tflite = convert_cached(model, rng.normal(0.0, 1.0, (64, *shape)), int8_io=True)
    m = read_tflite(tflite)
    assert m.tensors[m.inputs[0]].dtype == "INT8" and m.tensors[m.outputs[0]].dtype == "INT8"
    assert not {"QUANTIZE", "DEQUANTIZE"} & {op.op for op in m.operators}
    x = rng.normal(0.0, 1.0, (N_RANDOM, *shape)).astype(np.float32)
    x[:32] *= 6.0  # saturating windows
    assert assert_bit_exact(tflite, x, tag=f"int8_io_{kind}") == N_RANDOM
    assert assert_bit_exact(tflite, x, tag=f"int8_io_{kind}", optimized=True) == N_RANDOM


def _requantize_model(in_scale: float, in_zp: int, out_scale: float, out_zp: int, n: int) -> bytes:
    b = TfliteBuilder()
    x = b.tensor([1, n], "INT8", in_scale, in_zp)
    y = b.tensor([1, n], "INT8", out_scale, out_zp)
    b.op("QUANTIZE", [x], [y])
    return b.finish([x], [y])


@pytest.mark.parametrize("in_scale,in_zp,out_scale,out_zp", [
    (0.05, 7, 0.031, -20),   # finer output grid: some inputs saturate
    (0.02, -100, 0.09, 33),  # coarser: many inputs share an output
    (0.5, 0, 0.5, 1),        # same scale, shifted zero point
    (0.013, 127, 0.0041, -128),
])
def test_int8_to_int8_requantize(in_scale, in_zp, out_scale, out_zp) -> None:
    tflite = _requantize_model(in_scale, in_zp, out_scale, out_zp, 256)
    gen = generate(tflite)
    assert "tinyfl_requantize_s8" in gen.c_source
    # Every int8 input value, in every position, then random rows.
    q = (np.arange(256)[None, :] + np.arange(2)[:, None] * 97) % 256 - 128
    rng = np.random.default_rng(9)
    q = np.concatenate([q, rng.integers(-128, 128, (254, 256))])
    x = ((q - in_zp) * np.float32(in_scale)).astype(np.float32)
    assert assert_bit_exact(tflite, x, tag="requantize") == 256
