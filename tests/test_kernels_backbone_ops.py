"""The ops MLPerf-Tiny-style backbones and whole classifiers need beyond convolutions: SOFTMAX,
LOGISTIC, MUL, CONCATENATION, PAD, REDUCE_MAX, SQUEEZE, HARD_SWISH, TRANSPOSE. Each through
generated C, bit-exact with the tflite-micro interpreter on >= 200 random inputs per model:
hand-made models with random quantization (TfliteBuilder) and converter-made Keras models.
The Cortex-M4 build of the same ops runs in QEMU in test_codegen_qemu.py."""
from __future__ import annotations

import numpy as np
import pytest

from codegen_helpers import (
    TfliteBuilder,
    assert_bit_exact,
    backbone_ops_chain,
    convert_cached,
    reference_outputs,
)
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


def test_softmax_refuses_degenerate_logit_scales() -> None:
    """Logits calibrated to a near-constant range (a silent network): TFLM aborts in Prepare
    (QuantizeMultiplierGreaterThanOne); the generator says why instead."""
    b = TfliteBuilder()
    x = b.tensor([1, 8], "INT8", 1e-9, 0)
    y = b.tensor([1, 8], "INT8", 1.0 / 256, -128)
    b.op("SOFTMAX", [x], [y], b.options("Softmax", beta=1.0))
    with pytest.raises(UnsupportedModelError, match=r"op #0 SOFTMAX .*is not > 1"):
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



# --- hand-made single-op models with random quantization --------------------------------------

class OneOp:
    """A model around one op under test: the window x (int8, random quantization) and operands
    derived from it (a requantized copy, a MEAN over some axes) or constant, then the op."""

    def __init__(self, shape, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.b = TfliteBuilder()
        self.shape = list(shape)
        self.s_in, self.zp_in = _rand_quant(self.rng)
        self.x = self.b.tensor(shape, "INT8", self.s_in, self.zp_in, name="x")

    def quant(self, same: bool = False) -> tuple[float, int]:
        return (self.s_in, self.zp_in) if same else _rand_quant(self.rng)

    def requantized(self, same: bool = False) -> int:
        """x on another grid (QUANTIZE int8 -> int8), or a copy on the same grid."""
        t = self.b.tensor(self.shape, "INT8", *self.quant(same))
        self.b.op("QUANTIZE", [self.x], [t])
        return t

    def mean(self, axes, same: bool = False) -> int:
        """MEAN of x over `axes`, dimensions kept (a broadcastable operand)."""
        shape = [1 if k in axes else d for k, d in enumerate(self.shape)]
        t = self.b.tensor(shape, "INT8", *self.quant(same))
        ax = self.b.tensor([len(axes)], "INT32", data=np.array(axes))
        self.b.op("MEAN", [self.x, ax], [t], self.b.options("Reducer", keepDims=True))
        return t

    def const(self, shape, same: bool = False) -> int:
        return self.b.tensor(shape, "INT8", *self.quant(same), data=self.rng.integers(-128, 128, shape))

    def finish(self, op: str, operands, out_shape, options=None, same: bool = False, out_quant=None) -> tuple:
        y = self.b.tensor(out_shape, "INT8", *(out_quant or self.quant(same)), name="y")
        self.b.op(op, operands, [y], options)
        return self.b.finish([self.x], [y]), tuple(self.shape[1:]), self.s_in, self.zp_in


def _run_one_op(built: tuple, tag: str, seed: int) -> None:
    tflite, shape, s_in, zp_in = built
    x = int8_windows(np.random.default_rng(seed), N_INPUTS, shape, s_in, zp_in)
    _check(tflite, x, tag, fast=False)


@pytest.mark.parametrize("case", range(4))
def test_mul_bit_exact(case: int) -> None:
    m = OneOp([[1, 4, 5, 3], [1, 4, 5, 6], [1, 5, 7], [1, 9]][case], seed=case)
    opts = m.b.options("Mul", fusedActivationFunction=[0, 1, 3, 0][case])
    if case == 0:  # same shape: x * requantized x
        built = m.finish("MUL", [m.x, m.requantized()], m.shape, opts)
    elif case == 1:  # squeeze-and-excite: a per-channel gate
        built = m.finish("MUL", [m.x, m.mean([1, 2])], m.shape, opts)
    elif case == 2:  # constant operand broadcast over rows
        built = m.finish("MUL", [m.x, m.const([1, 1, 7])], m.shape, opts)
    else:  # constant scalar first
        built = m.finish("MUL", [m.const([1]), m.x], m.shape, opts)
    _run_one_op(built, f"mul_{case}", 300 + case)


@pytest.mark.parametrize("case", range(3))
def test_concatenation_bit_exact(case: int) -> None:
    """TFLM requires every input on the output's grid: the converter makes sure of it."""
    if case == 0:  # channels: x and a copy
        m = OneOp([1, 3, 4, 5], seed=10)
        built = m.finish("CONCATENATION", [m.x, m.requantized(same=True)], [1, 3, 4, 10],
                         m.b.options("Concatenation", axis=-1), same=True)
    elif case == 1:  # middle axis, a constant in front
        m = OneOp([1, 4, 6], seed=11)
        built = m.finish("CONCATENATION", [m.const([1, 2, 6], same=True), m.x, m.mean([1], same=True)],
                         [1, 7, 6], m.b.options("Concatenation", axis=1), same=True)
    else:  # rank 2, three inputs
        m = OneOp([1, 8], seed=12)
        built = m.finish("CONCATENATION", [m.x, m.const([1, 3], same=True), m.x], [1, 19],
                         m.b.options("Concatenation", axis=1), same=True)
    _run_one_op(built, f"concat_{case}", 400 + case)


def test_concatenation_refuses_mixed_grids() -> None:
    m = OneOp([1, 8], seed=13)
    tflite = m.finish("CONCATENATION", [m.x, m.requantized()], [1, 16],
                      m.b.options("Concatenation", axis=1), same=True)[0]
    with pytest.raises(UnsupportedModelError, match="CONCATENATION needs equal input and output quantization"):
        generate(tflite)


@pytest.mark.parametrize("case", range(3))
def test_pad_bit_exact(case: int) -> None:
    shape, pads = [([1, 5, 4, 3], [[0, 0], [1, 2], [2, 0], [0, 1]]),
                   ([1, 9, 2], [[0, 0], [3, 1], [0, 0]]),
                   ([1, 6], [[0, 0], [2, 5]])][case]
    m = OneOp(shape, seed=20 + case)
    p = m.b.tensor([len(shape), 2], "INT32", data=np.array(pads))
    out = [d + a + b for d, (a, b) in zip(shape, pads)]
    _run_one_op(m.finish("PAD", [m.x, p], out, same=True), f"pad_{case}", 500 + case)


@pytest.mark.parametrize("case", range(4))
def test_reduce_max_bit_exact(case: int) -> None:
    shape, axes, keep = [([1, 5, 6, 4], [1, 2], False), ([1, 5, 6, 4], [1, 2], True),
                         ([1, 12, 5], [1], False), ([1, 3, 4, 5], [-1, 1], False)][case]
    m = OneOp(shape, seed=30 + case)
    ax = m.b.tensor([len(axes)], "INT32", data=np.array(axes))
    red = {a % len(shape) for a in axes}
    out = [1 if k in red else d for k, d in enumerate(shape)] if keep else \
        [d for k, d in enumerate(shape) if k not in red]
    built = m.finish("REDUCE_MAX", [m.x, ax], out, m.b.options("Reducer", keepDims=keep), same=True)
    _run_one_op(built, f"reduce_max_{case}", 600 + case)


@pytest.mark.parametrize("case", range(3))
def test_transpose_bit_exact(case: int) -> None:
    shape, perm = [([1, 3, 4, 5], [0, 2, 1, 3]), ([1, 3, 4, 5], [0, 3, 1, 2]), ([1, 6, 7], [0, 2, 1])][case]
    m = OneOp(shape, seed=40 + case)
    p = m.b.tensor([len(perm)], "INT32", data=np.array(perm))
    built = m.finish("TRANSPOSE", [m.x, p], [shape[k] for k in perm], same=True)
    _run_one_op(built, f"transpose_{case}", 700 + case)


@pytest.mark.parametrize("case", range(4))
def test_hard_swish_bit_exact(case: int) -> None:
    m = OneOp([1, 64], seed=50 + case)
    # Outputs on a grid no finer than input / 128 (TFLM's limit), coarser or finer than the input.
    s_out = m.s_in * float(m.rng.uniform(0.3, 2.0))
    built = m.finish("HARD_SWISH", [m.x], [1, 64], out_quant=(s_out, int(m.rng.integers(-128, 0))))
    _run_one_op(built, f"hard_swish_{case}", 800 + case)


def test_squeeze_aliases_its_input() -> None:
    m = OneOp([1, 1, 6, 1, 4], seed=60)
    sq = m.b.tensor([1, 6, 4], "INT8", m.s_in, m.zp_in)
    m.b.op("SQUEEZE", [m.x], [sq], m.b.options("Squeeze", squeezeDims=[1, 3]))
    built = m.finish("MUL", [sq, m.const([1, 1, 4])], [1, 6, 4])
    gen = generate(built[0])
    assert "SQUEEZE" in gen.c_source and "shares its input's buffer" in gen.c_source
    _run_one_op(built, "squeeze", 900)


# --- what the converter makes of Keras layers ---------------------------------------------------

def test_mobilenet_style_block_from_keras() -> None:
    """ZeroPadding2D (PAD), depthwise stride 2, hard-swish, squeeze-and-excite (MEAN, LOGISTIC,
    MUL), global max pooling (REDUCE_MAX), Dense logits and SOFTMAX: a whole classifier."""
    k = _keras()
    inp = k.Input((10, 9, 3))
    x = k.layers.ZeroPadding2D(((1, 0), (1, 1)))(inp)
    x = k.layers.DepthwiseConv2D(3, strides=2)(x)
    x = k.layers.Conv2D(8, 1)(x)
    x = k.layers.Activation("hard_swish")(x)
    se = k.layers.GlobalAveragePooling2D(keepdims=True)(x)
    se = k.layers.Dense(4, activation="relu")(se)
    se = k.layers.Dense(8, activation="sigmoid")(se)
    x = k.layers.Multiply()([x, se])
    x = k.layers.GlobalMaxPooling2D()(x)
    out = k.layers.Dense(5, activation="softmax")(x)
    _convert_and_check(k.Model(inp, out), 8, "mobilenet_block",
                       {"PAD", "HARD_SWISH", "LOGISTIC", "MUL", "REDUCE_MAX", "SOFTMAX"})


def test_permute_and_branch_concatenation_from_keras() -> None:
    """Permute (TRANSPOSE) and two convolution branches joined on channels (CONCATENATION)."""
    k = _keras()
    inp = k.Input((6, 8, 2))
    x = k.layers.Permute((2, 1, 3))(inp)
    a = k.layers.Conv2D(4, 3, padding="same", activation="relu")(x)
    b = k.layers.Conv2D(3, 1, activation="relu6")(x)
    x = k.layers.Concatenate()([a, b])
    out = k.layers.GlobalAveragePooling2D()(x)
    _convert_and_check(k.Model(inp, out), 9, "permute_concat", {"TRANSPOSE", "CONCATENATION"})


@pytest.mark.parametrize("seed", range(3))
def test_chain_of_every_new_op(seed: int) -> None:
    """The model test_codegen_qemu.py runs on the Cortex-M4, here on the host."""
    tflite, shape, s_in, zp_in = backbone_ops_chain(seed)
    x = int8_windows(np.random.default_rng(1000 + seed), N_INPUTS, shape, s_in, zp_in)
    ref = reference_outputs(tflite, x)
    assert len(np.unique(ref)) > 20  # not saturated into a handful of values
    _check(tflite, x, f"chain_{seed}")
