"""Shared by the codegen/kernel tests: generated C on the host vs the tflite-micro interpreter."""
from __future__ import annotations

import functools
import os
from typing import Any

import numpy as np

from tinyfl.codegen import generate
from tinyfl.codegen.host import build_host_model, run_host_model
from tinyfl.codegen.tflm import tflm_outputs


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


def convert_cached(model: Any, representative: np.ndarray, *, int8_io: bool = False,
                   open_batch: bool = False, per_tensor_dense: bool = False) -> bytes:
    """Full-int8 conversion of a Keras model, cached in the build folder by everything that
    determines the result (architecture, weights, calibration data, options, TF version), so a
    rerun costs no converter time. open_batch keeps the batch dimension unknown (the Keras
    default, which makes shape arithmetic ops); per_tensor_dense gives every Dense one weight
    scale (older converters, many published .tflite files); int8_io: int8 input and output."""
    import contextlib
    import io
    import warnings

    from tinyfl.models._tf import keras, tf
    from tinyfl.toolchain import cached_output

    samples = np.ascontiguousarray(representative, dtype=np.float32)
    key = [model.to_json(), samples.tobytes(), tf.__version__,
           repr((int8_io, open_batch, per_tensor_dense))]
    key += [w.tobytes() for w in model.get_weights()]
    path = cached_output("tflite", key, ".tflite")
    if path.exists():
        return path.read_bytes()
    if not open_batch:
        fixed_input = keras.Input(batch_shape=(1, *samples.shape[1:]))
        model = keras.Model(fixed_input, model(fixed_input))
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([s[None, ...]] for s in samples)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    if int8_io:
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    if per_tensor_dense:
        converter._experimental_disable_per_channel_quantization_for_dense_layers = True
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.filterwarnings("ignore")
        tflite = bytes(converter.convert())
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")  # concurrent runs never share a partial file
    tmp.write_bytes(tflite)
    tmp.replace(path)
    return tflite


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

def _k():
    from tinyfl.models._tf import keras

    return keras


def _bn_relu(k, x, relu6: bool = False):
    x = k.layers.BatchNormalization()(x)
    return k.layers.ReLU(6.0 if relu6 else None)(x)


def kws_ds_cnn():
    """KWS DS-CNN: strided conv, depthwise-separable blocks, average pool, Dense + softmax."""
    k = _k()
    inp = k.Input((25, 10, 1))
    x = _bn_relu(k, k.layers.Conv2D(16, (10, 4), strides=(2, 2), padding="same")(inp))
    for _ in range(2):
        x = _bn_relu(k, k.layers.DepthwiseConv2D(3, padding="same")(x))
        x = _bn_relu(k, k.layers.Conv2D(16, 1)(x))
    x = k.layers.Dropout(0.4)(x)
    x = k.layers.AveragePooling2D(pool_size=x.shape[1:3])(x)
    x = k.layers.Flatten()(x)
    return k.Model(inp, k.layers.Dense(12, activation="softmax")(x))


def anomaly_autoencoder():
    """AD autoencoder: Dense + BatchNorm + ReLU down to a bottleneck and back."""
    k = _k()
    inp = k.Input((64,))
    x = inp
    for units in (32, 32, 8, 32, 32):
        x = _bn_relu(k, k.layers.Dense(units)(x))
    return k.Model(inp, k.layers.Dense(64)(x))


def resnet8():
    """ResNet-8: three residual stacks (ADD), 1x1 projection shortcuts, average pool, softmax."""
    k = _k()
    inp = k.Input((16, 16, 3))
    x = _bn_relu(k, k.layers.Conv2D(8, 3, padding="same")(inp))
    for filters, stride in ((8, 1), (16, 2), (32, 2)):
        y = _bn_relu(k, k.layers.Conv2D(filters, 3, strides=stride, padding="same")(x))
        y = k.layers.BatchNormalization()(k.layers.Conv2D(filters, 3, padding="same")(y))
        if stride != 1:
            x = k.layers.Conv2D(filters, 1, strides=stride)(x)
        x = k.layers.ReLU()(k.layers.Add()([x, y]))
    x = k.layers.AveragePooling2D(pool_size=x.shape[1:3])(x)
    x = k.layers.Flatten()(x)
    return k.Model(inp, k.layers.Dense(10, activation="softmax")(x))


def vww_mobilenet_v1():
    """Visual wake words: keras.applications MobileNet alpha 0.25 (ZeroPadding, ReLU6,
    depthwise-separable stack, global average pool, 1x1 conv classifier, Reshape, softmax)."""
    k = _k()
    return k.applications.MobileNet(input_shape=(32, 32, 3), alpha=0.25, weights=None, classes=2,
                                    dropout=0.0)


def _lively(model, rng: np.random.Generator) -> None:
    """Trained-looking BatchNorm statistics and small biases: with the untrained defaults the
    deep ReLU stacks can go silent and calibrate degenerate (constant) activations."""
    for layer in model.layers:
        ws = layer.get_weights()
        if type(layer).__name__ == "BatchNormalization":
            gamma, beta, mean, var = ws
            layer.set_weights([rng.uniform(0.8, 1.2, gamma.shape), rng.uniform(0.0, 0.3, beta.shape),
                               rng.normal(0.0, 0.1, mean.shape), rng.uniform(0.5, 1.5, var.shape)])
        elif ws and ws[-1].ndim == 1 and len(ws) == 2:
            layer.set_weights([ws[0], rng.normal(0.0, 0.1, ws[1].shape).astype(np.float32)])


MLPERF_TINY_MODELS = {
    "kws_ds_cnn": (kws_ds_cnn, {"int8_io": True}),
    "anomaly_autoencoder": (anomaly_autoencoder, {"per_tensor_dense": True}),
    "resnet8": (resnet8, {}),
    "vww_mobilenet_v1": (vww_mobilenet_v1, {"int8_io": True}),
}


def mlperf_tiny_tflite(name: str) -> bytes:
    """The named classifier, seeded, converted with the batch left open (cached)."""
    from tinyfl.models.train import set_seed

    build, options = MLPERF_TINY_MODELS[name]
    set_seed(3)
    model = build()
    rng = np.random.default_rng(3)
    _lively(model, rng)
    shape = tuple(model.input_shape[1:])
    return convert_cached(model, rng.normal(0.0, 1.0, (48, *shape)), open_batch=True, **options)
