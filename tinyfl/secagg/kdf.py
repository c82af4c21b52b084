"""Key agreement and key derivation, identical to firmware/secagg/tinyfl_secagg_kdf.c.

X25519 from `cryptography`; the derived key is keyed BLAKE2b-256 (hashlib) over a domain
string, a one-byte label, the round and both parties' ids and public keys, ordered by id, so
both sides of a pair derive the same key and no key serves two rounds, pairs or purposes.
"""
from __future__ import annotations

import hashlib
import struct

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

__all__ = ["DOMAIN", "LABEL_ENCRYPT", "LABEL_MASK", "KeyAgreementError", "agree", "keypair",
           "public_key"]

DOMAIN = b"tinyfl-secagg-v1"
LABEL_MASK = b"M"
LABEL_ENCRYPT = b"E"


class KeyAgreementError(ValueError):
    """A public key is low order (all-zero shared secret), malformed, or the ids are equal."""


def public_key(secret: bytes) -> bytes:
    return X25519PrivateKey.from_private_bytes(secret).public_key().public_bytes_raw()


def keypair(drbg) -> tuple[bytes, bytes]:
    """(secret, public): the secret is 8 little-endian words of the device DRBG, as in C."""
    secret = b"".join(struct.pack("<I", drbg.u32()) for _ in range(8))
    return secret, public_key(secret)


def agree(label: bytes, round_: int, my_id: int, my_secret: bytes, my_public: bytes,
          their_id: int, their_public: bytes) -> bytes:
    if my_id == their_id:
        raise KeyAgreementError("a party cannot agree a key with itself")
    if len(their_public) != 32:
        raise KeyAgreementError(f"public key of {their_id} has {len(their_public)} bytes, not 32")
    try:
        shared = X25519PrivateKey.from_private_bytes(my_secret).exchange(
            X25519PublicKey.from_public_bytes(their_public))
    except ValueError as exc:  # cryptography refuses an all-zero shared secret
        raise KeyAgreementError(f"public key of {their_id} is low order") from exc
    if shared == bytes(32):
        raise KeyAgreementError(f"public key of {their_id} is low order")
    lo, hi = sorted(((my_id, my_public), (their_id, their_public)))
    msg = DOMAIN + label + struct.pack("<IHH", round_, lo[0], hi[0]) + lo[1] + hi[1]
    return hashlib.blake2b(msg, key=shared, digest_size=32).digest()
