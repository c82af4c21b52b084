"""The server's side of a fleet spread over gateways: the unchanged tinyfl Aggregator over
DeviceSessions whose links are relayed through gateways (tinyfl.flower.relay).

`Gateways` is what the server needs from the fabric: the boards of every gateway (describe)
and one batched exchange. `LocalGateways` calls GatewayBoards in this process (tests, the
simulation); `GridGateways` (tinyfl.flower.apps) sends Flower messages to SuperNodes.
The run record, checkpoint and resume, deadlines, typed outcomes and per-device accounting are
the Aggregator's own: a relayed run is read back by the same RunReader and recompute_globals.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Mapping, Protocol

import numpy as np

from ..fleet import Aggregator, DeviceSession, DeviceSpec, FleetConfig, RunSummary, close_sessions
from ..fleet.record import Head
from .exchange import BoardReply, ExchangeError, Request, encode_request, parse_describe
from .gateway import GatewayBoards
from .relay import RelayHub, checked_reply

__all__ = ["Gateways", "LocalGateways", "config_from_run_config", "every_gateway", "run_relayed",
           "secagg_run_config", "with_secagg"]

DEVICE_SEPARATOR = "/"  # device names are "<gateway>/<board>"


class Gateways(Protocol):
    def describe(self) -> dict[str, list[str]]:
        """gateway -> its boards (checked with exchange.parse_describe)."""
        ...

    def exchange(self, requests: Mapping[str, Request]) -> Mapping[str, BoardReply | str]:
        """One request per gateway; each reply checked, or a one-line reason there is none."""
        ...


class LocalGateways:
    """Gateways in this process, called in parallel (what the SuperNodes would do)."""

    def __init__(self, gateways: Mapping[str, GatewayBoards]) -> None:
        self.gateways = dict(gateways)
        self._pool = ThreadPoolExecutor(max_workers=max(1, min(32, len(self.gateways))),
                                        thread_name_prefix="tinyfl-local-gw")

    def describe(self) -> dict[str, list[str]]:
        out = {}
        for gateway in self.gateways.values():
            name, boards = parse_describe(gateway.describe())
            out[name] = boards
        return out

    def exchange(self, requests: Mapping[str, Request]) -> dict[str, BoardReply | str]:
        def one(name: str) -> BoardReply | str:
            gateway = self.gateways.get(name)
            if gateway is None:
                return "unknown gateway"
            raw = gateway.handle(encode_request(requests[name]))
            if "error" in raw:
                return f"gateway error: {raw['error']}"
            return checked_reply(raw, set(gateway.links))

        names = list(requests)
        return dict(zip(names, self._pool.map(one, names)))

    def close(self) -> None:
        self._pool.shutdown(wait=False)


def secagg_run_config(config: FleetConfig) -> str:
    """The ServerApp's "secagg" run-config value for config: its [secagg] as ';'-separated
    key=value (numbers only: Flower's run config is flat and split at spaces), "" for none."""
    if config.secagg is None:
        return ""
    return ";".join(f"{k}={v!r}" for k, v in sorted(config.to_dict()["secagg"].items()))


def _secagg_section(text: str) -> dict[str, Any]:
    import tomllib

    from ..fleet import ConfigError

    section: dict[str, Any] = {}
    for item in (i for i in text.split(";") if i.strip()):
        key, sep, value = item.partition("=")
        try:
            section[key.strip()] = tomllib.loads(f"v = {value.strip()}")["v"] if sep else None
        except tomllib.TOMLDecodeError:
            section[key.strip()] = None
        if not sep or not isinstance(section[key.strip()], (int, float)):
            raise ConfigError(f"run config secagg: {item.strip()[:60]!r} is not key=number")
    return section


def config_from_run_config(run_config: Mapping[str, Any]) -> FleetConfig:
    """The fleet configuration of a ServerApp run: "fleet" (a TOML path, "" for the defaults),
    "overrides" (';'-separated section.key=value) and "secagg" (secagg_run_config's text: the
    run has secure rounds). Raises ConfigError (one line) or OSError."""
    from ..fleet import load_fleet_config

    fleet_path = str(run_config.get("fleet", ""))
    overrides = [o for o in str(run_config.get("overrides", "")).split(";") if o.strip()]
    config = (load_fleet_config(Path(fleet_path), overrides) if fleet_path
              else FleetConfig().with_overrides(overrides))
    return with_secagg(config, str(run_config.get("secagg", "")))


def with_secagg(config: FleetConfig, text: str) -> FleetConfig:
    """config with its [secagg] section set or updated from "key=number;..." ("" changes
    nothing); validated. Raises ConfigError (one line)."""
    from ..fleet.config import fleet_config_from_dict

    if not text:
        return config
    raw = config.to_dict()
    raw["secagg"] = {**raw.get("secagg", {}), **_secagg_section(text)}
    return fleet_config_from_dict(raw)


def _record_event(aggregator: Aggregator, kind: str, detail: dict[str, Any]) -> None:
    try:
        aggregator.recorder.event(kind, **detail)
    except ValueError:
        pass  # the run has ended and its record is closed


def every_gateway(exchange: Callable[[Mapping[str, Request]], Mapping[str, BoardReply | str]],
                  names: list[str], window_s: float):
    """A transport that asks every gateway at each exchange, with nothing to write if need be.

    A secure round's step waits for every device at once while polling each session briefly in
    turn: when answers come after the window, the hub sees one waiting board at a time and
    would ask that board's gateway alone, the others in later exchanges."""

    def transport(requests: Mapping[str, Request]) -> Mapping[str, BoardReply | str]:
        full = dict(requests)
        for name in names:
            full.setdefault(name, Request(window_s=window_s))
        return exchange(full)

    return transport


def run_relayed(config: FleetConfig, gateways: Gateways, run_dir: str | Path, *,
                window_s: float = 1.0, hello_timeout: float = 30.0,
                recheck_timeout: float | None = None,
                progress: Callable[[Any], None] | None = None,
                evaluate: Callable[[np.ndarray], dict[str, Any]] | None = None,
                initial: Head | None = None, allow_test_builds: bool = False,
                epsilon: Callable[[float, int, float], float] | None = None) -> RunSummary:
    """Runs config.fleet.rounds rounds over every board of every gateway, recorded in run_dir.

    hello_timeout: the first hellos; recheck_timeout (default hello_timeout): later hellos,
    which over Flower take a few exchanges too. Devices are named "<gateway>/<board>" and ordered by (gateway, board) as listed, which is
    the order updates are summed in (the recorded device order). A config with [secagg] plays
    secure rounds (tinyfl.fleet.secagg_round), every exchange asking all gateways."""
    boards = gateways.describe()
    if not boards:
        raise ExchangeError("no gateway described any board")
    hub_events: list[tuple[str, dict[str, Any]]] = []
    transport = gateways.exchange
    if config.secagg is not None:
        transport = every_gateway(gateways.exchange, sorted(boards), window_s)
    hub = RelayHub(transport, window_s=window_s,
                   on_event=lambda kind, **d: hub_events.append((kind, d)))
    sessions: list[DeviceSession] = []
    try:
        for gateway in sorted(boards):
            for board in boards[gateway]:
                link = hub.link(gateway, board)
                sessions.append(DeviceSession(
                    link, f"{gateway}{DEVICE_SEPARATOR}{board}",
                    reopen=lambda g=gateway, b=board: hub.link(g, b)))
        config = FleetConfig(fleet=config.fleet, dp=config.dp, emulate=None, secagg=config.secagg,
                             devices=tuple(DeviceSpec(link=s.url, name=s.name) for s in sessions))
        aggregator = Aggregator(config, sessions, run_dir, evaluate=evaluate,
                                progress=progress, initial=initial, hello_timeout=hello_timeout,
                                allow_test_builds=allow_test_builds, epsilon=epsilon,
                                recheck_timeout=(hello_timeout if recheck_timeout is None
                                                 else recheck_timeout))
        # gateways that gave no usable reply go into the run's events, like link failures
        hub.on_event = lambda kind, **d: _record_event(aggregator, kind, d)
        for kind, detail in hub_events:
            aggregator.recorder.event(kind, **detail)
        return aggregator.run()
    finally:
        close_sessions(sessions)
        hub.close()
