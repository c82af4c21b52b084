"""Lowerings of the ops that move or select int8 values without requantizing them:
CONCATENATION, PAD, TRANSPOSE, REDUCE_MAX (each needs equal input and output quantization)."""
from __future__ import annotations

import numpy as np

from .ops_common import (
    Context,
    Lowered,
    activation,
    constant_ints,
    data_ptr,
    dims4,
    reduce_axes,
    require_int8,
    same_quant,
)
from .tflite_reader import Operator


def lower_concatenation(op: Operator, ctx: Context) -> Lowered:
    out = ctx.tensor(op.outputs[0])
    ins = [ctx.tensor(i) for i in op.inputs]
    require_int8(op, ctx, out, *ins)
    if activation(op, ctx) != "NONE":
        raise ctx.fail(op, "a fused activation on CONCATENATION is not supported")
    rank = len(out.shape)
    axis = int(op.options.get("axis", 0))
    axis = axis + rank if axis < 0 else axis
    if not 0 <= axis < rank:
        raise ctx.fail(op, f"axis {op.options.get('axis')} out of range for rank {rank}")
    for t in ins:
        same_quant(op, ctx, t, out)
        if len(t.shape) != rank or any(t.shape[k] != out.shape[k] for k in range(rank) if k != axis):
            raise ctx.fail(op, f"input {list(t.shape)} does not fit output {list(out.shape)} on axis {axis}")
    if sum(t.shape[axis] for t in ins) != out.shape[axis]:
        raise ctx.fail(op, "input sizes along the axis do not add up to the output's")
    outer = int(np.prod(out.shape[:axis], dtype=np.int64))
    inner = int(np.prod(out.shape[axis + 1:], dtype=np.int64))
    ptrs = [data_ptr(op, ctx, t, f"input{k}") for k, t in enumerate(ins)]
    sizes, _ = ctx.const_array(op, "axis_sizes", "int32_t", np.array([t.shape[axis] for t in ins]))
    call = (f"tinyfl_concatenation_s8({len(ins)}u, (const int8_t *const[]){{{', '.join(ptrs)}}}, "
            f"{sizes}, {outer}, {inner}, {ctx.ptr(out.index)})")
    return Lowered((), call, 0)


def lower_pad(op: Operator, ctx: Context) -> Lowered:
    inp, out = ctx.tensor(op.inputs[0]), ctx.tensor(op.outputs[0])
    require_int8(op, ctx, inp, out)
    same_quant(op, ctx, inp, out)
    pads = constant_ints(op, ctx, op.inputs[1], "paddings")
    rank = len(inp.shape)
    if pads.shape != (rank, 2) or (pads < 0).any():
        raise ctx.fail(op, f"paddings of shape {list(pads.shape)} for rank {rank}")
    din, dout = dims4(op, ctx, inp), dims4(op, ctx, out)
    pads4 = np.concatenate([np.zeros((4 - rank, 2), dtype=np.int64), pads])
    if any(din[k] + pads4[k].sum() != dout[k] for k in range(4)):
        raise ctx.fail(op, f"paddings {pads.tolist()} do not take {list(inp.shape)} to {list(out.shape)}")
    p = f"tinyfl_op{op.index}"
    rows = ", ".join(f"{{{int(b)}, {int(e)}}}" for b, e in pads4)
    params = (
        f"static const int32_t {p}_pads[4][2] = {{{rows}}};\n"
        f"static const tinyfl_dims {p}_in = {{{', '.join(map(str, din))}}};\n"
        f"static const tinyfl_dims {p}_out = {{{', '.join(map(str, dout))}}};\n"
    )
    call = (f"tinyfl_pad_s8(&{p}_in, {ctx.ptr(inp.index)}, {p}_pads, {out.zero_point}, &{p}_out, "
            f"{ctx.ptr(out.index)})")
    return Lowered((params,), call, 0)


def lower_reduce_max(op: Operator, ctx: Context) -> Lowered:
    inp, out = ctx.tensor(op.inputs[0]), ctx.tensor(op.outputs[0])
    require_int8(op, ctx, inp, out)
    same_quant(op, ctx, inp, out)
    dims, mask, _ = reduce_axes(op, ctx, inp, out)
    p = f"tinyfl_op{op.index}"
    params = f"static const int32_t {p}_dims[4] = {{{', '.join(str(d) for d in dims)}}};\n"
    call = f"tinyfl_reduce_max_s8({p}_dims, {mask}u, {ctx.ptr(inp.index)}, {ctx.ptr(out.index)})"
    return Lowered((params,), call, 0)


def lower_transpose(op: Operator, ctx: Context) -> Lowered:
    inp, out = ctx.tensor(op.inputs[0]), ctx.tensor(op.outputs[0])
    require_int8(op, ctx, inp, out)
    same_quant(op, ctx, inp, out)
    perm = constant_ints(op, ctx, op.inputs[1], "permutation").reshape(-1)
    rank = len(inp.shape)
    if rank > 4 or sorted(perm.tolist()) != list(range(rank)):
        raise ctx.fail(op, f"permutation {perm.tolist()} for rank {rank}")
    if tuple(inp.shape[int(k)] for k in perm) != tuple(out.shape):
        raise ctx.fail(op, f"permutation {perm.tolist()} does not take {list(inp.shape)} to {list(out.shape)}")
    lead = 4 - rank
    perm4 = list(range(lead)) + [int(k) + lead for k in perm]
    p = f"tinyfl_op{op.index}"
    params = (
        f"static const int32_t {p}_dims[4] = {{{', '.join(map(str, dims4(op, ctx, inp)))}}};\n"
        f"static const int32_t {p}_perm[4] = {{{', '.join(map(str, perm4))}}};\n"
    )
    call = f"tinyfl_transpose_s8({p}_dims, {p}_perm, {ctx.ptr(inp.index)}, {ctx.ptr(out.index)})"
    return Lowered((params,), call, 0)
