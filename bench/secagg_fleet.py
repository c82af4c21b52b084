"""Secure aggregation at fleet scale: the same fleet of modelled devices (digits, 8x8 pixels,
a 650-parameter head) without noise, with secure aggregation and distributed noise (central
z = 1 over n_min devices), and with local noise only (z = 1 on every device): accuracy with
its interval, central and local eps per device, the attacks on what the server saw against the
strongest update-free baseline, and the audit's verdicts (tinyfl.audit.aggregate).

`python -m bench secagg_fleet` (N = 100, 80 rounds); environment: TINYFL_SECAGG_DEVICES,
TINYFL_SECAGG_ROUNDS, TINYFL_SECAGG_ATTACKS (sums attacked, one per round from the last
rounds), TINYFL_SECAGG_UPDATE_ATTACKS (single updates attacked in the other fleets, from the
last rounds), TINYFL_SECAGG_SEED (shards, initial head, graph, dropouts), TINYFL_SECAGG_PLOT (a path:
accuracy per round as a PNG, matplotlib).
"""
from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import numpy as np


def run(devices: int, rounds: int, attacks: int, plot: str | None = None, seed: int = 0,
        update_attacks: int = 200) -> list[dict]:
    from tinyfl.attack import Auxiliary
    from tinyfl.audit.aggregate import audit_record
    from tinyfl.secagg.fleet_sim import (FleetSimOptions, digits_fleet_data, paired_accuracy_difference,
                                         same_fleet, simulate_fleet)

    data = digits_fleet_data()
    aux = Auxiliary(data.x_test.astype(np.float64), data.y_test, data.x_test)
    base = FleetSimOptions(mode="none", devices=devices, rounds=rounds,
                           n_min=max(2, devices - devices // 5), seed=seed)
    rows, results = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        for mode in ("none", "secagg", "local"):
            t0 = time.perf_counter()
            result = simulate_fleet(same_fleet(base, mode), Path(tmp) / mode, data)
            sim_s = time.perf_counter() - t0
            # attack the releases of the last rounds: one sum per round, or single updates
            per_round = 1 if mode == "secagg" else max(1, min(result.cohorts))
            count = attacks if mode == "secagg" else update_attacks
            first = max(1, rounds - -(-count // per_round) + 1)
            audit = audit_record(Path(tmp) / mode, data.x_train, data.y_train, aux,
                                 select=lambda rel, first=first: rel.round >= first, limit=count)
            results[mode] = result
            rows.append({"mode": mode, "result": result, "audit": audit, "sim_s": sim_s})
    for row in rows:
        row["difference"] = paired_accuracy_difference(row["result"], results["none"])
    if plot:
        _plot(rows, plot)
    return rows


def _plot(rows: list[dict], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    for row in rows:
        ax.plot(row["result"].accuracy, label=row["mode"])
    ax.set_xlabel("round")
    ax.set_ylabel("test accuracy (450 digits)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _eps(x: float) -> str:
    return "inf" if not np.isfinite(x) else f"{x:,.1f}"


def table(rows: list[dict]) -> str:
    out = ["| fleet | accuracy (95% CI) | minus non-private (paired 95% CI) | eps central / local "
           "per device | label: attack vs strongest baseline | features: attack vs strongest "
           "baseline | audit (label, features, raw input) |", "|" + "---|" * 7]
    for row in rows:
        r, a, d = row["result"], row["audit"], row["difference"]
        ci = r.accuracy_interval()
        cells = []
        for leak in ("label", "features"):
            best = a.best(leak)
            if best is None:
                cells.append("not audited")
                continue
            score, name, base = best
            cells.append(f"{score.estimate:.3f} vs {base.estimate:.3f} ({name})")
        verdicts = ", ".join(a.verdicts.values())
        out.append(f"| {row['mode']} | {r.accuracy_after:.3f} ({ci.lo:.3f}-{ci.hi:.3f}) | "
                   f"{100 * d.estimate:+.1f} ({100 * d.lo:+.1f}, {100 * d.hi:+.1f}) points | "
                   f"{_eps(r.eps_central)} / {_eps(r.eps_local)} | {cells[0]} | {cells[1]} | "
                   f"{verdicts}: exit {a.exit_code} |")
    return "\n".join(out)


def main() -> None:
    devices = int(os.environ.get("TINYFL_SECAGG_DEVICES", "100"))
    rounds = int(os.environ.get("TINYFL_SECAGG_ROUNDS", "80"))
    attacks = int(os.environ.get("TINYFL_SECAGG_ATTACKS", "40"))
    seed = int(os.environ.get("TINYFL_SECAGG_SEED", "0"))
    updates = int(os.environ.get("TINYFL_SECAGG_UPDATE_ATTACKS", "200"))
    rows = run(devices, rounds, attacks, os.environ.get("TINYFL_SECAGG_PLOT"), seed, updates)
    r0 = rows[0]["result"].options
    print(f"N = {devices} devices, {rounds} rounds, {r0.samples_per_round} samples per device-round, "
          f"dropout {r0.dropout:.0%} per round; secagg: n_min = {rows[1]['result'].options.n_min}, "
          f"k = {r0.k}, central z = {r0.z}; local: z = {r0.z} per device; delta = {r0.delta}; "
          f"seed {r0.seed}")
    print(table(rows))
    for row in rows:
        r, a = row["result"], row["audit"]
        print(f"{row['mode']}: simulated in {row['sim_s']:.0f} s ({r.seconds}), "
              f"{a.releases} releases attacked ({a.targets} device targets) in "
              f"{a.seconds['attack']:.0f} s; cohorts {min(r.cohorts)}-{max(r.cohorts)}; "
              f"secagg sums checked {r.sums_checked}")


if __name__ == "__main__":
    main()
