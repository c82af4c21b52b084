"""Whole secure-aggregation rounds: 16 devices (the C through ctypes, the Python reference
client, or both mixed), SecAgg+ graphs, dropouts of up to n - n_min at every step; the unmasked
sum equals the sum of the noised updates; the server's view is byte-identical for the C and
the reference client; what the server receives does not reveal an update; the device's
refusals (cohort below n_min, unmasking twice, neighbours it does not know)."""
from __future__ import annotations

import numpy as np
import pytest

import secagg_clib as sc
from tinyfl.device_model.chacha20 import ChaCha20Drbg
from tinyfl.secagg.client import (REVEAL_MASK_KEY, REVEAL_SELF_MASK, Policy, ProtocolError,
                                  ReferenceClient)
from tinyfl.secagg.server import SecAggError, SecAggServer, harary_graph
from tinyfl.secagg.simulate import run_round

E_ARG, E_REFUSED = 2, 18
N = 16
N_MIN = 9
BOUND = 256  # 2^8 grid steps
# sigma = 1 * C (z = 1) centrally: sigma^2 = 256^2 split over n_min devices
POLICY = Policy(n_min=N_MIN, n_max=64, bound=BOUND, noise=(BOUND * BOUND, N_MIN))
IDS = list(range(1, N + 1))


@pytest.fixture(scope="module")
def lib() -> sc.SecaggLib:
    return sc.SecaggLib(sc.build_library())


def seed(u: int) -> bytes:
    return bytes((u * 31 + j) & 0xFF for j in range(44))


def make(kind: str, lib, round_: int, ids=IDS):
    def one(u):
        if kind == "c" or (kind == "mixed" and u % 2):
            return sc.CDevice(lib, u, round_, seed(u))
        return ReferenceClient(u, round_, ChaCha20Drbg(seed(u)))
    return {u: one(u) for u in ids}


def updates(d: int, rng_seed: int = 0) -> dict[int, np.ndarray]:
    rng = np.random.default_rng(rng_seed)
    return {u: rng.integers(-BOUND, BOUND + 1, size=d) for u in IDS}


# dropouts: n - n_min = 7 devices, at every step (after keys, after sharing, after masking)
DROPS = dict(drop_after_keys=[2, 11], drop_after_share=[4, 13], drop_after_mask=[6, 7, 16])


@pytest.mark.parametrize("kind", ["c", "mixed"])
def test_sum_is_exact_with_n_minus_n_min_dropouts(lib, kind):
    server = SecAggServer(round=3, k=15, t=8, n_min=N_MIN, rng=np.random.default_rng(1))
    result = run_round(make(kind, lib, 3), server, updates(100), POLICY, **DROPS)
    assert len(result.u3) == N_MIN and not result.refused
    assert np.array_equal(result.total, sum(result.noised.values()))
    raw = updates(100)
    noise = sum(result.noised.values()) - sum(raw[u] for u in result.u3)
    # n_min devices with variance sigma^2 / n_min each: the sum's sd is sigma = 256 grid steps
    assert 0.75 * BOUND < noise.std() < 1.25 * BOUND


def test_c_and_reference_client_send_identical_bytes(lib):
    views = []
    for kind in ("c", "py"):
        server = SecAggServer(round=5, k=15, t=8, n_min=N_MIN, rng=np.random.default_rng(2))
        result = run_round(make(kind, lib, 5), server, updates(40, 1), POLICY, **DROPS)
        views.append((server.view, result.total))
    assert len(views[0][0]) > 200
    assert views[0][0] == views[1][0]
    assert np.array_equal(views[0][1], views[1][1])


def test_secagg_plus_graph_with_dropouts(lib):
    graph = harary_graph(IDS, 8, np.random.default_rng(0))
    assert all(len(v) == 8 for v in graph.values())
    assert all(u in graph[v] for u in IDS for v in graph[u])
    server = SecAggServer(round=9, k=8, t=5, n_min=N_MIN, rng=np.random.default_rng(3))
    result = run_round(make("c", lib, 9), server, updates(1000, 2), POLICY,
                       drop_after_share=[5], drop_after_mask=[8, 12])
    assert np.array_equal(result.total, sum(result.noised.values()))


def test_round_fails_below_n_min(lib):
    server = SecAggServer(round=3, k=15, t=8, n_min=N_MIN, rng=np.random.default_rng(1))
    with pytest.raises(SecAggError, match="n_min"):
        run_round(make("c", lib, 3), server, updates(10), POLICY,
                  drop_after_mask=[1, 2, 3, 4, 5, 6, 7, 8])


def _masked_round(lib, round_=4):
    """Devices 1..16 through the mask step, complete graph; returns (devices, server)."""
    devices = make("c", lib, round_)
    server = SecAggServer(round=round_, k=15, t=8, n_min=N_MIN, rng=np.random.default_rng(0))
    neighbours = server.collect_keys({u: d.begin() for u, d in devices.items()})
    inbox = server.collect_shares({u: devices[u].share(nbs, 8) for u, nbs in neighbours.items()})
    for u, msgs in inbox.items():
        for sender, cipher in msgs:
            devices[u].receive(sender, cipher)
    return devices, server


def test_device_refuses_to_unmask_below_n_min_and_unmasks_once(lib):
    devices, server = _masked_round(lib)
    dev = devices[1]
    alive, cohort = server.alive_for(1)
    dev.mask(POLICY, np.zeros(8, dtype=np.int32), alive, cohort)
    survivors = alive[:N_MIN - 1]
    with pytest.raises(ProtocolError) as err:
        dev.unmask(POLICY, survivors, N_MIN - 1)  # server admits fewer than n_min survivors
    assert err.value.args[1] == E_REFUSED
    records = dev.unmask(POLICY, survivors, N_MIN)
    kinds = {int.from_bytes(r[:2], "little"): r[2] for r in records}
    assert sorted(kinds) == alive  # one record per neighbour: never both shares of one device
    assert all(kinds[v] == (REVEAL_SELF_MASK if v in survivors else REVEAL_MASK_KEY) for v in alive)
    with pytest.raises(ProtocolError) as err:  # a second request (other survivors) is refused
        dev.unmask(POLICY, alive, N)
    assert err.value.args[1] == E_ARG


def test_device_refuses_bad_survivor_lists(lib):
    devices, server = _masked_round(lib)
    dev = devices[2]
    alive, cohort = server.alive_for(2)
    x = np.zeros(8, dtype=np.int32)
    for bad_alive, bad_cohort, code in [
        (alive[::-1], cohort, E_ARG),           # not ascending
        (alive + [99], cohort, E_ARG),          # not a neighbour
        (alive[:7], cohort, E_REFUSED),         # fewer than t live neighbours
        (alive, N_MIN - 1, E_REFUSED),          # cohort below n_min
        (alive, POLICY.n_max + 1, E_REFUSED),   # cohort above the modulus budget
    ]:
        with pytest.raises(ProtocolError) as err:
            dev.mask(POLICY, x, bad_alive, bad_cohort)
        assert err.value.args[1] == code
    dev.mask(POLICY, x, alive[:10], cohort)  # the refusals left the state as it was
    with pytest.raises(ProtocolError) as err:  # a neighbour that was not alive at masking
        dev.unmask(POLICY, alive[9:], N_MIN)
    assert err.value.args[1] == E_ARG


def _chi2_uniform_top_byte(words: np.ndarray) -> float:
    from scipy.stats import chisquare

    return chisquare(np.bincount(words >> 24, minlength=256)).pvalue


def test_server_view_reveals_no_update(lib):
    """Each masked input is uniform modulo 2^32 and uncorrelated with the update, even for an
    extreme update; the same tests flag the unmasked noised update (so they can fail)."""
    d = 4096
    rng = np.random.default_rng(7)
    inputs = {u: rng.integers(-BOUND, BOUND + 1, size=d) for u in IDS}
    inputs[1] = np.full(d, BOUND)  # a device whose update is all at the clip bound
    server = SecAggServer(round=11, k=8, t=5, n_min=N_MIN, rng=np.random.default_rng(4))
    result = run_round(make("c", lib, 11), server, inputs, POLICY, drop_after_mask=[3])
    masked = {u: np.frombuffer(b, dtype=np.uint32) for step, u, b in server.view if step == "masked"}
    assert len(masked) == N - 1  # device 3 dropped before its masked input arrived
    for u, y in masked.items():
        assert _chi2_uniform_top_byte(y) > 1e-4
        if u != 1:  # (a constant update has no correlation to measure)
            r = np.corrcoef(y.astype(np.int32).astype(np.float64), inputs[u])[0, 1]
            assert abs(r) < 5 / np.sqrt(d)
    # negative control: the noised update alone is far from uniform and tracks the update
    bare = result.noised[1].astype(np.int64).astype(np.uint32)
    assert _chi2_uniform_top_byte(bare) < 1e-10
    mixed = inputs[2]
    noised2 = result.noised[2]
    assert np.corrcoef(noised2, mixed)[0, 1] > 0.3


def test_a_late_masked_input_stays_hidden_by_its_self_mask(lib):
    """The server declares device 1 dropped, gets its key shares, and removes every pairwise mask
    from a masked input of 1 that it had in fact received: the self mask b_1 still hides the
    update (the server never gets b_1's shares too). Removing b_1 as well would reveal it."""
    from tinyfl.secagg import kdf, masks, shamir

    d = 4096
    devices = make("c", lib, 6)
    late = ReferenceClient(1, 6, ChaCha20Drbg(seed(1)))
    devices[1] = late
    server = SecAggServer(round=6, k=15, t=8, n_min=N_MIN, rng=np.random.default_rng(0))
    neighbours = server.collect_keys({u: dev.begin() for u, dev in devices.items()})
    inbox = server.collect_shares({u: devices[u].share(nbs, 8) for u, nbs in neighbours.items()})
    update = np.full(d, BOUND)
    ys = {}
    for u, msgs in inbox.items():
        for sender, cipher in msgs:
            devices[u].receive(sender, cipher)
        alive, cohort = server.alive_for(u)
        ys[u] = devices[u].mask(POLICY, np.zeros(d, dtype=np.int32) if u != 1 else update,
                                alive, cohort)
    b_1 = late.b  # ground truth, for the control only
    late_y = ys.pop(1)
    server.collect_masked(ys)
    reveals = {u: devices[u].unmask(POLICY, *server.survived_for(u)) for u in server.u3}
    server.unmask(reveals)
    shares = {}
    for records in reveals.values():
        for rec in records:
            if int.from_bytes(rec[:2], "little") == 1:
                assert rec[2] == REVEAL_MASK_KEY  # 1 was declared dropped: key shares only
                shares[rec[3]] = rec[4:]
    s_sk = shamir.combine(shares, 8)
    residual = late_y.copy()
    for w in server.graph[1]:
        seed_w = kdf.agree(kdf.LABEL_MASK, 6, 1, s_sk, server.keys[1][1], w, server.keys[w][1])
        m = masks.expand(seed_w, d)
        residual = residual - m if 1 < w else residual + m
    assert _chi2_uniform_top_byte(residual) > 1e-4
    assert np.array_equal((residual - masks.expand(b_1, d)).astype(np.int32), update)
