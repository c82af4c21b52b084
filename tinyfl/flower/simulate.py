"""A fleet-scale simulation: many gateways, each with many modelled boards (ModelDevice: the
Python device model, bit-exact with a test build of the firmware), run through the same relay
and the unchanged Aggregator as a deployment, in this process.

Why in-process and not Flower's Ray simulation: a Flower ClientApp lives for one message, so a
board's state (ledger, generator stream, sample cursor) would have to be rebuilt from
context.state on every call, and Ray start-up alone takes ~50 s on 2 cores; what the
simulation is for (the server's rounds, record, accounting and accuracy at N devices) is the
same code either way. The data (`dataset`): BasicMotions' 40 training windows through the
statistics backbone, its 40 test windows scoring the head; or scikit-learn's 8x8 digits split in
half (899 training, 898 test images), each image read as 8 time steps of 8 channels by the same
statistics backbone (32 features, 10 classes): the only bundled labelled set whose test split
resolves a few points of accuracy. Each device draws its shard from the training split with its
own seed (many devices share samples). z = 0 runs noise-free test builds (no budget).
"""
from __future__ import annotations

import math
import os
import time
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..firmware_config import DpConfig
from ..fleet import FleetConfig, RoundSpec, initial_head
from .gateway import GatewayBoards
from .model_device import ModelDevice
from .server import LocalGateways, run_relayed

__all__ = ["SimOptions", "SimResult", "simulate", "SimData", "sim_data", "DATASETS"]

DATASETS = ("basicmotions", "digits")


@dataclass(frozen=True)
class SimData:
    """A dataset as the simulated devices see it: raw samples (the attack's truth and auxiliary
    data, flat) and their features through the statistics backbone (what the head trains on)."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    f_train: np.ndarray
    f_test: np.ndarray
    n_classes: int


def sim_data(name: str) -> SimData:
    from ..backbones import stats_backbone

    if name == "digits":
        from ..data import load_digits

        d = load_digits(flat=True, test_fraction=0.5)
        windows = lambda x: x.reshape(len(x), 8, 8)  # 8 time steps (rows) of 8 channels
    elif name == "basicmotions":
        from ..data import load_basic_motions

        d = load_basic_motions()
        windows = lambda x: x
    else:
        raise ValueError(f"dataset must be one of {', '.join(DATASETS)}, not {name!r}")
    backbone = stats_backbone(windows(d.x_train[:1]).shape[2])
    feats = lambda x: np.asarray(backbone.features(windows(x)), dtype=np.float32)
    return SimData(name, d.x_train, np.asarray(d.y_train), d.x_test, np.asarray(d.y_test),
                   feats(d.x_train), feats(d.x_test), len(d.class_names))


@dataclass(frozen=True)
class SimOptions:
    devices: int = 1000
    per_gateway: int = 100
    rounds: int = 2
    z: float = 1.0  # the noise multiplier every device compiles in
    clip: float = 1.0
    grid_bits: int = 8
    delta: float = 1e-5
    eps_limit: float = 1000.0
    lr: float = 0.05
    local_epochs: int = 5
    batch_size: int = 5
    samples_per_round: int = 10
    shard_size: int = 20
    server_lr: float = 1.0
    seed: int = 0  # shards and the initial head
    test_seed: int = 1234  # the devices' fixed generator seed (a test build)
    deadline_s: float = 600.0
    dataset: str = "basicmotions"  # or "digits" (DATASETS)
    native_protect: bool = False  # the firmware's C clip/grid/noise via ctypes: same integers, faster

    def validate(self) -> None:
        if self.dataset not in DATASETS:
            raise ValueError(f"dataset must be one of {', '.join(DATASETS)}, not {self.dataset!r}")
        if not (self.z == 0 or 0 < self.z <= 1000):
            raise ValueError(f"z must be 0 (a noise-free test build) or in (0, 1000], not {self.z}")
        if not 1 <= self.devices <= 100_000:
            raise ValueError("devices must be in 1..100000")
        if not 1 <= self.per_gateway <= 4096:
            raise ValueError("per_gateway must be in 1..4096")
        if not 1 <= self.samples_per_round <= self.shard_size:
            raise ValueError("samples_per_round must be in 1..shard_size")


@dataclass
class SimResult:
    options: SimOptions
    gateways: int
    accuracy_before: float
    accuracy_after: float
    rounds: list[dict[str, Any]] = field(default_factory=list)  # per round: wall, cpu, accepted
    eps_device_max: float = 0.0
    eps_host_max: float = 0.0  # dp-accounting's figure for the most-spent device (inf: no noise)
    eps_agree: bool = True
    run_dir: str = ""
    failure: str = ""
    # device -> (windows, labels) of its shard in replay order: to score attacks, never sent
    truth: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict, repr=False)
    final_params: np.ndarray | None = field(default=None, repr=False)  # the last global head

    def to_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in asdict(self).items() if k not in ("truth", "final_params")}
        if not math.isfinite(out["eps_host_max"]):
            out["eps_host_max"] = "inf"  # JSON has no infinity
        return {**out, "options": asdict(self.options)}


def simulate(options: SimOptions, run_dir: str | Path, *,
             progress: Callable[[dict[str, Any]], None] | None = None) -> SimResult:
    from ..device_model import MODEL_HASH

    options.validate()
    data = _cached_data(options.dataset)
    train_f, test_f, n_classes = data.f_train, data.f_test, data.n_classes
    dp = DpConfig(clip=options.clip, noise_multiplier=options.z, grid_bits=options.grid_bits,
                  delta=options.delta, eps_limit=options.eps_limit)

    gateways: dict[str, GatewayBoards] = {}
    truth: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    n_gw = -(-options.devices // options.per_gateway)
    width = len(str(n_gw))
    for g in range(n_gw):
        boards = {}
        for i in range(g * options.per_gateway, min(options.devices, (g + 1) * options.per_gateway)):
            rng = np.random.default_rng([options.seed, i])
            idx = rng.choice(len(train_f), size=options.shard_size, replace=False)
            boards[f"d{i:05d}"] = ModelDevice(
                f"d{i:05d}", i + 1, train_f[idx], data.y_train[idx], n_classes=n_classes,
                samples_per_round=options.samples_per_round, dp=dp,
                test_seed=options.test_seed, model_hash=MODEL_HASH,
                native_protect=options.native_protect)
        name = f"gw{g:0{width}d}"
        gateways[name] = GatewayBoards(name, boards)
        for board in boards:
            i = int(board[1:])
            idx = np.random.default_rng([options.seed, i]).choice(
                len(train_f), size=options.shard_size, replace=False)
            truth[f"{name}/{board}"] = (data.x_train[idx].reshape(len(idx), -1),
                                        data.y_train[idx].astype(np.int64))

    def evaluate(params: np.ndarray) -> dict[str, Any]:
        k, f = n_classes, train_f.shape[1]
        logits = test_f @ params[: k * f].reshape(k, f).T + params[k * f:]
        return {"accuracy": float(np.mean(np.argmax(logits, axis=1) == data.y_test))}

    config = FleetConfig(fleet=RoundSpec(rounds=options.rounds, lr=options.lr,
                                         local_epochs=options.local_epochs,
                                         batch_size=options.batch_size,
                                         deadline_s=options.deadline_s,
                                         server_lr=options.server_lr, init_seed=options.seed,
                                         resends=0),
                         dp=dp)
    rounds: list[dict[str, Any]] = []
    clock = {"wall": time.monotonic(), "cpu": _cpu()}

    def on_round(report: Any) -> None:
        now, cpu = time.monotonic(), _cpu()
        row = {"round": report.round, "accepted": len(report.accepted),
               "asked": len(report.outcomes), "wall_s": round(now - clock["wall"], 3),
               "cpu_s": round(cpu - clock["cpu"], 3),
               "accuracy": (report.evaluation or {}).get("accuracy")}
        clock.update(wall=now, cpu=cpu)
        rounds.append(row)
        if progress is not None:
            progress(row)

    local = LocalGateways(gateways)
    try:
        summary = run_relayed(config, local, run_dir, window_s=0.0, hello_timeout=600.0,
                              progress=on_round, evaluate=evaluate, allow_test_builds=True,
                              initial=initial_head(n_classes, train_f.shape[1], options.seed))
    finally:
        local.close()
    accuracies = [e["accuracy"] for e in summary.evaluations]
    return SimResult(options=options, gateways=n_gw, accuracy_before=accuracies[0],
                     accuracy_after=accuracies[-1], rounds=rounds,
                     eps_device_max=max((p.eps_device or 0.0) for p in summary.privacy),
                     eps_host_max=max((p.eps_host for p in summary.privacy), default=0.0),
                     eps_agree=all(p.agrees for p in summary.privacy), run_dir=str(run_dir),
                     failure=summary.failure, truth=truth,
                     final_params=np.asarray(summary.final.params, dtype=np.float32))


@lru_cache(maxsize=2)
def _cached_data(name: str) -> SimData:
    return sim_data(name)


def _cpu() -> float:
    """CPU seconds of this process, all threads (user + system)."""
    t = os.times()
    return t.user + t.system
