"""Host cost at fleet scale: host CPU per device-round and wall time per round at 32, 256 and
1,000 devices, and the hello phase.

The devices are fake boards (tests/fakes: the wire protocol over TCP on 127.0.0.1, updates
computed instantly) in a child process, so the figures are the host's alone: this process's
user+system CPU between the end of round 1 and the end of the last round, divided by devices x
rounds. Head: 4 classes x 24 features, as the demo's statistics backbone.
"""
from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tinyfl.paths import REPO_ROOT

CHILD = """
import json, sys, threading
sys.path.insert(0, sys.argv[2])
from fakes.fake_device import FakeDevice
fakes = [FakeDevice(i, n_classes=4, n_features=24, eps_limit=1000.0, boot_delay_s=0.0).start()
         for i in range(int(sys.argv[1]))]
print(json.dumps([f.url for f in fakes]), flush=True)
sys.stdin.read()  # until the parent closes it
for f in fakes:
    f.signal_stop()
"""


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def measure(n: int, rounds: int = 4) -> dict[str, float]:
    from tinyfl.fleet import Aggregator, DeviceSession, RunRecorder, close_sessions, parse_fleet_config
    from tinyfl.links import open_link

    child = subprocess.Popen([sys.executable, "-c", CHILD, str(n), str(REPO_ROOT / "tests")],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        urls = json.loads(child.stdout.readline())
        lines = ["[fleet]", f"rounds = {rounds}", "deadline_s = 60.0", "[dp]", "eps_limit = 1000.0"]
        for i, url in enumerate(urls):
            lines += ["[[devices]]", f'name = "d{i}"', f'link = "{url}"']
        config = parse_fleet_config("\n".join(lines))
        with tempfile.TemporaryDirectory() as tmp:
            recorder = RunRecorder(Path(tmp) / "run")
            sessions = [DeviceSession(open_link(d.link), d.name, recorder) for d in config.devices]
            marks: list[tuple[float, float]] = []
            started = (_cpu(), time.monotonic())
            aggregator = Aggregator(config, sessions, Path(tmp) / "run", hello_timeout=60.0,
                                    epsilon=lambda z, k, d: float(k),
                                    progress=lambda _r: marks.append((_cpu(), time.monotonic())))
            try:
                summary = aggregator.run()
            finally:
                close_sessions(sessions)
                recorder.close()
    finally:
        child.stdin.close()
        child.wait(30)
    (cpu0, wall0), (cpu1, wall1) = marks[0], marks[-1]
    accepted = sum(len(r.accepted) for r in summary.rounds)
    return {"devices": n, "rounds": rounds, "accepted": accepted,
            "hello_and_round1_s": marks[0][1] - started[1],
            "cpu_ms_per_device_round": (cpu1 - cpu0) * 1e3 / (n * (rounds - 1)),
            "wall_s_per_round": (wall1 - wall0) / (rounds - 1)}


def main(sizes: tuple[int, ...] = (32, 256, 1000)) -> None:
    for n in sizes:
        m = measure(n)
        print(f"{m['devices']:5d} fake devices x {m['rounds']} rounds ({m['accepted']} updates): "
              f"host CPU {m['cpu_ms_per_device_round']:.2f} ms per device-round, "
              f"{m['wall_s_per_round']:.3f} s per round, hellos + round 1 {m['hello_and_round1_s']:.2f} s")


if __name__ == "__main__":
    main(tuple(int(a) for a in sys.argv[1:]) or (32, 256, 1000))
