"""Lowering of each supported TFLite builtin to one call of a firmware/kernels function.

Every emitter validates what it relies on and raises UnsupportedModelError naming the operator
and its layer (the output tensor's name) for anything else, so no model is silently miscompiled.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from . import quant
from .ops_activation import lower_hard_swish, lower_logistic, lower_softmax
from .ops_common import (
    ALIAS_OPS,
    PADDINGS,
    Context,
    Lowered,
    UnsupportedModelError,
    activation,
    bias_array,
    check_out_size,
    data_ptr,
    dims4,
    dims_literal,
    reduce_axes,
    require_4d,
    require_int8,
    check_weights,
)
from .cwriter import int_array
from .ops_layout import lower_concatenation, lower_pad, lower_reduce_max, lower_transpose
from .tflite_reader import Operator


def _conv_like(op: Operator, ctx: Context, depthwise: bool) -> Lowered:
    inp, flt = ctx.tensor(op.inputs[0]), ctx.tensor(op.inputs[1])
    out = ctx.tensor(op.outputs[0])
    require_int8(op, ctx, inp, out)
    require_4d(op, ctx, inp, flt, out)
    check_weights(op, ctx, flt, "filter")
    padding = PADDINGS.get(int(op.options.get("padding", -1)))
    if padding is None:
        raise ctx.fail(op, f"padding {op.options.get('padding')} is not supported")
    act = activation(op, ctx)
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
    check_out_size(op, ctx, padding, in_h, (f_h - 1) * dh + 1, sh, out_h)
    check_out_size(op, ctx, padding, in_w, (f_w - 1) * dw + 1, sw, out_w)
    pad_h = quant.compute_padding(sh, dh, in_h, f_h, out_h)
    pad_w = quant.compute_padding(sw, dw, in_w, f_w, out_w)
    mults, shifts = quant.conv_per_channel_multipliers(inp.scale, flt.scales, out.scale, out_c)
    act_min, act_max = quant.activation_range(act, out.scale, out.zero_point)
    # Pre-widened weights where the fast kernel takes them (see ctx.weights_array).
    if depthwise:
        wide = mult == 1 and out_c % 4 == 0 and dh == 1 and dw == 1
    else:
        wide = in_c % 4 == 0 and dh == 1 and dw == 1
    if wide:
        f_name = ctx.weights_array(op, "filter", flt.data.reshape(-1 if depthwise else out_c, 4 if depthwise else -1))
    else:
        f_name, _ = ctx.const_array(op, "filter", "int8_t", flt.data.reshape(-1))
    bias = bias_array(op, ctx, op.inputs[2] if len(op.inputs) > 2 else -1, out_c)
    m_name, _ = ctx.const_array(op, "mult", "int32_t", np.array(mults))
    s_name, _ = ctx.const_array(op, "shift", "int32_t", np.array(shifts))
    p_name = f"tinyfl_op{op.index}_params"
    params = (
        f"static const tinyfl_conv_params {p_name} = {{\n"
        f"    {-inp.zero_point}, {out.zero_point}, {sh}, {sw}, {dh}, {dw}, {pad_h}, {pad_w}, {mult}, "
        f"{act_min}, {act_max}, {quant.requant_short_ok(mults, shifts)},\n}};\n"
        f"static const tinyfl_dims tinyfl_op{op.index}_in = {dims_literal(inp)};\n"
        f"static const tinyfl_dims tinyfl_op{op.index}_flt = {dims_literal(flt)};\n"
        f"static const tinyfl_dims tinyfl_op{op.index}_out = {dims_literal(out)};\n"
    )
    fn = ("TINYFL_DEPTHWISE_CONV_2D_S8" if depthwise else "TINYFL_CONV_2D_S8") + ("_WIDE" if wide else "")
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
    require_int8(op, ctx, inp, out)
    check_weights(op, ctx, flt, "weights")
    if int(op.options.get("weightsFormat", 0)) != 0:
        raise ctx.fail(op, "shuffled weights format is not supported")
    act = activation(op, ctx)
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
    f_name = ctx.weights_array(op, "weights", flt.data.reshape(out_f, in_f))
    bias = bias_array(op, ctx, op.inputs[2] if len(op.inputs) > 2 else -1, out_f)
    fn = "TINYFL_FULLY_CONNECTED_S8_WIDE" if in_f % 4 == 0 else "TINYFL_FULLY_CONNECTED_S8"
    m_name, _ = ctx.const_array(op, "mult", "int32_t", np.array(mults))
    s_name, _ = ctx.const_array(op, "shift", "int32_t", np.array(shifts))
    p_name = f"tinyfl_op{op.index}_params"
    params = (
        f"static const tinyfl_fc_params {p_name} = {{{-inp.zero_point}, {out.zero_point}, "
        f"{act_min}, {act_max}, {quant.requant_short_ok(mults, shifts)}}};\n"
    )
    call = (
        f"{fn}(&{p_name}, {batches}, {in_f}, {out_f}, {ctx.ptr(inp.index)}, "
        f"{f_name}, {bias}, {m_name}, {s_name}, {len(mults)}, {ctx.ptr(out.index)})"
    )
    return Lowered((params,), call, batches * in_f * out_f)


def _pool(op: Operator, ctx: Context, fn: str) -> Lowered:
    inp, out = ctx.tensor(op.inputs[0]), ctx.tensor(op.outputs[0])
    require_int8(op, ctx, inp, out)
    require_4d(op, ctx, inp, out)
    if inp.scale != out.scale or inp.zero_point != out.zero_point:
        raise ctx.fail(op, "pooling with different input and output quantization is not supported")
    padding = PADDINGS.get(int(op.options.get("padding", -1)))
    if padding is None:
        raise ctx.fail(op, f"padding {op.options.get('padding')} is not supported")
    act = activation(op, ctx)
    sh, sw = int(op.options["strideH"]), int(op.options["strideW"])
    fh, fw = int(op.options["filterHeight"]), int(op.options["filterWidth"])
    _, in_h, in_w, _ = inp.shape
    _, out_h, out_w, _ = out.shape
    check_out_size(op, ctx, padding, in_h, fh, sh, out_h)
    check_out_size(op, ctx, padding, in_w, fw, sw, out_w)
    pad_h = quant.compute_padding(sh, 1, in_h, fh, out_h)
    pad_w = quant.compute_padding(sw, 1, in_w, fw, out_w)
    act_min, act_max = quant.activation_range(act, out.scale, out.zero_point)
    p = f"tinyfl_op{op.index}"
    params = (
        f"static const tinyfl_pool_params {p}_params = {{{sh}, {sw}, {fh}, {fw}, {pad_h}, {pad_w}, "
        f"{act_min}, {act_max}}};\n"
        f"static const tinyfl_dims {p}_in = {dims_literal(inp)};\n"
        f"static const tinyfl_dims {p}_out = {dims_literal(out)};\n"
    )
    call = f"{fn}(&{p}_params, &{p}_in, {ctx.ptr(inp.index)}, &{p}_out, {ctx.ptr(out.index)})"
    return Lowered((params,), call, 0)


def lower_average_pool_2d(op: Operator, ctx: Context) -> Lowered:
    return _pool(op, ctx, "TINYFL_AVG_POOL_2D_S8")


def lower_max_pool_2d(op: Operator, ctx: Context) -> Lowered:
    return _pool(op, ctx, "TINYFL_MAX_POOL_2D_S8")


def lower_mean(op: Operator, ctx: Context) -> Lowered:
    inp, out = ctx.tensor(op.inputs[0]), ctx.tensor(op.outputs[0])
    require_int8(op, ctx, inp, out)
    dims, mask, count = reduce_axes(op, ctx, inp, out)
    mult, shift = quant.mean_multiplier(inp.scale, out.scale, count)
    p = f"tinyfl_op{op.index}"
    params = f"static const int32_t {p}_dims[4] = {{{', '.join(str(d) for d in dims)}}};\n"
    call = (
        f"tinyfl_mean_s8({p}_dims, {mask}u, {ctx.ptr(inp.index)}, {inp.zero_point}, {mult}, "
        f"{shift}, {out.zero_point}, {ctx.ptr(out.index)})"
    )
    return Lowered((params,), call, 0)


def lower_add(op: Operator, ctx: Context) -> Lowered:
    a, b, out = ctx.tensor(op.inputs[0]), ctx.tensor(op.inputs[1]), ctx.tensor(op.outputs[0])
    require_int8(op, ctx, a, b, out)
    act = activation(op, ctx)
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
    # The fast kernel's lookup table of both inputs' rescaled values (fast builds only).
    table = int_array("int32_t", f"{p[:-len('_params')]}_table",
                      quant.add_table(-a.zero_point, -b.zero_point, params))
    consts.append(f"#if TINYFL_KERNELS_FAST\n{table}#endif\n")
    ctx.add_table_bytes += 512 * 4
    call = (f"TINYFL_ADD_S8(&{p}, {p[:-len('_params')]}_table, {out.size}u, {ptrs[0]}, {ptrs[1]}, "
            f"{b.size}u, {ctx.ptr(out.index)})")
    return Lowered(tuple(consts), call, 0)


def lower_quantize(op: Operator, ctx: Context) -> Lowered:
    from .cwriter import float_literal

    inp, out = ctx.tensor(op.inputs[0]), ctx.tensor(op.outputs[0])
    require_int8(op, ctx, out)
    if inp.size != out.size:
        raise ctx.fail(op, "input and output sizes differ")
    if inp.dtype == "FLOAT32":
        call = (
            f"TINYFL_QUANTIZE_F32_S8({out.size}u, {ctx.ptr(inp.index)}, {float_literal(out.scale)}, "
            f"{out.zero_point}, {ctx.ptr(out.index)})"
        )
        return Lowered((), call, 0)
    require_int8(op, ctx, inp)
    m, s = quant.quantize_multiplier(float(inp.scale) / float(out.scale))
    call = (
        f"tinyfl_requantize_s8({out.size}u, {ctx.ptr(inp.index)}, {inp.zero_point}, {m}, {s}, "
        f"{out.zero_point}, {ctx.ptr(out.index)})"
    )
    return Lowered((), call, 0)


def lower_dequantize(op: Operator, ctx: Context) -> Lowered:
    from .cwriter import float_literal

    inp, out = ctx.tensor(op.inputs[0]), ctx.tensor(op.outputs[0])
    require_int8(op, ctx, inp)
    if out.dtype != "FLOAT32" or inp.size != out.size:
        raise ctx.fail(op, "only int8 -> float32 of equal size is supported")
    call = (
        f"tinyfl_dequantize_s8_f32({inp.size}u, {ctx.ptr(inp.index)}, {float_literal(inp.scale)}, "
        f"{inp.zero_point}, {ctx.ptr(out.index)})"
    )
    return Lowered((), call, 0)


def lower_mul(op: Operator, ctx: Context) -> Lowered:
    a, b, out = ctx.tensor(op.inputs[0]), ctx.tensor(op.inputs[1]), ctx.tensor(op.outputs[0])
    require_int8(op, ctx, a, b, out)
    act = activation(op, ctx)
    da, db, do = dims4(op, ctx, a), dims4(op, ctx, b), dims4(op, ctx, out)
    for x, y, z in zip(da, db, do):
        if z != max(x, y) or x not in (1, z) or y not in (1, z):
            raise ctx.fail(op, f"shapes {list(a.shape)} x {list(b.shape)} -> {list(out.shape)} do not broadcast")
    mult, shift = quant.mul_multiplier(a.scale, b.scale, out.scale)
    act_min, act_max = quant.activation_range(act, out.scale, out.zero_point)
    pa, pb = data_ptr(op, ctx, a, "input1"), data_ptr(op, ctx, b, "input2")
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


__all__ = ["ALIAS_OPS", "ARITY", "KERNEL_FILES", "LOWERINGS", "SUPPORTED_OPS", "UnsupportedModelError", "WRAPPED_OPS"]

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

# (fewest, most) inputs each op takes in a .tflite; the last ones of CONV/FC (bias) and RESHAPE
# (new shape) are optional. Every supported op has exactly one output.
ARITY: dict[str, tuple[int, int]] = {
    "CONV_2D": (2, 3), "DEPTHWISE_CONV_2D": (2, 3), "FULLY_CONNECTED": (2, 3),
    "AVERAGE_POOL_2D": (1, 1), "MAX_POOL_2D": (1, 1), "MEAN": (2, 2), "ADD": (2, 2),
    "QUANTIZE": (1, 1), "DEQUANTIZE": (1, 1), "SOFTMAX": (1, 1), "LOGISTIC": (1, 1),
    "MUL": (2, 2), "CONCATENATION": (1, 64), "PAD": (2, 2), "REDUCE_MAX": (2, 2),
    "TRANSPOSE": (2, 2), "HARD_SWISH": (1, 1), "RESHAPE": (1, 2), "EXPAND_DIMS": (2, 2),
    "SQUEEZE": (1, 1),
}

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
