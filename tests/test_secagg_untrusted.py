"""Every byte from the link is untrusted: random ciphertexts and random id lists never crash
the device's C or change its state beyond a refusal; the server refuses malformed or lying
reveal records and a dropped device's key shares that do not give its public key."""
from __future__ import annotations

import struct

import numpy as np
import pytest

import secagg_clib as sc
from tinyfl.device_model.chacha20 import ChaCha20Drbg
from tinyfl.secagg.client import REVEAL_SIZE, Policy, ProtocolError
from tinyfl.secagg.server import SecAggError, SecAggServer
from tinyfl.secagg.simulate import run_round

POLICY = Policy(n_min=5, n_max=64, bound=256, noise=(65536, 5))
IDS = list(range(1, 9))


@pytest.fixture(scope="module")
def lib() -> sc.SecaggLib:
    return sc.SecaggLib(sc.build_library())


def seed(u: int) -> bytes:
    return bytes((u * 13 + j) & 0xFF for j in range(44))


def shared_round(lib, round_=2):
    devices = {u: sc.CDevice(lib, u, round_, seed(u)) for u in IDS}
    server = SecAggServer(round=round_, k=7, t=4, n_min=5, rng=np.random.default_rng(0))
    neighbours = server.collect_keys({u: d.begin() for u, d in devices.items()})
    inbox = server.collect_shares({u: devices[u].share(nbs, 4) for u, nbs in neighbours.items()})
    return devices, server, inbox


def test_random_bytes_and_ids_are_refused_without_harm(lib):
    devices, server, inbox = shared_round(lib)
    dev = devices[1]
    rng = np.random.default_rng(1)
    for _ in range(300):
        sender = int(rng.integers(0, 12))
        with pytest.raises(ProtocolError):
            dev.receive(sender, rng.bytes(85))
    for _ in range(300):
        ids = rng.integers(0, 12, size=int(rng.integers(0, 9))).tolist()
        cohort = int(rng.integers(0, 70))
        with pytest.raises(ProtocolError):  # no share delivered yet: every list is refused
            dev.mask(POLICY, np.zeros(4, dtype=np.int32), ids, cohort)
    for sender, cipher in inbox[1]:  # still in step 3: the genuine shares are accepted
        dev.receive(sender, cipher)
    alive, cohort = server.alive_for(1)
    dev.mask(POLICY, np.zeros(4, dtype=np.int32), alive, cohort)


def _round_reveals(lib):
    devices, server, inbox = shared_round(lib, 3)
    ys = {}
    for u, msgs in inbox.items():
        for sender, cipher in msgs:
            devices[u].receive(sender, cipher)
        ys[u] = devices[u].mask(POLICY, np.zeros(4, dtype=np.int32), *server.alive_for(u))
    del ys[8]  # 8 dropped after masking
    server.collect_masked(ys)
    reveals = {u: devices[u].unmask(POLICY, *server.survived_for(u)) for u in server.u3}
    return server, reveals


def test_server_accepts_genuine_reveals(lib):
    server, reveals = _round_reveals(lib)
    assert np.array_equal(server.unmask(reveals), np.zeros(4))


@pytest.mark.parametrize("tamper", ["short", "kind", "point", "owner", "share"])
def test_server_refuses_bad_reveals(lib, tamper):
    server, reveals = _round_reveals(lib)
    rec = bytearray(reveals[1][0])  # device 1's record about its first neighbour
    if tamper == "short":
        rec = rec[:REVEAL_SIZE - 1]
    elif tamper == "kind":
        rec[2] ^= 1  # ask for both kinds of the same device
    elif tamper == "point":
        rec[3] = 200
    elif tamper == "owner":
        rec[0:2] = struct.pack("<H", 99)
    if tamper == "share":  # corrupt every key share of the dropped device 8
        for u in reveals:
            reveals[u] = [r[:4] + bytes(32) if r[:2] == struct.pack("<H", 8) else r
                          for r in reveals[u]]
    else:
        reveals[1][0] = bytes(rec)
    with pytest.raises(SecAggError):
        server.unmask(reveals)


def test_round_below_threshold_of_shares_fails(lib):
    """With fewer than t survivors no secret can be rebuilt: the server fails the round rather
    than return a wrong sum (a policy with n_min < t, which only a test would compile)."""
    policy = Policy(n_min=3, n_max=64, bound=256, noise=(65536, 3))
    devices = {u: sc.CDevice(lib, u, 4, seed(u)) for u in IDS}
    server = SecAggServer(round=4, k=7, t=4, n_min=3, rng=np.random.default_rng(0))
    with pytest.raises(SecAggError, match="needed"):
        run_round(devices, server, {u: np.zeros(4, dtype=np.int64) for u in IDS}, policy,
                  drop_after_mask=[4, 5, 6, 7, 8])


def test_a_round_cannot_begin_twice(lib):
    E_ROUND = 12
    dev = sc.CDevice(lib, 3, 5, seed(3))
    first = dev.begin()
    for stale in (5, 4, 0):
        dev.round = stale
        with pytest.raises(ProtocolError) as err:
            dev.begin()
        assert err.value.args[1] == E_ROUND
    dev.round = 6
    assert dev.begin() != first  # a newer round: fresh keys
