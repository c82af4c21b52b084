"""Shamir t-of-k sharing of 32-byte secrets over GF(2^8) (AES polynomial), byte by byte: the
same polynomial draws as firmware/secagg/tinyfl_shamir.c, plus reconstruction (Lagrange at 0),
which only the host does."""
from __future__ import annotations

import struct

__all__ = ["SECRET_SIZE", "ShamirError", "combine", "gf_mul", "split"]

SECRET_SIZE = 32
MAX_THRESHOLD = 16  # TINYFL_SHAMIR_MAX_THRESHOLD


class ShamirError(ValueError):
    """Too few shares, repeated or zero evaluation points, or wrong sizes."""


def gf_mul(a: int, b: int) -> int:
    product = 0
    for _ in range(8):
        if b & 1:
            product ^= a
        a = ((a << 1) ^ (0x1B if a & 0x80 else 0)) & 0xFF
        b >>= 1
    return product


def _gf_inv(a: int) -> int:
    # a^254 = a^-1 in GF(2^8)
    result, power, e = 1, a, 254
    while e:
        if e & 1:
            result = gf_mul(result, power)
        power = gf_mul(power, power)
        e >>= 1
    return result


def split(secret: bytes, t: int, xs: list[int], drbg) -> dict[int, bytes]:
    """Shares at the points xs; the t - 1 random coefficients per byte come from drbg exactly
    as the device draws them (coefficient c of byte i is byte (c - 1) * 32 + i of the words)."""
    if len(secret) != SECRET_SIZE or not 1 <= t <= MAX_THRESHOLD:
        raise ShamirError(f"secret must be 32 bytes and 1 <= t <= {MAX_THRESHOLD}")
    raw = b"".join(struct.pack("<I", drbg.u32()) for _ in range((t - 1) * SECRET_SIZE // 4))
    coeffs = [raw[c * SECRET_SIZE:(c + 1) * SECRET_SIZE] for c in range(t - 1)]
    shares = {}
    for x in xs:
        if not 1 <= x <= 255:
            raise ShamirError(f"evaluation point {x} outside 1..255")
        out = bytearray(SECRET_SIZE)
        for i in range(SECRET_SIZE):
            acc = 0
            for c in reversed(coeffs):
                acc = gf_mul(acc, x) ^ c[i]
            out[i] = gf_mul(acc, x) ^ secret[i]
        shares[x] = bytes(out)
    return shares


def combine(shares: dict[int, bytes], t: int) -> bytes:
    """The secret from any t shares {x: share} (the first t by x are used)."""
    if len(shares) < t:
        raise ShamirError(f"{len(shares)} shares, {t} needed")
    points = sorted(shares)[:t]
    if any(not 1 <= x <= 255 for x in points) or any(len(shares[x]) != SECRET_SIZE for x in points):
        raise ShamirError("shares must be 32 bytes at points 1..255")
    secret = bytearray(SECRET_SIZE)
    for j in points:
        # Lagrange basis at 0: prod_{m != j} x_m / (x_m - x_j); subtraction is xor
        num, den = 1, 1
        for m in points:
            if m != j:
                num = gf_mul(num, m)
                den = gf_mul(den, m ^ j)
        weight = gf_mul(num, _gf_inv(den))
        share = shares[j]
        for i in range(SECRET_SIZE):
            secret[i] ^= gf_mul(weight, share[i])
    return bytes(secret)
