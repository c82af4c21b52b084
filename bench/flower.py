"""tinyfl on Flower at fleet scale (tinyfl.flower.simulate: modelled boards behind gateways of
100, the relay and the unchanged Aggregator in one process).

1. Wall and CPU (this process, user + system) per round at 10,000 devices; round 1 includes the
   hello phase, so the steady figure is the later rounds'.
2. Accuracy on BasicMotions' 40 test windows after the rounds, at N = 10, 100, 1,000, 10,000
   devices and noise multipliers z = 0.5, 1, 2, 4 (each device clips to 1 and adds its own
   noise, so the mean's noise falls as z / N).
3. The attacks (tinyfl.attack: labels, features) on the updates of the N = 10 runs, scored
   against the devices' true samples: an attack reads one device's update, so its success
   depends on z, not on N.

`python -m bench flower [N ...]` (default 10 100 1000 10000); each row is also printed as JSON.
"""
from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

ZS = (0.5, 1.0, 2.0, 4.0)
ROUNDS = 2


def run(n: int, z: float, rounds: int = ROUNDS, attack: bool = False) -> dict:
    from tinyfl.flower.simulate import SimOptions, simulate

    with tempfile.TemporaryDirectory() as tmp:
        started = time.monotonic()
        result = simulate(SimOptions(devices=n, per_gateway=100, rounds=rounds, z=z),
                          Path(tmp) / "run")
        row = {"devices": n, "gateways": result.gateways, "z": z, "rounds": rounds,
               "accuracy_before": result.accuracy_before, "accuracy_after": result.accuracy_after,
               "eps_per_device": result.eps_device_max, "eps_agree": result.eps_agree,
               "per_round": result.rounds, "total_s": round(time.monotonic() - started, 1)}
        if attack:
            row["attack"] = _attack(result)
    return row


def _attack(result) -> dict:
    from tinyfl.attack.report import attack_run
    from tinyfl.data import load_basic_motions

    data = load_basic_motions()
    report = attack_run(result.run_dir, aux=(data.x_test, data.y_test), truth=result.truth,
                        invert=False)
    summary = report.to_dict(include_arrays=False)["summary"]
    out = {}
    for metric in ("label_accuracy", "feature_centered_cosine"):
        entry = summary.get(metric, {})
        out[metric] = {"attack": entry.get("attack"),
                       "beats": sorted(name for name, v in entry.get("verdicts", {}).items()
                                       if v.get("beats"))}
    return out


def main(sizes: tuple[int, ...] = (10, 100, 1000, 10000)) -> None:
    for n in sizes:
        for z in ZS:
            row = run(n, z, attack=(n == min(sizes) and n <= 10))
            steady = row["per_round"][1:] or row["per_round"]
            wall = sum(r["wall_s"] for r in steady) / len(steady)
            cpu = sum(r["cpu_s"] for r in steady) / len(steady)
            print(f"N={n:6d} z={z:<4g} accuracy {row['accuracy_before']:.3f} -> "
                  f"{row['accuracy_after']:.3f}, eps/device {row['eps_per_device']:.3f}, "
                  f"round {wall:.1f} s wall {cpu:.1f} s CPU (round 1 with hellos: "
                  f"{row['per_round'][0]['wall_s']:.1f} s)"
                  + (f", attack {row['attack']}" if "attack" in row else ""))
            print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main(tuple(int(a) for a in sys.argv[1:]) or (10, 100, 1000, 10000))
