"""The aggregator against fake devices on 127.0.0.1: FedAvg arithmetic, misbehaving devices,
replays, privacy accounting, resume after a kill, and recomputation from the record."""
from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from fakes.fake_device import FakeDevice, deterministic_values, stand_in_epsilon
from fakes.harness import close_aggregator, fleet_config, make_aggregator, run_fleet, running
from tinyfl.fleet import (
    RunReader,
    fedavg,
    initial_head,
    recompute_globals,
)
from tinyfl.fleet import aggregator as aggregator_module
from tinyfl.paths import REPO_ROOT
from tinyfl.wire import HelloRequest, Update


def expected_run(indices: list[int], rounds: int, n_classes: int = 3, n_features: int = 4,
                 seed: int = 0, server_lr: Fraction = Fraction(1)) -> list[np.ndarray]:
    """FedAvg done by hand with exact fractions, rounded to float32 once per round."""
    head = initial_head(n_classes, n_features, seed).params
    heads = [head]
    for r in range(1, rounds + 1):
        updates = [deterministic_values(i, r, head) for i in indices]
        new = []
        for k in range(head.size):
            mean = sum(Fraction(int(u[k]), 256) for u in updates) / len(updates)
            new.append(float(Fraction(float(head[k])) + server_lr * mean))
        head = np.array(new, dtype=np.float32)
        heads.append(head)
    return heads


def assert_record_matches(summary, run_dir: Path) -> None:
    recomputed = recompute_globals(run_dir)
    reader = RunReader(run_dir)
    for r, params in recomputed.items():
        assert np.array_equal(params, reader.result_head(r).params), f"round {r}"
    if recomputed:
        assert np.array_equal(recomputed[max(recomputed)], summary.final.params)


def test_fedavg_is_the_unweighted_mean_times_grid_step() -> None:
    base = np.array([0.5, -1.0, 2.0], dtype=np.float32)
    ups = [Update(run=1, round=1, nonce=1, sample_count=1, grid_step=0.25, eps_spent=0.0,
                  releases_done=1, n_classes=2, n_features=1, values=np.array(v))
           for v in ([4, 0, -8], [0, 2, 1])]
    # mean([1, 0, -2], [0, 0.5, 0.25]) = [0.5, 0.25, -0.875]; server_lr 2
    assert np.array_equal(fedavg(base, ups, 2.0), np.array([1.5, -0.5, 0.25], np.float32))
    assert np.array_equal(fedavg(base, [], 2.0), base)
    with pytest.raises(ValueError):
        fedavg(base[:2], ups, 1.0)


def test_fedavg_over_fake_devices_is_exact(tmp_path: Path) -> None:
    seen: list[np.ndarray] = []
    reports = []

    def evaluate(params: np.ndarray) -> dict:
        seen.append(params)
        return {"l1": float(np.abs(params).sum())}

    with running(*(FakeDevice(i) for i in range(3))) as fakes:
        summary = run_fleet(fakes, tmp_path, fleet={"rounds": 3}, evaluate=evaluate,
                            progress=reports.append)
    heads = expected_run([0, 1, 2], 3)
    assert len(seen) == 4 and all(np.array_equal(a, b) for a, b in zip(seen, heads))
    assert [e["round"] for e in summary.evaluations] == [0, 1, 2, 3]
    assert summary.evaluations[3]["l1"] == float(np.abs(heads[3]).sum())
    assert [r.round for r in reports] == [1, 2, 3] and reports[2].evaluation["round"] == 3
    reader = RunReader(tmp_path)
    assert reader.rounds() == [1, 2, 3]
    for r in (1, 2, 3):
        assert np.array_equal(reader.global_head(r).params, heads[r - 1])
        assert np.array_equal(reader.result_head(r).params, heads[r])
    assert np.array_equal(summary.final.params, heads[3])
    assert [r.accepted for r in summary.rounds] == [["fake0", "fake1", "fake2"]] * 3
    assert summary.rounds_completed == 3 and summary.resumed_at is None
    assert_record_matches(summary, tmp_path)


def test_misbehaving_devices_are_left_out_and_reported(tmp_path: Path) -> None:
    modes = ["ok", "silent", "garbage", "bitflip", "disconnect", "refuse", "budget",
             "bad_shape", "ok"]
    fakes = [FakeDevice(i, mode=m, rounds={1}) for i, m in enumerate(modes)]
    fakes.append(FakeDevice(9, n_features=5))  # another model: never sent this head
    started = time.monotonic()
    with running(*fakes):
        summary = run_fleet(fakes, tmp_path, fleet={"rounds": 2, "deadline_s": 1.0})
    assert time.monotonic() - started < 15
    first, second = summary.rounds
    # the bit-flipped update (fake3) is asked for again and arrives intact: a resend of the
    # same (run, round, nonce) is answered with the same release, at no new cost
    assert first.outcomes == {
        "fake0": "ok", "fake1": "timeout", "fake2": "bad_frames", "fake3": "ok",
        "fake4": "link_down", "fake5": "device_error", "fake6": "budget_exhausted",
        "fake7": "invalid", "fake8": "ok", "fake9": "skipped"}
    assert first.accepted == ["fake0", "fake3", "fake8"]
    assert fakes[3].resends_answered == 1 and fakes[3].releases_done == 2
    assert "CRAFTED" in first.details["fake5"]
    # round 2: everyone behaves; the dropped device was reconnected
    assert second.accepted == [f"fake{i}" for i in range(9)]
    assert second.outcomes["fake9"] == "skipped" and "differs" in second.details["fake9"]
    assert fakes[4].connections == 2 and fakes[9].received == [HelloRequest()] * 2

    heads = [initial_head(3, 4, 0).params]
    heads.append(fedavg(heads[0], [_update(i, 1, heads[0]) for i in (0, 3, 8)], 1.0))
    heads.append(fedavg(heads[1], [_update(i, 2, heads[1]) for i in range(9)], 1.0))
    assert np.array_equal(summary.final.params, heads[2])
    assert_record_matches(summary, tmp_path)

    kinds = {(e["kind"], e["device"]) for e in RunReader(tmp_path).events()}
    for expected in [("timeout", "fake1"), ("frames_rejected", "fake2"),
                     ("frames_rejected", "fake3"), ("link_down", "fake4"),
                     ("reconnected", "fake4"), ("device_error", "fake5"),
                     ("budget_exhausted", "fake6"), ("invalid", "fake7"),
                     ("shape_mismatch", "fake9"), ("skipped", "fake9")]:
        assert expected in kinds
    # the device released an update the host never received: flagged, not hidden
    privacy = {p.device: p for p in summary.privacy}
    assert not privacy["fake4"].agrees and privacy["fake4"].releases_device == 2
    assert privacy["fake4"].releases_host == 1
    assert privacy["fake4"].releases_lost == 1
    assert privacy["fake3"].agrees and privacy["fake3"].releases_lost == 0
    assert privacy["fake0"].agrees and privacy["fake0"].releases_host == 2
    assert {d.device: d.releases_lost for d in summary.devices}["fake4"] == 1
    assert ("releases_lost", "fake4") in kinds and ("resend", "fake3") in kinds


def _update(index: int, round_number: int, head: np.ndarray) -> Update:
    return Update(run=1, round=round_number, nonce=0, sample_count=10, grid_step=1 / 256,
                  eps_spent=0.0, releases_done=1, n_classes=3, n_features=4,
                  values=deterministic_values(index, round_number, head))


def test_replayed_nonce_and_old_update_are_rejected(tmp_path: Path) -> None:
    fakes = [FakeDevice(0), FakeDevice(1, mode="wrong_nonce", rounds={1}),
             FakeDevice(2, mode="replay_old", rounds={2})]
    with running(*fakes):
        summary = run_fleet(fakes, tmp_path, fleet={"rounds": 2, "deadline_s": 1.0})
    first, second = summary.rounds
    assert first.outcomes["fake1"] == "replay" and first.accepted == ["fake0", "fake2"]
    assert second.outcomes["fake2"] == "replay" and second.accepted == ["fake0", "fake1"]
    assert_record_matches(summary, tmp_path)
    replays = [e for e in RunReader(tmp_path).events() if e["kind"] == "replay"]
    assert {e["device"] for e in replays} == {"fake1", "fake2"}


def test_late_update_is_left_out_but_counted_as_a_release(tmp_path: Path) -> None:
    fakes = [FakeDevice(0), FakeDevice(1, mode="late", rounds={1}, delay_s=1.3)]
    with running(*fakes):
        summary = run_fleet(fakes, tmp_path, fleet={"rounds": 2, "deadline_s": 1.0})
    first, second = summary.rounds
    assert first.outcomes["fake1"] == "timeout" and second.outcomes["fake1"] == "ok"
    late = [e for e in RunReader(tmp_path).events() if e["kind"] == "late_update"]
    assert [(e["device"], e["update_round"], e["round"]) for e in late] == [("fake1", 1, 2)]
    privacy = {p.device: p for p in summary.privacy}
    assert privacy["fake1"].releases_host == 2 and privacy["fake1"].agrees
    assert_record_matches(summary, tmp_path)


def test_eps_agrees_with_the_devices_and_lies_are_flagged(tmp_path: Path) -> None:
    accounting = pytest.importorskip("tinyfl.privacy.accounting")
    fakes = [FakeDevice(0, releases_done=3, noise_multiplier=1.5, epsilon=accounting.epsilon),
             FakeDevice(1, noise_multiplier=1.5, epsilon=accounting.epsilon),
             FakeDevice(2, mode="lie_eps", rounds={2}, noise_multiplier=1.5,
                        epsilon=accounting.epsilon)]
    with running(*fakes):
        config = fleet_config(fakes, {"noise_multiplier": 1.5}, rounds=2)
        aggregator = make_aggregator(config, tmp_path, epsilon=None)  # the real accountant
        try:
            summary = aggregator.run()
        finally:
            close_aggregator(aggregator)
    privacy = {p.device: p for p in summary.privacy}
    p0 = privacy["fake0"]
    assert (p0.releases_before, p0.releases_host, p0.releases_device) == (3, 2, 5)
    # the hello carries delta as float32, hence not 1e-12
    assert p0.eps_host == pytest.approx(accounting.epsilon(1.5, 5, 1e-5), rel=1e-6)
    assert p0.agrees and privacy["fake1"].agrees
    assert privacy["fake1"].eps_host == pytest.approx(accounting.epsilon(1.5, 2, 1e-5), rel=1e-6)
    # the lie was in one update; the final hello reports the true eps, which is what counts
    assert summary.eps_disagreements == []


def test_a_device_that_keeps_lying_about_eps_is_flagged(tmp_path: Path) -> None:
    def lying(z: float, n: int, delta: float) -> float:
        return 0.5 * stand_in_epsilon(z, n, delta)

    fakes = [FakeDevice(0), FakeDevice(1, epsilon=lying)]
    with running(*fakes):
        summary = run_fleet(fakes, tmp_path, fleet={"rounds": 2})
    assert [p.device for p in summary.eps_disagreements] == ["fake1"]
    bad = summary.eps_disagreements[0]
    assert bad.eps_device == pytest.approx(0.5 * bad.eps_host, rel=1e-6)
    events = [e for e in RunReader(tmp_path).events() if e["kind"] == "eps_disagreement"]
    assert [e["device"] for e in events] == ["fake1"]


def test_resume_after_a_kill_between_rounds(tmp_path: Path) -> None:
    class Killed(Exception):
        pass

    def kill_after_round_two(report) -> None:
        if report.round == 2:
            raise Killed()

    fakes = [FakeDevice(i) for i in range(3)]
    with running(*fakes):
        config = fleet_config(fakes, rounds=4)
        aggregator = make_aggregator(config, tmp_path / "run", progress=kill_after_round_two)
        with pytest.raises(Killed):
            aggregator.run()
        close_aggregator(aggregator)
        assert RunReader(tmp_path / "run").state["next_round"] == 3
        aggregator = make_aggregator(config, tmp_path / "run")
        try:
            resumed = aggregator.run()
        finally:
            close_aggregator(aggregator)
    assert resumed.resumed_at == 3 and resumed.rounds_completed == 4
    assert [r.round for r in resumed.rounds] == [1, 2, 3, 4]
    assert [f.last_round for f in fakes] == [4, 4, 4]

    with running(*(FakeDevice(i) for i in range(3))) as fresh:
        straight = run_fleet(fresh, tmp_path / "straight", fleet={"rounds": 4})
    assert np.array_equal(resumed.final.params, straight.final.params)
    assert np.array_equal(resumed.final.params, expected_run([0, 1, 2], 4)[4])
    assert_record_matches(resumed, tmp_path / "run")
    assert all(p.agrees and p.releases_host == 4 for p in resumed.privacy)


def test_resume_after_a_kill_inside_a_round(tmp_path: Path, monkeypatch) -> None:
    """Killed while devices train: the resumed host finishes the same round with the same
    nonce (answers already in the record count, the others are asked again), so the run ends
    exactly as an uninterrupted one and the record adds up."""
    fakes = [FakeDevice(0), FakeDevice(1, mode="late", rounds={2}, delay_s=0.5)]
    with running(*fakes):
        config = fleet_config(fakes, rounds=3, deadline_s=10.0)
        aggregator = make_aggregator(config, tmp_path)
        original = aggregator_module.exchange

        def interrupted(conversations, deadline):
            # round 2's exchange is interrupted once fake0 has answered, while fake1 trains
            if conversations[0].expect.round == 2:
                original(conversations, time.monotonic() + 0.25)
                assert [c.result.outcome.value for c in conversations] == ["ok", "timeout"]
                raise KeyboardInterrupt  # BaseException: like a kill, nothing catches it
            original(conversations, deadline)

        monkeypatch.setattr(aggregator_module, "exchange", interrupted)
        with pytest.raises(KeyboardInterrupt):
            aggregator.run()
        monkeypatch.undo()
        close_aggregator(aggregator)
        state = RunReader(tmp_path).state
        assert state["in_progress"]["round"] == 2
        time.sleep(0.6)  # let the late device finish round 2
        aggregator = make_aggregator(config, tmp_path)
        try:
            summary = aggregator.run()
        finally:
            close_aggregator(aggregator)
    assert summary.resumed_at == 2
    assert [(r.round, r.interrupted) for r in summary.rounds] == [(1, False), (2, True),
                                                                  (3, False)]
    assert [r.accepted for r in summary.rounds] == [["fake0", "fake1"]] * 3
    assert np.array_equal(summary.final.params, expected_run([0, 1], 3)[3])
    assert_record_matches(summary, tmp_path)
    # one release per round and device: nothing lost, nothing charged twice
    assert [f.releases_done for f in fakes] == [3, 3]
    assert all(p.releases_host == 3 and p.agrees for p in summary.privacy)


def test_resume_after_sigkill_of_the_aggregator_process(tmp_path: Path) -> None:
    """A real kill while round 2 waits for a slow device; the next process resumes."""
    fakes = [FakeDevice(0), FakeDevice(1, mode="late", rounds={2}, delay_s=60.0)]
    script = textwrap.dedent("""
        import sys
        from pathlib import Path
        from types import SimpleNamespace
        from fakes.harness import fleet_config, make_aggregator
        fakes = [SimpleNamespace(index=i, url=u) for i, u in enumerate(sys.argv[2:])]
        make_aggregator(fleet_config(fakes, rounds=3, deadline_s=60.0), Path(sys.argv[1])).run()
    """)
    with running(*fakes):
        proc = subprocess.Popen([sys.executable, "-c", script, str(tmp_path)]
                                + [f.url for f in fakes], cwd=REPO_ROOT / "tests",
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 30
            while not fakes[1].waiting_late.is_set():
                assert proc.poll() is None, proc.communicate()
                assert time.monotonic() < deadline, "the aggregator never reached round 2"
                time.sleep(0.05)
            time.sleep(0.2)  # fake0's round-2 update is on its way to the host
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
        fakes[1].end_lateness()
        config = fleet_config(fakes, rounds=3, deadline_s=5.0)
        aggregator = make_aggregator(config, tmp_path)
        try:
            summary = aggregator.run()
        finally:
            close_aggregator(aggregator)
    assert summary.resumed_at == 2
    assert [r.interrupted for r in summary.rounds] == [False, True, False]
    # fake1's round-2 update went to the killed host; the resumed host asked again with the
    # same nonce and got the same release, at no new cost
    assert [r.accepted for r in summary.rounds] == [["fake0", "fake1"]] * 3
    assert fakes[1].resends_answered == 1
    assert [f.last_round for f in fakes] == [3, 3] and [f.releases_done for f in fakes] == [3, 3]
    assert np.array_equal(summary.final.params, expected_run([0, 1], 3)[3])
    assert_record_matches(summary, tmp_path)
    privacy = {p.device: p for p in summary.privacy}
    assert all(p.agrees and p.releases_host == 3 and p.releases_lost == 0
               for p in privacy.values())


def test_thirty_two_devices_two_rounds_quickly(tmp_path: Path) -> None:
    fakes = [FakeDevice(i, n_classes=4, n_features=24) for i in range(32)]
    started = time.monotonic()
    with running(*fakes):
        summary = run_fleet(fakes, tmp_path, fleet={"rounds": 2, "deadline_s": 10.0})
    elapsed = time.monotonic() - started
    assert elapsed < 10, elapsed
    assert all(len(r.accepted) == 32 for r in summary.rounds)
    assert all(p.agrees for p in summary.privacy)
    assert_record_matches(summary, tmp_path)


def test_importing_the_fleet_leaves_tensorflow_out() -> None:
    code = ("import sys, tinyfl.fleet, tinyfl.links, tinyfl.wire; "
            "assert 'tensorflow' not in sys.modules, 'tensorflow imported'; print('ok')")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr
