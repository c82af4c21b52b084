"""Accuracy versus fleet size and noise, with the attacks' success on the same runs.

Each cell (N devices, noise multiplier z) is one fleet simulation (tinyfl.flower.simulate: the
device model behind the relay and the unchanged Aggregator, recorded like a real run). The
devices enforce their budget as the firmware does: a cell asks for min(rounds, releases the
budget allows + 1) rounds, so the last asked round shows the refusals, and reports the rounds
in which updates were actually released. Per cell:

- accuracy of the final head on the whole test split, with its 95% Clopper-Pearson interval;
- eps per device from dp-accounting (the host's accounting of the recorded releases), checked
  against each modelled device's own ledger;
- the attacks (tinyfl.attack.attack_run) on the recorded updates of a sample of devices (the
  first `attack_devices` in device order, rounds 1..`attack_rounds`), scored against every
  update-free baseline, the verdict as the attack report states it: a leak only when the attack
  beats every fair baseline, the strongest included.

The audit's privacy/utility curve (tinyfl.audit.utility, `tinyfl audit --simulate N`) calls
`run_cell` too, so its points are these runs.
"""
from __future__ import annotations

import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

__all__ = ["TableSpec", "run_cell", "run_table", "rounds_to_ask", "format_table"]

ATTACK_METRICS = ("label_accuracy", "feature_centered_cosine")


@dataclass(frozen=True)
class TableSpec:
    sizes: tuple[int, ...] = (10, 100, 1000, 10000)
    zs: tuple[float, ...] = (0.0, 0.5, 1.0, 2.0, 4.0)  # 0: the noise-free reference (test build)
    rounds: int = 15  # asked for; each noisy cell stops one round after its budget
    dataset: str = "digits"
    eps_limit: float = 50.0
    delta: float = 1e-5
    clip: float = 1.0
    grid_bits: int = 8
    lr: float = 0.5
    local_epochs: int = 5
    batch_size: int = 5
    samples_per_round: int = 10
    shard_size: int = 20
    per_gateway: int = 100
    attack_devices: int = 10  # attacked per cell (0: no attack)
    attack_rounds: int = 3
    seed: int = 0
    # (N, z) cells to leave out, e.g. the largest fleet at some z when the CPU budget is short
    skip: tuple[tuple[int, float], ...] = ()

    def validate(self) -> None:
        if not self.sizes or not self.zs:
            raise ValueError("give at least one fleet size and one noise level")
        if any(not (z == 0 or 0 < z <= 1000) for z in self.zs):
            raise ValueError(f"noise levels must be 0 or in (0, 1000], not {self.zs}")
        if self.rounds < 1 or self.attack_devices < 0 or self.attack_rounds < 1:
            raise ValueError("rounds and attack_rounds must be >= 1, attack_devices >= 0")

    def cells(self) -> list[tuple[int, float]]:
        skip = {(int(n), float(z)) for n, z in self.skip}
        return [(n, float(z)) for n in self.sizes for z in self.zs if (n, float(z)) not in skip]


def rounds_to_ask(z: float, spec: TableSpec) -> tuple[int, int | None]:
    """(rounds asked, releases the device budget allows; None without noise). One round past
    the budget is asked so the refusals are part of the run."""
    from ..privacy.accounting import releases_allowed

    if z == 0:
        return spec.rounds, None
    allowed = int(releases_allowed(z, spec.delta, spec.eps_limit))
    return min(spec.rounds, allowed + 1), allowed


def _accuracy(params: np.ndarray, f_test: np.ndarray, y_test: np.ndarray, k: int) -> np.ndarray:
    f = f_test.shape[1]
    logits = f_test @ params[: k * f].reshape(k, f).T + params[k * f:]
    return np.argmax(logits, axis=1) == y_test


def run_cell(n: int, z: float, spec: TableSpec, work_dir: str | Path | None = None, *,
             progress: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """One fleet of n devices at noise z: accuracy, releases, eps, cost and the attacks."""
    from ..attack.metrics import summarize
    from .simulate import SimOptions, _cached_data, simulate

    spec.validate()
    asked, allowed = rounds_to_ask(z, spec)
    options = SimOptions(devices=n, per_gateway=spec.per_gateway, rounds=asked, z=z,
                         clip=spec.clip, grid_bits=spec.grid_bits, delta=spec.delta,
                         eps_limit=spec.eps_limit, lr=spec.lr, local_epochs=spec.local_epochs,
                         batch_size=spec.batch_size, samples_per_round=spec.samples_per_round,
                         shard_size=spec.shard_size, seed=spec.seed, dataset=spec.dataset,
                         native_protect=True)
    data = _cached_data(spec.dataset)
    with tempfile.TemporaryDirectory(prefix="tinyfl-fig-", dir=work_dir) as tmp:
        started = time.monotonic()
        result = simulate(options, Path(tmp) / "run", progress=progress)
        sim_s = time.monotonic() - started
        hits = _accuracy(result.final_params, data.f_test, data.y_test, data.n_classes)
        interval = summarize(hits)
        released = [r["round"] for r in result.rounds if r["accepted"] > 0]
        # the cost of a training round: releasing rounds after the first (which has the hellos)
        steady = [r for r in result.rounds[1:] if r["accepted"] > 0] or result.rounds
        cell: dict[str, Any] = {
            "devices": n, "z": z, "gateways": result.gateways, "rounds_asked": asked,
            "releases_allowed": allowed, "rounds_released": len(released),
            "accuracy_before": result.accuracy_before,
            "accuracy": float(np.mean(hits)), "accuracy_ci": [interval.lo, interval.hi],
            "test_samples": int(len(hits)),
            "history": [r["accuracy"] for r in result.rounds],
            "eps_per_device": None if z == 0 else result.eps_host_max,
            "eps_agree": None if z == 0 else result.eps_agree,
            "round_wall_s": float(np.mean([r["wall_s"] for r in steady])),
            "round_cpu_s": float(np.mean([r["cpu_s"] for r in steady])),
            "first_round_wall_s": result.rounds[0]["wall_s"], "simulation_s": round(sim_s, 1),
            "per_round": [{k: r[k] for k in ("round", "accepted", "wall_s", "cpu_s")}
                          for r in result.rounds],
            "failure": result.failure,
            # a round nobody released in although the budget allowed it: every device refused
            # the head (the averaged noise pushed it past the crafted-head guard)
            "stalled_from": next((r["round"] for r in result.rounds if r["accepted"] == 0
                                  and (allowed is None or r["round"] <= allowed)), None),
        }
        if spec.attack_devices > 0 and released:
            t0 = time.monotonic()
            cell["attack"] = _attack(result, data, spec)
            cell["attack_s"] = round(time.monotonic() - t0, 1)
    return cell


def _attack(result: Any, data: Any, spec: TableSpec) -> dict[str, Any]:
    from ..attack.report import attack_run

    order = sorted(result.truth)[: spec.attack_devices]  # the first devices in device order
    report = attack_run(result.run_dir, aux=(data.x_test, data.y_test), truth=result.truth,
                        invert=False, devices=set(order), max_round=spec.attack_rounds)
    summary = report.to_dict(include_arrays=False)["summary"]
    out: dict[str, Any] = {"updates": len(report.updates), "devices": len(order)}
    for metric in ATTACK_METRICS:
        entry = summary.get(metric)
        if entry is None:
            continue
        strongest = entry["strongest_baseline"]
        out[metric] = {"attack": entry["attack"], "strongest_baseline": strongest,
                       "baseline": entry["baselines"][strongest] if strongest else None,
                       "leak": entry["leak"],
                       "beats": sorted(k for k, v in entry["verdicts"].items() if v["beats"])}
    return out


def run_table(spec: TableSpec, work_dir: str | Path | None = None, *,
              on_cell: Callable[[dict[str, Any]], None] | None = None,
              progress: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    spec.validate()
    cells = []
    for n, z in spec.cells():
        cell = run_cell(n, z, spec, work_dir, progress=progress)
        cells.append(cell)
        if on_cell is not None:
            on_cell(cell)
    return {"spec": asdict(spec), "cells": cells}


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def _verdict(entry: dict[str, Any] | None, fmt: Callable[[float], str]) -> str:
    if entry is None:
        return "-"
    a, b = entry["attack"], entry["baseline"]
    word = "LEAK" if entry["leak"] else "no leak"
    return f"{fmt(a['estimate'])} vs {fmt(b['estimate']) if b else '?'}: {word}"


def format_table(table: dict[str, Any]) -> list[str]:
    """Markdown rows: accuracy [95% CI] (rounds released) and the attacks beside each cell."""
    cells = table["cells"]
    zs = sorted({c["z"] for c in cells})
    sizes = sorted({c["devices"] for c in cells})
    by = {(c["devices"], c["z"]): c for c in cells}
    head = "| N | " + " | ".join(f"z = {z:g}" for z in zs) + " |"
    out = [head, "|---|" + "---|" * len(zs)]
    for n in sizes:
        row = []
        for z in zs:
            c = by.get((n, z))
            if c is None:
                row.append("not run")
                continue
            lo, hi = c["accuracy_ci"]
            stalled = f"; head refused from round {c['stalled_from']}" if c.get("stalled_from") else ""
            row.append(f"{_pct(c['accuracy'])} [{_pct(lo)}, {_pct(hi)}] ({c['rounds_released']} rounds{stalled})")
        out.append(f"| {n:,} | " + " | ".join(row) + " |")
    out.append("")
    out.append("| N | z | eps/device | label acc.: attack vs strongest baseline | features (centered cosine) |")
    out.append("|---|---|---|---|---|")
    for n in sizes:
        for z in zs:
            c = by.get((n, z))
            if c is None or "attack" not in c:
                continue
            eps = "inf" if c["eps_per_device"] is None else f"{c['eps_per_device']:.3g}"
            a = c["attack"]
            out.append(f"| {n:,} | {z:g} | {eps} | "
                       f"{_verdict(a.get('label_accuracy'), _pct)} | "
                       f"{_verdict(a.get('feature_centered_cosine'), lambda v: f'{v:.2f}')} |")
    return out


def plot_table(table: dict[str, Any], path: str | Path) -> Path:
    """Accuracy against z and against eps per device, one line per fleet size (matplotlib)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cells = table["cells"]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    for n in sorted({c["devices"] for c in cells}):
        row = sorted((c for c in cells if c["devices"] == n), key=lambda c: c["z"])
        acc = np.array([c["accuracy"] for c in row])
        err = np.array([[c["accuracy"] - c["accuracy_ci"][0], c["accuracy_ci"][1] - c["accuracy"]]
                        for c in row]).T
        ax1.errorbar([c["z"] for c in row], acc, yerr=err, marker="o", capsize=3, label=f"N = {n:,}")
        noisy = [c for c in row if c["eps_per_device"]]
        if noisy:  # points, not a line: eps is not monotone in z once the budget stops a fleet
            dots = ax2.plot([c["eps_per_device"] for c in noisy], [c["accuracy"] for c in noisy],
                            marker="o", ls="none", label=f"N = {n:,}")
            for c in noisy:
                ax2.annotate(f"z={c['z']:g}", (c["eps_per_device"], c["accuracy"]), fontsize=7,
                             xytext=(4, 2), textcoords="offset points", color=dots[0].get_color())
    ax1.set_xlabel("noise multiplier z (0: no noise)")
    ax1.set_ylabel("test accuracy (95% CI)")
    ax2.set_xscale("log")
    ax2.set_xlabel("eps per device after its releases (RDP, replace; z = 0.5: 2 releases)")
    for ax in (ax1, ax2):
        ax.grid(alpha=0.3)
        ax.legend()
    spec = table["spec"]
    fig.suptitle(f"FedAvg of simulated devices on {spec['dataset']}: at most {spec['rounds']} rounds, "
                 f"budget eps {spec['eps_limit']:g}")
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
