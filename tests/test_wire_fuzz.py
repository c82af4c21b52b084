"""Fuzzing the receivers: thousands of random and mutated inputs (fixed seed) through the C
receiver and decoders (built with AddressSanitizer and UBSan) and through the Python ones.

Asserts: no crash and no sanitizer report; the C driver's own byte-by-byte checks hold (every
frame counted once, plus once per abandoned message; every accepted payload re-encodes to
itself); and C and Python agree exactly on every input (messages, fields, counters). A
regression found here gets its own case in tests/vectors/make_wire_vectors.py.
"""
from __future__ import annotations

import random
import struct
import zlib

import numpy as np
import pytest

from tinyfl.wire import (
    MAX_FRAME_BODY,
    FrameDecoder,
    WireError,
    cobs_decode,
    cobs_encode,
    decode_payload,
    encode_frame,
    encode_message,
    encode_payload,
    spec,
)
from tinyfl.wire._wire_gen import MESSAGE_BY_TYPE_ID
from wire_support import canonical, has_nan, python_result, run_driver

SEED = 20240611
LINK_CASES = 6000
PAYLOAD_CASES = 5000


# ---------------------------------------------------------------------------------------------
# random valid messages, straight from the spec's ranges


def random_value(rng: random.Random, f: spec.Field):
    if f.kind in ("u8", "u16", "u32", "u64", "i32"):
        bits = {"u8": 8, "u16": 16, "u32": 32, "u64": 64, "i32": 32}[f.kind]
        lo = int(f.min) if f.min is not None else (-(2**31) if f.kind == "i32" else 0)
        hi = int(f.max) if f.max is not None else (2**31 - 1 if f.kind == "i32" else 2**bits - 1)
        return rng.choice((lo, hi, rng.randint(lo, hi), rng.randint(lo, min(hi, lo + 10))))
    if f.kind == "f32":
        lo = f.min if f.min is not None else -1e3
        hi = f.max if f.max is not None else 1e3
        return rng.choice((lo, hi, rng.uniform(lo, hi), 0.0))
    if f.kind == "bytes":
        return rng.randbytes(f.length)
    n = rng.choice((0, 1, rng.randint(0, 40), rng.randint(0, f.max_count)))
    n = min(n, f.max_count)
    if f.kind in ("u16_array", "u32_array"):
        top = 2**16 - 1 if f.kind == "u16_array" else 2**32 - 1
        return np.array([rng.choice((0, top, rng.randint(0, top))) for _ in range(n)], dtype=np.int64)
    if f.kind == "record_array":
        return tuple(rng.randbytes(f.length) for _ in range(n))
    if f.kind == "f32_array":
        lo = f.min if f.min is not None else -1e3
        hi = f.max if f.max is not None else 1e3
        return np.array([rng.uniform(lo, hi) for _ in range(n)], dtype=np.float32)
    scale = rng.choice((4, 2**8, 2**20, 2**27))
    return np.array([rng.randint(-scale, scale - 1) for _ in range(n)], dtype=np.int64)


def random_message(rng: random.Random):
    m = rng.choice(spec.MESSAGES)
    cls = MESSAGE_BY_TYPE_ID[m.type_id]
    while True:
        message = cls(**{f.name: random_value(rng, f) for f in m.fields})
        try:
            message.encode()
            return message
        except WireError:  # an update of big varints past MAX_MESSAGE: draw again
            continue


# ---------------------------------------------------------------------------------------------
# link-level corpus


def flip_bits(rng: random.Random, data: bytes) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        if out:
            out[rng.randrange(len(out))] ^= 1 << rng.randrange(8)
    return bytes(out)


def splice_bytes(rng: random.Random, data: bytes) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        at = rng.randint(0, len(out))
        if rng.random() < 0.5 and out:
            del out[at:at + rng.randint(1, 16)]
        else:
            out[at:at] = rng.randbytes(rng.randint(1, 16))
    return bytes(out)


def remake_frames(rng: random.Random, data: bytes) -> bytes:
    """Mutate inside frames and fix the CRC, so the mutation reaches the header checks,
    reassembly and the payload decoders instead of stopping at CRC."""
    out = []
    for body in data.split(b"\x00"):
        if not body:
            out.append(body)
            continue
        try:
            raw = bytearray(cobs_decode(body))
        except WireError:
            out.append(body)
            continue
        if len(raw) >= spec.HEADER_SIZE + spec.CRC_SIZE and rng.random() < 0.6:
            content = raw[:-spec.CRC_SIZE]
            choice = rng.randrange(4)
            if choice == 0:  # one header byte
                content[rng.randrange(spec.HEADER_SIZE)] = rng.randrange(256)
            elif choice == 1 and len(content) > spec.HEADER_SIZE:  # one payload byte
                content[rng.randrange(spec.HEADER_SIZE, len(content))] = rng.randrange(256)
            elif choice == 2:  # payload cut or extended, length field kept or fixed
                cut = rng.randint(spec.HEADER_SIZE, len(content))
                content = content[:cut] + rng.randbytes(rng.randint(0, 8))
                if rng.random() < 0.5:
                    struct.pack_into("<H", content, 6, len(content) - spec.HEADER_SIZE)
            else:  # seq / chunk / nchunks
                content[rng.choice((2, 4, 5))] = rng.randrange(8)
            raw = content + struct.pack("<I", zlib.crc32(content))
        out.append(cobs_encode(bytes(raw)))
    return b"\x00".join(out)


def shuffle_frames(rng: random.Random, data: bytes) -> bytes:
    frames = [f + b"\x00" for f in data.split(b"\x00")[:-1]]
    op = rng.randrange(3)
    if op == 0:
        rng.shuffle(frames)
    elif op == 1 and frames:
        frames.insert(rng.randrange(len(frames) + 1), rng.choice(frames))
    elif frames:
        del frames[rng.randrange(len(frames))]
    return b"".join(frames)


def random_header_frame(rng: random.Random) -> bytes:
    payload = rng.randbytes(rng.choice((0, 1, 10, 44, rng.randint(0, 240))))
    return encode_frame(
        rng.choice((0, 1, 2, 3, 4, 5, 6, 7, 8, 255)), rng.randrange(4), rng.randrange(4),
        rng.randrange(4), payload, version=rng.choice((1, 1, 1, 0, 2)),
        length=rng.choice((None, None, rng.randrange(300), len(payload) + 1)),
    )


def garbage(rng: random.Random) -> bytes:
    zero_rate = rng.choice((0.0, 0.01, 0.1, 0.5))
    return bytes(0 if rng.random() < zero_rate else rng.randrange(1, 256)
                 for _ in range(rng.randint(0, 700)))


def link_corpus(rng: random.Random, n: int) -> list[bytes]:
    cases = []
    for _ in range(n):
        base = b"".join(
            encode_message(random_message(rng), rng.randrange(65536),
                           rng.choice((20, 20, 33, 100, 240)))
            for _ in range(rng.randint(1, 3))
        )
        kind = rng.randrange(8)
        if kind == 0:
            data = flip_bits(rng, base)
        elif kind == 1:
            data = base[:rng.randint(0, len(base))]
        elif kind == 2:
            data = splice_bytes(rng, base)
        elif kind == 3:
            data = remake_frames(rng, base)
        elif kind == 4:
            data = shuffle_frames(rng, base)
        elif kind == 5:
            data = b"".join(random_header_frame(rng) for _ in range(rng.randint(1, 6)))
        elif kind == 6:
            data = garbage(rng)
        else:
            data = garbage(rng)[:50] + base + garbage(rng)[:50]
        cases.append(data)
    return cases


def frame_bounds(data: bytes) -> tuple[int, int]:
    """(lowest, highest) possible frames_ok + sum(rejected): each delimited non-empty frame
    counts once, an overlong one once, plus at most one abandoned message per frame."""
    segments = data.split(b"\x00")
    complete, trailing = segments[:-1], segments[-1]
    low = sum(1 for s in complete if s) + (1 if len(trailing) > MAX_FRAME_BODY else 0)
    return low, 2 * low


# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def corpus() -> list[bytes]:
    return link_corpus(random.Random(SEED), LINK_CASES)


def test_c_and_python_receivers_agree_on_fuzzed_links(corpus):
    c_results = run_driver([f"V f{i} {data.hex()}" for i, data in enumerate(corpus)])
    accepted = rejected = 0
    for i, (data, c_result) in enumerate(zip(corpus, c_results)):
        py = python_result(f"f{i}", data)
        assert canonical(c_result) == canonical(py), f"case {i}: {data.hex()}"
        counted = py["frames_ok"] + sum(py["rejected"].values())
        low, high = frame_bounds(data)
        assert low <= counted <= high, f"case {i}"
        accepted += len(py["messages"])
        rejected += sum(py["rejected"].values())
    # the corpus reaches both outcomes, and every rejection status of the frame layer
    assert accepted > LINK_CASES // 4 and rejected > LINK_CASES
    seen = set()
    for data in corpus:
        seen |= set(python_result("", data)["rejected"])
    assert seen == {"COBS", "CRC", "TRUNCATED", "OVERSIZE", "VERSION", "TYPE", "CHUNK"}


def test_python_receiver_counts_every_frame_byte_by_byte(corpus):
    """The same per-byte rule the C driver checks, for the Python decoder."""
    for data in corpus[:1500]:
        decoder = FrameDecoder()
        segment = 0
        for byte in data:
            before = decoder.frames_ok + sum(decoder.rejected.values())
            chunk_before = decoder.rejected["CHUNK"]
            decoder.feed(bytes([byte]))
            counted = decoder.frames_ok + sum(decoder.rejected.values()) - before
            if byte:
                segment += 1
                assert counted == (1 if segment == MAX_FRAME_BODY + 1 else 0)
            else:
                if segment == 0 or segment > MAX_FRAME_BODY:
                    assert counted == 0
                else:
                    assert counted in (1, 2)
                    assert counted == 1 or decoder.rejected["CHUNK"] > chunk_before
                segment = 0
            assert decoder.buffered <= MAX_FRAME_BODY + spec.MAX_MESSAGE + 8000


def mutate_payload(rng: random.Random, payload: bytes) -> bytes:
    out = bytearray(payload)
    op = rng.randrange(5)
    if op == 0 and out:
        for _ in range(rng.randint(1, 4)):
            out[rng.randrange(len(out))] ^= 1 << rng.randrange(8)
    elif op == 1:
        del out[rng.randint(0, len(out)):]
    elif op == 2:
        out += rng.randbytes(rng.randint(1, 6))
    elif op == 3 and len(out) >= 2:
        at = rng.randrange(len(out) - 1)  # often an array count
        count = rng.choice((0, 1, 1040, 1041, 65535, rng.randrange(65536)))
        out[at:at + 2] = struct.pack("<H", count)
    else:
        out = bytearray(rng.randbytes(rng.randint(0, 80)))
    return bytes(out)


def test_c_and_python_message_decoders_agree_on_fuzzed_payloads():
    rng = random.Random(SEED + 1)
    cases = []
    for _ in range(PAYLOAD_CASES):
        message = random_message(rng)
        payload = message.encode()
        if rng.random() < 0.85:
            payload = mutate_payload(rng, payload)
        cases.append((message.TYPE_ID, payload))
    results = run_driver([f"R {t} {p.hex()}" for t, p in cases])
    statuses = set()
    for (type_id, payload), c_result in zip(cases, results):
        try:
            message = decode_payload(type_id, payload)
            status = "OK"
        except WireError as exc:
            status = exc.status
        statuses.add(status)
        assert c_result["status"] == status, f"type {type_id} payload {payload.hex()}"
        if status == "OK":
            assert bytes.fromhex(c_result["hex"]) == payload  # C re-encodes bit for bit
            if not has_nan(message):
                assert message.encode() == payload
    assert {"OK", "TRUNCATED", "OVERSIZE", "VALUE"} <= statuses


def test_encode_payload_of_random_messages_decodes_back():
    rng = random.Random(SEED + 2)
    for _ in range(300):
        message = random_message(rng)
        chunk = rng.randint(spec.MIN_CHUNK, spec.MAX_CHUNK)
        data = encode_payload(message.TYPE_ID, 1, message.encode(), chunk)
        decoder = FrameDecoder()
        (received,) = decoder.feed(data)
        assert received.message == message and not decoder.rejected
