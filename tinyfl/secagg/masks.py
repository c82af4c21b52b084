"""Mask expansion, identical to firmware/secagg/tinyfl_secagg_mask.c: the ChaCha20 (RFC 8439)
keystream of a 32-byte seed with an all-zero nonce from block 0, read as little-endian u32."""
from __future__ import annotations

import numpy as np
from cryptography.hazmat.primitives.ciphers import Cipher
from cryptography.hazmat.primitives.ciphers.algorithms import ChaCha20

__all__ = ["expand"]


def expand(seed: bytes, n: int) -> np.ndarray:
    # cryptography's 16-byte nonce is the 32-bit block counter followed by RFC 8439's nonce
    encryptor = Cipher(ChaCha20(seed, bytes(16)), mode=None).encryptor()
    return np.frombuffer(encryptor.update(bytes(4 * n)), dtype="<u4").astype(np.uint32)
