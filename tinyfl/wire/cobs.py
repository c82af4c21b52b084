"""Consistent Overhead Byte Stuffing, byte-identical to firmware/tinyfl_cobs.c."""
from __future__ import annotations

from .messages import WireError

__all__ = ["cobs_encode", "cobs_decode"]


def cobs_encode(data: bytes) -> bytes:
    """The COBS encoding of `data` (no 0x00 in it; the delimiter is not added)."""
    out = bytearray()
    for piece in bytes(data).split(b"\x00"):
        # a piece longer than 254 bytes becomes full blocks (code 0xFF, no implied zero)
        while len(piece) >= 254:
            out.append(0xFF)
            out += piece[:254]
            piece = piece[254:]
        out.append(len(piece) + 1)
        out += piece
    return bytes(out)


def cobs_decode(body: bytes) -> bytes:
    """Decodes one frame body (between delimiters); raises WireError("COBS") if malformed."""
    body = bytes(body)
    if 0 in body:
        return _decode_checking_zeros(body)
    # a body between delimiters has no 0x00 (FrameDecoder splits on them): only the codes
    # need checking, and the blocks are joined once
    parts = []
    r, end = 0, len(body)
    while r < end:
        code = body[r]
        if r + code > end:
            raise WireError("COBS", f"code {code} at offset {r} of {end}")
        parts.append(body[r + 1:r + code])
        r += code
        if code != 0xFF and r < end:
            parts.append(b"\x00")
    return b"".join(parts)


def _decode_checking_zeros(body: bytes) -> bytes:
    out = bytearray()
    r, end = 0, len(body)
    while r < end:
        code = body[r]
        if code == 0 or code - 1 > end - r - 1:
            raise WireError("COBS", f"code {code} at offset {r} of {end}")
        block = body[r + 1:r + code]
        if 0 in block:
            raise WireError("COBS", f"0x00 inside a block at offset {r}")
        out += block
        r += code
        if code != 0xFF and r < end:
            out.append(0)
    return bytes(out)
