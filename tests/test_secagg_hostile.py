"""A hostile host against one native secure-aggregation board, whose neighbours it plays itself
with the Python reference client: an unmask request below n_min is refused, a second unmask
(which would reveal the other share of a neighbour) is refused, a survivor list naming one
neighbour twice is refused, a replayed round is refused, and out-of-order or foreign-round
steps are refused; every refusal ends the round, so nothing more can be asked of it."""
from __future__ import annotations

import struct

import numpy as np
import pytest

from secagg_fleet_support import CONFIG, expected_eps, firmware, shards
from tinyfl.device_model.chacha20 import ChaCha20Drbg
from tinyfl.emulate import launch_fleet
from tinyfl.fleet.device import DeviceSession
from tinyfl.fleet.secagg_round import hello_and_policy
from tinyfl.links import open_link
from tinyfl.secagg.client import Neighbour, ReferenceClient
from tinyfl.secagg.image import SecaggImage
from tinyfl.wire import (
    Error,
    GlobalModel,
    SetDpConfig,
    SecaggKeys,
    SecaggMaskedUpdate,
    SecaggMaskRequest,
    SecaggNeighbours,
    SecaggReveal,
    SecaggShareForYou,
    SecaggShares,
    SecaggUnmaskRequest,
    Status,
)

SMALL = SecaggImage(n_min=3, n_max=16, k_max=8, local_multiplier=0.5)
BOARD = 1
PEERS = (2, 3, 4)


@pytest.fixture(scope="module")
def small_image():
    return firmware("native", SMALL)


@pytest.fixture()
def board(small_image, tmp_path):
    with launch_fleet("native", 1, small_image, shards(tmp_path, 1), tmp_path / "boards") as fleet:
        session = DeviceSession(open_link(fleet[0].url), "dev1")
        hello, policy = hello_and_policy(session)
        assert policy is not None and policy.n_min == SMALL.n_min and policy.k_max == SMALL.k_max
        yield session
        session.close()


def answer(session: DeviceSession, timeout: float = 5.0):
    for _ in range(int(timeout / 0.02)):
        for item in session.receive(0.02):
            if item.message is not None and type(item.message).__name__ not in ("Hello", "SecaggPolicy"):
                return item.message
    raise TimeoutError("no answer")


def head(round_number: int, run: int = 1) -> GlobalModel:
    return GlobalModel(run=run, round=round_number, nonce=round_number, lr=0.1, local_epochs=1,
                       batch_size=3, n_classes=CONFIG.n_classes, n_features=CONFIG.n_features,
                       params=np.linspace(-0.1, 0.1, CONFIG.n_params, dtype=np.float32))


def refused(message, status: str) -> bool:
    return isinstance(message, Error) and Status(message.code).name == status


def masked_round(session: DeviceSession, round_number: int, run: int = 1) -> dict[int, ReferenceClient]:
    """Plays the board's three neighbours up to its masked update; returns them."""
    session.send(head(round_number, run))
    keys = answer(session)
    assert isinstance(keys, SecaggKeys), keys
    peers = {p: ReferenceClient(p, round_number, ChaCha20Drbg(bytes([p, round_number]) * 22)) for p in PEERS}
    pub = {BOARD: (keys.c_pk, keys.s_pk)} | {p: c.begin() for p, c in peers.items()}
    records = [struct.pack("<H", p) + pub[p][0] + pub[p][1] for p in PEERS]
    session.send(SecaggNeighbours(run=run, round=round_number, t=2, neighbours=records))
    shares = answer(session)
    assert isinstance(shares, SecaggShares) and len(shares.ciphers) == 3, shares
    for p, client in peers.items():
        ids = sorted({BOARD, *PEERS} - {p})
        ciphers = client.share([Neighbour(i, *pub[i]) for i in ids], 2)
        session.send(SecaggShareForYou(run=run, round=round_number, sender=p, cipher=ciphers[ids.index(BOARD)]))
    for p, cipher in zip(PEERS, shares.ciphers):
        peers[p].receive(BOARD, cipher)  # the board's shares open for its neighbours
    session.send(SecaggMaskRequest(run=run, round=round_number, cohort=4, alive=list(PEERS)))
    masked = answer(session)
    assert isinstance(masked, SecaggMaskedUpdate), masked
    return peers


def test_unmask_below_n_min_is_refused_and_ends_the_round(board):
    masked_round(board, 1)
    board.send(SecaggUnmaskRequest(run=1, round=1, cohort=SMALL.n_min - 1, survived=[2, 3]))
    assert refused(answer(board), "REFUSED")
    # the round is over: an honest-looking request now gets nothing either
    board.send(SecaggUnmaskRequest(run=1, round=1, cohort=4, survived=[2, 3]))
    assert refused(answer(board), "ROUND")


def test_one_unmask_per_round_never_both_shares_of_a_neighbour(board):
    masked_round(board, 1)
    board.send(SecaggUnmaskRequest(run=1, round=1, cohort=3, survived=[2, 3]))
    reveal = answer(board)
    assert isinstance(reveal, SecaggReveal)
    kinds = {struct.unpack_from("<H", r)[0]: r[2] for r in reveal.records}
    assert kinds == {2: 0, 3: 0, 4: 1}  # 4 dropped: its mask key's share, not its self mask
    # asking again with 4 among the survivors would give 4's self-mask share too: refused
    board.send(SecaggUnmaskRequest(run=1, round=1, cohort=4, survived=[2, 3, 4]))
    assert refused(answer(board), "ROUND")


def test_any_refused_message_ends_the_round(board):
    masked_round(board, 1)
    board.send(SetDpConfig(clip=9.0, noise_multiplier=0.0, eps_limit=1e9, seed=bytes(32)))
    assert refused(answer(board), "REFUSED")
    board.send(SecaggUnmaskRequest(run=1, round=1, cohort=4, survived=[2, 3]))  # nothing left to reveal
    assert refused(answer(board), "ROUND")


def test_a_neighbour_named_twice_is_refused(board):
    masked_round(board, 1)
    board.send(SecaggUnmaskRequest(run=1, round=1, cohort=4, survived=[3, 3]))
    assert refused(answer(board), "REFUSED")


def test_replayed_round_is_refused_and_the_ledger_charged_once(board):
    masked_round(board, 1)
    board.send(head(1))  # the same round again, after its masked update left
    reply = answer(board)
    assert refused(reply, "ROUND")
    hello, policy = hello_and_policy(board)
    assert hello.releases_done == 1 and (hello.last_run, hello.last_round) == (1, 1)
    central, local = expected_eps(1, SMALL)
    assert (policy.central_eps_spent, policy.local_eps_spent) == pytest.approx((central, local), rel=1e-6)
    assert hello.eps_spent == pytest.approx(local, rel=1e-6)  # the budget is on the local figure
    masked_round(board, 2)  # the next round is served


def test_steps_out_of_order_or_of_another_round_are_refused(board):
    board.send(SecaggMaskRequest(run=1, round=1, cohort=4, alive=[2, 3]))  # no round under way
    assert refused(answer(board), "ROUND")
    board.send(head(1))
    assert isinstance(answer(board), SecaggKeys)
    board.send(SecaggUnmaskRequest(run=1, round=1, cohort=4, survived=[2]))  # before any share
    assert refused(answer(board), "REFUSED")
    board.send(head(2))
    assert isinstance(answer(board), SecaggKeys)
    board.send(SecaggNeighbours(run=1, round=3, t=2, neighbours=[bytes(66)] * 3))  # another round
    assert refused(answer(board), "ROUND")
    board.send(head(4))
    assert isinstance(answer(board), SecaggKeys)
    keys = ReferenceClient(2, 4, ChaCha20Drbg(bytes(44))).begin()
    bad_t = [struct.pack("<H", 2) + keys[0] + keys[1]] * 1
    board.send(SecaggNeighbours(run=1, round=4, t=2, neighbours=bad_t))  # t > k
    assert refused(answer(board), "REFUSED")
    board.send(head(5))
    assert isinstance(answer(board), SecaggKeys)
    too_many = [struct.pack("<H", i) + keys[0] + keys[1] for i in range(2, 2 + SMALL.k_max + 1)]
    board.send(SecaggNeighbours(run=1, round=5, t=SMALL.k_max, neighbours=too_many))  # over k_max
    assert refused(answer(board), "OVERSIZE")
    board.send(SecaggShareForYou(run=1, round=5, sender=2, cipher=bytes(85)))  # the round is over
    assert refused(answer(board), "ROUND")
    hello, policy = hello_and_policy(board)
    assert hello.releases_done == 0 and policy.central_eps_spent == 0.0  # nothing was released


def test_too_many_dropouts_fail_the_round_with_typed_outcomes(small_image, tmp_path):
    """Below n_min survivors the host cannot unmask (and the devices would refuse): the round
    fails, every device's outcome says why, and no sum comes out."""
    from tinyfl.fleet.secagg_round import SecaggOutcome, SecureRound

    with launch_fleet("native", 4, small_image, shards(tmp_path, 4), tmp_path / "boards") as fleet:
        sessions = {b.device_id: DeviceSession(open_link(b.url), f"dev{b.device_id}") for b in fleet}
        boards = {b.device_id: b for b in fleet}

        def between(step: str, live: list[int]) -> None:
            if step == "masked":
                boards[3].stop()
                boards[4].stop()

        result = SecureRound(sessions, n_min=SMALL.n_min, step_timeout_s=3.0, between=between).run(
            run=1, round_number=1, params=head(1).params, n_classes=CONFIG.n_classes,
            n_features=CONFIG.n_features, lr=0.1, local_epochs=1, batch_size=3)
        assert not result.ok and result.total is None and "n_min" in result.failure
        assert {d: result.outcomes[d][0] for d in (1, 2)} == {1: SecaggOutcome.ROUND_FAILED,
                                                             2: SecaggOutcome.ROUND_FAILED}
        assert {result.outcomes[d][0] for d in (3, 4)} <= {SecaggOutcome.DROPPED, SecaggOutcome.LINK_DOWN}
        for s in sessions.values():
            s.close()
