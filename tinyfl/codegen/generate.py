"""Turn an int8 .tflite backbone into C: constant weights, a static arena plan, the call sequence.

The output implements the backbone seam (firmware/tinyfl_model.h): tinyfl_model_backbone() fills
a tinyfl_backbone whose extract() maps one float window to the float feature vector. Output is a
pure function of the .tflite bytes (no timestamps, no paths), so it is reproducible byte for byte.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..paths import FIRMWARE_DIR, build_dir
from . import ops as _ops
from . import quant
from .cwriter import Identifiers, comment_text, float_literal, int_array
from .fold import fold_constants
from .planner import Buffer, check_plan, plan_memory
from .tflite_reader import Model, Operator, Tensor, read_tflite

GENERATOR_FORMAT = 4  # bump when the generated C's shape changes
KERNELS_VERSION = 4  # must equal TINYFL_KERNELS_VERSION in firmware/kernels/tinyfl_kernels.h
MAX_TENSOR_BYTES = 16 << 20  # no microcontroller holds a larger activation
C_NAME = "tinyfl_model_gen.c"
H_NAME = "tinyfl_model_gen.h"
KERNELS_DIR = FIRMWARE_DIR / "kernels"

UnsupportedModelError = _ops.UnsupportedModelError


@dataclass(frozen=True)
class StepInfo:
    index: int  # operator index in the .tflite (-1: inserted input quantize, -2: output dequantize)
    op: str
    layer: str
    macs: int
    arena_offset: int | None  # where its output lives, None outside the arena


@dataclass(frozen=True)
class GeneratedModel:
    c_source: str
    h_source: str
    arena_bytes: int
    weight_bytes: int
    macs: int
    input_len: int
    feature_len: int
    model_hash: int
    kernel_files: tuple[str, ...]
    steps: tuple[StepInfo, ...] = field(default_factory=tuple)
    # Flash the pre-widened weights add when built with TINYFL_KERNELS_WIDE_WEIGHTS (the
    # default of the fast kernels): one more byte per weight of every widened layer.
    wide_weight_bytes: int = 0
    # Flash of the fast ADD's lookup tables (fast builds only): 2 KB per ADD.
    add_table_bytes: int = 0

    @property
    def io_bytes(self) -> int:
        """The float window and feature vector the caller passes in (its own buffers)."""
        return 4 * (self.input_len + self.feature_len)

    @property
    def ram_bytes(self) -> int:
        """Every data buffer one inference touches: the arena plus the float window and features
        (the stack comes on top; see tinyfl.codegen.report)."""
        return self.arena_bytes + self.io_bytes

    @property
    def kernel_sources(self) -> list[Path]:
        return [KERNELS_DIR / f for f in self.kernel_files]

    def write(self, out_dir: Path | str | None = None) -> tuple[Path, Path]:
        """Write the .c and .h into out_dir (default: build/model); never into firmware/."""
        target = Path(out_dir) if out_dir is not None else build_dir() / "model"
        if target.resolve().is_relative_to(FIRMWARE_DIR.resolve()):
            raise ValueError(f"generated C must not go into firmware/ ({target})")
        target.mkdir(parents=True, exist_ok=True)
        c_path, h_path = target / C_NAME, target / H_NAME
        for path, text in ((c_path, self.c_source), (h_path, self.h_source)):
            if not path.exists() or path.read_text() != text:
                path.write_text(text)
        return c_path, h_path


class _Ctx:
    def __init__(self, model: Model, root: dict[int, int], ptrs: dict[int, str]) -> None:
        self.model = model
        self.root = root
        self.ptrs = ptrs
        self.idents = Identifiers()
        self.consts: list[str] = []
        self.weight_bytes = 0
        self.wide_weight_bytes = 0  # extra flash of the pre-widened copies, when compiled
        self.add_table_bytes = 0  # the fast ADD's lookup tables (fast builds only)

    def tensor(self, index: int) -> Tensor:
        return self.model.tensors[index]

    def ptr(self, index: int) -> str:
        r = self.root.get(index, index)
        if r not in self.ptrs:
            raise AssertionError(f"tensor {index} has no buffer")
        return self.ptrs[r]

    def const_array(self, op: Operator, suffix: str, c_type: str, values: np.ndarray) -> tuple[str, str]:
        name = self.idents.new(f"tinyfl_op{op.index}_{suffix}")
        align = "TINYFL_GEN_ALIGN" if c_type == "int8_t" else ""
        decl = int_array(c_type, name, values.tolist(), align=align)
        self.consts.append(decl)
        self.weight_bytes += int(values.size) * (1 if c_type == "int8_t" else 4)
        return name, decl

    def weights_array(self, op: Operator, suffix: str, rows: np.ndarray) -> str:
        """int8 weights, plus (rows a multiple of 4 long) the pre-widened int16 copy under
        TINYFL_KERNELS_WIDE_WEIGHTS: one name, the build compiles one of the two."""
        name = self.idents.new(f"tinyfl_op{op.index}_{suffix}")
        narrow = int_array("int8_t", name, rows.reshape(-1).tolist(), align="TINYFL_GEN_ALIGN")
        self.weight_bytes += int(rows.size)
        if rows.shape[-1] % 4 != 0:
            self.consts.append(narrow)
            return name
        wide = int_array("int16_t", name, quant.widen_weights(rows).tolist(), align="TINYFL_GEN_ALIGN")
        self.consts.append(f"#if TINYFL_KERNELS_WIDE_WEIGHTS\n{wide}#else\n{narrow}#endif\n")
        self.wide_weight_bytes += int(rows.size)
        return name

    def fail(self, op: Operator, why: str) -> UnsupportedModelError:
        return UnsupportedModelError(f"{_describe(self.model, op)}: {why}")


_GENERIC_NAME = re.compile(r"^(StatefulPartitionedCall|serving_default|tfl\.|arith\.constant)")


def layer_name(model: Model, op: Operator) -> str:
    """The Keras layer an operator came from, as far as tensor names tell: the output's name,
    or (for graph outputs, which get generic names) the nearest descriptive input name."""
    names = [model.tensors[i].name for i in (*op.outputs, *op.inputs) if i >= 0]
    for name in names:
        if not _GENERIC_NAME.match(name):
            return name
    return names[0] if names else "?"


def _describe(model: Model, op: Operator) -> str:
    return f"op #{op.index} {op.op} (layer '{layer_name(model, op)}')"


def generate(tflite: bytes, *, name: str = "backbone") -> GeneratedModel:
    """Generate the C model for the backbone in `tflite` (one float or int8 input window, one
    feature vector output)."""
    model, folded = fold_constants(read_tflite(tflite))
    _check_supported(model)
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise UnsupportedModelError(
            f"the backbone must have one input and one output, found {len(model.inputs)} and "
            f"{len(model.outputs)}"
        )
    t_in, t_out = model.tensors[model.inputs[0]], model.tensors[model.outputs[0]]
    for t, role in ((t_in, "input"), (t_out, "output")):
        if not t.shape or t.shape[0] != 1:
            raise UnsupportedModelError(f"{role} {t.name!r} must have batch 1, shape {list(t.shape)}")
        if t.dtype not in ("FLOAT32", "INT8"):
            raise UnsupportedModelError(f"{role} {t.name!r} is {t.dtype}; float32 or int8 expected")
    input_len, feature_len = t_in.size, t_out.size
    if input_len > 0xFFFF or feature_len > 0xFFFF:
        raise UnsupportedModelError("input or feature vector longer than 65535 values")

    root = _alias_roots(model)
    n_ops = len(model.operators)
    # Steps: 0 = quantize the float window (int8-input models), i + 1 = operator i,
    # n_ops + 1 = dequantize into the features (int8-output models).
    in_root, out_root = root.get(t_in.index, t_in.index), root.get(t_out.index, t_out.index)
    ptrs: dict[int, str] = {}
    if t_in.dtype == "FLOAT32":
        ptrs[in_root] = "window"
    if t_out.dtype == "FLOAT32":
        ptrs[out_root] = "features"

    first: dict[int, int] = {}
    last: dict[int, int] = {}

    def use(index: int, step: int, write: bool) -> None:
        if index < 0 or model.tensors[index].is_constant:
            return
        r = root.get(index, index)
        if r in ptrs:
            return
        t = model.tensors[r]
        if t.dtype != "INT8":
            op_desc = f"tensor {t.name!r}"
            raise UnsupportedModelError(
                f"{op_desc} is an intermediate {t.dtype} tensor; only int8 activations are supported "
                "(convert with full-integer quantization)"
            )
        if write:
            first[r] = min(first.get(r, step), step)
        else:
            last[r] = max(last.get(r, step), step)

    if t_in.dtype == "INT8":
        use(t_in.index, 0, write=True)
    for i, op in enumerate(model.operators):
        if op.op in _ops.ALIAS_OPS:
            continue
        for idx in op.inputs:
            use(idx, i + 1, write=False)
        for idx in op.outputs:
            use(idx, i + 1, write=True)
    if t_out.dtype == "INT8":
        use(t_out.index, n_ops + 1, write=False)
    for r in list(first):
        if r not in last:
            last[r] = first[r]  # written, never read
    missing = sorted(set(last) - set(first))
    if missing:
        names = ", ".join(repr(model.tensors[r].name) for r in missing)
        raise UnsupportedModelError(f"tensors read before any operator writes them: {names}")

    buffers = [Buffer(r, model.tensors[r].size, first[r], last[r]) for r in sorted(first)]
    plan = plan_memory(buffers)
    check_plan(buffers, plan)
    for r, off in plan.offsets.items():
        ptrs[r] = f"(int8_t *)(arena + {off})"

    ctx = _Ctx(model, root, ptrs)
    calls: list[tuple[str, str]] = [
        (f"op {op.index} {op.op} {layer_name(model, op)}: constant, folded at generation time", "")
        for op in folded
    ]
    steps: list[StepInfo] = []
    kernel_files: set[str] = set()
    macs = 0
    if t_in.dtype == "INT8":
        kernel_files.add("tinyfl_quantize_f32_s8.c")
        calls.append((
            f"quantize the float window into {t_in.name}",
            f"TINYFL_QUANTIZE_F32_S8({input_len}u, window, {float_literal(t_in.scale)}, "
            f"{t_in.zero_point}, {ctx.ptr(t_in.index)})",
        ))
        steps.append(StepInfo(-1, "QUANTIZE", t_in.name, 0, plan.offsets.get(in_root)))
    for op in model.operators:
        layer = layer_name(model, op)
        if op.op in _ops.ALIAS_OPS:
            _check_alias(model, op)
            calls.append((f"op {op.index} {op.op} {layer}: shares its input's buffer", ""))
            continue
        lowered = _ops.LOWERINGS[op.op](op, ctx)
        ctx.consts.extend(lowered.consts)
        kernel_files.update(_ops.KERNEL_FILES[op.op])
        macs += lowered.macs
        call = lowered.call
        if op.op in _ops.WRAPPED_OPS:
            fn = ctx.idents.new(f"tinyfl_op{op.index}_{op.op.lower()}")
            ctx.consts.append(
                f"/* op {op.index} {op.op} {comment_text(layer)} ({lowered.macs} MACs) */\n"
                f"static TINYFL_GEN_NOINLINE tinyfl_status {fn}(uint8_t *arena)\n{{\n"
                f"    return {call};\n}}\n"
            )
            call = f"{fn}(arena)"
        calls.append((f"op {op.index} {op.op} {layer}", call))
        out_r = root.get(op.outputs[0], op.outputs[0])
        steps.append(StepInfo(op.index, op.op, layer, lowered.macs, plan.offsets.get(out_r)))
    if t_out.dtype == "INT8":
        kernel_files.add("tinyfl_dequantize_s8_f32.c")
        calls.append((
            f"dequantize {t_out.name} into the features",
            f"tinyfl_dequantize_s8_f32({feature_len}u, {ctx.ptr(t_out.index)}, "
            f"{float_literal(t_out.scale)}, {t_out.zero_point}, features)",
        ))
        steps.append(StepInfo(-2, "DEQUANTIZE", t_out.name, 0, None))

    digest = hashlib.sha256(tflite).digest()
    model_hash = int.from_bytes(digest[:4], "little")
    arena = plan.arena_bytes
    info = _Info(name, digest.hex(), arena, ctx.weight_bytes, macs, input_len, feature_len, model_hash)
    c_source = _render_c(info, ctx.consts, calls)
    h_source = _render_h(info)
    return GeneratedModel(
        c_source=c_source,
        h_source=h_source,
        arena_bytes=arena,
        weight_bytes=ctx.weight_bytes,
        macs=macs,
        input_len=input_len,
        feature_len=feature_len,
        model_hash=model_hash,
        kernel_files=tuple(sorted(kernel_files)),
        steps=tuple(steps),
        wide_weight_bytes=ctx.wide_weight_bytes,
        add_table_bytes=ctx.add_table_bytes,
    )


def generate_to(tflite: bytes, out_dir: Path | str | None = None, *, name: str = "backbone") -> GeneratedModel:
    gen = generate(tflite, name=name)
    gen.write(out_dir)
    return gen


def _check_supported(model: Model) -> None:
    bad = [op for op in model.operators if op.op not in _ops.SUPPORTED_OPS]
    if bad:
        listed = "; ".join(_describe(model, op) for op in bad)
        raise UnsupportedModelError(
            f"unsupported operator(s): {listed}. Supported: {', '.join(_ops.SUPPORTED_OPS)}"
        )
    for op in model.operators:
        fewest, most = _ops.ARITY[op.op]
        required = op.inputs[:fewest]
        if not fewest <= len(op.inputs) <= most or -1 in required or len(op.outputs) != 1:
            raise UnsupportedModelError(
                f"{_describe(model, op)}: {len(op.inputs)} inputs and {len(op.outputs)} outputs "
                f"(expected {fewest}..{most} inputs, all present, and one output)"
            )
    for t in model.tensors:
        if t.size > MAX_TENSOR_BYTES:
            raise UnsupportedModelError(f"tensor {t.name!r} of {t.size} values exceeds any board's RAM")


def _alias_roots(model: Model) -> dict[int, int]:
    root: dict[int, int] = {}
    for op in model.operators:
        if op.op in _ops.ALIAS_OPS:
            src = op.inputs[0]
            root[op.outputs[0]] = root.get(src, src)
    return root


def _check_alias(model: Model, op: Operator) -> None:
    src, dst = model.tensors[op.inputs[0]], model.tensors[op.outputs[0]]
    if src.is_constant:
        raise UnsupportedModelError(f"{_describe(model, op)}: reshaping a constant is not supported")
    if src.dtype != dst.dtype or src.size != dst.size:
        raise UnsupportedModelError(f"{_describe(model, op)}: type or size changes")
    if src.dtype == "INT8" and (src.scales != dst.scales or src.zero_points != dst.zero_points):
        raise UnsupportedModelError(f"{_describe(model, op)}: quantization changes across a reshape")


@dataclass(frozen=True)
class _Info:
    name: str
    sha256: str
    arena: int
    weight_bytes: int
    macs: int
    input_len: int
    feature_len: int
    model_hash: int


def _banner(info: _Info) -> str:
    return (
        f"/* generated by tinyfl.codegen (format {GENERATOR_FORMAT}), do not edit.\n"
        f" * model: {comment_text(info.name)}, .tflite sha256 {info.sha256}\n"
        f" * arena {info.arena} bytes, weights {info.weight_bytes} bytes, {info.macs} MACs per inference\n"
        f" */\n"
    )


def _render_h(info: _Info) -> str:
    return (
        _banner(info)
        + "#ifndef TINYFL_MODEL_GEN_H\n#define TINYFL_MODEL_GEN_H\n\n"
        "#include <stdint.h>\n\n#include \"tinyfl_status.h\"\n\n"
        f"#define TINYFL_MODEL_GEN_FORMAT {GENERATOR_FORMAT}\n"
        f"#define TINYFL_MODEL_INPUT_LEN {info.input_len}u\n"
        f"#define TINYFL_MODEL_FEATURE_LEN {info.feature_len}u\n"
        f"#define TINYFL_MODEL_ARENA_BYTES {info.arena}u\n"
        "/* Data RAM of one inference: the arena + the caller's float window and features. */\n"
        f"#define TINYFL_MODEL_RAM_BYTES {info.arena + 4 * (info.input_len + info.feature_len)}u\n"
        f"#define TINYFL_MODEL_WEIGHT_BYTES {info.weight_bytes}u\n"
        f"#define TINYFL_MODEL_MACS {info.macs}u\n"
        f"#define TINYFL_MODEL_HASH 0x{info.model_hash:08x}u\n\n"
        "/* features[TINYFL_MODEL_FEATURE_LEN] from window[TINYFL_MODEL_INPUT_LEN] (time-major),\n"
        " * using arena[TINYFL_MODEL_ARENA_BYTES] (any alignment of 4) as the only scratch. */\n"
        "tinyfl_status tinyfl_model_run(const float *window, float *features, uint8_t *arena);\n\n"
        "#endif /* TINYFL_MODEL_GEN_H */\n"
    )


def _render_c(info: _Info, consts: list[str], calls: list[tuple[str, str]]) -> str:
    out = [_banner(info)]
    out.append(
        "#include <stddef.h>\n#include <stdint.h>\n#include <string.h>\n\n"
        "#include \"kernels/tinyfl_kernels.h\"\n#include \"tinyfl_model.h\"\n"
        f"#include \"{H_NAME}\"\n\n"
        f"#if !defined(TINYFL_KERNELS_VERSION) || TINYFL_KERNELS_VERSION != {KERNELS_VERSION}\n"
        "#error \"this model was generated for another kernels version: regenerate it with tinyfl.codegen\"\n"
        "#endif\n"
        f"#if TINYFL_MODEL_GEN_FORMAT != {GENERATOR_FORMAT}\n"
        f"#error \"{H_NAME} does not belong to this {C_NAME}: regenerate both\"\n"
        "#endif\n\n"
        "#if defined(__GNUC__)\n#define TINYFL_GEN_ALIGN __attribute__((aligned(16)))\n"
        "#define TINYFL_GEN_NOINLINE __attribute__((noinline))\n"
        "#else\n#define TINYFL_GEN_ALIGN\n#define TINYFL_GEN_NOINLINE\n#endif\n\n"
        "/* Per-step timing for benchmarks (bench/c/model_profile_main.c defines the function). */\n"
        "#if defined(TINYFL_MODEL_PROFILE) && TINYFL_MODEL_PROFILE\n"
        "void tinyfl_model_profile_step(uint32_t step);\n"
        "#define TINYFL_GEN_STEP_DONE(step) tinyfl_model_profile_step(step)\n"
        "#else\n#define TINYFL_GEN_STEP_DONE(step) ((void)0)\n#endif\n\n"
    )
    out.extend(c + "\n" for c in consts)
    body = [
        "tinyfl_status tinyfl_model_run(const float *window, float *features, uint8_t *arena)\n{\n",
        "    tinyfl_status st;\n",
        "    if (window == NULL || features == NULL || arena == NULL) {\n        return TINYFL_E_ARG;\n    }\n",
    ]
    step = 0
    for comment, call in calls:
        body.append(f"    /* {comment_text(comment)} */\n")
        if call:
            body.append(f"    st = {call};\n    if (st != TINYFL_OK) {{\n        return st;\n    }}\n")
            body.append(f"    TINYFL_GEN_STEP_DONE({step}u);\n")
            step += 1
    body.append("    return TINYFL_OK;\n}\n\n")
    out.extend(body)
    arena_len = max(info.arena, 4)
    out.append(
        "/* Scratch only: nothing survives between calls (cleared after each window). */\n"
        f"static uint8_t tinyfl_model_arena[{arena_len}] TINYFL_GEN_ALIGN;\n\n"
        "static tinyfl_status tinyfl_model_extract(const tinyfl_backbone *bb, const float *window,\n"
        "                                          float *features)\n{\n"
        "    const tinyfl_status st = tinyfl_model_run(window, features, (uint8_t *)bb->state);\n"
        "    /* The arena held activations derived from sensor data. */\n"
        f"    memset(bb->state, 0, {arena_len}u);\n"
        "    return st;\n}\n\n"
        "void tinyfl_model_backbone(tinyfl_backbone *bb)\n{\n"
        f"    bb->input_len = {info.input_len}u;\n"
        f"    bb->feature_len = {info.feature_len}u;\n"
        f"    bb->model_hash = 0x{info.model_hash:08x}u;\n"
        "    bb->extract = tinyfl_model_extract;\n"
        "    bb->state = tinyfl_model_arena;\n}\n"
    )
    return "".join(out)
