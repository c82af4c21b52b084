"""What every lowering shares: the error type, the lowered form, the context the generator
provides, and checks of operands (types, shapes, constant inputs) that fail with the op named."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from .tflite_reader import Operator, Tensor

ACTIVATIONS = {0: "NONE", 1: "RELU", 2: "RELU_N1_TO_1", 3: "RELU6"}
ACTIVATION_NAMES = {0: "NONE", 1: "RELU", 2: "RELU_N1_TO_1", 3: "RELU6", 4: "TANH", 5: "SIGN_BIT"}
PADDINGS = {0: "SAME", 1: "VALID"}

# Ops that only reinterpret the shape: their output shares the input's buffer.
ALIAS_OPS = frozenset({"RESHAPE", "EXPAND_DIMS", "SQUEEZE"})


class UnsupportedModelError(ValueError):
    """The model uses an operator, option or type that tinyfl cannot generate exactly."""


@dataclass(frozen=True)
class Lowered:
    consts: tuple[str, ...]
    call: str  # a C expression of type tinyfl_status
    macs: int


class Context(Protocol):
    add_table_bytes: int
    def tensor(self, index: int) -> Tensor: ...
    def ptr(self, index: int) -> str: ...
    def const_array(self, op: Operator, suffix: str, c_type: str, values: np.ndarray) -> tuple[str, str]: ...
    def weights_array(self, op: Operator, suffix: str, rows: np.ndarray) -> str: ...
    def fail(self, op: Operator, why: str) -> UnsupportedModelError: ...


def activation(op: Operator, ctx: Context) -> str:
    code = int(op.options.get("fusedActivationFunction", 0))
    if code not in ACTIVATIONS:
        raise ctx.fail(op, f"fused activation {ACTIVATION_NAMES.get(code, code)} is not supported")
    return ACTIVATIONS[code]


def require_int8(op: Operator, ctx: Context, *tensors: Tensor) -> None:
    for t in tensors:
        if t.dtype != "INT8":
            raise ctx.fail(op, f"tensor {t.name!r} is {t.dtype}; only int8 activations are supported")
        if len(t.scales) != 1 or len(t.zero_points) != 1:
            raise ctx.fail(op, f"activation {t.name!r} needs one scale and zero point")


def require_4d(op: Operator, ctx: Context, *tensors: Tensor) -> None:
    for t in tensors:
        if len(t.shape) != 4:
            raise ctx.fail(op, f"tensor {t.name!r} has shape {list(t.shape)}, expected 4-D NHWC")


def dims_literal(t: Tensor) -> str:
    n, h, w, c = t.shape
    return f"{{{n}, {h}, {w}, {c}}}"


def check_weights(op: Operator, ctx: Context, t: Tensor, what: str) -> None:
    if not t.is_constant:
        raise ctx.fail(op, f"{what} {t.name!r} is not constant")
    if t.dtype != "INT8":
        raise ctx.fail(op, f"{what} {t.name!r} is {t.dtype}; only int8 weights are supported")
    if any(z != 0 for z in t.zero_points):
        raise ctx.fail(op, f"{what} {t.name!r} has a nonzero zero point (TFLM requires symmetric)")


def bias_array(op: Operator, ctx: Context, index: int, channels: int) -> str:
    if index < 0:
        return "NULL"
    t = ctx.tensor(index)
    if not t.is_constant or t.dtype != "INT32" or t.size != channels:
        raise ctx.fail(op, f"bias {t.name!r} must be a constant int32 vector of {channels}")
    name, _ = ctx.const_array(op, "bias", "int32_t", t.data.reshape(-1))
    return name


def check_out_size(op: Operator, ctx: Context, padding: str, in_size: int, eff: int, stride: int, out: int) -> None:
    expected = (in_size + stride - 1) // stride if padding == "SAME" else (in_size - eff + stride) // stride
    if expected != out:
        raise ctx.fail(op, f"output size {out} does not match {padding} padding (expected {expected})")


def dims4(op: Operator, ctx: Context, t: Tensor) -> tuple[int, ...]:
    if len(t.shape) > 4:
        raise ctx.fail(op, f"tensor {t.name!r} has rank {len(t.shape)}; at most 4 is supported")
    return (1,) * (4 - len(t.shape)) + tuple(t.shape)


def data_ptr(op: Operator, ctx: Context, t: Tensor, label: str) -> str:
    """An int8 operand: its arena buffer, or a const array when the model holds it as data."""
    if t.is_constant:
        name, _ = ctx.const_array(op, label, "int8_t", t.data.reshape(-1))
        return name
    return ctx.ptr(t.index)


def same_quant(op: Operator, ctx: Context, a: Tensor, b: Tensor) -> None:
    if np.float32(a.scale) != np.float32(b.scale) or a.zero_point != b.zero_point:
        raise ctx.fail(op, f"{op.op} needs equal input and output quantization "
                           f"({a.scale}, {a.zero_point} vs {b.scale}, {b.zero_point})")


def constant_ints(op: Operator, ctx: Context, index: int, what: str) -> np.ndarray:
    t = ctx.tensor(index)
    if not t.is_constant or t.dtype not in ("INT32", "INT64"):
        raise ctx.fail(op, f"{what} {t.name!r} must be a constant integer tensor")
    return t.data.astype(np.int64)


def reduce_axes(op: Operator, ctx: Context, inp: Tensor, out: Tensor) -> tuple[tuple[int, ...], int, int]:
    """(the input's 4-D dims, the mask of reduced dimensions, values per output) of MEAN and
    REDUCE_MAX, whose axes are the constant second input."""
    rank = len(inp.shape)
    if not 1 <= rank <= 4:
        raise ctx.fail(op, f"input rank {rank} is not supported (1..4)")
    raw = constant_ints(op, ctx, op.inputs[1], "axes").reshape(-1)
    if raw.size == 0 or (raw < -rank).any() or (raw >= rank).any():
        raise ctx.fail(op, f"axes {raw.tolist()} out of range for rank {rank}")
    axes = sorted({int(a) + rank if a < 0 else int(a) for a in raw})
    mask, count = 0, 1
    for a in axes:
        mask |= 1 << (a + 4 - rank)
        count *= inp.shape[a]
    if count == 0 or out.size * count != inp.size:
        raise ctx.fail(op, "output size does not match the reduction")
    return (1,) * (4 - rank) + tuple(inp.shape), mask, count
