"""A link that corrupts a chosen fraction of the frames crossing it, in both directions: what a
noisy UART or a lossy radio does to a fleet, reproducible from a seed (tests and benches)."""
from __future__ import annotations

import random

from .base import Link

__all__ = ["LossyLink"]


class LossyLink:
    """Wraps a Link; each piece of a stream between 0x00 delimiters (a frame) is corrupted with
    probability `rate` by flipping one bit in it, never into a new delimiter. A corrupted frame
    fails its CRC (or COBS) check at the receiver: it is lost."""

    def __init__(self, inner: Link, rate: float, seed: int) -> None:
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"rate must be in [0, 1], got {rate}")
        self.inner, self.rate, self.rng = inner, rate, random.Random(seed)
        self.pieces = 0  # pieces that ended in a delimiter, both directions
        self.corrupted = 0

    @property
    def url(self) -> str:
        return self.inner.url

    def _corrupt(self, data: bytes) -> bytes:
        out = bytearray(data)
        start = 0
        for i, byte in enumerate(out):
            if byte != 0:
                continue
            if i > start:
                self.pieces += 1
                if self.rng.random() < self.rate:
                    pos = self.rng.randrange(start, i)
                    # any bit but the one that would turn the byte into a delimiter
                    bits = [b for b in range(8) if out[pos] ^ (1 << b)]
                    out[pos] ^= 1 << self.rng.choice(bits)
                    self.corrupted += 1
            start = i + 1
        return bytes(out)

    def write(self, data: bytes) -> None:
        self.inner.write(self._corrupt(data))

    def read(self, max_bytes: int, timeout: float) -> bytes:
        return self._corrupt(self.inner.read(max_bytes, timeout))

    def close(self) -> None:
        self.inner.close()

    # the non-blocking capability, when the wrapped link has it (tinyfl.links.base.pollable)
    def fileno(self) -> int:
        return self.inner.fileno()  # type: ignore[attr-defined]

    def read_nowait(self, max_bytes: int) -> bytes:
        return self._corrupt(self.inner.read_nowait(max_bytes))  # type: ignore[attr-defined]

    def write_nowait(self, data: bytes) -> None:
        self.inner.write_nowait(self._corrupt(data))  # type: ignore[attr-defined]

    def pending_output(self) -> int:
        return self.inner.pending_output()  # type: ignore[attr-defined]

    def flush_nowait(self) -> int:
        return self.inner.flush_nowait()  # type: ignore[attr-defined]
