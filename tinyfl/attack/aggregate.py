"""Attacks on what a secure-aggregation server sees: per round the SUM of a cohort's updates
(tinyfl.secagg.record), targeting one device in it.

The server knows the cohort size m, the head it sent and the round settings, and the noise each
device adds. To single out device d in S = u_d + sum of the others + noise, its best guess of
the others without their data is (m - 1) times the mean update, which it reads from S itself:
u_d ~ S / m. So the attack is the per-device attack of tinyfl.attack (labels, features,
`attack_update`) run on the mean update, as if it were d's, with the noise the mean carries
(sd sqrt(v / m) grid steps for a per-device variance v). One attack per sum serves every device
in the cohort; the audit scores it against each. A release of kind "update" (a fleet without
secure aggregation) is a cohort of one: exactly the per-device attack.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .threat import AttackInput, Auxiliary

__all__ = ["ReleaseAttack", "release_input", "attack_releases"]


@dataclass
class ReleaseAttack:
    """One release (an update or a sum), what the attack made of it, and the cohort it covers."""

    round: int
    kind: str
    cohort: tuple[int, ...]
    input: AttackInput
    result: Any  # tinyfl.attack.UpdateAttack


def release_input(release: Any, config: dict[str, Any], head: np.ndarray,
                  aux: Auxiliary | None = None, feature_fn: Callable | None = None) -> AttackInput:
    """The AttackInput of one release: the mean of its cohort's updates, with the noise the mean
    carries, and the sample count of one device."""
    dp, rnd = config["dp"], config["round"]
    m = len(release.cohort)
    var = dp.get("noise_var")
    per_device = var[0] / var[1] if var else 0.0
    z_mean = math.sqrt(per_device / m) / (1 << int(dp["grid_bits"]))  # sd of the mean / C
    return AttackInput(values=np.asarray(release.values, dtype=np.int64),
                       grid_step=release.grid_step / m, params=np.asarray(head, dtype=np.float32),
                       n_classes=int(config["n_classes"]), n_features=int(config["n_features"]),
                       lr=float(np.float32(rnd["lr"])), epochs=int(rnd["local_epochs"]),
                       batch=int(rnd["batch_size"]), clip=float(dp["clip"]),
                       noise_multiplier=z_mean, grid_bits=int(dp["grid_bits"]),
                       sample_count=int(rnd["samples_per_round"]),
                       device=",".join(str(c) for c in release.cohort[:4]) + ("..." if m > 4 else ""),
                       round=release.round, aux=aux, feature_fn=feature_fn)


def attack_releases(run_dir: str | Path, aux: Auxiliary, *, feature_fn: Callable | None = None,
                    select: Callable[[Any], bool] | None = None, limit: int | None = None,
                    progress: Callable[[int], None] | None = None) -> list[ReleaseAttack]:
    """Attacks every release recorded in run_dir (those `select` keeps, at most `limit`), with
    tinyfl.attack.attack_update and the auxiliary data's knowledge. Reads only the record."""
    from ..secagg.record import SumReader
    from .report import attack_update

    reader = SumReader(run_dir)
    config = reader.config
    heads: dict[int, np.ndarray] = {}
    out: list[ReleaseAttack] = []
    for release in reader.releases():
        if select is not None and not select(release):
            continue
        if limit is not None and len(out) >= limit:
            break
        if release.round not in heads:
            heads[release.round] = reader.head(release.round)
        inp = release_input(release, config, heads[release.round], aux, feature_fn)
        out.append(ReleaseAttack(release.round, release.kind, release.cohort, inp,
                                 attack_update(inp)))
        if progress is not None:
            progress(len(out))
    return out
