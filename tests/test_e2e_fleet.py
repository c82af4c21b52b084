"""End to end: emulated fleets run private federated rounds over emulated serial links.

The QEMU run is the firmware compiled for Cortex-M4F on mps2-an386, driven by the same host
stack that drives a real board. Each test checks what the host can prove from its record:
the global head equals FedAvg recomputed from the recorded frames alone, and the eps that
dp-accounting gives for the releases matches what every device says it has spent.
"""
from __future__ import annotations

import random
import time
from pathlib import Path

import numpy as np
import pytest

from tinyfl.demo import DemoOptions, prepare, run_emulated, split_shards
from tinyfl.emulate import build_firmware, launch_fleet, write_shard
from tinyfl.fleet import (Aggregator, DeviceSession, DeviceSpec, FleetConfig, Outcome, RoundSpec,
                          RunReader, initial_head, recompute_globals)
from tinyfl.links import open_link
from tinyfl.privacy.accounting import epsilon
from tinyfl.privacy.noise import effective_noise_multiplier


def _check_record_and_privacy(result, rounds: int, n: int) -> None:
    summary = result.summary
    assert summary.rounds_completed == rounds
    for report in summary.rounds:
        assert sorted(report.accepted) == sorted(f"dev{i + 1}" for i in range(n)), report.outcomes
    recomputed = recompute_globals(result.run_dir)
    assert sorted(recomputed) == list(range(1, rounds + 1))
    np.testing.assert_array_equal(recomputed[rounds], summary.final.params)
    dp = result.config.dp
    expected = epsilon(effective_noise_multiplier(dp.noise_multiplier), rounds, dp.delta)
    assert len(summary.privacy) == n
    for p in summary.privacy:
        assert p.agrees, p
        assert not p.test_build
        assert p.releases_before + p.releases_host == rounds
        assert p.eps_host == pytest.approx(expected, rel=1e-6)  # z travels as float32
        # the device ledger rounds each release up by < 2^-16 nats, then to float32 upwards
        assert expected <= p.eps_device == pytest.approx(expected, rel=1e-5)


def test_qemu_fleet_four_boards_three_rounds(qemu, tmp_path: Path) -> None:
    # the generated int8 CNN (fast Cortex-M4 kernels) runs on raw windows on every board
    result = run_emulated(DemoOptions(board="qemu", n=4, rounds=3, backbone="cnn"), tmp_path / "run")
    assert result.backbone.name == "cnn" and result.backbone.model_sources
    _check_record_and_privacy(result, rounds=3, n=4)
    hellos = RunReader(result.run_dir).hellos
    assert {int(h["model_hash"]) for hs in hellos.values() for h in hs} == {result.backbone.model_hash}
    # every update the host accepted came from a release build with its own noise
    reader = RunReader(result.run_dir)
    updates = [m.message for m in reader.messages("rx") if type(m.message).__name__ == "Update"]
    assert len(updates) == 12
    assert len({u.values.tobytes() for u in updates}) == 12


def test_rv32_fleet_three_boards_two_rounds(qemu_rv32, tmp_path: Path) -> None:
    # the same generated int8 CNN on rv32imc: plain C kernels (no ARM DSP), soft-float head
    result = run_emulated(DemoOptions(board="qemu-rv32", n=3, rounds=2, backbone="cnn"), tmp_path / "run")
    assert result.firmware.name == "tinyfl-qemu-virt-rv32.elf"
    _check_record_and_privacy(result, rounds=2, n=3)
    hellos = RunReader(result.run_dir).hellos
    assert {int(h["model_hash"]) for hs in hellos.values() for h in hs} == {result.backbone.model_hash}


def test_mixed_fleet_native_cortex_m4f_rv32(qemu, qemu_rv32, tmp_path: Path) -> None:
    """One federated run over three kinds of board, each built from the same firmware and
    config: a Linux process, a Cortex-M4F (hardware float) and an rv32imc (soft float)."""
    options = DemoOptions(board="native", n=3, rounds=2, backbone="stats", deadline_s=30.0)
    data, _, config = prepare(options, lambda _m: None)
    kinds = ["native", "qemu", "qemu-rv32"]
    shards = [write_shard(tmp_path / f"s{i}.bin", data.x_train[idx], data.y_train[idx])
              for i, idx in enumerate(split_shards(data.y_train, 3, 0))]
    fleets = []
    try:
        for i, kind in enumerate(kinds):
            fleets.append(launch_fleet(kind, 1, build_firmware(kind, config), [shards[i]],
                                       tmp_path / kind, device_ids=[i + 1]))
        urls = [f.urls[0] for f in fleets]
        sessions = [DeviceSession(open_link(url), f"dev{i + 1}") for i, url in enumerate(urls)]
        try:
            summary = _aggregator(options, config, sessions, tmp_path / "run", urls).run()
        finally:
            for s in sessions:
                s.close()
    finally:
        for f in fleets:
            f.stop()
    assert summary.rounds_completed == 2
    for report in summary.rounds:
        assert sorted(report.accepted) == ["dev1", "dev2", "dev3"], report.outcomes
    np.testing.assert_array_equal(recompute_globals(tmp_path / "run")[2], summary.final.params)
    expected = epsilon(effective_noise_multiplier(config.dp.noise_multiplier), 2, config.dp.delta)
    assert len(summary.privacy) == 3
    for p in summary.privacy:
        # the device's RDP ledger rounds up: never below dp-accounting, and within 1e-5
        assert p.agrees and expected <= p.eps_device == pytest.approx(expected, rel=1e-5), p


def test_native_fleet_same_run(tmp_path: Path) -> None:
    result = run_emulated(DemoOptions(board="native", n=4, rounds=3, backbone="stats"), tmp_path / "run")
    _check_record_and_privacy(result, rounds=3, n=4)
    assert result.accuracy_after == result.summary.evaluations[-1]["accuracy"]


class _FlakyLink:
    """Wraps a link and flips bits in both directions with a fixed probability per byte."""

    def __init__(self, inner, rate: float, seed: int) -> None:
        self.inner, self.rate, self.rng = inner, rate, random.Random(seed)
        self.flipped = 0

    @property
    def url(self) -> str:
        return self.inner.url

    def _flip(self, data: bytes) -> bytes:
        out = bytearray(data)
        for i in range(len(out)):
            if self.rng.random() < self.rate:
                out[i] ^= 1 << self.rng.randrange(8)
                self.flipped += 1
        return bytes(out)

    def write(self, data: bytes) -> None:
        self.inner.write(self._flip(data))

    def read(self, max_bytes: int, timeout: float) -> bytes:
        return self._flip(self.inner.read(max_bytes, timeout))

    def close(self) -> None:
        self.inner.close()


@pytest.fixture(scope="module")
def native_setup(tmp_path_factory):
    options = DemoOptions(board="native", n=3, rounds=3, backbone="stats", deadline_s=2.0)
    data, backbone, config = prepare(options, lambda _m: None)
    firmware = build_firmware("native", config)
    shards_dir = tmp_path_factory.mktemp("shards")
    shards = [write_shard(shards_dir / f"s{i}.bin", data.x_train[idx], data.y_train[idx])
              for i, idx in enumerate(split_shards(data.y_train, options.n, 0))]
    return options, config, firmware, shards


def _aggregator(options, config, sessions, run_dir, urls):
    fleet_config = FleetConfig(
        fleet=RoundSpec(rounds=options.rounds, lr=options.lr, local_epochs=options.local_epochs,
                        batch_size=options.batch_size, deadline_s=options.deadline_s),
        devices=tuple(DeviceSpec(link=u, name=s.name) for u, s in zip(urls, sessions)))
    return Aggregator(fleet_config, sessions, run_dir,
                      initial=initial_head(config.n_classes, config.n_features, 0))


class _CrashingLink:
    """After `arm()`, the next write delivers half its bytes, then kills the board: the device
    dies in the middle of receiving a round's head."""

    def __init__(self, inner, board) -> None:
        self.inner, self.board, self.armed = inner, board, False

    @property
    def url(self) -> str:
        return self.inner.url

    def arm(self) -> None:
        self.armed = True

    def write(self, data: bytes) -> None:
        if self.armed:
            self.armed = False
            self.inner.write(data[: len(data) // 2])
            time.sleep(0.05)
            self.board.stop()
            return
        self.inner.write(data)

    def read(self, max_bytes: int, timeout: float) -> bytes:
        return self.inner.read(max_bytes, timeout)

    def close(self) -> None:
        self.inner.close()


def test_device_crash_mid_round_is_left_out(native_setup, tmp_path: Path) -> None:
    options, config, firmware, shards = native_setup
    run_dir = tmp_path / "run"
    with launch_fleet("native", options.n, firmware, shards, tmp_path / "boards") as fleet:
        victim = fleet[1]
        crashing = _CrashingLink(open_link(fleet.urls[1]), victim)
        links = [open_link(fleet.urls[0]), crashing, open_link(fleet.urls[2])]
        sessions = [DeviceSession(link, f"dev{i + 1}") for i, link in enumerate(links)]
        aggregator = _aggregator(options, config, sessions, run_dir, fleet.urls)
        aggregator.progress = lambda report: crashing.arm() if report.round == 1 else None
        try:
            summary = aggregator.run()
        finally:
            for s in sessions:
                s.close()
    assert not victim.alive
    assert summary.rounds_completed == 3
    assert summary.rounds[0].accepted == ["dev1", "dev2", "dev3"]
    for report in summary.rounds[1:]:
        assert sorted(report.accepted) == ["dev1", "dev3"]
    assert summary.rounds[1].outcomes["dev2"] in (Outcome.LINK_DOWN.value, Outcome.TIMEOUT.value)
    # once its link is down the host stops asking it (reconnecting fails: nothing listens)
    assert summary.rounds[2].outcomes["dev2"] in (Outcome.LINK_DOWN.value, Outcome.SKIPPED.value)
    np.testing.assert_array_equal(recompute_globals(run_dir)[3], summary.final.params)


def test_bit_flipping_link_is_survived_and_counted(native_setup, tmp_path: Path) -> None:
    options, config, firmware, shards = native_setup
    run_dir = tmp_path / "run"
    with launch_fleet("native", options.n, firmware, shards, tmp_path / "boards") as fleet:
        flaky = _FlakyLink(open_link(fleet.urls[0]), rate=0.002, seed=7)
        links = [flaky] + [open_link(u) for u in fleet.urls[1:]]
        sessions = [DeviceSession(link, f"dev{i + 1}") for i, link in enumerate(links)]
        try:
            summary = _aggregator(options, config, sessions, run_dir, fleet.urls).run()
        finally:
            for s in sessions:
                s.close()
        alive = [b.alive for b in fleet]
    assert all(alive), "a corrupted link must never crash a device"
    assert flaky.flipped > 0
    assert summary.rounds_completed == 3
    for report in summary.rounds:
        assert {"dev2", "dev3"} <= set(report.accepted)
    rejected = sessions[0].decoder.rejected
    outcomes = {r.outcomes["dev1"] for r in summary.rounds}
    # either the corruption hit the frames (rejected and counted) or dev1's rounds went through
    assert sum(rejected.values()) > 0 or outcomes == {Outcome.OK.value}
    np.testing.assert_array_equal(recompute_globals(run_dir)[3], summary.final.params)


def test_the_same_boards_train_in_a_second_run(native_setup, tmp_path: Path) -> None:
    """A board orders its releases by (run, round): a new run folder starts a run above every
    board's last one, so boards that served a run take part in the next."""
    options, config, firmware, shards = native_setup
    summaries = []
    with launch_fleet("native", options.n, firmware, shards, tmp_path / "boards") as fleet:
        for name in ("first", "second"):
            sessions = [DeviceSession(open_link(u), f"dev{i + 1}") for i, u in enumerate(fleet.urls)]
            try:
                summaries.append(_aggregator(options, config, sessions, tmp_path / name,
                                             fleet.urls).run())
            finally:
                for s in sessions:
                    s.close()
    runs = [RunReader(tmp_path / name).state["run"] for name in ("first", "second")]
    assert runs[1] == runs[0] + 1
    for summary in summaries:
        assert not summary.failure
        for report in summary.rounds:
            assert sorted(report.accepted) == ["dev1", "dev2", "dev3"], report.outcomes
        assert all(p.agrees for p in summary.privacy)
    second = {p.device: p for p in summaries[1].privacy}
    assert all(p.releases_before == options.rounds and p.releases_host == options.rounds
               for p in second.values())
    for name in ("first", "second"):
        recomputed = recompute_globals(tmp_path / name)
        np.testing.assert_array_equal(recomputed[options.rounds],
                                      RunReader(tmp_path / name).result_head(options.rounds).params)
