"""tinyfl on Flower at fleet scale: accuracy versus fleet size N and noise z, with the attacks'
success on the same runs (tinyfl.flower.figures).

Every cell is one simulation (modelled boards behind gateways of 100, the relay and the
unchanged Aggregator in one process, each device protecting its update with the firmware's own
C through ctypes, keyed with its test seed): 8x8 digits read by the statistics backbone, 899
training and 898 test images, 10 samples per device and round, at most ROUNDS rounds, each
device stopping at its budget (eps_limit 50, delta 1e-5). Printed per cell as it finishes (one
JSON line), then the table in Markdown:

1. accuracy of the final head on all 898 test images [95% Clopper-Pearson] and the rounds in
   which updates were released;
2. eps per device (dp-accounting of the recorded releases; the devices' ledgers agree);
3. the attacks on the first 10 devices' updates of rounds 1-3 (300 samples), label accuracy
   and feature centered cosine against the strongest update-free baseline, LEAK when the
   attack beats every fair baseline;
4. wall and CPU (this process, user + system) per round; round 1 includes the hellos.

Every cell runs by default (the 10,000-device cells take 4-6 min each with the relay on the
event loop); `--sizes` picks fewer fleet sizes.

`python -m bench flower` or `python -m bench.flower [--sizes 10 100] [--plot PATH] [--json PATH]`.

`python -m bench.flower --scale 1000 10000 [--z 1] [--rounds 3]`: the host's cost alone, one
simulation per N (same cell settings, no attack) in a child process of its own, so that its peak
resident set (the child's own getrusage) is that simulation's only: per round wall and CPU, and
the peak RSS.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

from tinyfl.flower.figures import TableSpec, format_table, plot_table, run_table

DEFAULT = TableSpec()


def main(sizes: tuple[int, ...] | None = None, plot: str | None = None,
         out_json: str | None = None) -> dict:
    spec = DEFAULT if sizes is None else TableSpec(sizes=sizes, skip=DEFAULT.skip)
    started = time.monotonic()

    def on_cell(cell: dict) -> None:
        a = cell.get("attack", {})
        label = a.get("label_accuracy", {})
        print(f"N={cell['devices']:6d} z={cell['z']:<4g} accuracy {cell['accuracy']:.3f} "
              f"[{cell['accuracy_ci'][0]:.3f}, {cell['accuracy_ci'][1]:.3f}] after "
              f"{cell['rounds_released']} released round(s) of {cell['rounds_asked']} asked; "
              f"round {cell['round_wall_s']:.2f} s wall, {cell['round_cpu_s']:.2f} s CPU; "
              f"label attack {label.get('attack', {}).get('estimate', float('nan')):.3f} "
              f"({'LEAK' if label.get('leak') else 'no leak'})", flush=True)
        print(json.dumps(cell), flush=True)

    def progress(row: dict) -> None:
        if row["asked"] >= 1000:
            print(f"  round {row['round']}: {row['accepted']}/{row['asked']} accepted, "
                  f"{row['wall_s']:.1f} s wall, {row['cpu_s']:.1f} s CPU", file=sys.stderr, flush=True)

    table = run_table(spec, on_cell=on_cell, progress=progress)
    table["seconds"] = round(time.monotonic() - started, 1)
    print("\n".join(format_table(table)))
    print(f"(bench total {table['seconds']:.0f} s)")
    if out_json:
        with open(out_json, "w") as f:
            json.dump(table, f, indent=1)
    if plot:
        print(f"plot: {plot_table(table, plot)}")
    return table


def scale_one(devices: int, z: float, rounds: int) -> dict:
    """One simulation at `devices` (the table's cell settings, digits, gateways of 100)."""
    from tinyfl.flower.simulate import SimOptions, simulate

    spec = DEFAULT
    options = SimOptions(devices=devices, per_gateway=spec.per_gateway, rounds=rounds, z=z,
                         clip=spec.clip, grid_bits=spec.grid_bits, delta=spec.delta,
                         eps_limit=spec.eps_limit, lr=spec.lr, local_epochs=spec.local_epochs,
                         batch_size=spec.batch_size, samples_per_round=spec.samples_per_round,
                         shard_size=spec.shard_size, seed=spec.seed, dataset=spec.dataset,
                         native_protect=True)
    threads = _ThreadPeak()
    with tempfile.TemporaryDirectory(prefix="tinyfl-scale-") as tmp:
        started = time.monotonic()
        try:
            result = simulate(options, os.path.join(tmp, "run"))
        finally:
            threads.stop()
        total = time.monotonic() - started
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kB on Linux
    return {"devices": devices, "z": z, "rounds": result.rounds, "total_s": round(total, 1),
            "failure": result.failure, "peak_threads": threads.peak,
            "peak_rss_mb": round(peak_kb / 1024)}


class _ThreadPeak:
    """The most threads alive at once in this process (sampled every 20 ms; itself included)."""

    def __init__(self) -> None:
        import threading

        self.peak, self._stop = 0, threading.Event()
        self._thread = threading.Thread(target=self._sample, args=(threading,), daemon=True)
        self._thread.start()

    def _sample(self, threading) -> None:  # noqa: ANN001
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, threading.active_count())

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def scale(sizes: tuple[int, ...], z: float, rounds: int) -> list[dict]:
    """scale_one per size, each in a child process: its peak RSS is its own."""
    rows = []
    for n in sizes:
        proc = subprocess.run([sys.executable, "-m", "bench.flower", "--scale-one", str(n),
                               "--z", str(z), "--rounds", str(rounds)],
                              capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"N={n}: {proc.stderr.strip().splitlines()[-1:]}")
        row = json.loads(proc.stdout.strip().splitlines()[-1])
        later = row["rounds"][1:] or row["rounds"]  # round 1 includes the hellos
        row["round_wall_s"] = round(sum(r["wall_s"] for r in later) / len(later), 2)
        row["round_cpu_s"] = round(sum(r["cpu_s"] for r in later) / len(later), 2)
        each = [(r["wall_s"], r["cpu_s"]) for r in row["rounds"]]
        print(f"N={n:6d} z={z:g}: round (after the first) {row['round_wall_s']:.2f} s wall, "
              f"{row['round_cpu_s']:.2f} s CPU; rounds (wall, CPU) {each}; "
              f"peak RSS {row['peak_rss_mb']} MB; peak threads {row['peak_threads']}",
              flush=True)
        print(json.dumps(row), flush=True)
        rows.append(row)
    return rows


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="*", help="fleet sizes (default 10 100 1000 10000)")
    parser.add_argument("--plot", help="write the accuracy figure (PNG) here")
    parser.add_argument("--json", help="write the whole table (JSON) here")
    parser.add_argument("--scale", type=int, nargs="*",
                        help="the host's per-round cost and peak RSS at these fleet sizes")
    parser.add_argument("--scale-one", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--z", type=float, default=1.0, help="noise multiplier for --scale")
    parser.add_argument("--rounds", type=int, default=3, help="rounds for --scale")
    args = parser.parse_args()
    if args.scale_one:
        print(json.dumps(scale_one(args.scale_one, args.z, args.rounds)))
        sys.exit(0)
    if args.scale:
        scale(tuple(args.scale), args.z, args.rounds)
        sys.exit(0)
    main(tuple(args.sizes) if args.sizes else None, args.plot, args.json)
