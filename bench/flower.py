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

The CPU budget (2 shared cores, ~20 min): N = 10,000 only at z = 0.5, 1 and 4.

`python -m bench flower` or `python -m bench.flower [--sizes 10 100] [--plot PATH] [--json PATH]`.
"""
from __future__ import annotations

import argparse
import json
import sys
import time

from tinyfl.flower.figures import TableSpec, format_table, plot_table, run_table

DEFAULT = TableSpec(skip=((10000, 0.0), (10000, 2.0)))


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


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="*", help="fleet sizes (default 10 100 1000 10000)")
    parser.add_argument("--plot", help="write the accuracy figure (PNG) here")
    parser.add_argument("--json", help="write the whole table (JSON) here")
    args = parser.parse_args()
    main(tuple(args.sizes) if args.sizes else None, args.plot, args.json)
