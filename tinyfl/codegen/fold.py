"""Constant folding of shape arithmetic at generation time.

Converting with the batch dimension left open (the Keras default) turns Flatten and Reshape into
SHAPE -> STRIDED_SLICE -> PACK -> RESHAPE: the new shape is computed at run time from the
activation's shape. Every activation shape in a .tflite file is static (the open batch is 1 in
`shape`), so SHAPE is a constant, and so is anything computed from constants only. Those ops are
evaluated here with numpy and disappear from the model; their outputs become constant tensors.
Only integer (shape) arithmetic is folded; int8 activations are never computed here.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Callable

import numpy as np

from .ops import UnsupportedModelError
from .tflite_reader import Model, Operator, Tensor

# A folded tensor larger than this is not shape arithmetic: refuse rather than allocate.
MAX_FOLDED_VALUES = 1 << 16

_INT_TYPES = {"INT32": np.int32, "INT64": np.int64}


class FoldError(UnsupportedModelError):
    """A shape op could not be evaluated at generation time (the message says why)."""


def _strided_slice(op: Operator, values: list[np.ndarray]) -> np.ndarray:
    data, begin, end, strides = values
    o = op.options
    if int(o.get("ellipsisMask", 0)) or int(o.get("newAxisMask", 0)):
        raise FoldError("ellipsis and new-axis masks are not supported")
    begin, end, strides = (np.asarray(v).reshape(-1) for v in (begin, end, strides))
    if not len(begin) == len(end) == len(strides) or len(begin) > data.ndim:
        raise FoldError(f"begin/end/strides of {len(begin)}/{len(end)}/{len(strides)} for rank {data.ndim}")
    index: list[object] = []
    for axis in range(len(begin)):
        b, e, s = int(begin[axis]), int(end[axis]), int(strides[axis])
        if s == 0:
            raise FoldError("stride 0")
        if (int(o.get("shrinkAxisMask", 0)) >> axis) & 1:
            dim = data.shape[axis]
            i = b + dim if b < 0 else b
            if not 0 <= i < dim:
                raise FoldError(f"index {b} out of range for dimension {dim}")
            index.append(i)
            continue
        if o.get("offset", False):
            e = b + e
        start = None if (int(o.get("beginMask", 0)) >> axis) & 1 else b
        stop = None if (int(o.get("endMask", 0)) >> axis) & 1 else e
        index.append(slice(start, stop, s))
    return np.asarray(data[tuple(index)])


def _pack(op: Operator, values: list[np.ndarray]) -> np.ndarray:
    return np.stack(values, axis=int(op.options.get("axis", 0)))


def _concatenation(op: Operator, values: list[np.ndarray]) -> np.ndarray:
    if int(op.options.get("fusedActivationFunction", 0)) != 0:
        raise FoldError("fused activation on shape arithmetic")
    return np.concatenate([np.atleast_1d(v) for v in values], axis=int(op.options.get("axis", 0)))


def _elementwise(fn: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> Callable[[Operator, list[np.ndarray]], np.ndarray]:
    def fold(op: Operator, values: list[np.ndarray]) -> np.ndarray:
        if int(op.options.get("fusedActivationFunction", 0)) != 0:
            raise FoldError("fused activation on shape arithmetic")
        return fn(values[0].astype(np.int64), values[1].astype(np.int64))

    return fold


def _same_values(op: Operator, values: list[np.ndarray]) -> np.ndarray:
    return values[0]  # RESHAPE: the output tensor's shape applies


FOLDERS: dict[str, Callable[[Operator, list[np.ndarray]], np.ndarray]] = {
    "STRIDED_SLICE": _strided_slice,
    "PACK": _pack,
    "CONCATENATION": _concatenation,
    "ADD": _elementwise(np.add),
    "SUB": _elementwise(np.subtract),
    "MUL": _elementwise(np.multiply),
    "RESHAPE": _same_values,
}


def _describe(op: Operator, model: Model) -> str:
    names = [model.tensors[i].name for i in op.outputs if 0 <= i < len(model.tensors)]
    return f"op #{op.index} {op.op} (layer '{names[0] if names else '?'}')"


def _foldable(op: Operator, tensors: list[Tensor]) -> bool:
    """Integer outputs computed from constants only (SHAPE needs no constant input)."""
    if len(op.outputs) != 1 or not all(0 <= i < len(tensors) for i in (*op.inputs, *op.outputs)):
        return False
    if tensors[op.outputs[0]].dtype not in _INT_TYPES:
        return False
    if op.op == "SHAPE":
        return len(op.inputs) == 1
    return op.op in FOLDERS and all(tensors[i].is_constant for i in op.inputs)


def fold_constants(model: Model) -> tuple[Model, tuple[Operator, ...]]:
    """The model without its foldable shape ops (their outputs now constant), and those ops."""
    tensors = list(model.tensors)
    kept: list[Operator] = []
    folded: list[Operator] = []
    for op in model.operators:
        if not _foldable(op, tensors):
            kept.append(op)
            continue
        out = tensors[op.outputs[0]]
        try:
            if op.op == "SHAPE":
                shape = tensors[op.inputs[0]].shape
                if any(d < 0 for d in shape):
                    raise FoldError(f"input shape {list(shape)} is not static")
                value = np.array(shape, dtype=np.int64)
            else:
                value = FOLDERS[op.op](op, [np.asarray(tensors[i].data) for i in op.inputs])
        except (FoldError, ValueError, IndexError, TypeError) as exc:
            raise FoldError(f"{_describe(op, model)}: cannot fold this shape computation: {exc}") from exc
        value = np.asarray(value)
        if value.size > MAX_FOLDED_VALUES:
            raise FoldError(f"{_describe(op, model)}: folded value of {value.size} elements")
        if value.size != out.size:
            raise FoldError(
                f"{_describe(op, model)}: computes {value.size} values, its output tensor holds {out.size}"
            )
        info = np.iinfo(_INT_TYPES[out.dtype])
        if value.size and (value.min() < info.min or value.max() > info.max):
            raise FoldError(f"{_describe(op, model)}: value outside {out.dtype}")
        data = value.astype(_INT_TYPES[out.dtype]).reshape(out.shape)
        tensors[op.outputs[0]] = replace(out, data=data)
        folded.append(op)
    if not folded:
        return model, ()
    for i in model.outputs:
        if tensors[i].is_constant:
            raise FoldError(f"model output {tensors[i].name!r} is a constant")
    return replace(model, tensors=tuple(tensors), operators=tuple(kept)), tuple(folded)
