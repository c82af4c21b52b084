"""Releases of real firmware images for the DP audit: emulated boards (native processes by
default, QEMU when asked) replaying the canary shards, driven round after round over their
serial links exactly as a server drives them.

A board's budget table has at most 256 entries, so a board gives at most 256 releases; fresh
boards (a new ledger and a new device id each) are started until enough trials are in.
"""
from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from ..firmware_config import DpConfig, FirmwareConfig
from .canary import Canary

__all__ = ["BoardReleases", "Replays", "audit_firmware", "collect_board_releases", "collect_replays"]

AUDIT_EPS_LIMIT = 1e9  # the audit firmware may release as often as its budget table allows
ROUND_TIMEOUT_S = {"native": 5.0, "qemu": 30.0}


@dataclass
class BoardReleases:
    """Pairs (reference release, canary release) per trial and world: (trials, 2, n) int64."""

    world_in: np.ndarray
    world_out: np.ndarray
    boards_started: int
    test_build: bool  # the hello's flag bit 0 (a test build: never private in production)
    seconds: float


def audit_firmware(board: str, canary: Canary, *, n_channels: int, n_steps: int, noise_multiplier: float,
                   delta: float, defines: dict | None = None, test_seed: int | None = None) -> tuple[Path, FirmwareConfig]:
    """The image under audit: the device's runtime and mechanism with one sample per round and
    a budget that never runs out within a board's table."""
    from ..emulate import build_firmware

    config = FirmwareConfig(
        n_classes=canary.n_classes, n_features=canary.n_features, input_channels=n_channels,
        input_steps=n_steps, samples_per_round=1,
        dp=DpConfig(clip=canary.clip, noise_multiplier=noise_multiplier, grid_bits=canary.grid_bits,
                    delta=delta, eps_limit=AUDIT_EPS_LIMIT))
    test_build = bool(defines) or test_seed is not None
    firmware = build_firmware(board, config, test_build=test_build, test_seed=test_seed,
                              defines=dict(defines) if defines else None)
    return firmware, config


def _releases(session, canary: Canary, count: int, timeout: float, *, run: int = 1) -> list[np.ndarray]:
    """Up to `count` rounds of the canary head over one session (fewer once the budget is spent)."""
    from ..fleet import Outcome

    values: list[np.ndarray] = []
    for r in range(1, count + 1):
        result = session.run_round(canary.head, canary.n_classes, canary.n_features, r, r,
                                   canary.lr, 1, 1, time.monotonic() + timeout, run=run)
        if result.outcome is Outcome.BUDGET_EXHAUSTED:
            break
        if result.outcome is not Outcome.OK or result.update is None:
            raise RuntimeError(f"audit board {session.name}, run {run} round {r}: {result.outcome.value} "
                               f"({result.detail})")
        values.append(np.asarray(result.update.values, dtype=np.int64))
    return values


def _run_board(board: str, firmware: Path, shard: Path, workdir: Path, device_id: int, canary: Canary,
               releases_max: int, timeout: float, sessions: list) -> tuple[np.ndarray, bool]:
    from ..emulate import launch_fleet
    from ..fleet import DeviceSession
    from ..links import open_link

    with launch_fleet(board, 1, firmware, [shard], workdir, device_ids=[device_id]) as fleet:
        session = DeviceSession(open_link(fleet.urls[0]), f"audit-{device_id}")
        sessions.append(session)  # closed together at the end: pyserial pauses on each close
        hello = session.hello(timeout)
        test_build = bool(int(hello.flags) & 1)
        values = _releases(session, canary, releases_max, timeout)
    usable = len(values) - len(values) % 2
    return np.array(values[:usable]).reshape(usable // 2, 2, -1), test_build


@dataclass
class Replays:
    """The same data and head replayed: (releases, n) int64 each. `first_boot` and `second_boot`
    are one board before and after a reboot (same ledger, the shard replayed from its start);
    `other_board` is a second board (another device id) with the same shard."""

    first_boot: np.ndarray
    second_boot: np.ndarray
    other_board: np.ndarray
    seconds: float


def collect_replays(board: str, firmware: Path, canary: Canary, releases: int, *,
                    workdir: Path | None = None, first_device_id: int = 9000) -> Replays:
    """A board's first `releases` releases, again after a reboot, and a second board's: a
    correct device draws fresh noise from its entropy at every boot and on every board."""
    from ..emulate import launch_fleet, resolve_board, write_shard
    from ..fleet import DeviceSession, close_sessions
    from ..links import open_link

    started = time.monotonic()
    kind = "native" if resolve_board(board) == "native" else "qemu"
    timeout = ROUND_TIMEOUT_S[kind]
    own_tmp = tempfile.TemporaryDirectory(prefix="tinyfl-audit-replay-") if workdir is None else None
    root = Path(own_tmp.name) if own_tmp else Path(workdir)
    sessions: list = []
    try:
        windows, labels = canary.shard(True)
        shard = write_shard(root / "shard-replay.bin", windows, labels)
        with launch_fleet(kind, 2, firmware, [shard, shard], root / "replay",
                          device_ids=[first_device_id, first_device_id + 1]) as fleet:
            first = DeviceSession(open_link(fleet.urls[0]), f"audit-{first_device_id}")
            sessions.append(first)
            first_boot = _releases(first, canary, releases, timeout)
            sessions.remove(first)
            first.close()
            fleet[0].restart()  # same ledger and shard: the board starts over with the same data
            again = DeviceSession(open_link(fleet[0].url), f"audit-{first_device_id}-rebooted")
            sessions.append(again)
            # a new run: the ledger refuses every round of the first one
            second_boot = _releases(again, canary, releases, timeout, run=2)
            other = DeviceSession(open_link(fleet.urls[1]), f"audit-{first_device_id + 1}")
            sessions.append(other)
            other_board = _releases(other, canary, releases, timeout)
    finally:
        close_sessions(sessions)
        if own_tmp is not None:
            own_tmp.cleanup()
    count = min(len(first_boot), len(second_boot), len(other_board))
    if count < 2:
        raise RuntimeError("the audit boards gave fewer than two releases to replay")
    return Replays(np.array(first_boot[:count]), np.array(second_boot[:count]), np.array(other_board[:count]),
                   time.monotonic() - started)


def collect_board_releases(board: str, firmware: Path, config: FirmwareConfig, canary: Canary, trials: int, *,
                           workdir: Path | None = None, first_device_id: int = 1000,
                           progress: Callable[[int], None] | None = None) -> BoardReleases:
    """At least `trials` (reference, canary) release pairs per world, from fresh boards."""
    from ..emulate import resolve_board, write_shard
    from ..fleet import close_sessions

    started = time.monotonic()
    kind = "native" if resolve_board(board) == "native" else "qemu"
    releases_max = len(config.eps_table()) - 1
    if releases_max < 2:
        raise ValueError("the audit firmware's budget allows fewer than two releases")
    own_tmp = tempfile.TemporaryDirectory(prefix="tinyfl-audit-") if workdir is None else None
    root = Path(own_tmp.name) if own_tmp else Path(workdir)
    sessions: list = []
    try:
        shards = {}
        for world in (True, False):
            windows, labels = canary.shard(world)
            shards[world] = write_shard(root / f"shard-{'in' if world else 'out'}.bin", windows, labels)
        got: dict[bool, list[np.ndarray]] = {True: [], False: []}
        device_id, boards, test_build = first_device_id, 0, False
        while min(sum(len(a) for a in got[w]) for w in got) < trials:
            for world in (True, False):
                missing = trials - sum(len(a) for a in got[world])
                if missing <= 0:
                    continue
                releases = min(releases_max - releases_max % 2, 2 * missing)
                pairs, flag = _run_board(kind, firmware, shards[world], root / f"b{device_id}", device_id,
                                         canary, releases, ROUND_TIMEOUT_S[kind], sessions)
                test_build |= flag
                got[world].append(pairs)
                device_id += 1
                boards += 1
            if progress is not None:
                progress(min(sum(len(a) for a in got[w]) for w in got))
        world_in = np.concatenate(got[True])[:trials]
        world_out = np.concatenate(got[False])[:trials]
    finally:
        close_sessions(sessions)
        if own_tmp is not None:
            own_tmp.cleanup()
    return BoardReleases(world_in, world_out, boards, test_build, time.monotonic() - started)
