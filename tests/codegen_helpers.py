"""Shared by the codegen/kernel tests: generated C on the host vs the tflite-micro interpreter."""
from __future__ import annotations

import functools
from typing import Any

import numpy as np

from tinyfl.codegen import generate
from tinyfl.codegen.host import build_host_model, run_host_model
from tinyfl.codegen.tflm import tflm_outputs
from tinyfl.models import mlperf_tiny
from tinyfl.models.tflite_cache import convert_cached  # noqa: F401 (the tests import it from here)


def tflm_quantize(x: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """TFLM's AffineQuantize: zp + round-half-away(f / scale) in float32, clamped to int8."""
    q = (np.asarray(x, dtype=np.float32) / np.float32(scale)).astype(np.float64)
    q = np.sign(q) * np.floor(np.abs(q) + 0.5)  # std::round, exact in double
    return np.clip(q + zero_point, -128, 127).astype(np.int8)


def tflm_dequantize(q: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """TFLM's Dequantize: (float)(double(scale) * (q - zp))."""
    return (np.float64(np.float32(scale)) * (q.astype(np.float64) - zero_point)).astype(np.float32)


def reference_outputs(tflite: bytes, x: np.ndarray) -> np.ndarray:
    """What the interpreter gives for float windows x, in the generated C's float terms: an int8
    input is quantized and an int8 output dequantized as TFLM's own QUANTIZE/DEQUANTIZE do."""
    from tinyfl.codegen import read_tflite

    model = read_tflite(tflite)
    t_in, t_out = model.tensors[model.inputs[0]], model.tensors[model.outputs[0]]
    inputs = tflm_quantize(x, t_in.scale, t_in.zero_point) if t_in.dtype == "INT8" else x
    out = tflm_outputs(tflite, inputs)
    if t_out.dtype == "INT8":
        return tflm_dequantize(out.astype(np.int8), t_out.scale, t_out.zero_point)
    return out.astype(np.float32)


def assert_bit_exact(tflite: bytes, x: np.ndarray, *, tag: str = "model", optimized: bool = False) -> int:
    """Run x through host-compiled generated C and through TFLM; every output bit must match.
    Returns the number of inputs compared. optimized: the fast kernels (portable C on the host)."""
    gen = generate(tflite, name=tag)
    exe = build_host_model(gen, tag=tag, optimized=optimized)
    ours = run_host_model(exe, x, gen.feature_len)
    ref = reference_outputs(tflite, x).reshape(ours.shape)
    same = ours.view(np.uint32) == ref.view(np.uint32)
    if not same.all():
        bad = np.argwhere(~same)[:5]
        detail = ", ".join(f"[{i},{j}] ours {ours[i, j]!r} tflm {ref[i, j]!r}" for i, j in bad)
        raise AssertionError(f"{tag}{' (fast kernels)' if optimized else ''}: {int((~same).sum())} of {same.size} outputs differ: {detail}")
    return len(x)


class TfliteBuilder:
    """A tiny .tflite writer (the schema's object API): hand-made models with exactly the
    quantization parameters a test needs, without the TensorFlow converter."""

    _NUMPY = {"FLOAT32": np.float32, "INT8": np.int8, "INT32": np.int32}

    def __init__(self) -> None:
        from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema

        self.schema = schema
        self.tensors: list[Any] = []
        self.buffers: list[Any] = [schema.BufferT()]
        self.ops: list[Any] = []
        self.codes: dict[int, int] = {}

    def tensor(self, shape: Any, dtype: str = "INT8", scale: Any = None, zero_point: Any = 0,
               data: Any = None, name: str | None = None, quantized_dimension: int = 0) -> int:
        s = self.schema
        t = s.TensorT()
        t.shape = [int(d) for d in shape]
        t.type = getattr(s.TensorType, dtype)
        t.name = name or f"t{len(self.tensors)}"
        if scale is not None:
            q = s.QuantizationParametersT()
            q.scale = [float(v) for v in np.atleast_1d(np.asarray(scale, dtype=np.float32))]
            zps = [int(v) for v in np.atleast_1d(zero_point)]
            q.zeroPoint = zps * len(q.scale) if len(zps) == 1 else zps
            q.quantizedDimension = quantized_dimension
            t.quantization = q
        t.buffer = 0
        if data is not None:
            arr = np.ascontiguousarray(np.asarray(data).reshape(t.shape or (1,)), dtype=self._NUMPY[dtype])
            b = s.BufferT()
            b.data = arr.view(np.uint8).reshape(-1).tolist()
            t.buffer = len(self.buffers)
            self.buffers.append(b)
        self.tensors.append(t)
        return len(self.tensors) - 1

    def op(self, name: str, inputs: Any, outputs: Any, options: Any = None) -> None:
        s = self.schema
        code = getattr(s.BuiltinOperator, name)
        self.codes.setdefault(code, len(self.codes))
        o = s.OperatorT()
        o.opcodeIndex = self.codes[code]
        o.inputs = [int(i) for i in inputs]
        o.outputs = [int(i) for i in outputs]
        if options is not None:
            o.builtinOptionsType = getattr(s.BuiltinOptions, type(options).__name__[:-1])
            o.builtinOptions = options
        self.ops.append(o)

    def options(self, kind: str, **fields: Any) -> Any:
        """An options object, e.g. options("Softmax", beta=1.0)."""
        obj = getattr(self.schema, f"{kind}OptionsT")()
        for k, v in fields.items():
            setattr(obj, k, v)
        return obj

    def finish(self, inputs: Any, outputs: Any) -> bytes:
        import flatbuffers

        s = self.schema
        codes = []
        for code, _ in sorted(self.codes.items(), key=lambda kv: kv[1]):
            c = s.OperatorCodeT()
            c.builtinCode = code
            c.deprecatedBuiltinCode = min(code, 127)
            c.version = 1
            codes.append(c)
        graph = s.SubGraphT()
        graph.tensors, graph.operators = self.tensors, self.ops
        graph.inputs, graph.outputs = [int(i) for i in inputs], [int(i) for i in outputs]
        model = s.ModelT()
        model.version = 3
        model.operatorCodes, model.subgraphs, model.buffers = codes, [graph], self.buffers
        model.description = "tinyfl test model"
        builder = flatbuffers.Builder(1024)
        builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
        return bytes(builder.Output())


@functools.lru_cache(maxsize=None)
def reference_artifacts(name: str) -> tuple[Any, Any]:
    """Pretrained + converted reference model, built once per test process."""
    from tinyfl.models import build_reference

    return build_reference(name)


def build_qemu_model_program(gen: Any, *, tag: str, defines: dict | None = None) -> Any:
    """ELF of tests/c/model_qemu_main.c + the generated model + its kernels + the float head,
    for the AN386 board (Cortex-M4F, -O2); cached by content like every board build."""
    from tinyfl.emulate import build_qemu_program
    from tinyfl.paths import FIRMWARE_DIR, REPO_ROOT
    from tinyfl.toolchain import cached_output

    src_dir = cached_output(f"qemu_{tag}_src", [gen.c_source, gen.h_source])
    c_path, _ = gen.write(src_dir)
    main = REPO_ROOT / "tests" / "c" / "model_qemu_main.c"
    sources = [main, c_path, FIRMWARE_DIR / "tinyfl_head.c", *gen.kernel_sources]
    return build_qemu_program(sources, name=f"model_{tag}", include_dirs=[src_dir], defines=defines)


def parse_qemu_model_output(text: str, n: int, feature_len: int, n_classes: int) -> tuple[Any, Any, Any]:
    """(features (n, F) float32, logits (n, K) float32, predictions (n,)) from the program's
    hex lines; exact bits, no decimal round trip."""
    feats = np.zeros((n, feature_len), dtype=np.uint32)
    logits = np.zeros((n, n_classes), dtype=np.uint32)
    preds = np.full(n, -1, dtype=np.int64)
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0] == "F":
            feats[int(parts[1])] = [int(v, 16) for v in parts[2:]]
        elif len(parts) >= 3 and parts[0] == "L":
            preds[int(parts[1])] = int(parts[2])
            logits[int(parts[1])] = [int(v, 16) for v in parts[3:]]
    return feats.view(np.float32), logits.view(np.float32), preds


def backbone_ops_chain(seed: int) -> tuple[bytes, tuple[int, ...], float, int]:
    """One hand-made model through every backbone op beyond convolutions: PAD -> HARD_SWISH ->
    MUL by a per-channel MEAN gate -> TRANSPOSE -> CONCATENATION with a copy -> REDUCE_MAX
    (dimensions kept) -> SQUEEZE -> LOGISTIC -> SOFTMAX. Random quantization per tensor (seeded).
    Returns (tflite, window shape, input scale, input zero point)."""
    rng = np.random.default_rng(seed)

    def q(ref: float) -> tuple[float, int]:
        return float(np.float32(ref * rng.uniform(0.5, 2.0))), int(rng.integers(-60, 60))

    b = TfliteBuilder()
    s_in, zp_in = float(np.float32(rng.uniform(0.02, 0.1))), int(rng.integers(-100, 100))
    x = b.tensor([1, 5, 6, 4], "INT8", s_in, zp_in, name="x")
    p = b.tensor([1, 6, 8, 4], "INT8", s_in, zp_in, name="padded")
    b.op("PAD", [x, b.tensor([4, 2], "INT32", data=np.array([[0, 0], [1, 0], [1, 1], [0, 0]]))], [p])
    qh = q(s_in)
    h = b.tensor([1, 6, 8, 4], "INT8", *qh, name="hswish")
    b.op("HARD_SWISH", [p], [h])
    g = b.tensor([1, 1, 1, 4], "INT8", *q(qh[0]), name="gate")
    b.op("MEAN", [h, b.tensor([2], "INT32", data=np.array([1, 2]))], [g], b.options("Reducer", keepDims=True))
    qm = q(qh[0] * qh[0] * 8)
    m = b.tensor([1, 6, 8, 4], "INT8", *qm, name="gated")
    b.op("MUL", [h, g], [m], b.options("Mul", fusedActivationFunction=0))
    t = b.tensor([1, 8, 6, 4], "INT8", *qm, name="transposed")
    b.op("TRANSPOSE", [m, b.tensor([4], "INT32", data=np.array([0, 2, 1, 3]))], [t])
    copy = b.tensor([1, 8, 6, 4], "INT8", *qm, name="copy")
    b.op("QUANTIZE", [t], [copy])
    c = b.tensor([1, 8, 6, 8], "INT8", *qm, name="joined")
    b.op("CONCATENATION", [t, copy], [c], b.options("Concatenation", axis=3))
    kept = b.tensor([1, 1, 6, 8], "INT8", *qm, name="max")
    b.op("REDUCE_MAX", [c, b.tensor([1], "INT32", data=np.array([1]))], [kept], b.options("Reducer", keepDims=True))
    r = b.tensor([1, 6, 8], "INT8", *qm, name="squeezed")
    b.op("SQUEEZE", [kept], [r], b.options("Squeeze", squeezeDims=[1]))
    lg = b.tensor([1, 6, 8], "INT8", 1.0 / 256, -128, name="sigmoid")
    b.op("LOGISTIC", [r], [lg])
    y = b.tensor([1, 6, 8], "INT8", 1.0 / 256, -128, name="probs")
    b.op("SOFTMAX", [lg], [y], b.options("Softmax", beta=float(rng.uniform(20.0, 60.0))))
    return b.finish([x], [y]), (5, 6, 4), s_in, zp_in


# --- MLPerf-Tiny-shaped classifiers (test_codegen_mlperf_tiny.py, test_codegen_qemu.py) --------
# One definition with the full-size backbones bench/kernels_models.py measures: tinyfl.models.mlperf_tiny.

MLPERF_TINY_MODELS = mlperf_tiny.CLASSIFIERS
mlperf_tiny_tflite = mlperf_tiny.classifier_tflite
