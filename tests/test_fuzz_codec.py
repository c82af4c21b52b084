"""Property-based fuzzing (hypothesis) of the Python wire codec, and the C codec alongside it.

Properties: every valid message (drawn from the spec's own field ranges) survives encode and
decode; the decoders and the frame receiver raise nothing but WireError on any bytes; C and
Python agree on random and mutated payloads (status, and the bytes an accepted payload
re-encodes to) and on link streams (messages, fields, counters); and a float32 NaN, signalling or not, re-encodes bit for bit as the C side does.
"""
from __future__ import annotations

import math
import os
import struct

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tinyfl.wire import FrameDecoder, WireError, decode_payload, encode_message, spec
from tinyfl.wire._wire_gen import MESSAGE_BY_TYPE_ID, SetDpConfig
from tinyfl.wire.messages import as_f32, f32_bits, f32_from_bits
from wire_support import canonical, python_result, run_driver

EXAMPLES = int(os.environ.get("TINYFL_HYPOTHESIS_EXAMPLES", "300"))
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, print_blob=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

ARRAY_DRAW_MAX = 64  # longer arrays add time, not new code paths (counts are fuzzed separately)
SIGNALLING_NANS = (0x7F800001, 0xFF800001, 0x7FBFFFFF, 0x7FA00000)
F32_BITS = st.integers(0, 2**32 - 1)
F32_MAX = float(np.finfo(np.float32).max)


def _int_bounds(f: spec.Field) -> tuple[int, int]:
    bits = {"u8": 8, "u16": 16, "u32": 32, "u64": 64, "i32": 32}[f.kind]
    lo = int(f.min) if f.min is not None else (-(2**31) if f.kind == "i32" else 0)
    hi = int(f.max) if f.max is not None else (2**31 - 1 if f.kind == "i32" else 2**bits - 1)
    return lo, hi


def _f32(f: spec.Field) -> st.SearchStrategy[float]:
    if not f.finite:  # any 32 bits: NaNs of every payload, signalling ones included, and Inf
        return F32_BITS.map(f32_from_bits)
    lo = -F32_MAX if f.min is None else f.min
    hi = F32_MAX if f.max is None else f.max
    return st.floats(min_value=lo, max_value=hi, width=32, allow_nan=False, allow_infinity=False)


def field_strategy(f: spec.Field) -> st.SearchStrategy:
    if f.kind in ("u8", "u16", "u32", "u64", "i32"):
        return st.integers(*_int_bounds(f))
    if f.kind == "f32":
        return _f32(f)
    if f.kind == "bytes":
        return st.binary(min_size=f.length, max_size=f.length)
    size = min(f.max_count, ARRAY_DRAW_MAX)
    if f.kind in ("u16_array", "u32_array"):
        top = 2**16 - 1 if f.kind == "u16_array" else 2**32 - 1
        return st.lists(st.integers(0, top), max_size=size).map(lambda v: np.array(v, dtype=np.int64))
    if f.kind == "record_array":
        return st.lists(st.binary(min_size=f.length, max_size=f.length), max_size=size).map(tuple)
    if f.kind == "f32_array":
        return st.lists(_f32(f), max_size=size).map(lambda v: np.array(v, dtype=np.float32))
    return st.lists(st.integers(-(2**31), 2**31 - 1), max_size=size).map(
        lambda v: np.array(v, dtype=np.int64))


def message_strategy(m: spec.Message) -> st.SearchStrategy:
    return st.builds(MESSAGE_BY_TYPE_ID[m.type_id], **{f.name: field_strategy(f) for f in m.fields})


MESSAGES = st.sampled_from(spec.MESSAGES).flatmap(message_strategy)


def _has_nan(message) -> bool:
    return any(isinstance(v, float) and math.isnan(v) for v in vars(message).values())


@st.composite
def mutated_payload(draw) -> tuple[int, bytes]:
    """A valid payload, then cut, extended, overwritten or with an array count rewritten."""
    message = draw(MESSAGES)
    out = bytearray(message.encode())
    op = draw(st.integers(0, 4))
    if op == 1:
        del out[draw(st.integers(0, len(out))):]
    elif op == 2:
        out += draw(st.binary(min_size=1, max_size=8))
    elif op == 3 and out:
        for _ in range(draw(st.integers(1, 4))):
            out[draw(st.integers(0, len(out) - 1))] = draw(st.integers(0, 255))
    elif op == 4 and len(out) >= 2:
        at = draw(st.integers(0, len(out) - 2))
        count = draw(st.sampled_from((0, 1, 32, 33, 1040, 1041, 65535)))
        out[at:at + 2] = struct.pack("<H", count)
    return message.TYPE_ID, bytes(out)


# ---------------------------------------------------------------------------------------------


@SETTINGS
@given(MESSAGES)
def test_valid_messages_round_trip(message):
    payload = message.encode()
    decoded = decode_payload(message.TYPE_ID, payload)
    assert decoded.encode() == payload  # bit for bit, NaN payloads included
    if not _has_nan(message):
        assert decoded == message


@SETTINGS
@given(st.integers(0, 255), st.binary(max_size=600))
def test_decoders_raise_only_wire_error_on_random_bytes(type_id, payload):
    try:
        message = decode_payload(type_id, payload)
    except WireError as exc:
        assert exc.status in spec.STATUS_BY_NAME
    else:
        assert message.encode() == payload


@SETTINGS
@given(mutated_payload())
def test_decoders_raise_only_wire_error_on_mutated_payloads(case):
    type_id, payload = case
    try:
        message = decode_payload(type_id, payload)
    except WireError:
        return
    assert message.encode() == payload


@SETTINGS
@given(st.lists(st.binary(max_size=300), max_size=8), st.integers(1, 64))
def test_frame_receiver_never_raises(pieces, split):
    data = b"\x00".join(pieces)
    decoder = FrameDecoder()
    for at in range(0, len(data), split):
        for received in decoder.feed(data[at:at + split]):
            assert (received.message is None) != (received.error is None)
    assert decoder.buffered <= spec.MAX_MESSAGE + 8000


@settings(max_examples=max(10, EXAMPLES // 10), deadline=None, print_blob=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.lists(st.one_of(mutated_payload(), st.tuples(st.integers(1, 7), st.binary(max_size=120))),
                min_size=1, max_size=40))
def test_c_and_python_decoders_agree(cases):
    results = run_driver([f"R {t} {p.hex()}" for t, p in cases])
    for (type_id, payload), c_result in zip(cases, results):
        try:
            status, message = "OK", decode_payload(type_id, payload)
        except WireError as exc:
            status, message = exc.status, None
        assert c_result["status"] == status, f"type {type_id} payload {payload.hex()}"
        if message is not None:
            assert bytes.fromhex(c_result["hex"]) == payload
            assert message.encode() == payload  # NaN fields too: Python keeps their bits


@st.composite
def link_bytes(draw) -> bytes:
    """Whole messages (any chunk size) with some frames cut, doubled, dropped or mangled, and
    garbage between them."""
    frames: list[bytes] = []
    for message in draw(st.lists(MESSAGES, max_size=3)):
        try:
            data = encode_message(message, draw(st.integers(0, 65535)),
                                  draw(st.integers(spec.MIN_CHUNK, spec.MAX_CHUNK)))
        except WireError:  # an update of big varints past MAX_MESSAGE
            continue
        frames += [f + b"\x00" for f in data.split(b"\x00")[:-1]]
    for _ in range(draw(st.integers(0, 3))):
        op = draw(st.integers(0, 3))
        at = draw(st.integers(0, len(frames)))
        if op == 0:
            frames.insert(at, draw(st.binary(max_size=40)))
        elif frames and op == 1:
            del frames[min(at, len(frames) - 1)]
        elif frames and op == 2:
            frames.insert(at, frames[min(at, len(frames) - 1)])
        elif frames and frames[min(at, len(frames) - 1)]:
            i = min(at, len(frames) - 1)
            frame = bytearray(frames[i])
            frame[draw(st.integers(0, len(frame) - 1))] ^= 1 << draw(st.integers(0, 7))
            frames[i] = bytes(frame)
    return b"".join(frames)


@settings(max_examples=max(10, EXAMPLES // 10), deadline=None, print_blob=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.lists(link_bytes(), min_size=1, max_size=20))
def test_c_and_python_receivers_agree(links):
    results = run_driver([f"V h{i} {data.hex()}" for i, data in enumerate(links)])
    for i, (data, c_result) in enumerate(zip(links, results)):
        assert canonical(c_result) == canonical(python_result(f"h{i}", data)), data.hex()


# --- signalling NaN (issue 8): Python re-encodes it bit for bit, as C does --------------------


@pytest.mark.parametrize("bits", SIGNALLING_NANS, ids=hex)
def test_signalling_nan_reencodes_bit_for_bit_like_c(bits):
    rest = struct.pack("<ff", 1.0, 2.0) + bytes(range(32))
    payload = struct.pack("<I", bits) + rest
    message = decode_payload(SetDpConfig.TYPE_ID, payload)
    assert math.isnan(message.clip)
    assert message.encode() == payload  # was 0x7fc00001 for 0x7f800001
    (c_result,) = run_driver([f"R {SetDpConfig.TYPE_ID} {payload.hex()}"])
    assert bytes.fromhex(c_result["hex"]) == payload
    # built by hand from a float32 (numpy keeps the bits) or from the Python float
    from_numpy = SetDpConfig(clip=np.array([bits], dtype=np.uint32).view(np.float32)[0],
                             noise_multiplier=1.0, eps_limit=2.0, seed=bytes(range(32)))
    assert from_numpy.encode() == payload
    assert SetDpConfig(clip=message.clip, noise_multiplier=1.0, eps_limit=2.0,
                       seed=bytes(range(32))).encode() == payload


@SETTINGS
@given(F32_BITS)
def test_every_float32_bit_pattern_survives_the_scalar_codec(bits):
    assert f32_bits(f32_from_bits(bits)) == bits
    assert f32_bits(as_f32(f32_from_bits(bits))) == bits


def test_nan_of_a_python_computation_encodes_as_the_quiet_nan():
    """A double NaN with no payload in float32's bits becomes the quiet NaN, as a C cast does."""
    assert f32_bits(float("nan")) == 0x7FC00000
    assert f32_bits(-float("nan")) == 0xFFC00000
    low_payload_only = struct.unpack("<d", struct.pack("<Q", 0x7FF0000000000001))[0]
    assert f32_bits(low_payload_only) == 0x7FC00000
