"""Wiring fake devices to a real Aggregator, as the CLI wires boards."""
from __future__ import annotations

from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any, Iterator, Sequence

from tinyfl.fleet import (
    Aggregator,
    DeviceSession,
    FleetConfig,
    RunRecorder,
    close_sessions,
    parse_fleet_config,
)
from tinyfl.links import open_link

from .fake_device import FakeDevice, stand_in_epsilon


def fleet_config(fakes: Sequence[FakeDevice], dp: dict | None = None,
                 **fleet: Any) -> FleetConfig:
    """The fleet's [dp] is the fakes' default configuration unless `dp` says otherwise."""
    settings = {"rounds": 2, "lr": 0.1, "deadline_s": 2.0, "server_lr": 1.0, **fleet}
    dp = {"clip": 1.0, "noise_multiplier": 1.0, "grid_bits": 8, "delta": 1e-5,
          "eps_limit": 1000.0, **(dp or {})}
    lines = ["[fleet]"] + [f"{k} = {v!r}" for k, v in settings.items()]
    lines += ["[dp]"] + [f"{k} = {v!r}" for k, v in dp.items()]
    for fake in fakes:
        lines += ["[[devices]]", f'name = "fake{fake.index}"', f'link = "{fake.url}"']
    return parse_fleet_config("\n".join(lines).replace("'", '"'))


def make_aggregator(config: FleetConfig, run_dir: Path, **kwargs: Any) -> Aggregator:
    recorder = RunRecorder(run_dir)
    sessions = [DeviceSession(open_link(d.link), d.name, recorder) for d in config.devices]
    kwargs.setdefault("epsilon", stand_in_epsilon)
    kwargs.setdefault("hello_timeout", 3.0)
    return Aggregator(config, sessions, run_dir, **kwargs)


def close_aggregator(aggregator: Aggregator) -> None:
    close_sessions(aggregator.sessions)
    aggregator.recorder.close()


def run_fleet(fakes: Sequence[FakeDevice], run_dir: Path, *, fleet: dict | None = None,
              dp: dict | None = None, **kwargs: Any):
    config = fleet_config(fakes, dp, **(fleet or {}))
    aggregator = make_aggregator(config, run_dir, **kwargs)
    try:
        return aggregator.run()
    finally:
        close_aggregator(aggregator)


@contextmanager
def running(*fakes: FakeDevice) -> Iterator[list[FakeDevice]]:
    """Starts the fakes; stops them all at once on exit."""
    with ExitStack() as stack:
        started = [stack.enter_context(fake) for fake in fakes]
        stack.callback(lambda: [fake.signal_stop() for fake in started])
        yield started
