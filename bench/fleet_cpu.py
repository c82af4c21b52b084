"""Host CPU per device-round: 32 native boards, the real aggregator, the real wire.

CPU is this process's user+system time between the end of round 1 and the end of the last
round (setup and building excluded), divided by devices x rounds.
"""
from __future__ import annotations

import resource
import tempfile
import time

from tinyfl.demo import DemoOptions, run_emulated


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def measure(n: int = 32, rounds: int = 4) -> dict[str, float]:
    marks: list[tuple[float, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        result = run_emulated(DemoOptions(board="native", n=n, rounds=rounds, backbone="stats"), tmp,
                              on_round=lambda _r: marks.append((_cpu(), time.monotonic())))
    (cpu0, wall0), (cpu1, wall1) = marks[0], marks[-1]
    device_rounds = n * (rounds - 1)
    accepted = sum(len(r.accepted) for r in result.summary.rounds)
    return {"devices": n, "rounds": rounds, "accepted": accepted,
            "cpu_ms_per_device_round": (cpu1 - cpu0) * 1e3 / device_rounds,
            "wall_s_per_round": (wall1 - wall0) / (rounds - 1)}


def main() -> None:
    m = measure()
    print(f"host, {m['devices']} native boards x {m['rounds']} rounds ({m['accepted']} updates accepted):")
    print(f"  host CPU per device-round  {m['cpu_ms_per_device_round']:.2f} ms")
    print(f"  wall time per round        {m['wall_s_per_round']:.3f} s")


if __name__ == "__main__":
    main()
