"""Constant shape ops folded at generation time: models converted with the batch dimension left
open (Keras' default) carry SHAPE / STRIDED_SLICE / PACK / RESHAPE; the generated C has none of
them and stays bit-exact with the tflite-micro interpreter."""
from __future__ import annotations

import numpy as np
import pytest

from codegen_helpers import TfliteBuilder, assert_bit_exact, convert_cached
from tinyfl.codegen import UnsupportedModelError, generate, read_tflite
from tinyfl.codegen.fold import fold_constants

N_INPUTS = 224
SHAPE_OPS = {"SHAPE", "STRIDED_SLICE", "PACK"}


def _open_batch_model(seed: int) -> bytes:
    pytest.importorskip("tensorflow")
    from tinyfl.models._tf import keras as k

    rng = np.random.default_rng(seed)
    if seed % 2 == 0:
        inp = k.Input((int(rng.integers(4, 9)), int(rng.integers(3, 8)), 2))
        x = k.layers.Conv2D(4, 3, padding="same", activation="relu")(inp)
    else:
        inp = k.Input((int(rng.integers(10, 30)), 3))
        x = k.layers.Conv1D(5, 3, activation="relu")(inp)
        x = k.layers.MaxPooling1D(2)(x)
    x = k.layers.Flatten()(x)
    x = k.layers.Dense(12, activation="relu")(x)
    x = k.layers.Reshape((3, 4))(x)
    out = k.layers.GlobalAveragePooling1D()(x)
    model = k.Model(inp, out)
    for layer in model.layers:
        ws = layer.get_weights()
        if ws:
            layer.set_weights([rng.normal(0.0, 0.4, w.shape).astype(np.float32) for w in ws])
    shape = model.input_shape[1:]
    return convert_cached(model, rng.normal(0.0, 1.0, (64, *shape)), open_batch=True)


@pytest.mark.parametrize("seed", [0, 1])
def test_open_batch_models_fold_and_stay_bit_exact(seed: int) -> None:
    tflite = _open_batch_model(seed)
    model = read_tflite(tflite)
    assert SHAPE_OPS <= {op.op for op in model.operators}  # what the converter made
    folded_model, folded = fold_constants(model)
    assert SHAPE_OPS <= {op.op for op in folded}
    assert not SHAPE_OPS & {op.op for op in folded_model.operators}
    gen = generate(tflite, name=f"open_batch_{seed}")
    assert "folded at generation time" in gen.c_source
    shape = model.tensors[model.inputs[0]].shape[1:]
    x = np.random.default_rng(seed + 10).normal(0.0, 1.0, (N_INPUTS, *shape)).astype(np.float32)
    x[:24] *= 5.0
    assert assert_bit_exact(tflite, x, tag=f"open_batch_{seed}") == N_INPUTS
    assert assert_bit_exact(tflite, x, tag=f"open_batch_{seed}", optimized=True) == N_INPUTS


def _shape_arithmetic_model(slice_options: dict, begin, end, strides=(1,)) -> bytes:
    """x (1, 2, 3, 4) -> RESHAPE to (1, 24) with the new shape computed from SHAPE(x) by a
    STRIDED_SLICE and a CONCATENATION with the constant [24], then a Dense."""
    rng = np.random.default_rng(4)
    b = TfliteBuilder()
    x = b.tensor([1, 2, 3, 4], "INT8", 0.05, -3, name="x")
    shape = b.tensor([4], "INT32", name="shape")
    b.op("SHAPE", [x], [shape], b.options("Shape", outType=2))
    batch = b.tensor([1], "INT32", name="batch")
    args = [b.tensor([len(v)], "INT32", data=np.array(v)) for v in (begin, end, strides)]
    b.op("STRIDED_SLICE", [shape, *args], [batch], b.options("StridedSlice", **slice_options))
    rest = b.tensor([1], "INT32", data=np.array([24]))
    new_shape = b.tensor([2], "INT32", name="new_shape")
    b.op("CONCATENATION", [batch, rest], [new_shape], b.options("Concatenation", axis=0))
    flat = b.tensor([1, 24], "INT8", 0.05, -3, name="flat")
    b.op("RESHAPE", [x, new_shape], [flat], b.options("Reshape"))
    w = b.tensor([6, 24], "INT8", [0.01] * 6, 0, data=rng.integers(-127, 128, (6, 24)))
    y = b.tensor([1, 6], "INT8", 0.2, 4, name="y")
    b.op("FULLY_CONNECTED", [flat, w], [y], b.options("FullyConnected"))
    return b.finish([x], [y])


@pytest.mark.parametrize("case", [
    ({}, (0,), (1,)),
    ({"beginMask": 1}, (3,), (1,)),  # masked begin: from 0
    ({"shrinkAxisMask": 0, "endMask": 0}, (-4,), (-3,)),  # negative indices
    ({"offset": True}, (0,), (1,)),  # end relative to begin
    ({"endMask": 1}, (0,), (-1,), (4,)),  # masked end, stride 4
])
def test_shape_arithmetic_folds(case) -> None:
    tflite = _shape_arithmetic_model(*case)
    _, folded = fold_constants(read_tflite(tflite))
    assert {op.op for op in folded} >= {"SHAPE", "CONCATENATION"}
    x = np.random.default_rng(5).normal(0.0, 2.0, (N_INPUTS, 1, 2, 3, 4)).astype(np.float32) * 0.05
    assert assert_bit_exact(tflite, x, tag="shape_arith") == N_INPUTS


def test_unfoldable_shape_computations_are_refused_clearly() -> None:
    tflite = _shape_arithmetic_model({"ellipsisMask": 1}, (0,), (1,))
    with pytest.raises(UnsupportedModelError, match=r"op #1 STRIDED_SLICE .*ellipsis"):
        generate(tflite)
    # A folded shape that does not fit the tensor it fills.
    tflite = _shape_arithmetic_model({}, (0,), (3,))
    with pytest.raises(UnsupportedModelError, match=r"STRIDED_SLICE .*computes 3 values"):
        generate(tflite)


def _arithmetic_model(extra_ops: list[str]) -> bytes:
    """The converter's way of computing a flattened size: SHAPE(x), three shrinking
    STRIDED_SLICEs, their product (MUL), then `extra_ops` with a neutral constant, RESHAPE to
    [1], CONCATENATION with [1] -> the shape [1, 24] of a RESHAPE feeding a Dense."""
    b = TfliteBuilder()
    x = b.tensor([1, 2, 3, 4], "INT8", 0.05, -3, name="x")
    shape = b.tensor([4], "INT32")
    b.op("SHAPE", [x], [shape], b.options("Shape", outType=2))

    def take(i: int) -> int:
        t = b.tensor([], "INT32")
        args = [b.tensor([1], "INT32", data=np.array([v])) for v in (i, i + 1, 1)]
        b.op("STRIDED_SLICE", [shape, *args], [t], b.options("StridedSlice", shrinkAxisMask=1))
        return t

    def binary(name: str, p: int, q: int) -> int:
        t = b.tensor([], "INT32")
        b.op(name, [p, q], [t], b.options(name.capitalize()))
        return t

    size = binary("MUL", binary("MUL", take(1), take(2)), take(3))
    for name in extra_ops:
        size = binary(name, size, b.tensor([], "INT32", data=np.array(1 if name == "MUL" else 0)))
    one = b.tensor([1], "INT32")
    b.op("RESHAPE", [size, b.tensor([1], "INT32", data=np.array([1]))], [one], b.options("Reshape", newShape=[1]))
    new_shape = b.tensor([2], "INT32")
    b.op("CONCATENATION", [b.tensor([1], "INT32", data=np.array([1])), one], [new_shape],
         b.options("Concatenation", axis=0))
    flat = b.tensor([1, 24], "INT8", 0.05, -3)
    b.op("RESHAPE", [x, new_shape], [flat], b.options("Reshape"))
    w = b.tensor([6, 24], "INT8", [0.01] * 6, 0, data=np.random.default_rng(6).integers(-127, 128, (6, 24)))
    y = b.tensor([1, 6], "INT8", 0.2, 4, name="y")
    b.op("FULLY_CONNECTED", [flat, w], [y], b.options("FullyConnected"))
    return b.finish([x], [y])


@pytest.mark.parametrize("extra_ops", [[], ["ADD"], ["SUB"], ["ADD", "SUB", "MUL"]])
def test_integer_shape_arithmetic_folds(extra_ops) -> None:
    tflite = _arithmetic_model(extra_ops)
    folded_model, folded = fold_constants(read_tflite(tflite))
    assert [op.op for op in folded_model.operators] == ["RESHAPE", "FULLY_CONNECTED"]
    assert {"SHAPE", "STRIDED_SLICE", "MUL", "CONCATENATION", *extra_ops} <= {op.op for op in folded}
    new_shape = folded_model.tensors[folded_model.operators[0].inputs[1]]
    assert new_shape.data.tolist() == [1, 24]
    x = np.random.default_rng(7).normal(0.0, 2.0, (N_INPUTS, 1, 2, 3, 4)).astype(np.float32) * 0.05
    assert assert_bit_exact(tflite, x, tag="shape_arith_ops") == N_INPUTS
