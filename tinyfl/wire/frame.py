"""Frames on the link: encoding (with chunking) and a streaming, bounded decoder.

The layout is in spec.py. FrameDecoder mirrors firmware/tinyfl_frame.c step for step: the same
checks in the same order, the same counters, so tests can feed both the same bytes and compare.

Counting rule (both sides): every non-empty frame is either accepted (`frames_ok`) or counted
once in `rejected` by status; in addition, every partially received message that is given up
(a chunk that does not continue it, or a message growing past MAX_MESSAGE) counts one CHUNK.
"""
from __future__ import annotations

import collections
import struct
import zlib
from dataclasses import dataclass, field

from . import spec
from ._wire_gen import MESSAGE_BY_TYPE_ID, Message
from .cobs import cobs_decode, cobs_encode
from .messages import WireError

__all__ = [
    "MAX_FRAME_BODY",
    "ReceivedMessage",
    "FrameDecoder",
    "encode_frame",
    "encode_payload",
    "encode_message",
    "decode_payload",
    "decode_frames",
]

_HEADER = struct.Struct("<BBHBBH")  # version type seq chunk nchunks length
assert _HEADER.size == spec.HEADER_SIZE
_MAX_RAW = spec.HEADER_SIZE + spec.MAX_CHUNK + spec.CRC_SIZE
MAX_FRAME_BODY = _MAX_RAW + _MAX_RAW // 254 + 1  # longest COBS body between delimiters
# Worst case of the raw frames kept for one message: each frame adds header, CRC, one COBS
# code byte and its delimiter to its share of the payload.
MAX_RAW_FRAMES_BYTES = spec.MAX_CHUNKS * (spec.HEADER_SIZE + spec.CRC_SIZE + 2) + spec.MAX_MESSAGE


@dataclass
class ReceivedMessage:
    """One reassembled message. `message` is the decoded dataclass, or None with `error` set
    when the payload breaks the spec. `raw_frames` are the frames exactly as received
    (each ending in its 0x00), for the run record."""

    type_id: int
    seq: int
    payload: bytes
    message: Message | None = None
    error: WireError | None = None
    raw_frames: list[bytes] = field(default_factory=list)

    @property
    def name(self) -> str:
        return MESSAGE_BY_TYPE_ID[self.type_id].NAME


def encode_frame(
    type_id: int,
    seq: int,
    chunk: int,
    nchunks: int,
    payload: bytes,
    *,
    version: int = spec.PROTOCOL_VERSION,
    length: int | None = None,
    crc: int | None = None,
) -> bytes:
    """One frame: COBS(header | payload | crc32) 0x00. `version`, `length` and `crc` default to
    the correct values; tests override them to craft bad frames."""
    payload = bytes(payload)
    header = _HEADER.pack(version, type_id, seq, chunk, nchunks,
                          len(payload) if length is None else length)
    body = header + payload
    if crc is None:
        crc = zlib.crc32(body)
    return cobs_encode(body + struct.pack("<I", crc)) + b"\x00"


def encode_payload(type_id: int, seq: int, payload: bytes, chunk: int = spec.MAX_CHUNK) -> bytes:
    """A payload as ceil(len / chunk) frames (one when empty), as tinyfl_frame_send sends it."""
    if not spec.MIN_CHUNK <= chunk <= spec.MAX_CHUNK or not 0 <= seq <= 0xFFFF:
        raise WireError("ARG", f"chunk {chunk} or seq {seq} out of range")
    if type_id not in MESSAGE_BY_TYPE_ID:
        raise WireError("TYPE", f"unknown message type {type_id}")
    if len(payload) > spec.MAX_MESSAGE:
        raise WireError("OVERSIZE", f"message of {len(payload)} bytes > {spec.MAX_MESSAGE}")
    nchunks = max(1, -(-len(payload) // chunk))
    return b"".join(
        encode_frame(type_id, seq, i, nchunks, payload[i * chunk:(i + 1) * chunk])
        for i in range(nchunks)
    )


def encode_message(msg: Message, seq: int, chunk: int = spec.MAX_CHUNK) -> bytes:
    """The frames of one message (each ending in 0x00), concatenated."""
    return encode_payload(msg.TYPE_ID, seq, msg.encode(), chunk)


def decode_payload(type_id: int, payload: bytes) -> Message:
    """The message of a known type; raises WireError."""
    cls = MESSAGE_BY_TYPE_ID.get(type_id)
    if cls is None:
        raise WireError("TYPE", f"unknown message type {type_id}")
    return cls.decode(payload)


class FrameDecoder:
    """Streaming receiver: feed it link bytes in any pieces, get whole messages back.

    Bounded: it holds at most one frame body (MAX_FRAME_BODY bytes), one message in progress
    (MAX_MESSAGE bytes) and that message's raw frames (MAX_RAW_FRAMES_BYTES)."""

    def __init__(self) -> None:
        self.rejected: collections.Counter[str] = collections.Counter()
        self.frames_ok = 0
        self.decode_errors: collections.Counter[str] = collections.Counter()  # payloads refused
        self._body = bytearray()
        self._discarding = False
        self._msg = bytearray()
        self._frames: list[bytes] = []
        self._type = self._seq = self._nchunks = self._next_chunk = 0

    @property
    def buffered(self) -> int:
        """Bytes held right now (for the bound above)."""
        return len(self._body) + len(self._msg) + sum(len(f) for f in self._frames)

    def feed(self, data: bytes) -> list[ReceivedMessage]:
        out: list[ReceivedMessage] = []
        data = bytes(data)
        pos, end = 0, len(data)
        while pos < end:
            zero = data.find(0, pos)
            stop = end if zero < 0 else zero
            if not self._discarding and stop > pos:
                if len(self._body) + stop - pos > MAX_FRAME_BODY:
                    # longer than any valid frame: drop it up to the next delimiter
                    self._reject("OVERSIZE")
                    self._discarding = True
                    self._body.clear()
                else:
                    self._body += data[pos:stop]
            if zero < 0:
                break
            pos = zero + 1
            if self._discarding:
                self._discarding = False
            elif self._body:  # empty bodies are idle delimiters, not frames
                body = bytes(self._body)
                self._body.clear()
                received = self._frame(body)
                if received is not None:
                    out.append(received)
        return out

    def _reject(self, status: str) -> None:
        self.rejected[status] += 1

    def _abandon(self) -> None:
        self._next_chunk = 0
        self._msg.clear()
        self._frames.clear()
        self.rejected["CHUNK"] += 1

    def _frame(self, body: bytes) -> ReceivedMessage | None:
        try:
            raw = cobs_decode(body)
        except WireError:
            return self._reject("COBS")
        if len(raw) < spec.HEADER_SIZE + spec.CRC_SIZE:
            return self._reject("TRUNCATED")
        if zlib.crc32(raw[:-spec.CRC_SIZE]) != int.from_bytes(raw[-spec.CRC_SIZE:], "little"):
            return self._reject("CRC")
        version, type_id, seq, chunk, nchunks, length = _HEADER.unpack_from(raw)
        if version != spec.PROTOCOL_VERSION:
            return self._reject("VERSION")
        received = len(raw) - spec.HEADER_SIZE - spec.CRC_SIZE
        if length > spec.MAX_CHUNK:
            return self._reject("OVERSIZE")
        if received < length:
            return self._reject("TRUNCATED")
        if received > length:
            return self._reject("OVERSIZE")
        if type_id not in MESSAGE_BY_TYPE_ID:
            return self._reject("TYPE")
        if self._next_chunk and (chunk, type_id, seq, nchunks) != (
            self._next_chunk, self._type, self._seq, self._nchunks
        ):
            self._abandon()
        if not self._next_chunk:
            if chunk != 0 or nchunks == 0:
                return self._reject("CHUNK")
            self._type, self._seq, self._nchunks = type_id, seq, nchunks
            self._msg.clear()
            self._frames.clear()
        if len(self._msg) + length > spec.MAX_MESSAGE:
            self._abandon()
            return self._reject("OVERSIZE")
        self._msg += raw[spec.HEADER_SIZE:spec.HEADER_SIZE + length]
        self._frames.append(body + b"\x00")
        self.frames_ok += 1
        self._next_chunk += 1
        if self._next_chunk < self._nchunks:
            return None
        self._next_chunk = 0
        result = ReceivedMessage(self._type, self._seq, bytes(self._msg),
                                 raw_frames=list(self._frames))
        self._msg.clear()
        self._frames.clear()
        try:
            result.message = decode_payload(result.type_id, result.payload)
        except WireError as exc:
            result.error = exc
            self.decode_errors[exc.status] += 1
        return result


def decode_frames(data: bytes) -> list[ReceivedMessage]:
    """All messages in `data` (a fresh FrameDecoder fed once)."""
    return FrameDecoder().feed(data)
