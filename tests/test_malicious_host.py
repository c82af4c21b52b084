"""A malicious host cannot make a device spend past its budget, change its privacy parameters,
reseed its noise or replay a round: the device enforces all of it itself."""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from tinyfl.demo import DemoOptions, prepare, split_shards
from tinyfl.emulate import build_firmware, launch_fleet, write_shard
from tinyfl.firmware_config import DpConfig
from tinyfl.fleet import DeviceSession, initial_head
from tinyfl.links import open_link
from tinyfl.privacy.accounting import epsilon
from tinyfl.toolchain import ToolchainError
from tinyfl.wire import BudgetExhausted, Error, GlobalModel, Hello, SetDpConfig, Status, Update

EPS_LIMIT = 20.0  # z = 1, delta 1e-5, replace relation: two releases cost 16.5, a third 21.4


@pytest.fixture(scope="module")
def budget_setup(tmp_path_factory):
    options = DemoOptions(board="native", n=1, backbone="stats", dp=DpConfig(eps_limit=EPS_LIMIT))
    data, _, config = prepare(options, lambda _m: None)
    assert len(config.eps_table()) - 1 == 2
    shards_dir = tmp_path_factory.mktemp("shards")
    shard = write_shard(shards_dir / "s.bin", data.x_train[:10], data.y_train[:10])
    return config, shard


def _answer(session: DeviceSession, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for item in session.receive(0.2):
            if item.message is not None and not isinstance(item.message, Hello):
                return item.message
    raise AssertionError("device did not answer")


def _global(config, round_number: int, nonce: int = 7) -> GlobalModel:
    head = initial_head(config.n_classes, config.n_features, 0)
    return GlobalModel(run=1, round=round_number, nonce=nonce, lr=0.05, local_epochs=2, batch_size=5,
                       n_classes=config.n_classes, n_features=config.n_features,
                       params=head.params)


def _session(url: str) -> DeviceSession:
    return DeviceSession(open_link(url), "dev")


@pytest.mark.parametrize("board", ["native", "qemu"])
def test_device_refuses_rounds_past_its_budget_even_after_reboot(board, budget_setup, tmp_path, request):
    if board == "qemu":
        request.getfixturevalue("qemu")
    config, shard = budget_setup
    firmware = build_firmware(board, config)
    with launch_fleet(board, 1, firmware, [shard], tmp_path) as fleet:
        session = _session(fleet.urls[0])
        hello = session.hello()
        assert hello.releases_max == 2 and hello.eps_limit == pytest.approx(EPS_LIMIT)
        for r in (1, 2):
            session.send(_global(config, r, nonce=100 + r))
            update = _answer(session)
            assert isinstance(update, Update) and update.round == r and update.nonce == 100 + r
            assert epsilon(1.0, r, 1e-5) <= update.eps_spent == pytest.approx(epsilon(1.0, r, 1e-5), rel=1e-5)
        session.send(_global(config, 3))
        refusal = _answer(session)
        assert isinstance(refusal, BudgetExhausted)
        assert refusal.releases_done == 2 and refusal.eps_spent <= EPS_LIMIT
        session.close()

        # the ledger was persisted before each update left: a reboot does not refill the budget
        fleet[0].restart()
        session = _session(fleet.urls[0])
        assert session.hello().releases_done == 2
        session.send(_global(config, 4))
        assert isinstance(_answer(session), BudgetExhausted)
        session.close()


def test_config_change_and_reseed_are_refused(budget_setup, tmp_path) -> None:
    config, shard = budget_setup
    firmware = build_firmware("native", config)
    with launch_fleet("native", 1, firmware, [shard], tmp_path) as fleet:
        session = _session(fleet.urls[0])
        before = session.hello()
        session.send(SetDpConfig(clip=1000.0, noise_multiplier=0.0, eps_limit=1e9, seed=bytes(32)))
        answer = _answer(session)
        assert isinstance(answer, Error) and answer.code == Status.REFUSED
        after = session.hello()
        for name in ("clip", "noise_multiplier", "grid_bits", "eps_limit", "delta", "releases_max"):
            assert getattr(after, name) == getattr(before, name), name

        # two rounds from the same head give different noise: the host could not reseed it
        session.send(_global(config, 1))
        first = _answer(session)
        session.close()
        fleet[0].restart()
        session = _session(fleet.urls[0])
        session.send(_global(config, 2))
        second = _answer(session)
        assert isinstance(first, Update) and isinstance(second, Update)
        assert not np.array_equal(first.values, second.values)
        session.close()


def test_replayed_or_stale_round_is_refused(budget_setup, tmp_path) -> None:
    config, shard = budget_setup
    firmware = build_firmware("native", config)
    with launch_fleet("native", 1, firmware, [shard], tmp_path) as fleet:
        session = _session(fleet.urls[0])
        session.send(_global(config, 5))
        assert isinstance(_answer(session), Update)
        for stale in (5, 4):
            session.send(_global(config, stale, nonce=99))
            answer = _answer(session)
            assert isinstance(answer, Error) and answer.code == Status.ROUND
            assert answer.detail == 5  # the last round the device accepted
        session.close()


def test_release_build_refuses_a_fixed_seed_or_disabled_noise(budget_setup) -> None:
    config, _ = budget_setup
    for define in ("TINYFL_TEST_SEED", "TINYFL_TEST_NO_NOISE"):
        with pytest.raises(ToolchainError, match="only allowed in test builds"):
            build_firmware("native", config, defines={define: 1})


@pytest.mark.parametrize("craft,reason", [
    ("zero_head", 1),      # all-zero head: exact label counts in closed form
    ("trap_row", 1),       # one zeroed row
    ("boosted_bias", 2),   # a bias far outside anything training produces
    ("huge_weight", 3),
])
def test_crafted_global_heads_are_refused(budget_setup, tmp_path, craft, reason) -> None:
    config, shard = budget_setup
    firmware = build_firmware("native", config)
    message = _global(config, 1)
    params = message.params.copy()
    k, f = config.n_classes, config.n_features
    if craft == "zero_head":
        params[:] = 0.0
    elif craft == "trap_row":
        params[2 * f:3 * f] = 0.0
    elif craft == "boosted_bias":
        params[k * f + 1] = 1000.0
    else:
        params[5] = 1e4
    crafted = GlobalModel(**{**message.__dict__, "params": params})
    with launch_fleet("native", 1, firmware, [shard], tmp_path) as fleet:
        session = _session(fleet.urls[0])
        session.send(crafted)
        answer = _answer(session)
        assert isinstance(answer, Error) and answer.code == Status.CRAFTED and answer.detail == reason
        assert session.hello().releases_done == 0  # nothing trained, nothing released
        session.send(_global(config, 2))  # an honest head is still served
        assert isinstance(_answer(session), Update)
        session.close()


@pytest.mark.parametrize("board", ["native", "qemu"])
def test_a_huge_round_cannot_brick_a_device(board, budget_setup, tmp_path, request):
    """Round 0xFFFFFFFF of run r leaves no round above it in r, but run r + 1 starts again at
    round 1, also after a reboot; any earlier (run, round) stays a replay."""
    if board == "qemu":
        request.getfixturevalue("qemu")
    _, shard = budget_setup
    config = DpConfig(eps_limit=60.0)  # room for three releases at z = 1
    options = DemoOptions(board="native", n=1, backbone="stats", dp=config)
    _, _, fw_config = prepare(options, lambda _m: None)
    firmware = build_firmware(board, fw_config)
    top = 0xFFFFFFFF

    def send(session, run, round_, nonce=1):
        message = _global(fw_config, round_, nonce=nonce)
        session.send(GlobalModel(**{**message.__dict__, "run": run}))
        return _answer(session)

    with launch_fleet(board, 1, firmware, [shard], tmp_path) as fleet:
        session = _session(fleet.urls[0])
        assert isinstance(send(session, 5, top), Update)
        assert isinstance(send(session, 6, 1), Update)
        session.close()
        fleet[0].restart()
        session = _session(fleet.urls[0])
        hello = session.hello()
        assert (hello.last_run, hello.last_round, hello.releases_done) == (6, 1, 2)
        for run, round_ in ((6, 1), (5, top), (5, 3), (1, top)):
            refusal = send(session, run, round_, nonce=9)
            assert isinstance(refusal, Error) and refusal.code == Status.ROUND, (run, round_)
        update = send(session, 6, 2)
        assert isinstance(update, Update) and (update.run, update.round) == (6, 2)
        session.close()
