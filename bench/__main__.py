"""Run the benchmarks and print their figures: `python -m bench [NAME ...]` (names in ALL)."""
from __future__ import annotations

import importlib
import sys

ALL = (  # one a line: branches add theirs without colliding
    "wire",
    "train_step",
    "sampler",
    "fleet_cpu",
    "fleet_loss",
    "fleet_scale",
    "kernels",
    "kernels_models",
    "attacks",
    "audit",
    "secagg",
    "secagg_fleet",
    "rv32",
    "ble",
    "flower",
)


def main(names: list[str]) -> None:
    for name in names or ALL:
        try:
            module = importlib.import_module(f"bench.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"bench.{name}":
                print(f"(no benchmark named {name})")
                continue
            raise
        print(f"== {name}")
        module.main()
        print()


if __name__ == "__main__":
    main(sys.argv[1:])
