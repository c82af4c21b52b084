"""Lowering of each supported TFLite builtin to one call of a firmware/kernels function.

Every emitter validates what it relies on and raises UnsupportedModelError naming the operator
and its layer (the output tensor's name) for anything else, so no model is silently miscompiled.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Protocol

import numpy as np

from . import quant
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
    def tensor(self, index: int) -> Tensor: ...
    def ptr(self, index: int) -> str: ...
    def const_array(self, op: Operator, suffix: str, c_type: str, values: np.ndarray) -> tuple[str, str]: ...
    def fail(self, op: Operator, why: str) -> UnsupportedModelError: ...


def _activation(op: Operator, ctx: Context) -> str:
    code = int(op.options.get("fusedActivationFunction", 0))
    if code not in ACTIVATIONS:
        raise ctx.fail(op, f"fused activation {ACTIVATION_NAMES.get(code, code)} is not supported")
    return ACTIVATIONS[code]


def _require_int8(op: Operator, ctx: Context, *tensors: Tensor) -> None:
    for t in tensors:
        if t.dtype != "INT8":
            raise ctx.fail(op, f"tensor {t.name!r} is {t.dtype}; only int8 activations are supported")
        if len(t.scales) != 1 or len(t.zero_points) != 1:
            raise ctx.fail(op, f"activation {t.name!r} needs one scale and zero point")


def _require_4d(op: Operator, ctx: Context, *tensors: Tensor) -> None:
    for t in tensors:
        if len(t.shape) != 4:
            raise ctx.fail(op, f"tensor {t.name!r} has shape {list(t.shape)}, expected 4-D NHWC")


def _dims(t: Tensor) -> str:
    n, h, w, c = t.shape
    return f"{{{n}, {h}, {w}, {c}}}"


def _weights(op: Operator, ctx: Context, t: Tensor, what: str) -> None:
    if not t.is_constant:
        raise ctx.fail(op, f"{what} {t.name!r} is not constant")
    if t.dtype != "INT8":
        raise ctx.fail(op, f"{what} {t.name!r} is {t.dtype}; only int8 weights are supported")
    if any(z != 0 for z in t.zero_points):
        raise ctx.fail(op, f"{what} {t.name!r} has a nonzero zero point (TFLM requires symmetric)")


def _bias(op: Operator, ctx: Context, index: int, channels: int) -> str:
    if index < 0:
        return "NULL"
    t = ctx.tensor(index)
    if not t.is_constant or t.dtype != "INT32" or t.size != channels:
        raise ctx.fail(op, f"bias {t.name!r} must be a constant int32 vector of {channels}")
    name, _ = ctx.const_array(op, "bias", "int32_t", t.data.reshape(-1))
    return name


def _check_out_size(op: Operator, ctx: Context, padding: str, in_size: int, eff: int, stride: int, out: int) -> None:
    expected = (in_size + stride - 1) // stride if padding == "SAME" else (in_size - eff + stride) // stride
    if expected != out:
        raise ctx.fail(op, f"output size {out} does not match {padding} padding (expected {expected})")


def _conv_like(op: Operator, ctx: Context, depthwise: bool) -> Lowered:
    inp, flt = ctx.tensor(op.inputs[0]), ctx.tensor(op.inputs[1])
    out = ctx.tensor(op.outputs[0])
    _require_int8(op, ctx, inp, out)
    _require_4d(op, ctx, inp, flt, out)
    _weights(op, ctx, flt, "filter")
    padding = PADDINGS.get(int(op.options.get("padding", -1)))
    if padding is None:
        raise ctx.fail(op, f"padding {op.options.get('padding')} is not supported")
    act = _activation(op, ctx)
    sh, sw = int(op.options["strideH"]), int(op.options["strideW"])
    dh, dw = int(op.options.get("dilationHFactor", 1)), int(op.options.get("dilationWFactor", 1))
    n, in_h, in_w, in_c = inp.shape
    _, f_h, f_w, _ = flt.shape
    _, out_h, out_w, out_c = out.shape
    if out.shape[0] != n:
        raise ctx.fail(op, "batch size changes across the layer")
    if depthwise:
        if flt.shape[0] != 1 or flt.shape[3] != out_c or out_c % in_c != 0:
            raise ctx.fail(op, f"depthwise filter shape {list(flt.shape)} does not fit {in_c} -> {out_c} channels")
        mult = out_c // in_c
    else:
        if flt.shape[0] != out_c:
            raise ctx.fail(op, "filter count differs from output channels")
        if flt.shape[3] != in_c:
            raise ctx.fail(op, f"grouped convolution ({in_c} input channels, filter depth {flt.shape[3]}) is not supported")
        mult = 1
    quant_dim = 3 if depthwise else 0
    if len(flt.scales) > 1 and flt.quantized_dimension != quant_dim:
        raise ctx.fail(op, f"per-channel quantization along dimension {flt.quantized_dimension} is not supported")
    _check_out_size(op, ctx, padding, in_h, (f_h - 1) * dh + 1, sh, out_h)
    _check_out_size(op, ctx, padding, in_w, (f_w - 1) * dw + 1, sw, out_w)
    pad_h = quant.compute_padding(sh, dh, in_h, f_h, out_h)
    pad_w = quant.compute_padding(sw, dw, in_w, f_w, out_w)
    mults, shifts = quant.conv_per_channel_multipliers(inp.scale, flt.scales, out.scale, out_c)
    act_min, act_max = quant.activation_range(act, out.scale, out.zero_point)
    f_name, _ = ctx.const_array(op, "filter", "int8_t", flt.data.reshape(-1))
    bias = _bias(op, ctx, op.inputs[2] if len(op.inputs) > 2 else -1, out_c)
    m_name, _ = ctx.const_array(op, "mult", "int32_t", np.array(mults))
    s_name, _ = ctx.const_array(op, "shift", "int32_t", np.array(shifts))
    p_name = f"tinyfl_op{op.index}_params"
    params = (
        f"static const tinyfl_conv_params {p_name} = {{\n"
        f"    {-inp.zero_point}, {out.zero_point}, {sh}, {sw}, {dh}, {dw}, {pad_h}, {pad_w}, {mult}, "
        f"{act_min}, {act_max}, {quant.requant_short_ok(mults, shifts)},\n}};\n"
        f"static const tinyfl_dims tinyfl_op{op.index}_in = {_dims(inp)};\n"
        f"static const tinyfl_dims tinyfl_op{op.index}_flt = {_dims(flt)};\n"
        f"static const tinyfl_dims tinyfl_op{op.index}_out = {_dims(out)};\n"
    )
    fn = "TINYFL_DEPTHWISE_CONV_2D_S8" if depthwise else "TINYFL_CONV_2D_S8"
    call = (
        f"{fn}(&{p_name}, &tinyfl_op{op.index}_in, {ctx.ptr(inp.index)}, &tinyfl_op{op.index}_flt, "
        f"{f_name}, {bias}, {m_name}, {s_name}, &tinyfl_op{op.index}_out, {ctx.ptr(out.index)})"
    )
    per_output = f_h * f_w * (1 if depthwise else in_c)
    return Lowered((params,), call, n * out_h * out_w * out_c * per_output)


def lower_conv_2d(op: Operator, ctx: Context) -> Lowered:
    return _conv_like(op, ctx, depthwise=False)


def lower_depthwise_conv_2d(op: Operator, ctx: Context) -> Lowered:
    return _conv_like(op, ctx, depthwise=True)


def lower_fully_connected(op: Operator, ctx: Context) -> Lowered:
    inp, flt = ctx.tensor(op.inputs[0]), ctx.tensor(op.inputs[1])
    out = ctx.tensor(op.outputs[0])
    _require_int8(op, ctx, inp, out)
    _weights(op, ctx, flt, "weights")
    if int(op.options.get("weightsFormat", 0)) != 0:
        raise ctx.fail(op, "shuffled weights format is not supported")
    act = _activation(op, ctx)
    if len(flt.shape) != 2:
        raise ctx.fail(op, f"weights shape {list(flt.shape)} is not 2-D")
    out_f, in_f = flt.shape
    if inp.size % in_f != 0 or out.size != (inp.size // in_f) * out_f:
        raise ctx.fail(op, f"input of {inp.size} values does not fit weights {list(flt.shape)}")
    batches = inp.size // in_f
    if len(flt.scales) == 1:
        m, s = quant.fc_per_tensor_multiplier(inp.scale, flt.scales[0], out.scale)
        mults, shifts = [m], [s]
    else:
        if flt.quantized_dimension != 0:
            raise ctx.fail(op, "per-channel weights must be quantized along dimension 0")
        mults, shifts = quant.conv_per_channel_multipliers(inp.scale, flt.scales, out.scale, out_f)
    act_min, act_max = quant.activation_range(act, out.scale, out.zero_point)
    f_name, _ = ctx.const_array(op, "weights", "int8_t", flt.data.reshape(-1))
    bias = _bias(op, ctx, op.inputs[2] if len(op.inputs) > 2 else -1, out_f)
    m_name, _ = ctx.const_array(op, "mult", "int32_t", np.array(mults))
    s_name, _ = ctx.const_array(op, "shift", "int32_t", np.array(shifts))
    p_name = f"tinyfl_op{op.index}_params"
    params = (
        f"static const tinyfl_fc_params {p_name} = {{{-inp.zero_point}, {out.zero_point}, "
        f"{act_min}, {act_max}, {quant.requant_short_ok(mults, shifts)}}};\n"
    )
    call = (
        f"TINYFL_FULLY_CONNECTED_S8(&{p_name}, {batches}, {in_f}, {out_f}, {ctx.ptr(inp.index)}, "
        f"{f_name}, {bias}, {m_name}, {s_name}, {len(mults)}, {ctx.ptr(out.index)})"
    )
    return Lowered((params,), call, batches * in_f * out_f)


def _pool(op: Operator, ctx: Context, fn: str) -> Lowered:
    inp, out = ctx.tensor(op.inputs[0]), ctx.tensor(op.outputs[0])
    _require_int8(op, ctx, inp, out)
    _require_4d(op, ctx, inp, out)
    if inp.scale != out.scale or inp.zero_point != out.zero_point:
        raise ctx.fail(op, "pooling with different input and output quantization is not supported")
    padding = PADDINGS.get(int(op.options.get("padding", -1)))
    if padding is None:
        raise ctx.fail(op, f"padding {op.options.get('padding')} is not supported")
    act = _activation(op, ctx)
    sh, sw = int(op.options["strideH"]), int(op.options["strideW"])
    fh, fw = int(op.options["filterHeight"]), int(op.options["filterWidth"])
    _, in_h, in_w, _ = inp.shape
    _, out_h, out_w, _ = out.shape
    _check_out_size(op, ctx, padding, in_h, fh, sh, out_h)
    _check_out_size(op, ctx, padding, in_w, fw, sw, out_w)
    pad_h = quant.compute_padding(sh, 1, in_h, fh, out_h)
    pad_w = quant.compute_padding(sw, 1, in_w, fw, out_w)
    act_min, act_max = quant.activation_range(act, out.scale, out.zero_point)
    p = f"tinyfl_op{op.index}"
    params = (
        f"static const tinyfl_pool_params {p}_params = {{{sh}, {sw}, {fh}, {fw}, {pad_h}, {pad_w}, "
        f"{act_min}, {act_max}}};\n"
        f"static const tinyfl_dims {p}_in = {_dims(inp)};\n"
        f"static const tinyfl_dims {p}_out = {_dims(out)};\n"
    )
    call = f"{fn}(&{p}_params, &{p}_in, {ctx.ptr(inp.index)}, &{p}_out, {ctx.ptr(out.index)})"
    return Lowered((params,), call, 0)


def lower_average_pool_2d(op: Operator, ctx: Context) -> Lowered:
    return _pool(op, ctx, "tinyfl_avg_pool_2d_s8")


def lower_max_pool_2d(op: Operator, ctx: Context) -> Lowered:
    return _pool(op, ctx, "tinyfl_max_pool_2d_s8")


def lower_mean(op: Operator, ctx: Context) -> Lowered:
    inp, axis, out = ctx.tensor(op.inputs[0]), ctx.tensor(op.inputs[1]), ctx.tensor(op.outputs[0])
    _require_int8(op, ctx, inp, out)
    if not axis.is_constant:
        raise ctx.fail(op, "axes are not constant")
    rank = len(inp.shape)
    if not 1 <= rank <= 4:
        raise ctx.fail(op, f"input rank {rank} is not supported (1..4)")
    axes = sorted({int(a) + rank if int(a) < 0 else int(a) for a in axis.data.reshape(-1)})
    if not axes or axes[0] < 0 or axes[-1] >= rank:
        raise ctx.fail(op, f"axes {axis.data.tolist()} out of range for rank {rank}")
    dims4 = (1,) * (4 - rank) + tuple(inp.shape)
    mask = 0
    count = 1
    for a in axes:
        mask |= 1 << (a + 4 - rank)
        count *= inp.shape[a]
    if out.size * count != inp.size:
        raise ctx.fail(op, "output size does not match the reduction")
    mult, shift = quant.mean_multiplier(inp.scale, out.scale, count)
    p = f"tinyfl_op{op.index}"
    params = f"static const int32_t {p}_dims[4] = {{{', '.join(str(d) for d in dims4)}}};\n"
    call = (
        f"tinyfl_mean_s8({p}_dims, {mask}u, {ctx.ptr(inp.index)}, {inp.zero_point}, {mult}, "
        f"{shift}, {out.zero_point}, {ctx.ptr(out.index)})"
    )
    return Lowered((params,), call, 0)


def lower_add(op: Operator, ctx: Context) -> Lowered:
    a, b, out = ctx.tensor(op.inputs[0]), ctx.tensor(op.inputs[1]), ctx.tensor(op.outputs[0])
    _require_int8(op, ctx, a, b, out)
    act = _activation(op, ctx)
    if a.size != out.size:
        a, b = b, a  # addition commutes; the broadcast operand goes second
    if a.size != out.size or (b.size != out.size and b.size != 1):
        raise ctx.fail(op, f"broadcast of {list(a.shape)} and {list(b.shape)} is not supported")
    params = quant.add_params(a.scale, b.scale, out.scale)
    act_min, act_max = quant.activation_range(act, out.scale, out.zero_point)
    consts = []
    ptrs = []
    for t, label in ((a, "input1"), (b, "input2")):
        if t.is_constant:
            name, _ = ctx.const_array(op, label, "int8_t", t.data.reshape(-1))
            ptrs.append(name)
        else:
            ptrs.append(ctx.ptr(t.index))
    p = f"tinyfl_op{op.index}_params"
    consts.append(
        f"static const tinyfl_add_params {p} = {{\n"
        f"    {-a.zero_point}, {-b.zero_point}, {out.zero_point}, {params['left_shift']},\n"
        f"    {params['input1_multiplier']}, {params['input1_shift']}, "
        f"{params['input2_multiplier']}, {params['input2_shift']},\n"
        f"    {params['output_multiplier']}, {params['output_shift']}, {act_min}, {act_max},\n}};\n"
    )
    call = f"tinyfl_add_s8(&{p}, {out.size}u, {ptrs[0]}, {ptrs[1]}, {b.size}u, {ctx.ptr(out.index)})"
    return Lowered(tuple(consts), call, 0)


def lower_quantize(op: Operator, ctx: Context) -> Lowered:
    from .cwriter import float_literal

    inp, out = ctx.tensor(op.inputs[0]), ctx.tensor(op.outputs[0])
    _require_int8(op, ctx, out)
    if inp.size != out.size:
        raise ctx.fail(op, "input and output sizes differ")
    if inp.dtype == "FLOAT32":
        call = (
            f"tinyfl_quantize_f32_s8({out.size}u, {ctx.ptr(inp.index)}, {float_literal(out.scale)}, "
            f"{out.zero_point}, {ctx.ptr(out.index)})"
        )
        return Lowered((), call, 0)
    _require_int8(op, ctx, inp)
    m, s = quant.quantize_multiplier(float(inp.scale) / float(out.scale))
    call = (
        f"tinyfl_requantize_s8({out.size}u, {ctx.ptr(inp.index)}, {inp.zero_point}, {m}, {s}, "
        f"{out.zero_point}, {ctx.ptr(out.index)})"
    )
    return Lowered((), call, 0)


def lower_dequantize(op: Operator, ctx: Context) -> Lowered:
    from .cwriter import float_literal

    inp, out = ctx.tensor(op.inputs[0]), ctx.tensor(op.outputs[0])
    _require_int8(op, ctx, inp)
    if out.dtype != "FLOAT32" or inp.size != out.size:
        raise ctx.fail(op, "only int8 -> float32 of equal size is supported")
    call = (
        f"tinyfl_dequantize_s8_f32({inp.size}u, {ctx.ptr(inp.index)}, {float_literal(inp.scale)}, "
        f"{inp.zero_point}, {ctx.ptr(out.index)})"
    )
    return Lowered((), call, 0)


def _unit_output(op: Operator, ctx: Context, out: Tensor) -> None:
    """SOFTMAX / LOGISTIC write probabilities on TFLM's fixed int8 grid: zero point -128 (and
    TFLM's SOFTMAX also insists on the scale 1/256)."""
    if out.zero_point != -128:
        raise ctx.fail(op, f"output zero point {out.zero_point}, TFLM requires -128")
    if op.op == "SOFTMAX" and np.float32(out.scale) != np.float32(1.0 / 256):
        raise ctx.fail(op, f"output scale {out.scale}, TFLM requires 1/256")


def lower_softmax(op: Operator, ctx: Context) -> Lowered:
    inp, out = ctx.tensor(op.inputs[0]), ctx.tensor(op.outputs[0])
    _require_int8(op, ctx, inp, out)
    _unit_output(op, ctx, out)
    if inp.shape != out.shape or not inp.shape:
        raise ctx.fail(op, f"input {list(inp.shape)} and output {list(out.shape)} shapes differ")
    beta = float(np.float32(op.options.get("beta", 1.0)))
    try:
        mult, shift, diff_min = quant.softmax_params(inp.scale, beta)
    except ValueError as exc:
        raise ctx.fail(op, str(exc)) from None
    depth = inp.shape[-1]
    p = f"tinyfl_op{op.index}_params"
    params = f"static const tinyfl_softmax_params {p} = {{{mult}, {shift}, {diff_min}}};\n"
    call = (
        f"tinyfl_softmax_s8(&{p}, {inp.size // depth}, {depth}, {ctx.ptr(inp.index)}, "
        f"{ctx.ptr(out.index)})"
    )
    return Lowered((params,), call, 0)


def lower_logistic(op: Operator, ctx: Context) -> Lowered:
    inp, out = ctx.tensor(op.inputs[0]), ctx.tensor(op.outputs[0])
    _require_int8(op, ctx, inp, out)
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


def _dims4(op: Operator, ctx: Context, t: Tensor) -> tuple[int, ...]:
    if len(t.shape) > 4:
        raise ctx.fail(op, f"tensor {t.name!r} has rank {len(t.shape)}; at most 4 is supported")
    return (1,) * (4 - len(t.shape)) + tuple(t.shape)


def _data_ptr(op: Operator, ctx: Context, t: Tensor, label: str) -> str:
    """An int8 operand: its arena buffer, or a const array when the model holds it as data."""
    if t.is_constant:
        name, _ = ctx.const_array(op, label, "int8_t", t.data.reshape(-1))
        return name
    return ctx.ptr(t.index)


def _same_quant(op: Operator, ctx: Context, a: Tensor, b: Tensor) -> None:
    if np.float32(a.scale) != np.float32(b.scale) or a.zero_point != b.zero_point:
        raise ctx.fail(op, f"{op.op} needs equal input and output quantization "
                           f"({a.scale}, {a.zero_point} vs {b.scale}, {b.zero_point})")


def _constant_ints(op: Operator, ctx: Context, index: int, what: str) -> np.ndarray:
    t = ctx.tensor(index)
    if not t.is_constant or t.dtype not in ("INT32", "INT64"):
        raise ctx.fail(op, f"{what} {t.name!r} must be a constant integer tensor")
    return t.data.astype(np.int64)


def lower_mul(op: Operator, ctx: Context) -> Lowered:
    a, b, out = ctx.tensor(op.inputs[0]), ctx.tensor(op.inputs[1]), ctx.tensor(op.outputs[0])
    _require_int8(op, ctx, a, b, out)
    act = _activation(op, ctx)
    da, db, do = _dims4(op, ctx, a), _dims4(op, ctx, b), _dims4(op, ctx, out)
    for x, y, z in zip(da, db, do):
        if z != max(x, y) or x not in (1, z) or y not in (1, z):
            raise ctx.fail(op, f"shapes {list(a.shape)} x {list(b.shape)} -> {list(out.shape)} do not broadcast")
    mult, shift = quant.mul_multiplier(a.scale, b.scale, out.scale)
    act_min, act_max = quant.activation_range(act, out.scale, out.zero_point)
    pa, pb = _data_ptr(op, ctx, a, "input1"), _data_ptr(op, ctx, b, "input2")
    p = f"tinyfl_op{op.index}"
    fmt = lambda d: f"{{{', '.join(map(str, d))}}}"  # noqa: E731
    params = (
        f"static const tinyfl_mul_params {p}_params = {{{-a.zero_point}, {-b.zero_point}, "
        f"{out.zero_point}, {mult}, {shift}, {act_min}, {act_max}}};\n"
        f"static const tinyfl_dims {p}_in1 = {fmt(da)};\n"
        f"static const tinyfl_dims {p}_in2 = {fmt(db)};\n"
        f"static const tinyfl_dims {p}_out = {fmt(do)};\n"
    )
    call = (f"tinyfl_mul_s8(&{p}_params, &{p}_in1, {pa}, &{p}_in2, {pb}, &{p}_out, "
            f"{ctx.ptr(out.index)})")
    return Lowered((params,), call, 0)


def lower_concatenation(op: Operator, ctx: Context) -> Lowered:
    out = ctx.tensor(op.outputs[0])
    ins = [ctx.tensor(i) for i in op.inputs]
    _require_int8(op, ctx, out, *ins)
    if _activation(op, ctx) != "NONE":
        raise ctx.fail(op, "a fused activation on CONCATENATION is not supported")
    rank = len(out.shape)
    axis = int(op.options.get("axis", 0))
    axis = axis + rank if axis < 0 else axis
    if not 0 <= axis < rank:
        raise ctx.fail(op, f"axis {op.options.get('axis')} out of range for rank {rank}")
    for t in ins:
        _same_quant(op, ctx, t, out)
        if len(t.shape) != rank or any(t.shape[k] != out.shape[k] for k in range(rank) if k != axis):
            raise ctx.fail(op, f"input {list(t.shape)} does not fit output {list(out.shape)} on axis {axis}")
    if sum(t.shape[axis] for t in ins) != out.shape[axis]:
        raise ctx.fail(op, "input sizes along the axis do not add up to the output's")
    outer = int(np.prod(out.shape[:axis], dtype=np.int64))
    inner = int(np.prod(out.shape[axis + 1:], dtype=np.int64))
    ptrs = [_data_ptr(op, ctx, t, f"input{k}") for k, t in enumerate(ins)]
    sizes, _ = ctx.const_array(op, "axis_sizes", "int32_t", np.array([t.shape[axis] for t in ins]))
    call = (f"tinyfl_concatenation_s8({len(ins)}u, (const int8_t *const[]){{{', '.join(ptrs)}}}, "
            f"{sizes}, {outer}, {inner}, {ctx.ptr(out.index)})")
    return Lowered((), call, 0)


def lower_pad(op: Operator, ctx: Context) -> Lowered:
    inp, out = ctx.tensor(op.inputs[0]), ctx.tensor(op.outputs[0])
    _require_int8(op, ctx, inp, out)
    _same_quant(op, ctx, inp, out)
    pads = _constant_ints(op, ctx, op.inputs[1], "paddings")
    rank = len(inp.shape)
    if pads.shape != (rank, 2) or (pads < 0).any():
        raise ctx.fail(op, f"paddings of shape {list(pads.shape)} for rank {rank}")
    din, dout = _dims4(op, ctx, inp), _dims4(op, ctx, out)
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


def _reduce_axes(op: Operator, ctx: Context, inp: Tensor, out: Tensor) -> tuple[tuple[int, ...], int]:
    """(the input's 4-D dims, the mask of reduced dimensions) of MEAN-style reductions."""
    rank = len(inp.shape)
    if not 1 <= rank <= 4:
        raise ctx.fail(op, f"input rank {rank} is not supported (1..4)")
    raw = _constant_ints(op, ctx, op.inputs[1], "axes").reshape(-1)
    if raw.size == 0 or (raw < -rank).any() or (raw >= rank).any():
        raise ctx.fail(op, f"axes {raw.tolist()} out of range for rank {rank}")
    axes = sorted({int(a) + rank if a < 0 else int(a) for a in raw})
    mask, count = 0, 1
    for a in axes:
        mask |= 1 << (a + 4 - rank)
        count *= inp.shape[a]
    if out.size * count != inp.size:
        raise ctx.fail(op, "output size does not match the reduction")
    return (1,) * (4 - rank) + tuple(inp.shape), mask


def lower_reduce_max(op: Operator, ctx: Context) -> Lowered:
    inp, out = ctx.tensor(op.inputs[0]), ctx.tensor(op.outputs[0])
    _require_int8(op, ctx, inp, out)
    _same_quant(op, ctx, inp, out)
    dims4, mask = _reduce_axes(op, ctx, inp, out)
    p = f"tinyfl_op{op.index}"
    params = f"static const int32_t {p}_dims[4] = {{{', '.join(str(d) for d in dims4)}}};\n"
    call = f"tinyfl_reduce_max_s8({p}_dims, {mask}u, {ctx.ptr(inp.index)}, {ctx.ptr(out.index)})"
    return Lowered((params,), call, 0)


def lower_transpose(op: Operator, ctx: Context) -> Lowered:
    inp, out = ctx.tensor(op.inputs[0]), ctx.tensor(op.outputs[0])
    _require_int8(op, ctx, inp, out)
    _same_quant(op, ctx, inp, out)
    perm = _constant_ints(op, ctx, op.inputs[1], "permutation").reshape(-1)
    rank = len(inp.shape)
    if rank > 4 or sorted(perm.tolist()) != list(range(rank)):
        raise ctx.fail(op, f"permutation {perm.tolist()} for rank {rank}")
    if tuple(inp.shape[int(k)] for k in perm) != tuple(out.shape):
        raise ctx.fail(op, f"permutation {perm.tolist()} does not take {list(inp.shape)} to {list(out.shape)}")
    lead = 4 - rank
    perm4 = list(range(lead)) + [int(k) + lead for k in perm]
    p = f"tinyfl_op{op.index}"
    params = (
        f"static const int32_t {p}_dims[4] = {{{', '.join(map(str, _dims4(op, ctx, inp)))}}};\n"
        f"static const int32_t {p}_perm[4] = {{{', '.join(map(str, perm4))}}};\n"
    )
    call = f"tinyfl_transpose_s8({p}_dims, {p}_perm, {ctx.ptr(inp.index)}, {ctx.ptr(out.index)})"
    return Lowered((params,), call, 0)


def lower_hard_swish(op: Operator, ctx: Context) -> Lowered:
    inp, out = ctx.tensor(op.inputs[0]), ctx.tensor(op.outputs[0])
    _require_int8(op, ctx, inp, out)
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


LOWERINGS: dict[str, Callable[[Operator, Context], Lowered]] = {
    "CONV_2D": lower_conv_2d,
    "DEPTHWISE_CONV_2D": lower_depthwise_conv_2d,
    "FULLY_CONNECTED": lower_fully_connected,
    "AVERAGE_POOL_2D": lower_average_pool_2d,
    "MAX_POOL_2D": lower_max_pool_2d,
    "MEAN": lower_mean,
    "ADD": lower_add,
    "QUANTIZE": lower_quantize,
    "DEQUANTIZE": lower_dequantize,
    "SOFTMAX": lower_softmax,
    "LOGISTIC": lower_logistic,
    "MUL": lower_mul,
    "CONCATENATION": lower_concatenation,
    "PAD": lower_pad,
    "REDUCE_MAX": lower_reduce_max,
    "TRANSPOSE": lower_transpose,
    "HARD_SWISH": lower_hard_swish,
}

SUPPORTED_OPS = tuple(sorted(set(LOWERINGS) | ALIAS_OPS))

# Ops whose call gets its own function in the generated C: with TINYFL_KERNELS_OPTIMIZED the
# inline fast kernel is specialized to the layer's constant shapes there (and can be timed alone).
WRAPPED_OPS = frozenset({"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"})

# Kernel source files each lowering needs (all kernels are small; a model links only these).
KERNEL_FILES: dict[str, tuple[str, ...]] = {
    "CONV_2D": ("tinyfl_conv_2d_s8.c",),
    "DEPTHWISE_CONV_2D": ("tinyfl_depthwise_conv_2d_s8.c",),
    "FULLY_CONNECTED": ("tinyfl_fully_connected_s8.c",),
    "AVERAGE_POOL_2D": ("tinyfl_avg_pool_2d_s8.c",),
    "MAX_POOL_2D": ("tinyfl_max_pool_2d_s8.c",),
    "MEAN": ("tinyfl_mean_s8.c",),
    "ADD": ("tinyfl_add_s8.c",),
    "QUANTIZE": ("tinyfl_quantize_f32_s8.c", "tinyfl_requantize_s8.c"),
    "DEQUANTIZE": ("tinyfl_dequantize_s8_f32.c",),
    "SOFTMAX": ("tinyfl_softmax_s8.c",),
    "LOGISTIC": ("tinyfl_logistic_s8.c",),
    "MUL": ("tinyfl_mul_s8.c",),
    "CONCATENATION": ("tinyfl_concatenation_s8.c",),
    "PAD": ("tinyfl_pad_s8.c",),
    "REDUCE_MAX": ("tinyfl_reduce_max_s8.c",),
    "TRANSPOSE": ("tinyfl_transpose_s8.c",),
    "HARD_SWISH": ("tinyfl_hard_swish_s8.c",),
}
