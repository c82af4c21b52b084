"""Python framing: COBS, chunking, the streaming decoder and its bounds."""
from __future__ import annotations

import random

import numpy as np
import pytest

from tinyfl.wire import (
    MAX_CHUNK,
    MAX_FRAME_BODY,
    MAX_MESSAGE,
    MIN_CHUNK,
    FrameDecoder,
    GlobalModel,
    Hello,
    HelloRequest,
    WireError,
    cobs_decode,
    cobs_encode,
    decode_frames,
    encode_frame,
    encode_message,
    encode_payload,
)
from tinyfl.wire.frame import MAX_RAW_FRAMES_BYTES


@pytest.mark.parametrize("raw, encoded", [
    ("", "01"),
    ("00", "0101"),
    ("0000", "010101"),
    ("112200", "03112201"),
    ("11220033", "0311220233"),
    ("01" * 254, "ff" + "01" * 254 + "01"),
    ("01" * 253 + "00", "fe" + "01" * 253 + "01"),
])
def test_cobs_reference_values(raw, encoded):
    assert cobs_encode(bytes.fromhex(raw)).hex() == encoded
    assert cobs_decode(bytes.fromhex(encoded)).hex() == raw


def test_cobs_round_trip_random():
    rng = random.Random(5)
    for n in list(range(0, 520, 7)) + [253, 254, 255, 508]:
        data = bytes(rng.choice((0, rng.randrange(256))) for _ in range(n))
        encoded = cobs_encode(data)
        assert 0 not in encoded and len(encoded) <= n + n // 254 + 1
        assert cobs_decode(encoded) == data


@pytest.mark.parametrize("bad", ["0501", "00", "0300", "02"[:0] + "0311"])
def test_cobs_rejects_malformed(bad):
    with pytest.raises(WireError) as info:
        cobs_decode(bytes.fromhex(bad))
    assert info.value.status == "COBS"


def test_max_frame_body_matches_the_c_header():
    raw = 8 + MAX_CHUNK + 4  # TINYFL_FRAME_MAX_RAW
    assert MAX_FRAME_BODY == raw + raw // 254 + 2 - 1  # TINYFL_FRAME_MAX_ENCODED minus the 0x00
    assert len(encode_frame(3, 1, 0, 1, bytes(range(1, 241)))) == MAX_FRAME_BODY + 1


def big_model() -> GlobalModel:
    return GlobalModel(run=1, round=1, nonce=3, lr=0.5, local_epochs=1, batch_size=4, n_classes=16,
                       n_features=64, params=np.random.default_rng(1).normal(size=1040))


@pytest.mark.parametrize("chunk", [MIN_CHUNK, 21, 100, MAX_CHUNK])
def test_chunking(chunk):
    m = big_model()
    data = encode_message(m, seq=77, chunk=chunk)
    nframes = -(-len(m.encode()) // chunk)
    assert data.count(0) == nframes and data.endswith(b"\x00")
    decoder = FrameDecoder()
    (received,) = decoder.feed(data)
    assert received.message == m and received.seq == 77 and received.name == "global_model"
    assert decoder.frames_ok == nframes and not decoder.rejected
    assert len(received.raw_frames) == nframes and b"".join(received.raw_frames) == data


def test_empty_message_is_one_frame():
    data = encode_message(HelloRequest(), seq=65535)
    assert data.count(0) == 1
    (received,) = decode_frames(data)
    assert received.message == HelloRequest() and received.payload == b""


@pytest.mark.parametrize("kwargs, status", [
    (dict(chunk=MIN_CHUNK - 1), "ARG"),
    (dict(chunk=MAX_CHUNK + 1), "ARG"),
    (dict(seq=-1), "ARG"),
    (dict(seq=65536), "ARG"),
    (dict(type_id=0), "TYPE"),
    (dict(payload=bytes(MAX_MESSAGE + 1)), "OVERSIZE"),
])
def test_encode_payload_refuses(kwargs, status):
    args = dict(type_id=3, seq=1, payload=b"", chunk=20)
    with pytest.raises(WireError) as info:
        encode_payload(**{**args, **kwargs})
    assert info.value.status == status


def test_any_split_of_the_stream_gives_the_same_result():
    rng = random.Random(7)
    hello = Hello(1, 2, 3, 4, 5, 1.0, 1.0, 8, 0.0, 1.0, 0.0, 0, 0, 0, 20, 0, 0, [])
    data = (b"\x00garbage\x00" + encode_message(big_model(), 1, 33) + b"\x07" * 400 + b"\x00"
            + encode_message(hello, 2))
    expected = [(m.seq, m.payload) for m in decode_frames(data)]
    assert len(expected) == 2
    for _ in range(30):
        decoder = FrameDecoder()
        cuts = sorted(rng.sample(range(len(data)), 25))
        got = []
        for start, end in zip([0] + cuts, cuts + [len(data)]):
            got += [(m.seq, m.payload) for m in decoder.feed(data[start:end])]
        assert got == expected
        assert decoder.rejected == {"COBS": 1, "OVERSIZE": 1}


def test_payload_errors_are_reported_not_raised():
    data = encode_payload(1, 5, b"\x01\x02")
    decoder = FrameDecoder()
    (received,) = decoder.feed(data)
    assert received.message is None and received.error.status == "TRUNCATED"
    assert decoder.decode_errors == {"TRUNCATED": 1} and decoder.frames_ok == 1


def test_decoder_stays_bounded():
    decoder = FrameDecoder()
    rng = random.Random(3)
    limit = MAX_FRAME_BODY + MAX_MESSAGE + MAX_RAW_FRAMES_BYTES
    decoder.feed(bytes(rng.randrange(1, 256) for _ in range(100_000)))  # no delimiter at all
    assert decoder.buffered <= MAX_FRAME_BODY and decoder.rejected["OVERSIZE"] == 1
    # the worst message in progress: 254 chunks that together stay under MAX_MESSAGE
    decoder = FrameDecoder()
    for i in range(254):
        decoder.feed(encode_frame(3, 9, i, 255, b"\x01" * 17))
        assert decoder.buffered <= limit
    assert decoder.buffered > MAX_MESSAGE  # it does hold the raw frames for the record
