"""The device's noise generator in Python: ChaCha20 keystream (RFC 8439 block function) as a
DRBG, word for word the same stream as firmware/tinyfl_drbg.c.

Seed = key[32] | nonce[12]; block counter from 0; words handed out in order; u64 = low word
first; below(bound) rejects u64 draws at or above 2^64 - (2^64 mod bound). The bit stream
(bit, bits) takes whole words from the same stream and hands their bits out low bit first.
"""
from __future__ import annotations

import numpy as np

__all__ = ["SEED_SIZE", "ChaCha20Drbg", "chacha20_blocks"]

SEED_SIZE = 44
_SIGMA = np.array([0x61707865, 0x3320646E, 0x79622D32, 0x6B206574], dtype=np.uint32)
_BLOCKS_PER_REFILL = 64  # blocks computed at once (vectorized across counters)


def _rotl(v: np.ndarray, n: int) -> np.ndarray:
    return (v << np.uint32(n)) | (v >> np.uint32(32 - n))


def _quarter(x: list[np.ndarray], a: int, b: int, c: int, d: int) -> None:
    x[a] = x[a] + x[b]
    x[d] = _rotl(x[d] ^ x[a], 16)
    x[c] = x[c] + x[d]
    x[b] = _rotl(x[b] ^ x[c], 12)
    x[a] = x[a] + x[b]
    x[d] = _rotl(x[d] ^ x[a], 8)
    x[c] = x[c] + x[d]
    x[b] = _rotl(x[b] ^ x[c], 7)


def chacha20_blocks(key: bytes, nonce: bytes, counter: int, count: int) -> np.ndarray:
    """Keystream blocks counter .. counter+count-1 as a (count, 16) uint32 array.

    Past 2^32 blocks the counter carries into the first nonce word, as the C generator does.
    """
    if len(key) != 32 or len(nonce) != 12:
        raise ValueError("ChaCha20 needs a 32-byte key and a 12-byte nonce")
    key_words = np.frombuffer(key, dtype="<u4").astype(np.uint32)
    nonce_words = np.frombuffer(nonce, dtype="<u4").astype(np.uint32)
    totals = counter + np.arange(count, dtype=np.uint64)
    init = np.empty((16, count), dtype=np.uint32)
    init[0:4] = _SIGMA[:, None]
    init[4:12] = key_words[:, None]
    init[12] = (totals & np.uint64(0xFFFFFFFF)).astype(np.uint32)
    init[13] = (nonce_words[0] + (totals >> np.uint64(32))).astype(np.uint32)
    init[14] = nonce_words[1]
    init[15] = nonce_words[2]
    x = [init[i].copy() for i in range(16)]
    with np.errstate(over="ignore"):
        for _ in range(10):
            _quarter(x, 0, 4, 8, 12)
            _quarter(x, 1, 5, 9, 13)
            _quarter(x, 2, 6, 10, 14)
            _quarter(x, 3, 7, 11, 15)
            _quarter(x, 0, 5, 10, 15)
            _quarter(x, 1, 6, 11, 12)
            _quarter(x, 2, 7, 8, 13)
            _quarter(x, 3, 4, 9, 14)
        out = np.stack(x) + init
    return out.T.copy()


class ChaCha20Drbg:
    """Same draws as tinyfl_drbg_* for the same 44-byte seed."""

    def __init__(self, seed: bytes):
        if len(seed) != SEED_SIZE:
            raise ValueError(f"seed must be {SEED_SIZE} bytes (key 32 | nonce 12)")
        self._key = bytes(seed[:32])
        self._nonce = bytes(seed[32:])
        self._next_block = 0
        self._words: list[int] = []
        self._pos = 0
        self.words_drawn = 0  # how many 32-bit words have been handed out
        self._bit_buf = 0
        self._bit_count = 0
        self.bits_drawn = 0  # how many bits bit()/bits() have handed out
        self.comparisons = 0  # Bernoulli comparisons made by the sampler (its work meter, as C)

    def _refill(self) -> None:
        blocks = chacha20_blocks(self._key, self._nonce, self._next_block, _BLOCKS_PER_REFILL)
        self._next_block += _BLOCKS_PER_REFILL
        self._words = blocks.reshape(-1).tolist()
        self._pos = 0

    def u32(self) -> int:
        if self._pos >= len(self._words):
            self._refill()
        word = self._words[self._pos]
        self._pos += 1
        self.words_drawn += 1
        return word

    def u32_array(self, n: int) -> np.ndarray:
        return np.array([self.u32() for _ in range(n)], dtype=np.uint32)

    def u64(self) -> int:
        lo = self.u32()
        return lo | (self.u32() << 32)

    def bit(self) -> int:
        if self._bit_count == 0:
            self._bit_buf = self.u32()
            self._bit_count = 32
        b = self._bit_buf & 1
        self._bit_buf >>= 1
        self._bit_count -= 1
        self.bits_drawn += 1
        return b

    def bits(self, k: int) -> int:
        """The next k bits (1 <= k <= 32), the first in bit 0, as tinyfl_drbg_bits."""
        if not 1 <= k <= 32:
            raise ValueError("bits(k) needs 1 <= k <= 32")
        self.bits_drawn += k
        if k <= self._bit_count:
            low = self._bit_buf & ((1 << k) - 1)
            self._bit_buf >>= k
            self._bit_count -= k
            return low
        need = k - self._bit_count
        word = self.u32()
        low = self._bit_buf | ((word & ((1 << need) - 1)) << self._bit_count)
        self._bit_buf = word >> need
        self._bit_count = 32 - need
        return low

    def bit_position(self) -> int:
        """Bits handed out or skipped so far, as tinyfl_drbg_bit_position."""
        return self.words_drawn * 32 - self._bit_count

    def discard_to_block(self, block: int) -> None:
        """As tinyfl_drbg_discard_to_block: drop the rest of the current block, then skip to
        block `block` unless the stream is already there or past it."""
        made = -(-self.words_drawn // 16)  # blocks the C generator has computed
        target = max(made, block) * 16
        while self.words_drawn < target:
            self.u32()
        self._bit_buf = 0
        self._bit_count = 0

    def below(self, bound: int) -> int:
        """Uniform in [0, bound), unbiased; 0 without a draw when bound == 0 (as in C)."""
        if bound <= 0:
            return 0
        excess = (1 << 64) % bound
        while True:
            x = self.u64()
            if excess == 0 or x < (1 << 64) - excess:
                return x % bound
