"""The bulk decoders (svarint arrays with numpy, COBS block joins) against the byte-by-byte
readers they replace: same values, or the same error with the same message, on valid and on
random or mutated inputs."""
from __future__ import annotations

import random

import numpy as np
import pytest

from tinyfl.wire import WireError, cobs_decode, cobs_encode
from tinyfl.wire.cobs import _decode_checking_zeros
from tinyfl.wire.messages import Reader, Writer


def _outcome(call):
    try:
        return ("ok", call())
    except WireError as exc:
        return ("error", exc.status, str(exc))


def _same(a, b) -> bool:
    if a[0] != b[0]:
        return False
    if a[0] == "ok":
        return np.array_equal(a[1][0], b[1][0]) and a[1][1] == b[1][1]
    return a == b


def _svarints(buf: bytes, slowly: bool):
    reader = Reader(buf)
    if slowly:
        count = reader._count(4096)
        values = reader._svarints_slowly(count)
    else:
        values = reader.svarint_array(4096)
    return values, reader.pos


def test_svarint_bulk_decoding_matches_the_byte_reader() -> None:
    rng = random.Random(5)
    cases = 0
    for trial in range(3000):
        values = np.array([rng.choice([0, 1, -1, 63, -64, 64, 8191, -8192, 2**31 - 1, -2**31,
                                       rng.randrange(-2**31, 2**31)])
                           for _ in range(rng.randrange(0, 40))], dtype=np.int64)
        writer = Writer()
        writer.svarint_array(values)
        buf = bytearray(b"".join(writer.parts))
        if trial % 3 == 0 and len(buf) > 2:  # mutate: flip, cut, extend, zero a byte
            pos = rng.randrange(2, len(buf))
            how = rng.randrange(4)
            if how == 0:
                buf[pos] ^= 1 << rng.randrange(8)
            elif how == 1:
                del buf[pos:]
            elif how == 2:
                buf[pos:pos] = bytes([0x80] * rng.randrange(1, 7))
            else:
                buf[pos] = 0
        fast = _outcome(lambda: _svarints(bytes(buf), False))
        slow = _outcome(lambda: _svarints(bytes(buf), True))
        assert _same(fast, slow), (bytes(buf).hex(), fast, slow)
        if trial % 3 and fast[0] == "ok":
            assert np.array_equal(fast[1][0], values)
        cases += fast[0] == "error"
    assert cases > 100  # the mutations did reach the error paths


@pytest.mark.parametrize("buf, status", [
    (bytes([2, 0, 0x80, 0x80, 0x80, 0x80, 0x10]), "VALUE"),   # 5th byte > 0x0F
    (bytes([1, 0, 0x80, 0x00]), "VALUE"),                     # not minimal
    (bytes([2, 0, 0x05, 0x80]), "TRUNCATED"),                 # second varint cut
    (bytes([1, 0, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01]), "VALUE"),  # 6 bytes
])
def test_svarint_errors(buf: bytes, status: str) -> None:
    with pytest.raises(WireError) as info:
        Reader(buf).svarint_array(100)
    assert info.value.status == status


def test_cobs_fast_path_matches_the_checking_decoder() -> None:
    rng = random.Random(9)
    for _ in range(3000):
        raw = bytes(rng.choice([0, 0, 1, 0xFF, rng.randrange(256)])
                    for _ in range(rng.randrange(0, 700)))
        body = bytearray(cobs_encode(raw))
        assert cobs_decode(bytes(body)) == raw
        if body and rng.random() < 0.5:
            pos = rng.randrange(len(body))
            body[pos] = rng.randrange(1, 256)  # no zero: the fast path's input
            assert _outcome(lambda: cobs_decode(bytes(body))) == \
                _outcome(lambda: _decode_checking_zeros(bytes(body)))
