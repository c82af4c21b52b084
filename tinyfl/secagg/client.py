"""A full-protocol reference client: the same steps, checks and bytes as the device
(firmware/secagg/tinyfl_secagg.c) for the same DRBG seed, built on `cryptography`.

Used to cross-check the C and to simulate fleets; the server (server.py) treats a device and
this client alike. Noise comes from the Python model of the device's sampler
(tinyfl.device_model.dgauss), so a client seeded like a device sends the same words.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass, field

import numpy as np
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from . import kdf, masks, shamir

__all__ = ["CIPHER_SIZE", "PLAIN_SIZE", "REVEAL_MASK_KEY", "REVEAL_SELF_MASK", "REVEAL_SIZE",
           "Neighbour", "Policy", "ProtocolError", "ReferenceClient", "aead_nonce_ad"]

PLAIN_SIZE = 69  # owner u16 | holder u16 | x u8 | share of b (32) | share of s_sk (32)
CIPHER_SIZE = PLAIN_SIZE + 16
REVEAL_SIZE = 36  # owner u16 | kind u8 | x u8 | share (32)
REVEAL_SELF_MASK = 0
REVEAL_MASK_KEY = 1
MAX_NEIGHBOURS = 16  # TINYFL_SECAGG_MAX_NEIGHBOURS


class ProtocolError(ValueError):
    """A step was refused: out of order, malformed, unauthenticated, or against policy."""


@dataclass(frozen=True)
class Neighbour:
    id: int
    c_pk: bytes
    s_pk: bytes


@dataclass(frozen=True)
class Policy:
    """The device's compiled-in policy (tinyfl_secagg_config)."""
    n_min: int
    n_max: int
    bound: int
    noise: tuple[int, int]  # per-device variance num/den, grid steps^2


def aead_nonce_ad(round_: int, sender: int, receiver: int) -> tuple[bytes, bytes]:
    head = struct.pack("<IHH", round_, sender, receiver)
    return head + bytes(4), kdf.DOMAIN + head


@dataclass
class _Peer:
    who: Neighbour
    channel_key: bytes
    mask_seed: bytes
    x: int = 0
    b_share: bytes = b""
    s_share: bytes = b""
    alive: bool = False


@dataclass
class ReferenceClient:
    id: int
    round: int
    drbg: object  # tinyfl.device_model.chacha20.ChaCha20Drbg (or anything with u32())
    state: str = "idle"
    peers: dict[int, _Peer] = field(default_factory=dict)

    def begin(self) -> tuple[bytes, bytes]:
        if self.id == 0:
            raise ProtocolError("id 0 is reserved")
        if self.state != "idle":  # one object per round; the device refuses a round twice
            raise ProtocolError(f"round {self.round} already begun")
        self.c_sk, self.c_pk = kdf.keypair(self.drbg)
        self.s_sk, self.s_pk = kdf.keypair(self.drbg)
        self.state = "keys"
        return self.c_pk, self.s_pk

    def _channel_key(self, peer: Neighbour) -> bytes:
        return kdf.agree(kdf.LABEL_ENCRYPT, self.round, self.id, self.c_sk, self.c_pk, peer.id,
                         peer.c_pk)

    def share(self, neighbours: list[Neighbour], t: int) -> list[bytes]:
        if self.state != "keys":
            raise ProtocolError("share before begin")
        ids = [n.id for n in neighbours]
        k = len(ids)
        if not 1 <= k <= MAX_NEIGHBOURS or not k < 2 * t <= 2 * k:
            raise ProtocolError(f"k = {k}, t = {t}: need k/2 < t <= k <= {MAX_NEIGHBOURS}")
        if any(i == 0 or i == self.id for i in ids) or ids != sorted(set(ids)):
            raise ProtocolError("neighbour ids must be ascending, unique, nonzero and not ours")
        try:  # both agreements per neighbour, once, before anything is drawn (as the device)
            keys = [self._channel_key(n) for n in neighbours]
            seeds = [kdf.agree(kdf.LABEL_MASK, self.round, self.id, self.s_sk, self.s_pk, n.id,
                               n.s_pk) for n in neighbours]
        except kdf.KeyAgreementError as exc:
            raise ProtocolError(str(exc)) from exc
        self.b = b"".join(struct.pack("<I", self.drbg.u32()) for _ in range(8))
        xs = list(range(1, k + 1))
        b_shares = shamir.split(self.b, t, xs, self.drbg)
        s_shares = shamir.split(self.s_sk, t, xs, self.drbg)
        out = []
        for x, (n, key) in enumerate(zip(neighbours, keys), start=1):
            plain = struct.pack("<HHB", self.id, n.id, x) + b_shares[x] + s_shares[x]
            nonce, ad = aead_nonce_ad(self.round, self.id, n.id)
            out.append(ChaCha20Poly1305(key).encrypt(nonce, plain, ad))
        self.peers = {n.id: _Peer(n, key, seed) for n, key, seed in zip(neighbours, keys, seeds)}
        self.t = t
        self.state = "shared"
        return out

    def receive(self, sender: int, cipher: bytes) -> None:
        if self.state != "shared" or sender not in self.peers or self.peers[sender].x:
            raise ProtocolError(f"no share expected from {sender}")
        if len(cipher) != CIPHER_SIZE:
            raise ProtocolError(f"share from {sender} has {len(cipher)} bytes, not {CIPHER_SIZE}")
        peer = self.peers[sender]
        nonce, ad = aead_nonce_ad(self.round, sender, self.id)
        try:
            plain = ChaCha20Poly1305(peer.channel_key).decrypt(nonce, cipher, ad)
        except InvalidTag as exc:
            raise ProtocolError(f"share from {sender} does not authenticate") from exc
        owner, holder, x = struct.unpack_from("<HHB", plain)
        if owner != sender or holder != self.id or x == 0:
            raise ProtocolError(f"share from {sender} names other parties")
        peer.x, peer.b_share, peer.s_share = x, plain[5:37], plain[37:69]

    def _check_subset(self, ids: list[int], need_alive: bool) -> None:
        if ids != sorted(set(ids)) or any(
                i not in self.peers or not self.peers[i].x or (need_alive and not self.peers[i].alive)
                for i in ids):
            raise ProtocolError("named neighbours must be ascending, ours, and have shared")

    def noise(self, policy: Policy, x: np.ndarray) -> np.ndarray:
        from ..device_model.dgauss import dgauss_samples

        return (np.asarray(x, dtype=np.int64)
                + dgauss_samples(self.drbg, *policy.noise, len(x))).astype(np.int32)

    def mask(self, policy: Policy, x: np.ndarray, alive: list[int], cohort: int) -> np.ndarray:
        if self.state != "shared":
            raise ProtocolError("mask before share")
        self._check_subset(alive, need_alive=False)
        if len(alive) < self.t or not policy.n_min <= cohort <= policy.n_max:
            raise ProtocolError(f"refused: {len(alive)} live neighbours (t = {self.t}), "
                                f"cohort {cohort} outside {policy.n_min}..{policy.n_max}")
        y = np.asarray(x, dtype=np.int64).astype(np.uint32)
        y = y + masks.expand(self.b, len(y))
        for v in alive:
            m = masks.expand(self.peers[v].mask_seed, len(y))
            y = y + m if self.id < v else y - m
            self.peers[v].alive = True
        self.state = "masked"
        return y.astype(np.uint32)

    def unmask(self, policy: Policy, survived: list[int], cohort: int) -> list[bytes]:
        if self.state != "masked":
            raise ProtocolError("unmask before mask (or twice)")
        self._check_subset(survived, need_alive=True)
        if not policy.n_min <= cohort <= policy.n_max:
            raise ProtocolError(f"refused: cohort {cohort} outside {policy.n_min}..{policy.n_max}")
        out = []
        for v in sorted(self.peers):
            peer = self.peers[v]
            if not peer.alive:
                continue
            lived = v in survived
            kind = REVEAL_SELF_MASK if lived else REVEAL_MASK_KEY
            out.append(struct.pack("<HBB", v, kind, peer.x) + (peer.b_share if lived else peer.s_share))
        self.peers = {}
        self.c_sk = self.s_sk = self.b = b""
        self.state = "done"
        return out
