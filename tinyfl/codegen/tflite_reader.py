"""Read a .tflite flatbuffer into plain Python objects, without TensorFlow.

Uses the flatbuffer schema module that ships with the `tflite-micro` package (it needs only the
`flatbuffers` runtime). Only what code generation needs is kept: tensors with shapes, types,
quantization and constant data; operators with their builtin code and options.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

try:
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as _schema
except ImportError as exc:  # pragma: no cover - depends on the install
    raise ImportError("reading .tflite files needs the `tflite-micro` package") from exc


class ModelFormatError(ValueError):
    """The flatbuffer is not a model tinyfl can read (or is damaged)."""


def _enum_names(enum_cls: type) -> dict[int, str]:
    return {v: k for k, v in vars(enum_cls).items() if not k.startswith("_") and isinstance(v, int)}


OP_NAMES = _enum_names(_schema.BuiltinOperator)
TYPE_NAMES = _enum_names(_schema.TensorType)
_NUMPY_TYPES = {
    "FLOAT32": np.float32,
    "INT32": np.int32,
    "INT8": np.int8,
    "UINT8": np.uint8,
    "INT16": np.int16,
    "INT64": np.int64,
    "BOOL": np.bool_,
}


@dataclass(frozen=True)
class Tensor:
    index: int
    name: str
    dtype: str  # "INT8", "FLOAT32", ...
    shape: tuple[int, ...]
    scales: tuple[float, ...]  # float32 values widened to Python floats (exact)
    zero_points: tuple[int, ...]
    quantized_dimension: int
    data: np.ndarray | None  # constant contents in `shape`, None for activations

    @property
    def is_constant(self) -> bool:
        return self.data is not None

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) if self.shape else 1

    @property
    def scale(self) -> float:
        if len(self.scales) != 1:
            raise ModelFormatError(f"tensor {self.name!r} has {len(self.scales)} scales, expected 1")
        return self.scales[0]

    @property
    def zero_point(self) -> int:
        if len(self.zero_points) < 1:
            raise ModelFormatError(f"tensor {self.name!r} has no zero point")
        return self.zero_points[0]


@dataclass(frozen=True)
class Operator:
    index: int
    op: str  # builtin name, e.g. "CONV_2D"
    version: int
    inputs: tuple[int, ...]  # -1 for an omitted optional input
    outputs: tuple[int, ...]
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Model:
    tensors: tuple[Tensor, ...]
    operators: tuple[Operator, ...]
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    description: str


def read_tflite(data: bytes) -> Model:
    """Parse the single-subgraph model in `data`."""
    if len(data) < 8 or data[4:8] != b"TFL3":
        raise ModelFormatError("not a .tflite flatbuffer (missing TFL3 identifier)")
    try:
        model = _schema.ModelT.InitFromPackedBuf(bytearray(data), 0)
    except Exception as exc:  # the flatbuffers runtime raises assorted errors on bad input
        raise ModelFormatError(f"cannot parse the flatbuffer: {exc}") from exc
    if not model.subgraphs or len(model.subgraphs) != 1:
        raise ModelFormatError(
            f"expected exactly one subgraph, found {len(model.subgraphs or [])} "
            "(control flow is not supported)"
        )
    graph = model.subgraphs[0]
    buffers = model.buffers or []
    tensors = tuple(_read_tensor(i, t, buffers, data) for i, t in enumerate(graph.tensors or []))
    codes = model.operatorCodes or []
    operators = []
    n_tensors = len(tensors)

    def indices(values: Any, what: str, allow_omitted: bool) -> tuple[int, ...]:
        out = tuple(int(x) for x in (values if values is not None else []))
        low = -1 if allow_omitted else 0
        bad = [x for x in out if not low <= x < n_tensors]
        if bad:
            raise ModelFormatError(f"{what} refers to tensor {bad[0]} of {n_tensors}")
        return out

    for i, op in enumerate(graph.operators or []):
        if not 0 <= op.opcodeIndex < len(codes):
            raise ModelFormatError(f"operator #{i} has opcode index {op.opcodeIndex} of {len(codes)}")
        code = codes[op.opcodeIndex]
        builtin = max(int(code.builtinCode), int(code.deprecatedBuiltinCode))
        name = OP_NAMES.get(builtin, f"BUILTIN_{builtin}")
        if name == "CUSTOM":
            custom = code.customCode.decode() if code.customCode else "?"
            name = f"CUSTOM({custom})"
        options = dict(vars(op.builtinOptions)) if op.builtinOptions is not None else {}
        operators.append(
            Operator(
                index=i,
                op=name,
                version=int(code.version),
                inputs=indices(op.inputs, f"operator #{i}'s input", allow_omitted=True),
                outputs=indices(op.outputs, f"operator #{i}'s output", allow_omitted=False),
                options=options,
            )
        )
    desc = model.description.decode(errors="replace") if model.description else ""
    return Model(
        tensors=tensors,
        operators=tuple(operators),
        inputs=indices(graph.inputs, "the graph input", allow_omitted=False),
        outputs=indices(graph.outputs, "the graph output", allow_omitted=False),
        description=desc,
    )


def _printable(text: str, limit: int = 200) -> str:
    """Tensor names end up in error messages and comments: one line of printable text."""
    clean = "".join(ch if ch.isprintable() else "?" for ch in text)
    return clean if len(clean) <= limit else clean[: limit - 3] + "..."


def _read_tensor(index: int, t: Any, buffers: list[Any], raw: bytes) -> Tensor:
    name = _printable(t.name.decode(errors="replace")) if t.name else f"tensor{index}"
    dtype = TYPE_NAMES.get(int(t.type), f"TYPE_{t.type}")
    shape = tuple(int(d) for d in (t.shape if t.shape is not None else []))
    if any(d < 0 for d in shape):
        raise ModelFormatError(f"tensor {name!r} has shape {list(shape)}")
    if t.sparsity is not None:
        raise ModelFormatError(f"tensor {name!r} is sparse; sparse tensors are not supported")
    scales: tuple[float, ...] = ()
    zero_points: tuple[int, ...] = ()
    qdim = 0
    q = t.quantization
    if q is not None and q.scale is not None and len(q.scale) > 0:
        scales = tuple(float(s) for s in np.asarray(q.scale, dtype=np.float32))
        zero_points = tuple(int(z) for z in (q.zeroPoint if q.zeroPoint is not None else []))
        qdim = int(q.quantizedDimension)
    data = None
    buf = buffers[t.buffer] if 0 < t.buffer < len(buffers) else None
    if buf is not None:
        content: bytes | None = None
        if buf.data is not None and len(buf.data) > 0:
            content = bytes(np.asarray(buf.data, dtype=np.uint8))
        elif buf.offset and buf.size:
            content = raw[buf.offset : buf.offset + buf.size]
        if content is not None:
            np_type = _NUMPY_TYPES.get(dtype)
            if np_type is None:
                raise ModelFormatError(f"constant tensor {name!r} has unsupported type {dtype}")
            if len(content) % np.dtype(np_type).itemsize:
                raise ModelFormatError(f"constant tensor {name!r}: {len(content)} bytes of {dtype}")
            arr = np.frombuffer(content, dtype=np.dtype(np_type).newbyteorder("<"))
            expected = int(np.prod(shape, dtype=np.int64)) if shape else 1
            if arr.size != expected:
                raise ModelFormatError(
                    f"constant tensor {name!r}: {arr.size} values for shape {list(shape)}"
                )
            data = arr.reshape(shape).astype(np_type)
    return Tensor(index, name, dtype, shape, scales, zero_points, qdim, data)
