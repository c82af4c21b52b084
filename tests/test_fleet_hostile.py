"""A host that hostile or broken devices cannot stop: the fleet's DP configuration decides who
takes part and which updates count, lost frames are asked for again, failures are reported."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from fakes.fake_device import FakeDevice
from fakes.harness import close_aggregator, fleet_config, make_aggregator, run_fleet, running
from test_fleet_aggregator import assert_record_matches, expected_run
from tinyfl.fleet import (
    DpConfig,
    Outcome,
    RunReader,
    head_problem,
    hello_problem,
    next_head,
    update_norm_bound,
)
from tinyfl.fleet.admission import NORM_TAIL_T, update_values_problem
from tinyfl.links.lossy import LossyLink
from tinyfl.wire import Update
from tinyfl.wire._wire_gen import HelloFlag

FAKE_DP = DpConfig(clip=1.0, noise_multiplier=1.0, grid_bits=8, delta=1e-5, eps_limit=1000.0)


@pytest.mark.parametrize("clip", [1e30, 2000.0])
def test_a_device_advertising_a_larger_clip_is_refused_and_the_fleet_trains(
        tmp_path: Path, clip: float) -> None:
    """Before: its updates (grid step clip/256) were averaged; at 1e30 the head became
    unsendable and every later round was a host error for everyone."""
    fakes = [FakeDevice(0), FakeDevice(1), FakeDevice(2, clip=clip)]
    with running(*fakes):
        summary = run_fleet(fakes, tmp_path, fleet={"rounds": 3})
    for report in summary.rounds:
        assert report.accepted == ["fake0", "fake1"]
        assert report.outcomes["fake2"] == Outcome.REFUSED.value
        assert "clip" in report.details["fake2"]
    assert fakes[2].received.count(None) == 0 and fakes[2].releases_done == 0
    assert np.array_equal(summary.final.params, expected_run([0, 1], 3)[3])
    assert not summary.failure
    devices = {d.device: d for d in summary.devices}
    assert "DP configuration differs" in devices["fake2"].refused and not devices["fake0"].refused
    events = [e for e in RunReader(tmp_path).events() if e["kind"] == "device_refused"]
    assert [e["device"] for e in events] == ["fake2"]
    assert_record_matches(summary, tmp_path)


@pytest.mark.parametrize("mode, why", [("big_norm", "integer norm"), ("wrong_grid", "grid_step")])
def test_an_update_the_fleet_config_cannot_produce_is_refused(tmp_path: Path, mode: str,
                                                              why: str) -> None:
    fakes = [FakeDevice(0), FakeDevice(1), FakeDevice(2, mode=mode, rounds={1})]
    with running(*fakes):
        summary = run_fleet(fakes, tmp_path, fleet={"rounds": 2})
    first, second = summary.rounds
    assert first.outcomes["fake2"] == Outcome.INVALID.value and why in first.details["fake2"]
    assert first.accepted == ["fake0", "fake1"]
    assert second.accepted == ["fake0", "fake1", "fake2"]
    # recompute judges with the same bound (from config.json) and leaves the update out too
    assert_record_matches(summary, tmp_path)


def test_norm_bound_derivation_and_honest_updates() -> None:
    assert math.exp(-NORM_TAIL_T ** 2 / 2) == pytest.approx(2.0 ** -40)
    d = 1040
    bound = update_norm_bound(FAKE_DP, d)
    assert bound == pytest.approx(256 + 256 * (math.sqrt(d) + NORM_TAIL_T))
    # an honest update: the clipped part at its largest (norm 2^k) plus noise of s = z 2^k,
    # drawn as rounded Gaussians (the discrete Gaussian's spread is within a hair of this)
    rng = np.random.default_rng(1)
    q = np.zeros(d)
    q[0] = 256
    norms = [np.linalg.norm(q + np.rint(rng.normal(0.0, 256.0, d))) for _ in range(2000)]
    assert max(norms) < bound
    assert max(norms) > 0.8 * bound  # not a bound so loose that it admits anything
    step = 1.0 / 256
    honest = (q + np.rint(rng.normal(0.0, 256.0, d))).astype(np.int64)
    assert update_values_problem(honest, step, FAKE_DP) == ""
    assert "integer norm" in update_values_problem(honest * 2, step, FAKE_DP)
    assert "grid_step" in update_values_problem(honest, step * 2, FAKE_DP)
    # without noise the bound is the clip bound itself
    assert update_norm_bound(DpConfig(noise_multiplier=0.0), d) == 256


def _hello(**changes):
    from tinyfl.wire import Hello

    fields = dict(device_id=1, firmware_hash=2, model_hash=3, n_classes=2, n_features=3,
                  clip=1.0, noise_multiplier=1.0, grid_bits=8, delta=1e-5, eps_limit=50.0,
                  eps_spent=0.0, releases_done=0, releases_max=10, flags=0, max_chunk=240,
                  last_run=0, last_round=0, refusals=[])
    return Hello(**{**fields, **changes})


@pytest.mark.parametrize("changes, allow, why", [
    ({}, False, ""),
    ({"flags": int(HelloFlag.TEST_BUILD)}, False, "test build"),
    ({"flags": int(HelloFlag.TEST_BUILD)}, True, ""),
    ({"flags": int(HelloFlag.ENTROPY_FAILED)}, True, "entropy"),
    ({"flags": int(HelloFlag.LEDGER_LOCKED)}, True, "ledger is locked"),
    ({"noise_multiplier": 0.5}, False, "noise_multiplier"),
    ({"grid_bits": 10}, False, "grid_bits"),
    ({"delta": 1e-6}, False, "delta"),
    ({"eps_limit": 60.0}, False, "eps_limit"),
    ({"clip": float(np.float32(1.0 + 2e-7))}, False, ""),  # float32 rounding is no difference
])
def test_hello_admission(changes: dict, allow: bool, why: str) -> None:
    problem = hello_problem(_hello(**changes), DpConfig(), allow_test_builds=allow)
    assert (why in problem) if why else problem == ""


def test_test_builds_are_refused_unless_allowed(tmp_path: Path) -> None:
    fakes = [FakeDevice(0), FakeDevice(1, flags=int(HelloFlag.TEST_BUILD))]
    with running(*fakes):
        refused = run_fleet(fakes, tmp_path / "strict", fleet={"rounds": 1})
        allowed = run_fleet(fakes, tmp_path / "allowed", fleet={"rounds": 1},
                            allow_test_builds=True)
    assert refused.rounds[0].accepted == ["fake0"]
    assert "--allow-test-builds" in refused.rounds[0].details["fake1"]
    assert allowed.rounds[0].accepted == ["fake0", "fake1"]
    assert RunReader(tmp_path / "allowed").config["allow_test_builds"] is True


def test_devices_that_cannot_release_are_refused(tmp_path: Path) -> None:
    fakes = [FakeDevice(0), FakeDevice(1, flags=int(HelloFlag.ENTROPY_FAILED)),
             FakeDevice(2, flags=int(HelloFlag.LEDGER_LOCKED))]
    with running(*fakes):
        summary = run_fleet(fakes, tmp_path, fleet={"rounds": 1}, allow_test_builds=True)
    report = summary.rounds[0]
    assert report.accepted == ["fake0"]
    assert report.outcomes["fake1"] == report.outcomes["fake2"] == Outcome.REFUSED.value
    assert "ENTROPY_FAILED" in report.details["fake1"] and "ledger" in report.details["fake2"]


def test_the_host_never_sends_a_head_it_cannot_encode(tmp_path: Path) -> None:
    """An average beyond the wire's range (here from a huge server learning rate) keeps the
    head; every round still goes out and every device still answers."""
    base = np.zeros(3, np.float32)
    up = Update(run=1, round=1, nonce=0, sample_count=1, grid_step=1.0, eps_spent=0.0,
                releases_done=1, n_classes=2, n_features=1, values=np.array([1, 0, 0]))
    kept, why = next_head(base, [up], 1e7)
    assert np.array_equal(kept, base) and "exceeds" in why
    assert head_problem(np.array([np.nan], np.float32)) != ""
    fakes = [FakeDevice(0), FakeDevice(1)]
    with running(*fakes):
        summary = run_fleet(fakes, tmp_path, fleet={"rounds": 3, "server_lr": 1e9})
    assert all(r.accepted == ["fake0", "fake1"] for r in summary.rounds)
    assert summary.rounds[0].head_kept and "exceeds" in summary.rounds[0].head_kept
    assert_record_matches(summary, tmp_path)


def test_a_run_where_every_device_refuses_reports_failure(tmp_path: Path) -> None:
    fakes = [FakeDevice(0, mode="no_samples"), FakeDevice(1, mode="no_samples")]
    with running(*fakes):
        summary = run_fleet(fakes, tmp_path, fleet={"rounds": 2, "deadline_s": 1.0})
    assert "no update was accepted in any of 2 round(s)" in summary.failure
    assert "4x device_error NO_SAMPLES" in summary.failure
    # the device counters from the last hello are in the summary
    assert [d.refusals for d in summary.devices] == [{"NO_SAMPLES": 2}] * 2
    assert summary.to_dict()["devices"][0]["refusals"] == {"NO_SAMPLES": 2}


def test_a_run_with_one_good_round_is_no_failure(tmp_path: Path) -> None:
    fakes = [FakeDevice(0, mode="silent", rounds={1}), FakeDevice(1, mode="silent", rounds={1})]
    with running(*fakes):
        summary = run_fleet(fakes, tmp_path, fleet={"rounds": 2, "deadline_s": 0.5})
    assert [len(r.accepted) for r in summary.rounds] == [0, 2] and summary.failure == ""


# --- lost frames ----------------------------------------------------------------------------

def test_a_head_the_device_dropped_is_sent_again_at_once(tmp_path: Path) -> None:
    fakes = [FakeDevice(0, mode="lose_head")]
    with running(*fakes):
        summary = run_fleet(fakes, tmp_path, fleet={"rounds": 2, "deadline_s": 5.0,
                                                    "resend_after_s": 4.0})
    assert all(r.accepted == ["fake0"] for r in summary.rounds)
    # the CRC error for round 0 triggered the resend long before the 4 s quiet interval
    assert all(r.elapsed_s < 2.0 for r in summary.rounds), [r.elapsed_s for r in summary.rounds]
    resends = [e for e in RunReader(tmp_path).events() if e["kind"] == "resend"]
    assert [e["why"] for e in resends] == ["frame lost"] * 2
    assert fakes[0].releases_done == 2


def test_a_lost_update_is_asked_for_again_at_no_new_cost(tmp_path: Path) -> None:
    fakes = [FakeDevice(0, mode="lose_update", rounds={1}), FakeDevice(1)]
    with running(*fakes):
        summary = run_fleet(fakes, tmp_path, fleet={"rounds": 2, "deadline_s": 2.0,
                                                    "resend_after_s": 0.3})
    assert [r.accepted for r in summary.rounds] == [["fake0", "fake1"]] * 2
    assert fakes[0].resends_answered == 1 and fakes[0].releases_done == 2
    privacy = {p.device: p for p in summary.privacy}
    assert privacy["fake0"].agrees and privacy["fake0"].releases_lost == 0
    assert_record_matches(summary, tmp_path)


def test_resends_are_bounded(tmp_path: Path) -> None:
    fakes = [FakeDevice(0, mode="silent")]
    with running(*fakes):
        summary = run_fleet(fakes, tmp_path, fleet={"rounds": 1, "deadline_s": 1.0,
                                                    "resends": 2, "resend_after_s": 0.1})
    assert summary.rounds[0].outcomes["fake0"] == Outcome.TIMEOUT.value
    sent = [m for m in fakes[0].received if type(m).__name__ == "GlobalModel"]
    assert len(sent) == 3 and len({(m.run, m.round, m.nonce) for m in sent}) == 1


def test_a_release_that_never_arrived_is_reported(tmp_path: Path) -> None:
    """The update is lost and resends are off: the device's counter jumps, the host says so."""
    fakes = [FakeDevice(0, mode="lose_update", rounds={1})]
    with running(*fakes):
        summary = run_fleet(fakes, tmp_path, fleet={"rounds": 2, "deadline_s": 0.5,
                                                    "resends": 0})
    assert summary.rounds[0].accepted == [] and summary.rounds[1].accepted == ["fake0"]
    assert summary.devices[0].releases_lost == 1 and summary.privacy[0].releases_lost == 1
    lost = [e for e in RunReader(tmp_path).events() if e["kind"] == "releases_lost"]
    assert [(e["count"], e["round"]) for e in lost] == [(1, 2)]


def lost_fraction(tmp_path: Path, resends: int, rounds: int = 30, rate: float = 0.01,
                  devices: int = 8) -> tuple[float, int]:
    """Fraction of device-rounds without an accepted update over links losing `rate` of the
    frames, and the frames corrupted. Reads split frames: max_chunk 20 makes 5+ frames per
    message, as on a BLE link."""
    fakes = [FakeDevice(i, n_classes=4, n_features=6, max_chunk=20) for i in range(devices)]
    with running(*fakes):
        config = fleet_config(fakes, rounds=rounds, deadline_s=0.6, resends=resends,
                              resend_after_s=0.12, chunk=20)
        aggregator = make_aggregator(config, tmp_path)
        links = []
        for i, session in enumerate(aggregator.sessions):
            session.link = LossyLink(session.link, rate, seed=i)
            links.append(session.link)
        try:
            summary = aggregator.run()
        finally:
            close_aggregator(aggregator)
    total = rounds * devices
    accepted = sum(len(r.accepted) for r in summary.rounds)
    assert_record_matches(summary, tmp_path)
    return 1.0 - accepted / total, sum(link.corrupted for link in links)


def test_one_percent_frame_loss_costs_rounds_without_resends_and_none_with(tmp_path: Path,
                                                                           capsys) -> None:
    before, hit_before = lost_fraction(tmp_path / "no-resend", resends=0)
    after, hit_after = lost_fraction(tmp_path / "resend", resends=3)
    with capsys.disabled():
        print(f"\n1% of frames corrupted: device-rounds lost {before:.3f} without resends "
              f"({hit_before} frames hit), {after:.3f} with up to 3 resends ({hit_after} hit)")
    assert hit_before > 0 and hit_after > 0
    assert before > 0.02
    assert after <= before / 5
