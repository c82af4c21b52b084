"""Shared pieces of the secure-aggregation fleet tests: one small image configuration, the
boards' ground truth (their noised inputs, from the test build's log hook), sessions, and
the device's ledger figures recomputed with the host's bit-exact ledger model."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from tinyfl.emulate import write_shard
from tinyfl.firmware_config import DpConfig, FirmwareConfig
from tinyfl.fleet.device import DeviceSession
from tinyfl.fleet.secagg_round import hello_and_policy
from tinyfl.links import open_link
from tinyfl.privacy.ledger import Ledger
from tinyfl.secagg.image import SecaggImage, build_secagg_firmware, curves
from tinyfl.wire import Hello, SecaggPolicy  # noqa: F401

CONFIG = FirmwareConfig(
    n_classes=3, n_features=8, input_channels=2, input_steps=16, samples_per_round=6, max_chunk=64,
    dp=DpConfig(clip=1.0, noise_multiplier=1.0, grid_bits=8, delta=1e-5, eps_limit=500.0),
)
TEST_SEED = 23
# 16 boards, complete graph (15 neighbours, t = 8): up to 7 = n - n_min dropouts per round
N_BOARDS = 16
POLICY = SecaggImage(n_min=9, n_max=64, k_max=16, local_multiplier=0.5)
# the boards log their noised input (test builds only) so the sum can be checked
DEFINES = {"TINYFL_TEST_SECAGG_LOG_INPUT": None}


def firmware(board: str, policy: SecaggImage = POLICY) -> Path:
    return build_secagg_firmware(board, CONFIG, policy, test_build=True, test_seed=TEST_SEED,
                                 defines=DEFINES)


def shards(folder: Path, n: int) -> list[Path]:
    rng = np.random.default_rng(42)
    out = []
    for i in range(n):
        windows = rng.normal(size=(30, CONFIG.input_steps, CONFIG.input_channels)).astype(np.float32)
        windows[:, :, 0] += (np.arange(30) % CONFIG.n_classes)[:, None]  # something to learn
        out.append(write_shard(folder / f"shard-{i}.bin", windows, np.arange(30) % CONFIG.n_classes))
    return out


def open_sessions(fleet, recorder=None) -> tuple[dict[int, DeviceSession], dict[int, Hello], dict[int, SecaggPolicy]]:
    """Sessions by device id, with each board's hello and secagg_policy (asked for)."""
    sessions, hellos, policies = {}, {}, {}
    for board in fleet:
        session = DeviceSession(open_link(board.url), f"dev{board.device_id}", recorder)
        hellos[board.device_id], policy = hello_and_policy(session)
        if policy is not None:
            policies[board.device_id] = policy
        sessions[board.device_id] = session
    return sessions, hellos, policies


_INPUT = re.compile(r"secagg_input ([0-9a-f]{8}) ([0-9a-f]{8}) ((?:[0-9a-f]{8} ?)+)")


def logged_input(board, round_number: int, n_params: int) -> np.ndarray:
    """The noised update the board masked in `round_number` (its last one), from its log."""
    values = np.zeros(n_params, dtype=np.int64)
    seen = np.zeros(n_params, dtype=bool)
    for m in _INPUT.finditer(board.log_text()):
        if int(m.group(1), 16) != round_number:
            continue
        at = int(m.group(2), 16)
        words = [int(w, 16) for w in m.group(3).split()]
        values[at:at + len(words)] = np.array(words, dtype=np.uint32).astype(np.int32)
        seen[at:at + len(words)] = True
    assert seen.all(), f"board {board.device_id}: no logged input for round {round_number}"
    return values


def expected_eps(releases: int, policy: SecaggImage = POLICY) -> tuple[float, float]:
    """(central, local) eps the device's ledger reports after `releases` secure releases."""
    central, local = curves(CONFIG, policy)
    ledgers = Ledger(), Ledger()
    for r in range(releases):
        ledgers[0].charge(central, 1, r + 1)
        ledgers[1].charge(local, 1, r + 1)
    return ledgers[0].eps(central), ledgers[1].eps(local)
