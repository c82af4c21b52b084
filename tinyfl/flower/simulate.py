"""A fleet-scale simulation: many gateways, each with many modelled boards (ModelDevice: the
Python device model, bit-exact with a test build of the firmware), run through the same relay
and the unchanged Aggregator as a deployment, in this process.

Why in-process and not Flower's Ray simulation: a Flower ClientApp lives for one message, so a
board's state (ledger, generator stream, sample cursor) would have to be rebuilt from
context.state on every call, and Ray start-up alone takes ~50 s on 2 cores; what the
simulation is for (the server's rounds, record, accounting and accuracy at N devices) is the
same code either way. The data: BasicMotions' 40 training windows through the stats backbone;
each device draws its shard from them with its own seed (many devices share windows), the
40 test windows score the head.
"""
from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..firmware_config import DpConfig
from ..fleet import FleetConfig, RoundSpec, initial_head
from .gateway import GatewayBoards
from .model_device import ModelDevice
from .server import LocalGateways, run_relayed

__all__ = ["SimOptions", "SimResult", "simulate"]


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

    def validate(self) -> None:
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
    eps_agree: bool = True
    run_dir: str = ""
    failure: str = ""
    # device -> (windows, labels) of its shard in replay order: to score attacks, never sent
    truth: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict, repr=False)

    def to_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in asdict(self).items() if k != "truth"}
        return {**out, "options": asdict(self.options)}


def simulate(options: SimOptions, run_dir: str | Path, *,
             progress: Callable[[dict[str, Any]], None] | None = None) -> SimResult:
    from ..backbones import stats_backbone
    from ..data import load_basic_motions
    from ..device_model import MODEL_HASH

    options.validate()
    data = load_basic_motions()
    backbone = stats_backbone(data.x_train.shape[2])
    train_f = np.asarray(backbone.features(data.x_train), dtype=np.float32)
    test_f = np.asarray(backbone.features(data.x_test), dtype=np.float32)
    n_classes = len(data.class_names)
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
                test_seed=options.test_seed, model_hash=MODEL_HASH)
        name = f"gw{g:0{width}d}"
        gateways[name] = GatewayBoards(name, boards)
        for board in boards:
            i = int(board[1:])
            idx = np.random.default_rng([options.seed, i]).choice(
                len(train_f), size=options.shard_size, replace=False)
            truth[f"{name}/{board}"] = (data.x_train[idx], data.y_train[idx].astype(np.int64))

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
                     eps_agree=all(p.agrees for p in summary.privacy), run_dir=str(run_dir),
                     failure=summary.failure, truth=truth)


def _cpu() -> float:
    """CPU seconds of this process, all threads (user + system)."""
    t = os.times()
    return t.user + t.system
