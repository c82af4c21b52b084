"""The `tinyfl` command: a thin face over library functions (tinyfl.demo, tinyfl.fleet, ...).

Human output goes through rich to stderr; `--format json` keeps stdout pure JSON.
"""
from __future__ import annotations

import json
import os
import math
import signal
import sys
import tempfile
import time
from enum import Enum
from pathlib import Path
from typing import Any, List, Optional

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(no_args_is_help=True, add_completion=False,
                  context_settings={"help_option_names": ["-h", "--help"]},
                  help="tinyfl: on-device TinyML learning with private updates.")
console = Console(stderr=True)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # TensorFlow, when a command needs it, stays quiet


class Format(str, Enum):
    text = "text"
    json = "json"


def _emit_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, indent=2, default=str) + "\n")


def _round_line(report: Any) -> str:
    acc = (report.evaluation or {}).get("accuracy")
    acc_text = f", accuracy {acc:.3f}" if acc is not None else ""
    left_out = {d: o for d, o in report.outcomes.items() if d not in report.accepted}
    extra = f", left out: {left_out}" if left_out else ""
    return (f"round {report.round}: {len(report.accepted)}/{len(report.outcomes)} updates"
            f"{acc_text} ({report.elapsed_s:.1f} s){extra}")


def _privacy_table(summary: Any) -> Table:
    table = Table(title="privacy spent per device (eps at delta)")
    for col in ("device", "releases", "eps (host, dp-accounting)", "eps (device)", "limit", "agrees"):
        table.add_column(col)
    for p in summary.privacy:
        eps_dev = "-" if p.eps_device is None else f"{p.eps_device:.3f}"
        releases = p.releases_before + p.releases_host
        table.add_row(p.device, str(releases), f"{p.eps_host:.3f} @ {p.delta:g}", eps_dev,
                      f"{p.eps_limit:g}", "yes" if p.agrees else f"NO {p.note}")
    return table


@app.command()
def demo(
    board: str = typer.Option("qemu", help="qemu (Cortex-M4F under QEMU) or native (Linux processes)"),
    n: int = typer.Option(4, "-n", help="number of emulated boards"),
    rounds: int = typer.Option(6, help="federated rounds"),
    backbone: str = typer.Option("cnn", help="cnn (generated int8 CNN, pretrained on the host) or stats (fixed statistics)"),
    noise_multiplier: float = typer.Option(1.0, "--noise", help="noise stddev / clip bound, compiled into the firmware"),
    clip: float = typer.Option(1.0, help="L2 clip bound of each update, compiled into the firmware"),
    eps_limit: float = typer.Option(50.0, help="privacy budget each device enforces"),
    run_dir: Optional[Path] = typer.Option(None, help="where the run is recorded (default: a new temp folder)"),
    fmt: Format = typer.Option(Format.text, "--format", help="text or json"),
) -> None:
    """Emulated fleet: build firmware, launch boards, run private federated rounds, summarize."""
    from .demo import DemoOptions, run_emulated
    from .firmware_config import DpConfig

    options = DemoOptions(board=board, n=n, rounds=rounds, backbone=backbone,
                          dp=DpConfig(clip=clip, noise_multiplier=noise_multiplier, eps_limit=eps_limit))
    started = time.monotonic()

    def say(msg: str) -> None:
        console.print(f"[bold cyan]tinyfl[/] {msg}")

    with console.status("working...") as status:
        def on_round(report: Any) -> None:
            status.update(f"round {report.round}/{rounds} done")
            console.print("  " + _round_line(report))

        result = run_emulated(options, run_dir, say=say, on_round=on_round)
    if fmt is Format.json:
        _emit_json(result.to_dict())
        return
    summary = result.summary
    console.print(_privacy_table(summary))
    console.print(
        f"[bold]accuracy[/] of the global head on {result.backbone.name} features, held-out "
        f"BasicMotions windows: {result.accuracy_before:.3f} before -> "
        f"{result.accuracy_after:.3f} after {summary.rounds_completed} rounds "
        f"({n} devices; noise stddev {options.dp.noise_multiplier:g} x clip per device update, "
        f"averaged over the devices that answered)")
    spent = max((p.eps_host for p in summary.privacy), default=0.0)
    console.print(
        f"[bold]privacy[/]: each device spent at most eps {spent:.1f} at delta "
        f"{options.dp.delta:g} (any two local datasets of a device, dp-accounting RDP), enforced "
        f"by the device against its limit of {options.dp.eps_limit:g}")
    for line in result.to_dict()["privacy_context"]:
        console.print(f"  - {line}")
    console.print(f"run recorded in {result.run_dir} ({time.monotonic() - started:.0f} s)")


@app.command()
def serve(
    link: List[str] = typer.Option([], "--link", help="a device link: /dev/ttyACM0, socket://127.0.0.1:PORT (repeat)"),
    fleet: Optional[Path] = typer.Option(None, help="a fleet config TOML (host/fleets/...)"),
    run_config: List[str] = typer.Option([], "--run-config", help='override a config key, e.g. "fleet.rounds=5"'),
    rounds: Optional[int] = typer.Option(None, help="federated rounds (overrides the config)"),
    run_dir: Path = typer.Option(Path("runs/latest"), help="run record; an existing one is resumed"),
    fmt: Format = typer.Option(Format.text, "--format"),
) -> None:
    """Run federated rounds over boards reached by serial links (real or emulated)."""
    from .fleet import (Aggregator, ConfigError, DeviceSession, DeviceSpec, FleetConfig, close_sessions,
                        load_fleet_config)
    from .links import LinkError, open_link

    try:
        config = load_fleet_config(fleet, run_config) if fleet else FleetConfig().with_overrides(run_config)
        if link:
            config = FleetConfig(fleet=config.fleet, emulate=None,
                                 devices=tuple(DeviceSpec(l, f"dev{i + 1}") for i, l in enumerate(link)))
        if rounds is not None:
            config = config.with_overrides([f"fleet.rounds={rounds}"])
    except (ConfigError, OSError) as exc:
        console.print(f"[red]fleet config: {exc}[/]")
        raise typer.Exit(2)
    progress = lambda r: console.print("  " + _round_line(r))  # noqa: E731
    if not config.devices and config.emulate is not None:
        from .demo import options_from_fleet, run_emulated

        console.print(f"launching the [emulate] fleet: {config.emulate.n} {config.emulate.board} boards")
        summary = run_emulated(options_from_fleet(config), run_dir, on_round=progress).summary
    elif not config.devices:
        raise typer.BadParameter("no devices: give --link or a --fleet with [[devices]] or [emulate]")
    else:
        try:
            sessions = [DeviceSession(open_link(d.link), d.name or f"dev{i + 1}")
                        for i, d in enumerate(config.devices)]
        except LinkError as exc:
            console.print(f"[red]cannot open a device link: {exc}[/]")
            raise typer.Exit(2)
        try:
            summary = Aggregator(config, sessions, run_dir, progress=progress).run()
        finally:
            close_sessions(sessions)
    if fmt is Format.json:
        _emit_json(summary.to_dict())
    else:
        console.print(_privacy_table(summary))
        console.print(f"run recorded in {run_dir}")


@app.command()
def emulate(
    board: str = typer.Option("qemu", help="qemu or native"),
    n: int = typer.Option(4, "-n", help="number of boards"),
    backbone: str = typer.Option("cnn", help="cnn or stats"),
    duration: float = typer.Option(0.0, help="seconds to run (0: until Ctrl-C)"),
    workdir: Optional[Path] = typer.Option(None, help="folder for shards and ledgers"),
    fmt: Format = typer.Option(Format.text, "--format"),
) -> None:
    """Start emulated boards and print their links; `tinyfl serve --link ...` can then drive them."""
    from .demo import DemoOptions, prepare, split_shards
    from .emulate import build_firmware, launch_fleet, write_shard

    options = DemoOptions(board=board, n=n, backbone=backbone)
    data, bb, config = prepare(options, lambda m: console.print(m))
    firmware = build_firmware(board, config, model_sources=bb.model_sources, defines=bb.defines or None)
    workdir = workdir or Path(tempfile.mkdtemp(prefix="tinyfl-boards-"))
    shards = [write_shard(workdir / f"shard-{i + 1}.bin", data.x_train[idx], data.y_train[idx])
              for i, idx in enumerate(split_shards(data.y_train, n, options.seed))]
    with launch_fleet(board, n, firmware, shards, workdir) as fleet:
        if fmt is Format.json:
            _emit_json({"board": board, "links": fleet.urls, "device_ids": fleet.device_ids})
        else:
            for url, dev_id in zip(fleet.urls, fleet.device_ids):
                console.print(f"device {dev_id}: {url}")
            console.print("tinyfl serve " + " ".join(f"--link {u}" for u in fleet.urls))
        sys.stdout.flush()
        stop = {"now": False}
        signal.signal(signal.SIGTERM, lambda *_: stop.update(now=True))
        deadline = time.monotonic() + duration if duration > 0 else math.inf
        try:
            while not stop["now"] and time.monotonic() < deadline:
                time.sleep(0.2)
        except KeyboardInterrupt:
            pass


@app.command()
def build(
    model: str = typer.Option("basic_motions", help="basic_motions, digits, or a .tflite backbone"),
    board: str = typer.Option("qemu", help="qemu, native, nano33ble or esp32"),
    optimized: bool = typer.Option(True, help="Cortex-M4 DSP kernels (bit-exact with the plain ones)"),
    fmt: Format = typer.Option(Format.text, "--format"),
) -> None:
    """Model figures on a board: flash, RAM, planned arena vs TFLM's, accuracy, MACs."""
    from .codegen import build_report

    with console.status(f"building {model} for {board}..."):
        report = build_report(model, board, optimized=optimized)
    if fmt is Format.json:
        _emit_json(report.to_dict())
    else:
        console.print(report.to_table())


@app.command()
def audit(
    out: Path = typer.Option(Path("audit-report"), help="folder for report.html, report.json and figures"),
    noise_multiplier: float = typer.Option(1.0, "--noise", help="the configured device's noise multiplier"),
    clip: float = typer.Option(1.0, help="the configured device's clip bound"),
    eps_limit: float = typer.Option(50.0, help="the configured device's budget"),
    board: str = typer.Option("native", help="emulated boards for the device parts: native or qemu"),
    fleet_size: int = typer.Option(100, help="fleet size the privacy/utility statement assumes"),
    backbone: Optional[str] = typer.Option(None, help="cnn (what the demo ships; default) or stats; --smoke defaults to stats"),
    smoke: bool = typer.Option(False, help="every part once, small (CI setting, well under a minute)"),
    parts: str = typer.Option(",".join(("dp", "leakage", "utility")), help="comma-separated: dp, leakage, utility"),
    variant: Optional[str] = typer.Option(None, help="DP-audit a deliberately broken test build instead (e.g. "
                                                     "constant_key, unnoised_coord): the audit must FAIL it"),
    fail_on_leak: bool = typer.Option(False, help="also exit 1 when a leak is found at the configured noise"),
    fmt: Format = typer.Option(Format.text, "--format"),
) -> None:
    """Audit the device's privacy: DP audit of the firmware mechanism, attacks at a grid of
    noise levels with a verdict per kind of leak, and the privacy/utility curve. Exits 1 when
    a verdict is FAIL (the DP audit; with --fail-on-leak also a leak at the configured noise),
    2 when the settings cannot be audited."""
    from dataclasses import replace

    from .audit import AuditConfig, render, run_audit
    from .firmware_config import DpConfig

    try:
        dp = DpConfig(clip=clip, noise_multiplier=noise_multiplier, eps_limit=eps_limit)
        chosen: dict[str, Any] = {"backbone": backbone} if backbone else {}
        chosen["parts"] = tuple(p.strip() for p in parts.split(",") if p.strip())
        config = (AuditConfig.smoke(dp=dp, board=board, fleet_size=fleet_size, **chosen) if smoke
                  else AuditConfig(dp=dp, board=board, fleet_size=fleet_size, **chosen))
        if variant is not None:
            config = replace(config, dp_audit=replace(config.dp_audit, variant=variant))
        config.validate()
    except ValueError as exc:
        typer.echo(f"tinyfl audit: {exc}", err=True)  # one line, never wrapped
        raise typer.Exit(2)
    report = run_audit(config, work_dir=out / "runs", show_progress=fmt is Format.text)
    html = render(report, out)
    summary = report.to_dict()
    failures = report.failures(leaks=fail_on_leak)
    if fmt is Format.json:
        _emit_json(summary)
    else:
        table = Table(title=f"leaks at the configured noise z = {noise_multiplier:g}")
        for col in ("leak", "verdict"):
            table.add_column(col)
        for leak, verdict in summary["verdicts"].items():
            table.add_row(leak, verdict)
        console.print(table)
        for line in summary["findings"]:
            console.print(f"- {line}")
        console.print(f"report: {html}")
    if failures:
        typer.echo("tinyfl audit: FAIL: " + "; ".join(failures), err=True)
        raise typer.Exit(1)


def _register_subcommands() -> None:
    from .attack.cli import register as register_attack

    register_attack(app)


_register_subcommands()


def main() -> None:
    app()


if __name__ == "__main__":
    main()
