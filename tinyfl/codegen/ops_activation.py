"""Lowerings of the nonlinear int8 ops computed in gemmlowp fixed point: SOFTMAX, LOGISTIC,
HARD_SWISH (firmware/kernels/tinyfl_fixedpoint.h and one kernel file each)."""
from __future__ import annotations

import numpy as np

from . import quant
from .ops_common import Context, Lowered, require_int8
from .tflite_reader import Operator, Tensor


def _unit_output(op: Operator, ctx: Context, out: Tensor) -> None:
    """SOFTMAX / LOGISTIC write probabilities on TFLM's fixed int8 grid: zero point -128 (and
    TFLM's SOFTMAX also insists on the scale 1/256)."""
    if out.zero_point != -128:
        raise ctx.fail(op, f"output zero point {out.zero_point}, TFLM requires -128")
    if op.op == "SOFTMAX" and np.float32(out.scale) != np.float32(1.0 / 256):
        raise ctx.fail(op, f"output scale {out.scale}, TFLM requires 1/256")


def lower_softmax(op: Operator, ctx: Context) -> Lowered:
    inp, out = ctx.tensor(op.inputs[0]), ctx.tensor(op.outputs[0])
    require_int8(op, ctx, inp, out)
    _unit_output(op, ctx, out)
    if inp.shape != out.shape or not inp.shape:
        raise ctx.fail(op, f"input {list(inp.shape)} and output {list(out.shape)} shapes differ")
    beta = float(np.float32(op.options.get("beta", 1.0)))
    try:
        mult, shift, diff_min = quant.softmax_params(inp.scale, beta)
    except ValueError as exc:
        raise ctx.fail(op, str(exc)) from None
    depth = inp.shape[-1]
    if depth > 4095:
        raise ctx.fail(op, f"softmax over {depth} values; the Q12 sum of exps holds fewer than 4096")
    p = f"tinyfl_op{op.index}_params"
    params = f"static const tinyfl_softmax_params {p} = {{{mult}, {shift}, {diff_min}}};\n"
    call = (
        f"tinyfl_softmax_s8(&{p}, {inp.size // depth}, {depth}, {ctx.ptr(inp.index)}, "
        f"{ctx.ptr(out.index)})"
    )
    return Lowered((params,), call, 0)


def lower_logistic(op: Operator, ctx: Context) -> Lowered:
    inp, out = ctx.tensor(op.inputs[0]), ctx.tensor(op.outputs[0])
    require_int8(op, ctx, inp, out)
    _unit_output(op, ctx, out)
    if inp.size != out.size:
        raise ctx.fail(op, "input and output sizes differ")
    try:
        mult, shift, radius = quant.logistic_params(inp.scale)
    except ValueError as exc:
        raise ctx.fail(op, str(exc)) from None
    call = (
        f"tinyfl_logistic_s8({inp.size}u, {ctx.ptr(inp.index)}, {inp.zero_point}, {radius}, "
        f"{mult}, {shift}, {ctx.ptr(out.index)})"
    )
    return Lowered((), call, 0)


def lower_hard_swish(op: Operator, ctx: Context) -> Lowered:
    inp, out = ctx.tensor(op.inputs[0]), ctx.tensor(op.outputs[0])
    require_int8(op, ctx, inp, out)
    if inp.size != out.size:
        raise ctx.fail(op, "input and output sizes differ")
    try:
        hs = quant.hard_swish_params(inp.scale, out.scale)
    except ValueError as exc:
        raise ctx.fail(op, str(exc)) from None
    p = f"tinyfl_op{op.index}_params"
    params = (
        f"static const tinyfl_hard_swish_params {p} = {{{inp.zero_point}, {out.zero_point}, "
        f"{hs['reluish_multiplier_fixedpoint_int16']}, {hs['reluish_multiplier_exponent']}, "
        f"{hs['output_multiplier_fixedpoint_int16']}, {hs['output_multiplier_exponent']}}};\n"
    )
    call = f"tinyfl_hard_swish_s8(&{p}, {inp.size}u, {ctx.ptr(inp.index)}, {ctx.ptr(out.index)})"
    return Lowered((params,), call, 0)
