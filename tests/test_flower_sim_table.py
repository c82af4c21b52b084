"""The fleet table (tinyfl.flower.figures) at tiny N: budget refusals as on boards, eps from
dp-accounting, accuracy with its interval on the whole test split, attacks read from the
simulated records against the strongest update-free baseline; the model devices' C protection
gives the Python model's integers; the audit's utility curve made of these runs."""
from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from tinyfl.attack.report import attack_run
from tinyfl.device_model import MODEL_HASH
from tinyfl.firmware_config import DpConfig
from tinyfl.flower.figures import TableSpec, format_table, rounds_to_ask, run_cell, run_table
from tinyfl.flower.model_device import ModelDevice
from tinyfl.flower.simulate import SimOptions, sim_data, simulate
from tinyfl.privacy.accounting import epsilon
from tinyfl.wire import MAX_CHUNK, BudgetExhausted, FrameDecoder, GlobalModel, Update, encode_message

TINY = TableSpec(sizes=(4, 9), zs=(0.0, 0.5, 2.0), rounds=4, per_gateway=5, attack_devices=3,
                 attack_rounds=2)


def _reply(device: ModelDevice, message: GlobalModel):
    device.write(encode_message(message, 0, MAX_CHUNK))
    (item,) = list(FrameDecoder().feed(device.read(1 << 20, 0)))
    return item.message


@pytest.mark.parametrize("z", [1.0, 0.5, 0.0])
def test_native_protection_sends_the_python_models_integers(z: float) -> None:
    data = sim_data("digits")
    dp = DpConfig(clip=1.0, noise_multiplier=z, grid_bits=8, delta=1e-5, eps_limit=50.0)

    def device(native: bool) -> ModelDevice:
        return ModelDevice("d", 7, data.f_train[:20], data.y_train[:20], n_classes=10,
                           samples_per_round=10, dp=dp, test_seed=1234, model_hash=MODEL_HASH,
                           native_protect=native)

    python, native = device(False), device(True)
    rng = np.random.default_rng(3)
    kinds = []
    for r in range(1, 5):
        gm = GlobalModel(run=1, round=r, nonce=r, lr=0.5, local_epochs=5, batch_size=5,
                         n_classes=10, n_features=32,
                         params=rng.normal(0, 0.3, 330).astype(np.float32))
        a, b = _reply(python, gm), _reply(native, gm)
        assert type(a) is type(b)
        kinds.append(type(a))
        if isinstance(a, Update):
            np.testing.assert_array_equal(a.values, b.values)
            assert (a.eps_spent, a.releases_done) == (b.eps_spent, b.releases_done)
    # z = 0.5 at eps_limit 50 allows two releases, then the device refuses as the firmware does
    assert kinds == ([Update, Update, BudgetExhausted, BudgetExhausted] if z == 0.5 else [Update] * 4)


def test_model_device_refuses_a_crafted_head_like_the_native_board(tmp_path: Path) -> None:
    """The averaged noise of a small noisy fleet can push the head past the guard: the modelled
    board must refuse it as the firmware does (same code and detail), and still release after."""
    import time

    from tinyfl.demo import DemoOptions, prepare
    from tinyfl.device_model import stats_features
    from tinyfl.emulate import build_firmware, launch_fleet, write_shard
    from tinyfl.fleet import DeviceSession, initial_head
    from tinyfl.links import open_link
    from tinyfl.wire import Error, Status

    options = DemoOptions(board="native", backbone="stats", samples_per_round=8)
    data, _, config = prepare(options, lambda _m: None)
    windows, labels = data.x_train[:12], data.y_train[:12]
    firmware = build_firmware("native", config, test_build=True, test_seed=1234)
    k, f = config.n_classes, config.n_features
    model = ModelDevice("m", 7, stats_features(windows), labels, n_classes=k,
                        samples_per_round=8, dp=config.dp, test_seed=1234, model_hash=MODEL_HASH,
                        native_protect=True)
    head = initial_head(k, f, 3).params.astype(np.float32)
    bias, weight, zero = head.copy(), head.copy(), head.copy()
    bias[k * f + 1] = 25.0
    weight[5] = -150.0
    zero[:f] = 0.0

    def answer(session: DeviceSession, params: np.ndarray, r: int):
        session.send(GlobalModel(run=1, round=r, nonce=r, lr=0.1, local_epochs=3, batch_size=3,
                                 n_classes=k, n_features=f, params=params))
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            for item in session.receive(0.1):
                if isinstance(item.message, (Update, Error)):
                    return item.message
        raise AssertionError("no answer")

    shard = write_shard(tmp_path / "shard.bin", windows, labels)
    with launch_fleet("native", 1, firmware, [shard], tmp_path / "b", device_ids=[7]) as fleet:
        board = DeviceSession(open_link(fleet.urls[0]), "board")
        modelled = DeviceSession(model, "model")
        try:
            for r, params in enumerate((bias, weight, zero, head), start=1):
                a, b = answer(board, params, r), answer(modelled, params, r)
                assert type(a) is type(b), r
                if isinstance(a, Error):
                    assert a.code == b.code == Status.CRAFTED and a.detail == b.detail, r
                else:
                    np.testing.assert_array_equal(a.values, b.values)
                    assert a.releases_done == b.releases_done == 1
        finally:
            board.close()


def test_table_cells_honour_the_budget_and_attack_the_records(tmp_path: Path) -> None:
    table = run_table(TINY, tmp_path)
    cells = {(c["devices"], c["z"]): c for c in table["cells"]}
    assert set(cells) == {(n, z) for n in (4, 9) for z in (0.0, 0.5, 2.0)}
    for (n, z), c in cells.items():
        asked, allowed = rounds_to_ask(z, TINY)
        assert c["rounds_asked"] == asked and c["releases_allowed"] == allowed
        assert c["test_samples"] == len(sim_data("digits").y_test) == 898
        lo, hi = c["accuracy_ci"]
        assert lo < c["accuracy"] < hi and hi - lo < 0.08  # 898 images resolve a few points
        assert c["accuracy"] == c["history"][-1]  # the final head, scored on every test image
        if z == 0:
            assert c["eps_per_device"] is None and c["rounds_released"] == 4
        else:
            assert c["eps_agree"]  # dp-accounting == every modelled ledger
            assert c["eps_per_device"] == pytest.approx(
                epsilon(z, c["rounds_released"], TINY.delta), rel=1e-3)
    # z = 0.5: two releases fit eps_limit 50; the third round asked is refused by every device
    assert cells[(4, 0.5)]["releases_allowed"] == 2
    assert cells[(4, 0.5)]["rounds_asked"] == 3 and cells[(4, 0.5)]["rounds_released"] == 2
    assert [r["accepted"] for r in cells[(4, 0.5)]["per_round"]] == [4, 4, 0]
    assert all(c["stalled_from"] is None for c in cells.values())  # budget refusals are no stall
    assert cells[(9, 2.0)]["rounds_released"] == 4  # z = 2 has budget left after 4 rounds
    for c in cells.values():
        a = c["attack"]
        assert a["updates"] == 3 * 2  # 3 devices, rounds 1-2, read from the recorded run
        label = a["label_accuracy"]
        assert label["attack"]["n"] == 3 * 2 * TINY.samples_per_round
        # the verdict is against the strongest fair baseline, never the majority class alone
        assert label["strongest_baseline"] != "majority class (auxiliary data)"
        assert label["leak"] == (label["strongest_baseline"] in label["beats"]
                                 and "majority class (auxiliary data)" in label["beats"])
        if label["leak"]:
            assert label["attack"]["lo"] > 0 and label["attack"]["estimate"] > label["baseline"]["estimate"]
        assert "feature_centered_cosine" in a
    # without noise the label counts leak beyond every update-free guess; not so at z = 2
    assert cells[(4, 0.0)]["attack"]["label_accuracy"]["leak"]
    assert not cells[(4, 2.0)]["attack"]["label_accuracy"]["leak"]
    text = "\n".join(format_table(table))
    assert "| 9 |" in text and "LEAK" in text and "(2 rounds)" in text


def test_a_sampled_attack_scores_the_same_updates_as_the_whole_run(tmp_path: Path) -> None:
    data = sim_data("digits")
    result = simulate(SimOptions(devices=5, per_gateway=5, rounds=3, z=0.0, dataset="digits",
                                 native_protect=True, lr=0.5), tmp_path / "run")
    aux = (data.x_test, data.y_test)
    whole = attack_run(result.run_dir, aux=aux, truth=result.truth, invert=False)
    picked = sorted(result.truth)[1:3]
    sample = attack_run(result.run_dir, aux=aux, truth=result.truth, invert=False,
                        devices=set(picked), max_round=2)
    assert sorted((u.device, u.round) for u in sample.updates) == [
        (d, r) for d in picked for r in (1, 2)]
    full = {(u.device, u.round): u for u in whole.updates}
    for u in sample.updates:  # the replayed truth stays aligned: same hits as in the whole run
        np.testing.assert_array_equal(u.scores["label_hits"], full[(u.device, u.round)].scores["label_hits"])


def test_the_audit_utility_curve_is_made_of_simulated_runs() -> None:
    from tinyfl.audit.utility import UtilityConfig, utility_curve

    config = UtilityConfig(fleet_sizes=(6,), rounds=3, eps_limit=50.0, samples_per_round=10,
                           lr=0.5, repeats=1, simulate=True)
    curve = utility_curve(config, [0.0, 0.5, 2.0])
    assert curve.source == "fleet-simulation"
    spec = TableSpec(sizes=(6,), zs=(0.0, 0.5, 2.0), rounds=3, lr=0.5, attack_devices=0)
    for i, z in enumerate((0.0, 0.5, 2.0)):
        cell = run_cell(6, z, spec)
        assert curve.accuracy[6][i] == cell["accuracy"]  # the point is that run, not a model of it
        assert curve.history[6][i] == cell["history"]
        assert curve.eps_per_device[6][i] == cell["eps_per_device"]
    assert curve.releases_allowed == [None, 2, rounds_to_ask(2.0, spec)[1]]
    assert curve.rounds_trained() == [3, 2, 3]
    # one device at z = 10: its own noise pushes the head past the guard, the run stalls there
    lone = utility_curve(replace(config, fleet_sizes=(1,), rounds=8), [10.0])
    assert lone.refused_from[1][0] is not None and lone.refused_from[1][0] <= 8
    assert "crafted-head guard" in lone.notes[-1]
    stalled = run_cell(1, 10.0, replace(spec, sizes=(1,), zs=(10.0,), rounds=8))
    assert stalled["stalled_from"] == lone.refused_from[1][0]
    assert stalled["rounds_released"] == stalled["stalled_from"] - 1
    assert "head refused from round" in "\n".join(format_table({"cells": [stalled], "spec": {}}))
    assert curve.refused_from == {6: [None, None, None]}
    plain = utility_curve(replace(config, simulate=False), [0.0, 0.5, 2.0])
    assert plain.source == "fedavg-loop" and plain.eps_per_device == {}


def test_audit_cli_simulate(tmp_path: Path) -> None:
    cli = [sys.executable, "-m", "tinyfl.cli", "audit", "--smoke", "--parts", "utility"]
    done = subprocess.run(cli + ["--simulate", "5", "--out", str(tmp_path / "r"), "--format", "json"],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    utility = json.loads(done.stdout)["utility"]
    assert utility["source"] == "fleet-simulation" and list(utility["accuracy"]) == ["5"]
    assert any("recorded fleet simulation" in f for f in json.loads(done.stdout)["findings"])
    assert (tmp_path / "r" / "utility.png").exists()
    bad = subprocess.run(cli + ["--simulate", "0"], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "--simulate must be at least 1" in bad.stderr
    data = subprocess.run(cli + ["--simulate", "5", "--simulate-data", "mnist"], capture_output=True,
                          text=True, timeout=120)
    assert data.returncode == 2 and "digits or basicmotions" in data.stderr
