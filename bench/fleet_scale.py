"""Host cost at fleet scale: host CPU per device-round and wall time per round at 32, 256 and
1,000 devices, and the hello phase.

The devices are fake boards (tests/fakes: the wire protocol over TCP on 127.0.0.1, updates
computed instantly) served by one loop in a child process (tests/fakes/fake_fleet.py), so the
host's figures are its own: this process's user+system CPU between the end of round 1 and the
end of the last round, divided by devices x rounds. The fakes' CPU over the whole run is
reported apart. Hello phase: the first hello exchange (every device asked and answered);
start-up: from the start of Aggregator.run() to the start of round 1 (the hellos, the config,
the initial head and checkpoint written and fsynced); end of run: from the end of the last
round to Aggregator.run() returning (the closing hellos, the privacy summary read back from the
record, the summary written), wall and CPU, and of it privacy_from_record alone. Head: 4 classes
x 24 features, as the demo's statistics backbone. Deadline 60 s: a round ends when every device
has answered.

`python bench/fleet_scale.py [N ...] [--profile]`: --profile prints the host's cProfile top
entries for the rounds after the first (the exchange runs in this thread).
"""
from __future__ import annotations

import cProfile
import io
import json
import pstats
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tinyfl.paths import REPO_ROOT

CHILD = """
import json, resource, sys
sys.path.insert(0, sys.argv[2])
from fakes.fake_device import FakeDevice
from fakes.fake_fleet import FakeFleet
fakes = [FakeDevice(i, n_classes=4, n_features=24, eps_limit=1000.0, boot_delay_s=0.0)
         for i in range(int(sys.argv[1]))]
fleet = FakeFleet(fakes).start()
print(json.dumps([f.url for f in fakes]), flush=True)
sys.stdin.readline()  # until the parent says it is done
fleet.stop()
usage = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"cpu_s": usage.ru_utime + usage.ru_stime}), flush=True)
"""


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def measure(n: int, rounds: int = 4, profile: bool = False) -> dict[str, float]:
    from tinyfl.fleet import (Aggregator, DeviceSession, RunRecorder, close_sessions,
                              parse_fleet_config)
    from tinyfl.fleet import aggregator as aggregator_module
    from tinyfl.links import open_link

    child = subprocess.Popen([sys.executable, "-c", CHILD, str(n), str(REPO_ROOT / "tests")],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    profiler = cProfile.Profile() if profile else None
    try:
        urls = json.loads(child.stdout.readline())
        lines = ["[fleet]", f"rounds = {rounds}", "deadline_s = 60.0", "[dp]",
                 "eps_limit = 1000.0"]
        for i, url in enumerate(urls):
            lines += ["[[devices]]", f'name = "d{i}"', f'link = "{url}"']
        config = parse_fleet_config("\n".join(lines))
        with tempfile.TemporaryDirectory() as tmp:
            recorder = RunRecorder(Path(tmp) / "run")
            sessions = [DeviceSession(open_link(d.link), d.name, recorder)
                        for d in config.devices]
            marks: list[tuple[float, float]] = []
            round_walls: list[float] = []

            def progress(report) -> None:
                marks.append((_cpu(), time.monotonic()))
                round_walls.append(report.elapsed_s)
                if profiler is not None and len(marks) == 1:
                    profiler.enable()
                elif profiler is not None and len(marks) == rounds:
                    profiler.disable()

            aggregator = Aggregator(config, sessions, Path(tmp) / "run", hello_timeout=60.0,
                                    epsilon=lambda z, k, d: float(k), progress=progress)
            hello_phases: list[float] = []
            ask_all = aggregator._hello_all

            def timed_hellos(*args, **kwargs):
                begun = time.monotonic()
                try:
                    return ask_all(*args, **kwargs)
                finally:
                    hello_phases.append(time.monotonic() - begun)

            aggregator._hello_all = timed_hellos  # type: ignore[method-assign]
            privacy_s: list[float] = []
            read_privacy = aggregator_module.privacy_from_record

            def timed_privacy(*args, **kwargs):
                begun = time.monotonic()
                try:
                    return read_privacy(*args, **kwargs)
                finally:
                    privacy_s.append(time.monotonic() - begun)

            aggregator_module.privacy_from_record = timed_privacy
            started = time.monotonic()
            try:
                summary = aggregator.run()
                ended = (_cpu(), time.monotonic())
            finally:
                aggregator_module.privacy_from_record = read_privacy
                if profiler is not None:
                    profiler.disable()
                close_sessions(sessions)
                recorder.close()
    finally:
        child.stdin.write("done\n")
        child.stdin.close()
        fakes_cpu = json.loads(child.stdout.readline() or "{}").get("cpu_s", float("nan"))
        child.wait(30)
    (cpu0, wall0), (cpu1, wall1) = marks[0], marks[-1]
    accepted = sum(len(r.accepted) for r in summary.rounds)
    out = {"devices": n, "rounds": rounds, "accepted": accepted,
           "hello_phase_s": hello_phases[0],
           "startup_s": marks[0][1] - started - round_walls[0],
           "cpu_ms_per_device_round": (cpu1 - cpu0) * 1e3 / (n * (rounds - 1)),
           "wall_s_per_round": (wall1 - wall0) / (rounds - 1),
           "end_of_run_s": ended[1] - wall1, "end_of_run_cpu_s": ended[0] - cpu1,
           "privacy_from_record_s": privacy_s[0],
           "fakes_cpu_ms_per_device_round": fakes_cpu * 1e3 / (n * rounds)}
    if profiler is not None:
        text = io.StringIO()
        pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(18)
        out["profile"] = text.getvalue()
    return out


def main(sizes: tuple[int, ...] = (32, 256, 1000), profile: bool = False) -> None:
    for n in sizes:
        m = measure(n, profile=profile)
        print(f"{m['devices']:5d} fake devices x {m['rounds']} rounds ({m['accepted']} updates): "
              f"host CPU {m['cpu_ms_per_device_round']:.3f} ms per device-round, "
              f"{m['wall_s_per_round']:.3f} s per round, hello phase {m['hello_phase_s']:.2f} s "
              f"(all of start-up {m['startup_s']:.2f} s), end of run {m['end_of_run_s']:.2f} s "
              f"({m['end_of_run_cpu_s']:.2f} s CPU; privacy_from_record "
              f"{m['privacy_from_record_s']:.2f} s) "
              f"(fakes' CPU, apart: {m['fakes_cpu_ms_per_device_round']:.3f} ms per "
              "device-round incl. hellos)")
        if profile:
            print(m["profile"])


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if a != "--profile"]
    main(tuple(int(a) for a in args) or (32, 256, 1000), profile="--profile" in sys.argv)
