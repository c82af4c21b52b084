"""A recorded emulated run whose device data the audit chooses (tinyfl.demo.run_emulated with
known shards): the same firmware build, boards, aggregator and run record as the demo.

The demo gives each board a contiguous, sorted block of the training set, so the first rounds
of a small audit would see only one or two classes; here the samples are dealt round-robin
from a class-interleaved order, so every round of the fleet covers the classes evenly and the
label baselines mean what they say.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["interleaved_shards", "record_run"]


def interleaved_shards(labels: np.ndarray, n_devices: int, seed: int) -> list[np.ndarray]:
    """Sample indices per device: classes interleaved (each class shuffled with `seed`), dealt
    round-robin, so device d's r-th sample is overall sample r * n_devices + d."""
    y = np.asarray(labels)
    rng = np.random.default_rng(seed)
    per_class = [rng.permutation(np.flatnonzero(y == c)) for c in np.unique(y)]
    order = []
    for i in range(max(len(members) for members in per_class)):
        for c in rng.permutation(len(per_class)):
            if i < len(per_class[c]):
                order.append(int(per_class[c][i]))
    order_arr = np.asarray(order)
    return [order_arr[d::n_devices] for d in range(n_devices)]


def record_run(run_dir: Path, x: np.ndarray, y: np.ndarray, *, board: str, devices: int, rounds: int,
               samples_per_round: int, lr: float, local_epochs: int, batch_size: int, dp: Any,
               test_seed: int | None, defines: dict | None, seed: int, backbone: Any = None,
               n_classes: int | None = None) -> Path:
    """Build the firmware with `backbone` (a tinyfl.backbones.Backbone; the statistics one by
    default), give each board its shard, run the aggregator for `rounds` rounds and record
    everything under run_dir (frames.jsonl, config.json, rounds/, boards/shard-<i>.bin as
    tinyfl.attack.truth_from_shards reads them). n_classes: the head's (default: from `y`)."""
    from ..backbones import stats_backbone
    from ..emulate import build_firmware, launch_fleet, write_shard
    from ..firmware_config import FirmwareConfig
    from ..fleet import Aggregator, DeviceSession, DeviceSpec, FleetConfig, RoundSpec, close_sessions, initial_head
    from ..links import open_link

    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    n_steps, n_channels = x.shape[1], x.shape[2]
    backbone = backbone if backbone is not None else stats_backbone(n_channels)
    k = int(np.max(y)) + 1 if n_classes is None else n_classes
    config = FirmwareConfig(n_classes=k, n_features=backbone.n_features,
                            input_channels=n_channels, input_steps=n_steps,
                            samples_per_round=samples_per_round, dp=dp)
    # the backbone's switches (e.g. optimized kernels) do not make a test build; `defines` do
    firmware = build_firmware(board, config, model_sources=backbone.model_sources,
                              test_build=test_seed is not None or bool(defines), test_seed=test_seed,
                              defines={**backbone.defines, **(defines or {})} or None)
    shards = [write_shard(run_dir / "boards" / f"shard-{i + 1}.bin", x[idx], y[idx])
              for i, idx in enumerate(interleaved_shards(y, devices, seed))]
    fleet_config = FleetConfig(fleet=RoundSpec(rounds=rounds, lr=lr, local_epochs=local_epochs,
                                               batch_size=batch_size, init_seed=seed),
                               dp=_advertised_dp(dp, defines))
    with launch_fleet(board, devices, firmware, shards, run_dir / "boards") as fleet:
        sessions = [DeviceSession(open_link(url), f"dev{i + 1}") for i, url in enumerate(fleet.urls)]
        fleet_config = replace(fleet_config, devices=tuple(
            DeviceSpec(link=url, name=s.name) for url, s in zip(fleet.urls, sessions)))
        aggregator = Aggregator(fleet_config, sessions, run_dir,
                                initial=initial_head(config.n_classes, config.n_features, seed),
                                allow_test_builds=test_seed is not None or bool(defines))
        try:
            aggregator.run()
        finally:
            close_sessions(sessions)
    return run_dir


def _advertised_dp(dp: Any, defines: dict[str, Any] | None) -> Any:
    """The DP config the built image advertises (the fleet admits only that): a no-noise test
    image says z = 0."""
    return replace(dp, noise_multiplier=0.0) if "TINYFL_TEST_NO_NOISE" in (defines or {}) else dp
