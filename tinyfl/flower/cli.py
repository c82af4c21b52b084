"""`tinyfl flower serve|gateway|simulate`: tinyfl over Flower from the project's fleet TOML.

Register on the main typer app with `register(app)` (tinyfl/cli.py).
"""
from __future__ import annotations

import json
import math
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import List, Optional

import typer
from rich.console import Console
from rich.markup import escape

__all__ = ["flower_app", "register"]

console = Console(stderr=True)
flower_app = typer.Typer(no_args_is_help=True, add_completion=False,
                         context_settings={"help_option_names": ["-h", "--help"]},
                         help="tinyfl on Flower: gateways (SuperNodes) relay their boards to "
                              "one aggregator (ServerApp); fleet-scale simulation.")


def _fail(message: str, code: int) -> None:
    # the message may quote a user's input ("[[devices]]", a path with brackets): never markup
    console.print(f"[red]{escape(message)}[/]", soft_wrap=True, markup=True, highlight=False)
    raise typer.Exit(code)


def _port(address: str) -> int:
    host, _, port = address.rpartition(":")
    if host not in ("127.0.0.1", "localhost") or not port.isdigit():
        raise typer.BadParameter(f"{address!r}: give 127.0.0.1:PORT (loopback only)")
    return int(port)


@flower_app.command()
def gateway(
    fleet: Path = typer.Option(..., help="a fleet TOML whose [[devices]] are this gateway's boards"),
    name: str = typer.Option(..., help="this gateway's name (unique in the fleet)"),
    superlink: str = typer.Option("127.0.0.1:9092", help="the SuperLink's address"),
    run_config: List[str] = typer.Option([], "--run-config", help='override a config key, e.g. "devices=[...]"'),
    duration: float = typer.Option(0.0, help="seconds to run (0: until Ctrl-C)"),
    workdir: Optional[Path] = typer.Option(None, help="folder for the SuperNode's log"),
    record: Optional[Path] = typer.Option(None, help="append every byte relayed to this JSON-lines file (what the gateway sees)"),
    fmt: str = typer.Option("text", "--format", help="text or json"),
) -> None:
    """Owns this gateway's boards and runs a Flower SuperNode that relays them."""
    from ..fleet import ConfigError, load_fleet_config
    from ..links import LinkError, open_link
    from .deploy import Deployment, FlowerError
    from .exchange import ExchangeError, parse_describe
    from .gateway import BoardServer, ByteRecord, GatewayBoards

    _port(superlink)
    try:
        config = load_fleet_config(fleet, run_config)
    except (ConfigError, OSError) as exc:
        _fail(f"fleet config: {exc}", 2)
    if not config.devices:
        _fail("gateway: the fleet config lists no [[devices]] for this gateway", 2)
    names = [d.name or f"dev{i + 1}" for i, d in enumerate(config.devices)]
    try:
        parse_describe({"gateway": name, "boards": ",".join(names)})
        links = {n: open_link(d.link) for n, d in zip(names, config.devices)}
    except (ExchangeError, LinkError) as exc:
        _fail(f"gateway: {exc}", 2)
    try:
        on_bytes = ByteRecord(record) if record is not None else None
    except OSError as exc:
        _fail(f"gateway: --record: {exc}", 2)
    server = BoardServer(GatewayBoards(name, links, on_bytes=on_bytes)).start()
    deployment = Deployment(workdir or Path(tempfile.mkdtemp(prefix="tinyfl-gateway-")),
                            port=_port(superlink))
    try:
        deployment.start_gateway(server, superlink)
        info = {"gateway": name, "boards": names, "local": server.address,
                "superlink": superlink, "log": str(deployment.workdir)}
        if fmt == "json":
            sys.stdout.write(json.dumps(info) + "\n")
            sys.stdout.flush()
        else:
            console.print(f"gateway {name}: {len(names)} boards ({', '.join(names)}), "
                          f"SuperNode connected to {superlink}; logs in {deployment.workdir}")
        stop = {"now": False}
        signal.signal(signal.SIGTERM, lambda *_: stop.update(now=True))
        until = time.monotonic() + duration if duration > 0 else math.inf
        try:
            while not stop["now"] and time.monotonic() < until:
                time.sleep(0.2)
        except KeyboardInterrupt:
            pass
    except FlowerError as exc:
        _fail(f"gateway: {exc}", 1)
    finally:
        deployment.close()
        if on_bytes is not None:
            on_bytes.close()


@flower_app.command()
def serve(
    fleet: Optional[Path] = typer.Option(None, help="a fleet TOML: its [fleet] and [dp] (the boards come from the gateways)"),
    gateways: int = typer.Option(1, help="gateways (SuperNodes) to wait for"),
    run_config: List[str] = typer.Option([], "--run-config", help='override a config key, e.g. "fleet.rounds=5" or "secagg.step_timeout_s=45"'),
    superlink: str = typer.Option("127.0.0.1:9092", help="the SuperLink's address"),
    start_superlink: bool = typer.Option(False, help="start a SuperLink on --superlink first"),
    run_dir: Path = typer.Option(Path("runs/flower"), help="run record (a new folder, or one to --resume)"),
    resume: bool = typer.Option(False, help="resume the run in --run-dir"),
    allow_test_builds: bool = typer.Option(False, help="admit boards running test builds (not private)"),
    window_s: float = typer.Option(1.0, help="how long a gateway listens to its boards per exchange"),
    wait_s: float = typer.Option(120.0, help="how long to wait for the gateways to connect"),
    timeout: float = typer.Option(3600.0, help="give up on the run after this many seconds"),
    fmt: str = typer.Option("text", "--format", help="text or json (stdout is pure JSON)"),
) -> None:
    """Runs federated rounds over the boards of every gateway (flwr run of host/flower)."""
    from ..fleet import ConfigError, FleetConfig, load_fleet_config
    from .deploy import Deployment, FlowerError

    from ..fleet.record import holds_run

    exists = holds_run(run_dir)
    if exists and not resume:
        _fail(f"{run_dir} already holds a run: pass --resume to continue it, or choose another --run-dir", 2)
    from .server import with_secagg

    # secagg.KEY=VALUE: set here, the fleet loader's overrides cover [fleet], [dp], [emulate]
    secagg = [o.strip().removeprefix("secagg.") for o in run_config if o.strip().startswith("secagg.")]
    others = [o for o in run_config if not o.strip().startswith("secagg.")]
    try:
        config = load_fleet_config(fleet, others) if fleet else FleetConfig().with_overrides(others)
        config = with_secagg(config, ";".join(secagg))
    except (ConfigError, OSError) as exc:
        _fail(f"fleet config: {exc}", 2)
    run_dir.mkdir(parents=True, exist_ok=True)
    overrides = [f"fleet.{k}={v!r}" for k, v in config.to_dict()["fleet"].items()]
    overrides += [f"dp.{k}={v!r}" for k, v in config.to_dict()["dp"].items()]
    from .server import secagg_run_config

    settings = {"overrides": ";".join(overrides), "secagg": secagg_run_config(config),
                "run-dir": str(run_dir.resolve()),
                "resume": resume, "gateways": gateways, "wait-s": wait_s, "window-s": window_s,
                "allow-test-builds": allow_test_builds}

    def show(line: str) -> None:
        if line.startswith('{"round"'):
            row = json.loads(line)
            console.print(f"  round {row['round']}: {row['accepted']}/{row['asked']} updates "
                          f"({row['elapsed_s']:.1f} s)")

    deployment = Deployment(Path(tempfile.mkdtemp(prefix="tinyfl-flower-")), port=_port(superlink))
    try:
        if start_superlink:
            deployment.start_superlink()
        console.print(f"flwr run host/flower on {superlink}, waiting for {gateways} gateway(s)")
        deployment.run(settings, timeout=timeout, stream_to=show)
    except FlowerError as exc:
        _fail(f"flower serve: {exc}", 1)
    finally:
        deployment.close()
    summary_path = run_dir / "summary.json"
    if not summary_path.exists():
        _fail(f"flower serve: the ServerApp wrote no {summary_path}", 1)
    summary = json.loads(summary_path.read_text())
    if fmt == "json":
        sys.stdout.write(json.dumps(summary, indent=2) + "\n")
    else:
        for p in summary["privacy"]:
            console.print(f"  {p['device']}: eps {p['eps_host']} (device {p['eps_device']}), "
                          f"{'agrees' if p['agrees'] else 'DISAGREES: ' + p['note']}")
        console.print(f"run recorded in {run_dir}", markup=False)
    if summary["failure"]:
        _fail(f"run failed: {summary['failure']}", 1)


@flower_app.command()
def simulate(
    devices: int = typer.Option(1000, help="simulated boards (the Python device model)"),
    per_gateway: int = typer.Option(100, help="boards per simulated gateway"),
    rounds: int = typer.Option(2),
    z: float = typer.Option(1.0, help="noise multiplier every device compiles in"),
    eps_limit: float = typer.Option(1000.0, help="each device's budget"),
    seed: int = typer.Option(0, help="shards and initial head"),
    run_dir: Optional[Path] = typer.Option(None, help="run record (default: a temporary folder)"),
    fmt: str = typer.Option("text", "--format", help="text or json (stdout is pure JSON)"),
) -> None:
    """Simulates a fleet of modelled boards behind gateways, in this process."""
    from .simulate import SimOptions, simulate as run

    options = SimOptions(devices=devices, per_gateway=per_gateway, rounds=rounds, z=z,
                         eps_limit=eps_limit, seed=seed)
    try:
        options.validate()
    except ValueError as exc:
        _fail(f"simulate: {exc}", 2)
    run_dir = run_dir or Path(tempfile.mkdtemp(prefix="tinyfl-sim-")) / "run"
    from ..fleet.record import holds_run

    if holds_run(run_dir):
        _fail(f"{run_dir} already holds a run: choose another --run-dir", 2)
    result = run(options, run_dir, progress=lambda row: console.print(
        f"  round {row['round']}: {row['accepted']}/{row['asked']} updates, accuracy "
        f"{row['accuracy']:.3f} ({row['wall_s']:.1f} s wall, {row['cpu_s']:.1f} s CPU)"))
    if fmt == "json":
        sys.stdout.write(json.dumps(result.to_dict(), indent=2) + "\n")
    else:
        console.print(f"{devices} devices on {result.gateways} gateways: accuracy "
                      f"{result.accuracy_before:.3f} -> {result.accuracy_after:.3f}, max eps "
                      f"{result.eps_device_max:.3f}, host and devices "
                      f"{'agree' if result.eps_agree else 'DISAGREE'}; run in {run_dir}")
    if result.failure:
        _fail(f"run failed: {result.failure}", 1)


def register(app: typer.Typer) -> None:
    app.add_typer(flower_app, name="flower")
