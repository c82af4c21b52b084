"""The fleet simulation: its devices (ModelDevice, the Python device model) answer exactly as a
native board running a test build with the same seed, and a 1,000-device simulation over 10
gateways runs two rounds through the relay and the unchanged Aggregator."""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from tinyfl.demo import DemoOptions, prepare
from tinyfl.device_model import MODEL_HASH, stats_features
from tinyfl.emulate import build_firmware, launch_fleet, write_shard
from tinyfl.fleet import DeviceSession, RunReader, initial_head, recompute_globals
from tinyfl.flower.model_device import ModelDevice
from tinyfl.flower.simulate import SimOptions, simulate
from tinyfl.links import open_link
from tinyfl.wire import Error, GlobalModel, Status, Update

SEED, DEVICE_ID = 1234, 7


def _answer(session: DeviceSession, message: GlobalModel, kind=Update):
    session.send(message)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        for item in session.receive(0.1):
            if isinstance(item.message, kind):
                return item.message
    raise AssertionError(f"no {kind.__name__}")


def test_model_device_sends_the_native_boards_integers(tmp_path: Path) -> None:
    options = DemoOptions(board="native", backbone="stats", samples_per_round=8)
    data, _, config = prepare(options, lambda _m: None)
    windows, labels = data.x_train[:12], data.y_train[:12]  # the shard wraps in round 2
    firmware = build_firmware("native", config, test_build=True, test_seed=SEED)
    head = initial_head(config.n_classes, config.n_features, 3).params
    model = ModelDevice("m", DEVICE_ID, stats_features(windows), labels,
                        n_classes=config.n_classes, samples_per_round=8, dp=config.dp,
                        test_seed=SEED, model_hash=MODEL_HASH)
    shard = write_shard(tmp_path / "shard.bin", windows, labels)
    with launch_fleet("native", 1, firmware, [shard], tmp_path / "b",
                      device_ids=[DEVICE_ID]) as fleet:
        board = DeviceSession(open_link(fleet.urls[0]), "board")
        modelled = DeviceSession(model, "model")
        try:
            got, want = board.hello(), modelled.hello()
            for name in ("n_classes", "n_features", "clip", "noise_multiplier", "grid_bits",
                         "delta", "eps_limit", "eps_spent", "releases_done", "releases_max",
                         "flags", "model_hash", "max_chunk"):
                assert getattr(got, name) == getattr(want, name), name
            for round_number in (1, 2, 3):
                message = GlobalModel(run=1, round=round_number, nonce=round_number, lr=0.1,
                                      local_epochs=3, batch_size=3, n_classes=config.n_classes,
                                      n_features=config.n_features, params=head)
                a, b = _answer(board, message), _answer(modelled, message)
                np.testing.assert_array_equal(a.values, b.values)  # the same integers
                assert (a.eps_spent, a.releases_done, a.grid_step, a.sample_count) == \
                    (b.eps_spent, b.releases_done, b.grid_step, b.sample_count)
            # a resend is answered with the same release, an old round is refused
            again = _answer(modelled, message)
            np.testing.assert_array_equal(again.values, b.values)
            assert again.releases_done == 3
            old = GlobalModel(run=1, round=2, nonce=9, lr=0.1, local_epochs=3, batch_size=3,
                              n_classes=config.n_classes, n_features=config.n_features,
                              params=head)
            assert _answer(modelled, old, Error).code == Status.ROUND
            assert _answer(board, old, Error).code == Status.ROUND
        finally:
            board.close()


def test_simulation_of_a_thousand_devices_two_rounds(tmp_path: Path) -> None:
    started = time.monotonic()
    result = simulate(SimOptions(devices=1000, per_gateway=100, rounds=2, z=1.0),
                      tmp_path / "run")
    assert time.monotonic() - started < 240
    assert result.gateways == 10 and not result.failure
    assert [r["accepted"] for r in result.rounds] == [1000, 1000]
    assert result.eps_agree  # dp-accounting == each modelled ledger's own report
    reader = RunReader(tmp_path / "run")
    assert len(reader.config["device_order"]) == 1000
    np.testing.assert_array_equal(recompute_globals(tmp_path / "run")[2],
                                  reader.result_head(2).params)
    # a test build's noise is reproducible: the same simulation gives the same head
    again = simulate(SimOptions(devices=20, per_gateway=7, rounds=1), tmp_path / "a")
    twice = simulate(SimOptions(devices=20, per_gateway=7, rounds=1), tmp_path / "b")
    np.testing.assert_array_equal(RunReader(tmp_path / "a").result_head(1).params,
                                  RunReader(tmp_path / "b").result_head(1).params)
    assert again.gateways == 3 and twice.rounds[0]["accepted"] == 20


def test_simulation_options_are_checked() -> None:
    with pytest.raises(ValueError, match="devices"):
        SimOptions(devices=0).validate()
    with pytest.raises(ValueError, match="samples_per_round"):
        SimOptions(samples_per_round=50, shard_size=20).validate()


def test_cli_simulate_json_is_pure_and_bad_options_exit_2(tmp_path: Path) -> None:
    import json
    import subprocess
    import sys

    cli = [sys.executable, "-m", "tinyfl.cli", "flower", "simulate"]
    done = subprocess.run(cli + ["--devices", "12", "--per-gateway", "5", "--rounds", "1",
                                 "--run-dir", str(tmp_path / "run"), "--format", "json"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["gateways"] == 3 and out["rounds"][0]["accepted"] == 12 and out["eps_agree"]
    again = subprocess.run(cli + ["--devices", "12", "--run-dir", str(tmp_path / "run")],
                           capture_output=True, text=True, timeout=120)
    assert again.returncode == 2 and "already holds a run" in again.stderr
    bad = subprocess.run(cli + ["--devices", "0"], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "devices must be" in bad.stderr
