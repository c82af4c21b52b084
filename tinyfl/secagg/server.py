"""The server side of a SecAgg+ round: the neighbour graph, routing of the encrypted shares,
dropout bookkeeping, and unmasking of the sum from the shares the survivors reveal.

It sees only what a real server sees: public keys, ciphertexts it cannot open, masked words,
and the revealed shares; `view` records all of it (what a curious server could analyse).
"""
from __future__ import annotations

import struct
from dataclasses import dataclass, field

import numpy as np

from . import kdf, masks, shamir
from .client import CIPHER_SIZE, REVEAL_MASK_KEY, REVEAL_SELF_MASK, REVEAL_SIZE, Neighbour

__all__ = ["SecAggError", "SecAggServer", "harary_graph"]


class SecAggError(RuntimeError):
    """The round cannot complete (too few survivors or shares) or a device sent bad bytes."""


def harary_graph(ids: list[int], k: int, rng: np.random.Generator) -> dict[int, list[int]]:
    """SecAgg+ graph: the ids placed on a ring in random order, each joined to its k/2 nearest
    on either side (a Harary graph, k-regular and k-connected); complete when k >= n - 1."""
    ids = sorted(ids)
    n = len(ids)
    if k >= n - 1:
        return {u: [v for v in ids if v != u] for u in ids}
    if k < 2 or k % 2:
        raise ValueError(f"k = {k}: need an even k >= 2 below n - 1 = {n - 1}")
    ring = [ids[i] for i in rng.permutation(n)]
    graph: dict[int, set[int]] = {u: set() for u in ids}
    for pos, u in enumerate(ring):
        for step in range(1, k // 2 + 1):
            v = ring[(pos + step) % n]
            graph[u].add(v)
            graph[v].add(u)
    return {u: sorted(vs) for u, vs in graph.items()}


@dataclass
class SecAggServer:
    round: int
    k: int
    t: int
    n_min: int
    rng: np.random.Generator
    keys: dict[int, tuple[bytes, bytes]] = field(default_factory=dict)
    graph: dict[int, list[int]] = field(default_factory=dict)
    u2: list[int] = field(default_factory=list)
    u3: list[int] = field(default_factory=list)
    masked: dict[int, np.ndarray] = field(default_factory=dict)
    view: list[tuple[str, int, bytes]] = field(default_factory=list)  # (step, sender, bytes)

    # -- step 1: advertise keys --------------------------------------------------------------
    def collect_keys(self, keys: dict[int, tuple[bytes, bytes]]) -> dict[int, list[Neighbour]]:
        for u, (c_pk, s_pk) in keys.items():
            if len(c_pk) != 32 or len(s_pk) != 32:
                raise SecAggError(f"device {u}: public keys must be 32 bytes")
            self.view.append(("keys", u, c_pk + s_pk))
        if len(keys) < self.n_min:
            raise SecAggError(f"{len(keys)} devices advertised keys, n_min = {self.n_min}")
        self.keys = dict(keys)
        self.graph = harary_graph(list(keys), self.k, self.rng)
        return {u: [Neighbour(v, *self.keys[v]) for v in vs] for u, vs in self.graph.items()}

    # -- step 2: route the encrypted shares ---------------------------------------------------
    def collect_shares(self, shares: dict[int, list[bytes]]) -> dict[int, list[tuple[int, bytes]]]:
        inbox: dict[int, list[tuple[int, bytes]]] = {u: [] for u in self.graph}
        for u, ciphers in sorted(shares.items()):
            if u not in self.graph or len(ciphers) != len(self.graph[u]):
                raise SecAggError(f"device {u}: {len(ciphers)} shares for "
                                  f"{len(self.graph.get(u, []))} neighbours")
            for v, c in zip(self.graph[u], ciphers):
                if len(c) != CIPHER_SIZE:
                    raise SecAggError(f"device {u}: share for {v} has {len(c)} bytes")
                self.view.append(("share", u, c))
                inbox[v].append((u, c))
        self.u2 = sorted(shares)
        if len(self.u2) < self.n_min:
            raise SecAggError(f"{len(self.u2)} devices shared, n_min = {self.n_min}")
        return {v: [(u, c) for u, c in msgs] for v, msgs in inbox.items() if v in shares}

    def alive_for(self, u: int) -> tuple[list[int], int]:
        """(neighbours of u in U2, |U2|): what the mask request tells u."""
        return [v for v in self.graph[u] if v in self.u2], len(self.u2)

    # -- step 3: masked inputs ----------------------------------------------------------------
    def collect_masked(self, ys: dict[int, np.ndarray]) -> None:
        n = {len(y) for y in ys.values()}
        if len(n) > 1:
            raise SecAggError("masked inputs differ in length")
        for u, y in sorted(ys.items()):
            if u not in self.u2:
                raise SecAggError(f"device {u} masked without having shared")
            y = np.asarray(y, dtype=np.uint32)
            self.view.append(("masked", u, y.tobytes()))
            self.masked[u] = y
        self.u3 = sorted(ys)
        if len(self.u3) < self.n_min:
            raise SecAggError(f"{len(self.u3)} masked inputs, n_min = {self.n_min}")

    def survived_for(self, u: int) -> tuple[list[int], int]:
        """(neighbours of u in U3, |U3|): what the unmask request tells u."""
        return [v for v in self.graph[u] if v in self.u3], len(self.u3)

    # -- step 4: unmask -----------------------------------------------------------------------
    def _parse_reveals(self, reveals: dict[int, list[bytes]]) -> dict[tuple[int, int], dict[int, bytes]]:
        got: dict[tuple[int, int], dict[int, bytes]] = {}
        for holder, records in sorted(reveals.items()):
            if holder not in self.u3:
                raise SecAggError(f"device {holder} revealed without a masked input")
            for rec in records:
                if len(rec) != REVEAL_SIZE:
                    raise SecAggError(f"device {holder}: reveal record of {len(rec)} bytes")
                self.view.append(("reveal", holder, rec))
                owner, kind, x = struct.unpack_from("<HBB", rec)
                if owner not in self.u2 or holder not in self.graph.get(owner, []):
                    raise SecAggError(f"device {holder}: reveal for {owner}, not a neighbour in U2")
                want = REVEAL_SELF_MASK if owner in self.u3 else REVEAL_MASK_KEY
                if kind != want or x != self.graph[owner].index(holder) + 1:
                    raise SecAggError(f"device {holder}: wrong kind or point for {owner}")
                got.setdefault((owner, kind), {})[x] = rec[4:]
        return got

    def unmask(self, reveals: dict[int, list[bytes]]) -> np.ndarray:
        """The sum of the survivors' (noised) inputs, as int64 (centred modulo 2^32)."""
        got = self._parse_reveals(reveals)
        total = np.zeros(len(next(iter(self.masked.values()))), dtype=np.uint32)
        for y in self.masked.values():
            total = total + y
        for u in self.u3:
            b = self._combine(got, u, REVEAL_SELF_MASK)
            total = total - masks.expand(b, len(total))
        for v in sorted(set(self.u2) - set(self.u3)):
            s_sk = self._combine(got, v, REVEAL_MASK_KEY)
            c_pk, s_pk = self.keys[v]
            if kdf.public_key(s_sk) != s_pk:
                raise SecAggError(f"the key shares of dropped device {v} do not give its key")
            for w in self.graph[v]:
                if w not in self.u3:
                    continue
                seed = kdf.agree(kdf.LABEL_MASK, self.round, v, s_sk, s_pk, w, self.keys[w][1])
                m = masks.expand(seed, len(total))
                total = total - m if w < v else total + m  # undo w's +/- mask with v
        return total.astype(np.int32).astype(np.int64)

    def _combine(self, got, owner: int, kind: int) -> bytes:
        shares = got.get((owner, kind), {})
        if len(shares) < self.t:
            raise SecAggError(f"{len(shares)} shares for device {owner}, {self.t} needed")
        return shamir.combine(shares, self.t)
