"""The record of a simulated fleet as its server saw it: per round the head it sent and the
releases it received. A release is either one device's update (a fleet without secure
aggregation) or, under secure aggregation, the unmasked SUM over a cohort (kind "sum"), next to
the masked vectors the server also holds. Attacks (tinyfl.attack.aggregate) read only this.

Layout of a run directory:
    config.json              the fleet's settings as announced to the server (dp, round, model)
    releases.jsonl           one line per release: round, kind ("update" | "sum"), cohort (device
                             ids in the sum; one id for an update), grid_step, values (integers)
    rounds/NNNN.npz          params: the head sent in round N (float32)
    rounds/NNNN-masked.npz   ids, masked (uint32): the masked vectors of round N (secure
                             aggregation only)
    truth.npz                what each device trained on, for SCORING only (never read by an
                             attack): used[r, d, s] = training-set index of sample s of device d
                             in round r + 1

A leaf module (numpy and json only): it knows no aggregation, wire or protocol logic.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np

__all__ = ["KINDS", "Release", "SumRecorder", "SumReader"]

KINDS = ("update", "sum")
CONFIG = "config.json"
RELEASES = "releases.jsonl"
TRUTH = "truth.npz"
MAX_VALUES = 1 << 20  # bound on one release's length when reading (untrusted file)


@dataclass(frozen=True)
class Release:
    """One thing the server received: an update, or an aggregate over `cohort` devices."""

    round: int
    kind: str
    cohort: tuple[int, ...]
    grid_step: float
    values: np.ndarray  # int64

    @property
    def is_aggregate(self) -> bool:
        return self.kind == "sum"


class SumRecorder:
    def __init__(self, run_dir: str | Path) -> None:
        self.run_dir = Path(run_dir)
        (self.run_dir / "rounds").mkdir(parents=True, exist_ok=True)
        self._releases = open(self.run_dir / RELEASES, "w", encoding="utf-8")

    def save_config(self, config: dict[str, Any]) -> None:
        (self.run_dir / CONFIG).write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")

    def head(self, round_number: int, params: np.ndarray) -> None:
        np.savez(self.run_dir / "rounds" / f"{round_number:04d}.npz",
                 params=np.asarray(params, dtype=np.float32))

    def masked(self, round_number: int, masked: dict[int, np.ndarray]) -> None:
        ids = sorted(masked)
        np.savez(self.run_dir / "rounds" / f"{round_number:04d}-masked.npz",
                 ids=np.asarray(ids, dtype=np.int64),
                 masked=np.stack([np.asarray(masked[i], dtype=np.uint32) for i in ids]))

    def release(self, round_number: int, kind: str, cohort: list[int], grid_step: float,
                values: np.ndarray) -> None:
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
        line = {"round": int(round_number), "kind": kind, "cohort": [int(c) for c in cohort],
                "grid_step": float(grid_step),
                "values": np.asarray(values, dtype=np.int64).tolist()}
        self._releases.write(json.dumps(line) + "\n")

    def truth(self, used: np.ndarray, **extra: Any) -> None:
        np.savez(self.run_dir / TRUTH, used=np.asarray(used, dtype=np.int64), **extra)

    def close(self) -> None:
        self._releases.close()

    def __enter__(self) -> SumRecorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class SumReader:
    """Reads a run directory back; every line is checked (a record is untrusted input)."""

    def __init__(self, run_dir: str | Path) -> None:
        self.run_dir = Path(run_dir)
        if not (self.run_dir / RELEASES).exists():
            raise FileNotFoundError(f"{self.run_dir} holds no {RELEASES}: not a fleet-sim record")

    @property
    def config(self) -> dict[str, Any]:
        path = self.run_dir / CONFIG
        return json.loads(path.read_text()) if path.exists() else {}

    def head(self, round_number: int) -> np.ndarray:
        with np.load(self.run_dir / "rounds" / f"{round_number:04d}.npz") as data:
            return data["params"].astype(np.float32)

    def masked(self, round_number: int) -> dict[int, np.ndarray]:
        path = self.run_dir / "rounds" / f"{round_number:04d}-masked.npz"
        if not path.exists():
            return {}
        with np.load(path) as data:
            return {int(i): m.astype(np.uint32) for i, m in zip(data["ids"], data["masked"])}

    def releases(self) -> Iterator[Release]:
        with open(self.run_dir / RELEASES, encoding="utf-8") as f:
            for number, line in enumerate(f, start=1):
                if not line.endswith("\n"):
                    break  # a last line cut short
                yield _parse(line, number)

    def truth(self) -> np.ndarray:
        """used[r, d, s]: for scoring only."""
        with np.load(self.run_dir / TRUTH) as data:
            return data["used"].astype(np.int64)


def _parse(line: str, number: int) -> Release:
    where = f"{RELEASES} line {number}"
    try:
        rec = json.loads(line)
        kind, cohort, values = rec["kind"], rec["cohort"], rec["values"]
        round_number, step = int(rec["round"]), float(rec["grid_step"])
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{where}: not a release ({exc})") from None
    if kind not in KINDS:
        raise ValueError(f"{where}: kind {kind!r} is not one of {KINDS}")
    if not isinstance(cohort, list) or not cohort or not all(isinstance(c, int) for c in cohort):
        raise ValueError(f"{where}: cohort must be a non-empty list of device ids")
    if kind == "update" and len(cohort) != 1:
        raise ValueError(f"{where}: an update comes from one device, not {len(cohort)}")
    if not isinstance(values, list) or not 1 <= len(values) <= MAX_VALUES or not all(
            isinstance(v, int) and abs(v) < 1 << 62 for v in values):
        raise ValueError(f"{where}: values must be 1..{MAX_VALUES} integers")
    if not (step > 0 and np.isfinite(step)) or round_number < 1:
        raise ValueError(f"{where}: needs round >= 1 and a finite grid_step > 0")
    return Release(round_number, kind, tuple(cohort), step, np.asarray(values, dtype=np.int64))
