"""The hand-written half of the Python message codec: WireError, the byte reader and writer, and
the field checks that tinyfl/wire/_wire_gen.py (generated from spec.py) calls.

Each check mirrors the generated C decoder exactly (same status, same order), so a payload is
accepted or refused identically on both sides of the link.
"""
from __future__ import annotations

import dataclasses
import math
import struct
from typing import Any

import numpy as np

from . import spec

__all__ = ["WireError", "to_jsonable"]

_INT32_MIN, _INT32_MAX = -(2**31), 2**31 - 1


class WireError(ValueError):
    """Bytes from the link (or a message to encode) break the wire spec.

    `status` is a STATUS name ("CRC", "VALUE", ...), `detail` says where."""

    def __init__(self, status: str, detail: str = "") -> None:
        if status not in spec.STATUS_BY_NAME:
            raise ValueError(f"unknown status {status!r}")
        super().__init__(f"{status}: {detail}" if detail else status)
        self.status = status
        self.detail = detail

    @property
    def code(self) -> int:
        return spec.STATUS_BY_NAME[self.status]


# ---------------------------------------------------------------------------------------------
# float32 scalars, bit for bit
#
# A float32 held in a Python float (a double) and converted back with struct or numpy loses a
# signalling NaN: the conversion sets the quiet bit (0x7f800001 comes back as 0x7fc00001). The C
# codec copies the 32 bits, so every accepted payload re-encodes to itself; these two functions
# give Python the same property by widening and narrowing a NaN by its bits. A signalling
# float32 NaN becomes a signalling double with the same sign and payload, which Python keeps
# as long as no arithmetic touches it.

_F32_EXPONENT = 0x7F800000
_F32_MANTISSA = 0x007FFFFF
_F32_QUIET = 0x00400000
_F64_EXPONENT = 0x7FF << 52
_F64_TO_F32_SHIFT = 52 - 23


def f32_from_bits(bits: int) -> float:
    """The float32 with these bits, as a Python float; a NaN keeps its sign and payload."""
    if bits & _F32_EXPONENT == _F32_EXPONENT and bits & _F32_MANTISSA:
        wide = ((bits >> 31) << 63) | _F64_EXPONENT | ((bits & _F32_MANTISSA) << _F64_TO_F32_SHIFT)
        return struct.unpack("<d", struct.pack("<Q", wide))[0]
    return struct.unpack("<f", struct.pack("<I", bits))[0]


def f32_bits(value: float) -> int:
    """The bits of `value` as a float32 (rounded as struct does); the inverse of f32_from_bits
    for every NaN it returns. A NaN whose payload lies only below float32's precision becomes
    the quiet NaN of its sign, as a C cast does."""
    value = float(value)
    if math.isnan(value):
        wide = struct.unpack("<Q", struct.pack("<d", value))[0]
        mantissa = (wide >> _F64_TO_F32_SHIFT) & _F32_MANTISSA
        return ((wide >> 63) << 31) | _F32_EXPONENT | (mantissa or _F32_QUIET)
    return struct.unpack("<I", struct.pack("<f", value))[0]


# ---------------------------------------------------------------------------------------------
# reading


def _frozen(values: np.ndarray) -> np.ndarray:
    values.flags.writeable = False
    return values


class Reader:
    """Reads a payload field by field; never past its end."""

    def __init__(self, payload: bytes) -> None:
        self.buf = bytes(payload)
        self.pos = 0

    def _take(self, n: int, what: str) -> int:
        if len(self.buf) - self.pos < n:
            raise WireError("TRUNCATED", f"{what}: need {n} bytes at offset {self.pos}")
        start = self.pos
        self.pos += n
        return start

    def scalar(self, fmt: str, size: int) -> Any:
        start = self._take(size, fmt)
        if fmt == "f":
            return f32_from_bits(struct.unpack_from("<I", self.buf, start)[0])
        return struct.unpack_from("<" + fmt, self.buf, start)[0]

    def raw(self, n: int) -> bytes:
        start = self._take(n, "bytes")
        return self.buf[start:start + n]

    def _count(self, max_count: int) -> int:
        count = self.scalar("H", 2)
        if count > max_count:
            raise WireError("OVERSIZE", f"array count {count} > {max_count}")
        return count

    def f32_array(self, max_count: int) -> np.ndarray:
        count = self._count(max_count)
        start = self._take(4 * count, "f32 array")
        values = np.frombuffer(self.buf, dtype="<f4", count=count, offset=start).astype(np.float32)
        values.flags.writeable = False
        return values

    def svarint_array(self, max_count: int) -> np.ndarray:
        """Zigzag varints, at most 5 bytes (32 bits) each and minimal. Decoded in bulk: the
        varints are back to back, so the i-th ends at the i-th byte below 0x80. Anything
        else than minimal varints of 1 to 4 bytes (an error, or a value past 2^28) goes to
        the byte-by-byte reader, which decides and words the errors."""
        count = self._count(max_count)
        pos = self.pos
        span = self.buf[pos:pos + count]
        if len(span) == count and span.isascii():  # every varint one byte: small values
            n = np.frombuffer(span, dtype=np.uint8).astype(np.int64)
            self.pos = pos + count
            return _frozen((n >> 1) ^ -(n & 1))
        data = np.frombuffer(self.buf, dtype=np.uint8)[pos:]
        ends = np.flatnonzero(data < 0x80)[:count]
        if len(ends) < count:
            return self._svarints_slowly(count)
        starts = np.empty_like(ends)
        starts[0] = 0
        starts[1:] = ends[:-1] + 1
        lengths = ends - starts + 1
        longest = int(lengths.max())
        if longest > 4 or ((data[ends] == 0) & (lengths > 1)).any():
            return self._svarints_slowly(count)
        n = (data[starts] & 0x7F).astype(np.int64)
        for k in range(1, longest):
            more = lengths > k
            n[more] |= (data[starts[more] + k] & 0x7F).astype(np.int64) << (7 * k)
        self.pos = pos + int(ends[-1]) + 1
        return _frozen((n >> 1) ^ -(n & 1))

    def _svarints_slowly(self, count: int) -> np.ndarray:
        out = np.empty(count, dtype=np.int64)
        buf, pos, end = self.buf, self.pos, len(self.buf)
        for i in range(count):
            n = 0
            for k in range(5):
                if pos >= end:
                    raise WireError("TRUNCATED", f"varint {i} at offset {pos}")
                byte = buf[pos]
                pos += 1
                if k == 4 and byte > 0x0F:
                    raise WireError("VALUE", f"varint {i} longer than 32 bits")
                n |= (byte & 0x7F) << (7 * k)
                if not byte & 0x80:
                    if byte == 0 and k > 0:
                        raise WireError("VALUE", f"varint {i} not minimal")
                    break
            out[i] = -(n >> 1) - 1 if n & 1 else n >> 1
        self.pos = pos
        return _frozen(out)

    def uint_array(self, max_count: int, size: int) -> np.ndarray:
        count = self._count(max_count)
        start = self._take(size * count, f"u{8 * size} array")
        values = np.frombuffer(self.buf, dtype=f"<u{size}", count=count, offset=start).astype(np.int64)
        values.flags.writeable = False
        return values

    def records(self, max_count: int, length: int) -> tuple[bytes, ...]:
        count = self._count(max_count)
        start = self._take(length * count, "records")
        return tuple(self.buf[start + i * length:start + (i + 1) * length] for i in range(count))

    def finish(self) -> None:
        if self.pos != len(self.buf):
            raise WireError("OVERSIZE", f"{len(self.buf) - self.pos} trailing bytes")


# ---------------------------------------------------------------------------------------------
# writing


class Writer:
    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def scalar(self, fmt: str, value: Any) -> None:
        if fmt == "f":
            self.parts.append(struct.pack("<I", f32_bits(value)))
            return
        self.parts.append(struct.pack("<" + fmt, value))

    def raw(self, data: bytes) -> None:
        self.parts.append(bytes(data))

    def f32_array(self, values: np.ndarray) -> None:
        self.parts.append(struct.pack("<H", len(values)))
        self.parts.append(np.asarray(values, dtype="<f4").tobytes())

    def uint_array(self, values: np.ndarray, size: int) -> None:
        self.parts.append(struct.pack("<H", len(values)))
        self.parts.append(np.asarray(values).astype(f"<u{size}").tobytes())

    def records(self, records: tuple[bytes, ...]) -> None:
        self.parts.append(struct.pack("<H", len(records)))
        self.parts.extend(records)

    def svarint_array(self, values: np.ndarray) -> None:
        out = bytearray(struct.pack("<H", len(values)))
        for v in values.tolist():
            n = (v << 1) ^ (v >> 63)  # zigzag; v fits int32 (checked before)
            while n >= 0x80:
                out.append((n & 0x7F) | 0x80)
                n >>= 7
            out.append(n)
        self.parts.append(bytes(out))

    def finish(self) -> bytes:
        payload = b"".join(self.parts)
        if len(payload) > spec.MAX_MESSAGE:
            raise WireError("OVERSIZE", f"message of {len(payload)} bytes > {spec.MAX_MESSAGE}")
        return payload


# ---------------------------------------------------------------------------------------------
# checks (raise WireError; the generated code calls them in field order)


def check_int(name: str, value: int, lo: int, hi: int) -> None:
    if not lo <= value <= hi:
        raise WireError("VALUE", f"{name}={value} outside [{lo}, {hi}]")


def check_f32(name: str, value: float, *, finite: bool, lo: float | None, hi: float | None) -> None:
    if finite and not math.isfinite(value):
        raise WireError("VALUE", f"{name}={value} is not finite")
    # not (v >= lo): NaN fails every range check, as in C
    if lo is not None and not value >= lo or hi is not None and not value <= hi:
        raise WireError("VALUE", f"{name}={value} outside [{lo}, {hi}]")


def check_f32_array(name: str, values: np.ndarray, max_count: int, *, finite: bool,
                    lo: float | None, hi: float | None) -> None:
    if len(values) > max_count:
        raise WireError("OVERSIZE", f"{name}: {len(values)} values > {max_count}")
    bad = np.zeros(len(values), dtype=bool)
    if finite:
        bad |= ~np.isfinite(values)
    with np.errstate(invalid="ignore"):
        if lo is not None:
            bad |= ~(values >= np.float32(lo))
        if hi is not None:
            bad |= ~(values <= np.float32(hi))
    if bad.any():
        i = int(np.argmax(bad))
        raise WireError("VALUE", f"{name}[{i}]={values[i]} is not finite or out of range")


def check_svarint_array(name: str, values: np.ndarray, max_count: int) -> None:
    if len(values) > max_count:
        raise WireError("OVERSIZE", f"{name}: {len(values)} values > {max_count}")
    if len(values) and (values.min() < _INT32_MIN or values.max() > _INT32_MAX):
        raise WireError("VALUE", f"{name}: a value does not fit int32")


def check_uint_array(name: str, values: np.ndarray, max_count: int, bits: int) -> None:
    if len(values) > max_count:
        raise WireError("OVERSIZE", f"{name}: {len(values)} values > {max_count}")
    if len(values) and (values.min() < 0 or values.max() >= 1 << bits):
        raise WireError("VALUE", f"{name}: a value does not fit u{bits}")


def check_records(name: str, records: tuple[bytes, ...], max_count: int, length: int) -> None:
    if len(records) > max_count:
        raise WireError("OVERSIZE", f"{name}: {len(records)} records > {max_count}")
    for i, record in enumerate(records):
        if len(record) != length:
            raise WireError("VALUE", f"{name}[{i}]: {len(record)} bytes, the spec says {length}")


def check_bytes(name: str, value: bytes, length: int) -> None:
    if len(value) != length:
        raise WireError("VALUE", f"{name}: {len(value)} bytes, the spec says {length}")


# ---------------------------------------------------------------------------------------------
# normalisation (dataclass __post_init__)


def as_int(name: str, value: Any) -> int:
    if isinstance(value, (bool, float)) or not hasattr(value, "__index__"):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    return int(value)


def as_f32(value: Any) -> float:
    """Rounded to float32 as the wire carries it, so decode(encode(m)) == m; a NaN keeps its
    float32 bits (signalling or quiet, payload), as the C codec does."""
    if isinstance(value, np.float32):
        return f32_from_bits(int(value.view(np.uint32)))
    if isinstance(value, (float, np.floating)) and math.isnan(value):
        return f32_from_bits(f32_bits(value))
    with np.errstate(over="ignore"):
        return float(np.float32(value))


def as_array(value: Any, dtype: type) -> np.ndarray:
    with np.errstate(over="ignore", invalid="ignore"):
        array = np.array(value, dtype=dtype)
    if array.ndim != 1:
        raise ValueError(f"expected a 1-D array, got shape {array.shape}")
    array.flags.writeable = False
    return array


def fields_equal(a: Any, b: Any) -> bool:
    for f in dataclasses.fields(a):
        x, y = getattr(a, f.name), getattr(b, f.name)
        if isinstance(x, np.ndarray):
            if not np.array_equal(x, y):
                return False
        elif x != y:
            return False
    return True


def to_jsonable(message: Any) -> dict[str, Any]:
    """A message's fields as JSON values: arrays as lists, bytes as hex, NaN/Inf as strings."""

    def convert(value: Any) -> Any:
        if isinstance(value, np.ndarray):
            return [convert(v) for v in value.tolist()]
        if isinstance(value, bytes):
            return value.hex()
        if isinstance(value, tuple):
            return [convert(v) for v in value]
        if isinstance(value, float) and not math.isfinite(value):
            return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
        return value

    return {f.name: convert(getattr(message, f.name)) for f in dataclasses.fields(message)}
