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

import numpy as np
import typer
from rich.console import Console
from rich.markup import escape
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
    # secure-aggregation devices have two guarantees: local (any server: the budget's) and
    # central (an honest-but-curious server, given n_min honest survivors per round)
    secure = any(getattr(p, "secure", False) for p in summary.privacy)
    table = Table(title="privacy spent per device (eps at delta)"
                  + ("; secure aggregation: local eps holds against any server, central eps given "
                     "n_min honest survivors per round" if secure else ""))
    eps_cols = (("local eps (host, dp-accounting)", "local eps (device)", "central eps (host)",
                 "central eps (device)", "n_min") if secure else ("eps (host, dp-accounting)", "eps (device)"))
    for col in ("device", "releases", "lost", *eps_cols, "limit", "agrees"):
        table.add_column(col)
    for p in summary.privacy:
        eps_dev = "-" if p.eps_device is None else f"{p.eps_device:.3f}"
        releases = p.releases_before + p.releases_host
        central = ()
        if secure:
            central = tuple("-" if v is None else f"{v:.3f}"
                            for v in (p.eps_central_host, p.eps_central_device)) + (
                "-" if p.n_min is None else str(p.n_min),)
        table.add_row(p.device, str(releases), str(p.releases_lost), f"{p.eps_host:.3f} @ {p.delta:g}",
                      eps_dev, *central, f"{p.eps_limit:g}", "yes" if p.agrees else f"NO {p.note}")
    return table


def _central_line(summary: Any) -> str:
    """One sentence on the two guarantees of secure-aggregation devices ("" without any)."""
    secure = [p for p in summary.privacy if getattr(p, "secure", False) and p.eps_central_host is not None]
    if not secure:
        return ""
    central = max(p.eps_central_host for p in secure)
    local = max(p.eps_host for p in secure)
    n_min = min(p.n_min for p in secure)
    return (f"[bold]secure aggregation[/]: central eps at most {central:.1f} (a server that follows the "
            f"protocol, given at least n_min = {n_min} honest survivors per round); local eps at most "
            f"{local:.1f} (any server, even one that fills the cohort with its own devices)")


def _devices_table(summary: Any) -> Table:
    table = Table(title="devices: admitted by the host, and what each refused since boot")
    for col in ("device", "admitted", "refusals (device counters)"):
        table.add_column(col)
    for d in summary.devices:
        refusals = ", ".join(f"{k} {v}" for k, v in sorted(d.refusals.items())) or "-"
        table.add_row(d.device, "yes" if not d.refused else f"NO: {d.refused}", refusals)
    return table


def _fail(message: str, code: int) -> None:
    # the message may quote a user's input ("[[devices]]", a path with brackets): never markup
    console.print(f"[red]{escape(message)}[/]", soft_wrap=True, markup=True, highlight=False)
    raise typer.Exit(code)


def _finish(summary: Any) -> None:
    """A run that did not do what was asked exits 1 with its reason on one line."""
    if summary.failure:
        _fail(f"run failed: {summary.failure}", 1)


@app.command()
def demo(
    board: Optional[str] = typer.Option(None, help="qemu (Cortex-M4F under QEMU), qemu-rv32 (RISC-V) or native (Linux processes); default qemu or the project's"),
    n: Optional[int] = typer.Option(None, "-n", help="number of emulated boards (default 4, or the project's)"),
    rounds: Optional[int] = typer.Option(None, help="federated rounds (default 6, or the project's)"),
    backbone: str = typer.Option("cnn", help="cnn (generated int8 CNN, pretrained on the host) or stats (fixed statistics); without --project"),
    noise_multiplier: Optional[float] = typer.Option(None, "--noise", help="noise stddev / clip bound, compiled into the firmware (default 1)"),
    clip: Optional[float] = typer.Option(None, help="L2 clip bound of each update, compiled into the firmware (default 1)"),
    eps_limit: Optional[float] = typer.Option(None, help="privacy budget each device enforces (default 50)"),
    project: Optional[Path] = typer.Option(None, "--project", help="a project (tinyfl.toml or its folder): its model, data, DP and fleet"),
    sets: List[str] = typer.Option([], "--set", help='override a project key, e.g. "dp.noise_multiplier=2"'),
    run_dir: Optional[Path] = typer.Option(None, help="where the run is recorded (default: a new folder in the project's runs, else a temp folder)"),
    resume: bool = typer.Option(False, help="resume the run already in --run-dir"),
    allow_test_builds: bool = typer.Option(False, help="admit boards running test builds (not private)"),
    fmt: Format = typer.Option(Format.text, "--format", help="text or json"),
) -> None:
    """Emulated fleet: build firmware, launch boards, run private federated rounds, summarize."""
    from .demo import DemoOptions, RunExists, prepare, run_emulated
    from .firmware_config import DpConfig
    from .fleet import ConfigError
    from .fleet.config import validate_dp

    chosen = _load_project(project, sets)
    base = chosen.dp if chosen is not None else DpConfig()
    dp = DpConfig(clip=base.clip if clip is None else clip,
                  noise_multiplier=base.noise_multiplier if noise_multiplier is None else noise_multiplier,
                  grid_bits=base.grid_bits, delta=base.delta,
                  eps_limit=base.eps_limit if eps_limit is None else eps_limit)
    try:
        validate_dp(dp)
    except ConfigError as exc:
        _fail(f"demo: {exc}", 2)
    extra = dict(resume=resume, allow_test_builds=allow_test_builds or None)
    if chosen is not None:
        from .project import check_budget, demo_options

        options = demo_options(chosen, board=board, n=n, rounds=rounds, dp=dp, **extra)
        check_budget(options.dp)
        if run_dir is None:
            run_dir = chosen.runs_dir / time.strftime("%Y%m%d-%H%M%S")
    else:
        options = DemoOptions(board=board or "qemu", n=4 if n is None else n,
                              rounds=6 if rounds is None else rounds, backbone=backbone, dp=dp, **extra)
    _check_emulated(options.board, options.n, None if chosen is not None else backbone)
    from .project import check_budget

    check_budget(options.dp)  # a budget that allows no release: one line, before any build
    started = time.monotonic()

    def say(msg: str) -> None:
        console.print(f"[bold cyan]tinyfl[/] {escape(str(msg))}")

    with console.status("working...") as status:
        def on_round(report: Any) -> None:
            status.update(f"round {report.round}/{options.rounds} done")
            console.print("  " + _round_line(report))

        if chosen is not None:
            from .project import advise

            data, bb, config = prepare(options, say)
            estimate = advise(chosen, data, bb, config, devices=options.n, rounds=options.rounds,
                              lr=options.lr, local_epochs=options.local_epochs,
                              batch_size=options.batch_size)
            console.print(("[yellow]warning[/]: " if estimate.harmful else "") + estimate.message(),
                          soft_wrap=True)
        try:
            result = run_emulated(options, run_dir, say=say, on_round=on_round)
        except (RunExists, ValueError) as exc:
            _fail(f"demo: {exc}", 2)
    if fmt is Format.json:
        _emit_json(result.to_dict())
        _finish(result.summary)
        return
    summary = result.summary
    data_name = chosen.name if chosen is not None else "BasicMotions"
    console.print(_devices_table(summary))
    console.print(_privacy_table(summary))
    if _central_line(summary):
        console.print(_central_line(summary))
    console.print(
        f"[bold]accuracy[/] of the global head on {result.backbone.name} features, held-out "
        f"{data_name} windows: {result.accuracy_before:.3f} before -> "
        f"{result.accuracy_after:.3f} after {summary.rounds_completed} rounds "
        f"({options.n} devices; noise stddev {options.dp.noise_multiplier:g} x clip per device update, "
        f"averaged over the devices that answered)")
    spent = max((p.eps_host for p in summary.privacy), default=0.0)
    console.print(
        f"[bold]privacy[/]: each device spent at most eps {spent:.1f} at delta "
        f"{options.dp.delta:g} (any two local datasets of a device, dp-accounting RDP), enforced "
        f"by the device against its limit of {options.dp.eps_limit:g}")
    for line in result.to_dict()["privacy_context"]:
        console.print(f"  - {line}")
    console.print(f"run recorded in {result.run_dir} ({time.monotonic() - started:.0f} s)", markup=False)
    _finish(summary)


@app.command()
def serve(
    link: List[str] = typer.Option([], "--link", help="a device link: /dev/ttyACM0, socket://127.0.0.1:PORT (repeat)"),
    fleet: Optional[Path] = typer.Option(None, help="a fleet config TOML (host/fleets/...)"),
    run_config: List[str] = typer.Option([], "--run-config", help='override a config key, e.g. "fleet.rounds=5"'),
    rounds: Optional[int] = typer.Option(None, help="federated rounds (overrides the config)"),
    run_dir: Path = typer.Option(Path("runs/latest"), help="run record (a new folder, or one to --resume)"),
    resume: bool = typer.Option(False, help="resume the run in --run-dir (same run id, next round)"),
    allow_test_builds: bool = typer.Option(False, help="admit boards running test builds (not private)"),
    project: Optional[Path] = typer.Option(None, "--project", help="a project: its fleet, DP config, pretrained head and held-out data"),
    sets: List[str] = typer.Option([], "--set", help='override a project key, e.g. "fleet.rounds=5"'),
    fmt: Format = typer.Option(Format.text, "--format"),
) -> None:
    """Run federated rounds over boards reached by serial links (real or emulated)."""
    from .fleet import (Aggregator, ConfigError, DeviceSession, DeviceSpec, FleetConfig, Head, SessionError,
                        close_sessions, load_fleet_config)
    from .links import LinkError, open_link

    chosen = _load_project(project, sets)
    if chosen is not None and fleet is not None:
        _fail("serve: give --project or --fleet, not both (a project holds its fleet)", 2)

    from .fleet.record import holds_run

    exists = holds_run(run_dir)
    if exists and not resume:
        _fail(f"{run_dir} already holds a run: pass --resume to continue it, or choose another --run-dir", 2)
    if resume and not exists:
        _fail(f"--resume: {run_dir} holds no run to resume", 2)

    try:
        if chosen is not None:
            config = chosen.fleet.with_overrides(run_config)
        else:
            config = load_fleet_config(fleet, run_config) if fleet else FleetConfig().with_overrides(run_config)
        if link:
            config = FleetConfig(fleet=config.fleet, emulate=None, dp=config.dp, secagg=config.secagg,
                                 devices=tuple(DeviceSpec(l, f"dev{i + 1}") for i, l in enumerate(link)))
        if rounds is not None:
            config = config.with_overrides([f"fleet.rounds={rounds}"])
    except (ConfigError, OSError) as exc:
        console.print(f"[red]fleet config: {escape(str(exc))}[/]")
        raise typer.Exit(2)
    progress = lambda r: console.print("  " + _round_line(r))  # noqa: E731
    if not config.devices and config.emulate is not None:
        from .demo import options_from_fleet, run_emulated

        console.print(f"launching the \\[emulate] fleet: {config.emulate.n} {config.emulate.board} boards")
        if chosen is not None:
            from .project import demo_options

            options = demo_options(chosen, resume=resume, allow_test_builds=allow_test_builds or None,
                                   rounds=config.fleet.rounds)
        else:
            options = options_from_fleet(config, resume=resume, allow_test_builds=allow_test_builds or None)
        try:
            summary = run_emulated(options, run_dir, on_round=progress).summary
        except ValueError as exc:
            _fail(f"serve: {exc}", 2)
    elif not config.devices:
        raise typer.BadParameter("no devices: give --link or a --fleet with [[devices]] or [emulate]")
    else:
        try:
            sessions = [DeviceSession(open_link(d.link), d.name or f"dev{i + 1}")
                        for i, d in enumerate(config.devices)]
        except LinkError as exc:
            console.print(f"[red]cannot open a device link: {escape(str(exc))}[/]")
            raise typer.Exit(2)
        evaluate, initial = None, None
        if chosen is not None:  # the project's pretrained head, scored on its held-out windows
            from .project import prepare_project

            data, bb, fw = prepare_project(chosen, lambda m: console.print(m, markup=False))
            test_features = bb.features(data.x_test)
            k, f = fw.n_classes, fw.n_features
            initial = Head(np.asarray(bb.initial_head, dtype=np.float32), k, f)

            def evaluate(params: Any) -> dict[str, Any]:
                logits = test_features @ params[: k * f].reshape(k, f).T + params[k * f:]
                return {"accuracy": float(np.mean(np.argmax(logits, axis=1) == data.y_test))}
        try:
            summary = Aggregator(config, sessions, run_dir, progress=progress, evaluate=evaluate,
                                 initial=initial, allow_test_builds=allow_test_builds).run()
        except (ValueError, SessionError) as exc:
            _fail(f"serve: {exc}", 2 if isinstance(exc, ValueError) else 1)
        finally:
            close_sessions(sessions)
    if fmt is Format.json:
        _emit_json(summary.to_dict())
    else:
        console.print(_devices_table(summary))
        console.print(_privacy_table(summary))
        if _central_line(summary):
            console.print(_central_line(summary))
        scores = [e["accuracy"] for e in summary.evaluations if "accuracy" in e]
        if scores:
            console.print(f"[bold]accuracy[/] of the global head on the held-out windows: "
                          f"{scores[0]:.3f} before -> {scores[-1]:.3f} after {summary.rounds_completed} rounds")
        console.print(f"run recorded in {run_dir}", markup=False)
    _finish(summary)


@app.command()
def emulate(
    board: Optional[str] = typer.Option(None, help="qemu or native (default: the project's [emulate], else qemu)"),
    n: Optional[int] = typer.Option(None, "-n", help="number of boards (default: the project's, else 4)"),
    backbone: str = typer.Option("cnn", help="cnn or stats (without --project)"),
    project: Optional[Path] = typer.Option(None, "--project", help="a project: its model, data and DP config"),
    sets: List[str] = typer.Option([], "--set", help='override a project key, e.g. "emulate.n=8"'),
    duration: float = typer.Option(0.0, help="seconds to run (0: until Ctrl-C)"),
    workdir: Optional[Path] = typer.Option(None, help="folder for shards and ledgers"),
    fmt: Format = typer.Option(Format.text, "--format"),
) -> None:
    """Start emulated boards and print their links; `tinyfl serve --link ...` can then drive them."""
    from .demo import DemoOptions, prepare, split_shards
    from .emulate import build_firmware, launch_fleet, write_shard

    chosen = _load_project(project, sets)
    spec = chosen.fleet.emulate if chosen is not None and chosen.fleet.emulate is not None else None
    board = board or (spec.board if spec else "qemu")
    n = n if n is not None else (spec.n if spec else 4)
    _check_emulated(board, n, backbone)
    if chosen is not None:
        from .project import check_budget

        check_budget(chosen.dp)
        options = DemoOptions(board=board, n=n, project=chosen, dp=chosen.dp,
                              seed=spec.seed if spec else 0)
    else:
        options = DemoOptions(board=board, n=n, backbone=backbone)
    data, bb, config = prepare(options, lambda m: console.print(m, markup=False))
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


EMULATED_BOARD_NAMES = ("qemu", "native", "qemu-mps2-an386", "qemu-rv32", "riscv", "qemu-virt-rv32")


def _check_emulated(board: str, n: int, backbone: str | None = None) -> None:
    """Cheap checks before any TensorFlow or compiler work."""
    if board not in EMULATED_BOARD_NAMES:
        raise typer.BadParameter(f"unknown board {board!r}; emulated boards: qemu, qemu-rv32, native", param_hint="--board")
    if not 1 <= n <= 256:
        raise typer.BadParameter(f"{n} boards: give 1..256", param_hint="-n")
    if backbone is not None and backbone not in ("cnn", "stats"):
        raise typer.BadParameter(f"unknown backbone {backbone!r}: cnn or stats", param_hint="--backbone")


def _load_project(path: Optional[Path], sets: List[str]) -> Any:
    """The project named by --project (validated, no TensorFlow), its build folder made the
    build folder of this process (TINYFL_BUILD_DIR); None without --project."""
    if path is None:
        if sets:
            raise typer.BadParameter("--set needs --project")
        return None
    from .project import load_project

    project = load_project(path, sets)
    os.environ["TINYFL_BUILD_DIR"] = str(project.build_dir)
    return project


@app.command()
def build(
    model: str = typer.Option("basic_motions", help="basic_motions, digits, or a .tflite backbone (without --project)"),
    board: str = typer.Option("qemu", help="qemu, native, nano33ble or esp32"),
    project: Optional[Path] = typer.Option(None, "--project", help="a project (tinyfl.toml or its folder): build its firmware"),
    sets: List[str] = typer.Option([], "--set", help='override a project key, e.g. "dp.noise_multiplier=2"'),
    optimized: bool = typer.Option(True, help="Cortex-M4 DSP kernels (bit-exact with the plain ones)"),
    out: Optional[Path] = typer.Option(None, help="where a nano33ble/esp32 PlatformIO project goes (without --project)"),
    fmt: Format = typer.Option(Format.text, "--format"),
) -> None:
    """With --project: the firmware image (qemu, native) or the PlatformIO project (nano33ble,
    esp32) and its report, into the project's build folder. Without: the reference model's
    PlatformIO project for nano33ble/esp32, or model figures of a reference model or a .tflite."""
    chosen = _load_project(project, sets)
    if chosen is not None:
        from .project.build import build_project

        with console.status(f"building {chosen.name} for {board}..."):
            report = build_project(chosen, board, optimized=optimized,
                                   say=lambda m: console.print(f"[bold cyan]tinyfl[/] {escape(str(m))}"))
        if fmt is Format.json:
            _emit_json(report)
            return
        if "platformio_project" in report:
            console.print(f"PlatformIO project: {report['platformio_project']}")
            console.print(f"flash it: {report['flash']}")
            return
        m = report["model"]
        console.print(f"firmware: {report['firmware']}")
        if "image" in report:
            console.print(f"whole image: flash {report['image']['flash']} B, RAM {report['image']['ram']} B "
                          f"(of which stack {report['image']['stack']} B)")
        console.print(f"model: {m['macs']} MACs, flash {m['flash_bytes']} B, arena {m['arena_bytes']} B "
                      f"(TFLM's arena for the same model: {m['tflm_arena_bytes']} B)")
        acc = report["accuracy"]
        console.print(f"accuracy on {acc['test_windows']} held-out windows: int8 backbone + pretrained "
                      f"head {acc['int8_backbone_with_pretrained_head']:.3f}")
        dp = report["dp"]
        console.print(f"privacy: eps {dp['eps_per_release']:.3g} per update (delta {dp['delta']:g}); the "
                      f"budget {dp['eps_limit']:g} allows {dp['releases_allowed']} updates per device")
        console.print(f"report: {Path(report['firmware']).parent / 'report.json'}")
        return
    if board in ("nano33ble", "esp32") and model == "basic_motions":
        from .demo import DemoOptions, prepare
        from .platformio import write_project

        with console.status(f"writing the {board} project for the reference model..."):
            _data, bb, config = prepare(DemoOptions(backbone="cnn"), lambda _m: None)
            target = out or Path("build") / f"{board}-project"
            write_project(target, board, config, bb.model_sources, bb.defines, sample_rate_hz=10.0)
        if fmt is Format.json:
            _emit_json({"board": board, "platformio_project": str(target)})
        else:
            console.print(f"PlatformIO project: {target}\nflash it: cd {target} && pio run -t upload")
        return
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
    noise_multiplier: Optional[float] = typer.Option(None, "--noise", help="the configured device's noise multiplier (default 1, or the project's)"),
    clip: Optional[float] = typer.Option(None, help="the configured device's clip bound (default 1, or the project's)"),
    eps_limit: Optional[float] = typer.Option(None, help="the configured device's budget (default 50, or the project's)"),
    board: str = typer.Option("native", help="emulated boards for the device parts: native or qemu"),
    fleet_size: int = typer.Option(100, help="fleet size the privacy/utility statement assumes"),
    simulate: Optional[int] = typer.Option(None, "--simulate", help="privacy/utility from recorded fleet simulations of N devices "
                                                                    "(tinyfl flower) instead of the FedAvg loop"),
    simulate_data: str = typer.Option("digits", "--simulate-data", help="data of --simulate: digits or basicmotions"),
    backbone: Optional[str] = typer.Option(None, help="cnn (what the demo ships; default) or stats; --smoke defaults to stats; without --project"),
    project: Optional[Path] = typer.Option(None, "--project", help="audit a project (tinyfl.toml or its folder): its data, backbone, head, DP config and round settings"),
    sets: List[str] = typer.Option([], "--set", help='override a project key, e.g. "dp.noise_multiplier=2"'),
    smoke: bool = typer.Option(False, help="every part once, small (CI setting, well under a minute)"),
    parts: str = typer.Option(",".join(("dp", "leakage", "utility")), help="comma-separated: dp, leakage, utility"),
    variant: Optional[str] = typer.Option(None, help="DP-audit a deliberately broken test build instead (e.g. "
                                                     "constant_key, unnoised_coord): the audit must FAIL it"),
    fail_on_leak: bool = typer.Option(False, help="also exit 1 when a leak is found at the configured noise"),
    fmt: Format = typer.Option(Format.text, "--format"),
) -> None:
    """Audit the device's privacy: DP audit of the firmware mechanism, attacks at a grid of
    noise levels with a verdict per kind of leak, and the privacy/utility curve; with --project
    on the project's own data, backbone and DP config. Exits 1 when a verdict is FAIL (the DP
    audit; with --fail-on-leak also a leak at the configured noise), 2 when the settings cannot
    be audited."""
    from dataclasses import replace

    from .audit import AuditConfig, render, run_audit
    from .firmware_config import DpConfig

    try:
        if project is not None and backbone is not None:
            raise ValueError("--backbone: a project is audited with its own backbone")
        if sets and project is None:
            raise ValueError("--set needs --project")
        chosen_project = _load_project(project, sets)
        base = chosen_project.dp if chosen_project is not None else DpConfig()
        dp = replace(base, clip=base.clip if clip is None else clip,
                     noise_multiplier=base.noise_multiplier if noise_multiplier is None else noise_multiplier,
                     eps_limit=base.eps_limit if eps_limit is None else eps_limit)
        chosen: dict[str, Any] = {"backbone": backbone} if backbone else {}
        chosen["parts"] = tuple(p.strip() for p in parts.split(",") if p.strip())
        if simulate is not None:
            if simulate < 1:
                raise ValueError(f"--simulate must be at least 1 device, not {simulate}")
            fleet_size = simulate
            chosen.update(utility_simulate=True, utility_dataset=simulate_data, other_fleet_sizes=())
        if chosen_project is not None:
            config = AuditConfig.for_project(chosen_project, tuple(sets), smoke=smoke, dp=dp, board=board,
                                             fleet_size=fleet_size, **chosen)
        else:
            config = (AuditConfig.smoke(dp=dp, board=board, fleet_size=fleet_size, **chosen) if smoke
                      else AuditConfig(dp=dp, board=board, fleet_size=fleet_size, **chosen))
        if variant is not None:
            config = replace(config, dp_audit=replace(config.dp_audit, variant=variant))
        config.validate()
    except ValueError as exc:  # ProjectError is one too
        typer.echo(f"tinyfl audit: {exc}", err=True)  # one line, never wrapped
        raise typer.Exit(2)
    report = run_audit(config, work_dir=out / "runs", show_progress=fmt is Format.text)
    html = render(report, out)
    summary = report.to_dict()
    failures = report.failures(leaks=fail_on_leak)
    if fmt is Format.json:
        _emit_json(summary)
    else:
        audited = summary["audited"]
        console.print(f"audited: {audited['data']}; {audited['backbone']}", soft_wrap=True)
        table = Table(title=f"leaks at the configured noise z = {config.dp.noise_multiplier:g}")
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
    from .flower.cli import register as register_flower
    from .project.cli import register as register_project

    register_attack(app)
    register_project(app)
    register_flower(app)


_register_subcommands()


def _user_errors() -> tuple[type[BaseException], ...]:
    """Errors that mean "the input is wrong", shown in one line (no traceback, exit 2)."""
    from .fleet.config import ConfigError
    from .project.config import ProjectError

    kinds: list[type[BaseException]] = [ProjectError, ConfigError]
    try:
        from .codegen.tflite_reader import ModelFormatError
        from .codegen.ops import UnsupportedModelError

        kinds += [ModelFormatError, UnsupportedModelError]
    except ImportError:  # pragma: no cover - the codegen extra is missing
        pass
    return tuple(kinds)


def main() -> None:
    """The console entry point. A user error is one line and exit 2; anything else unexpected
    is one line and exit 1, with the traceback only under TINYFL_DEBUG=1 (or --debug)."""
    debug = "--debug" in sys.argv[1:] or os.environ.get("TINYFL_DEBUG") == "1"
    if "--debug" in sys.argv[1:]:
        sys.argv.remove("--debug")
    try:
        code = app(standalone_mode=False)
        raise SystemExit(code if isinstance(code, int) else 0)
    except typer.Exit as exc:
        raise SystemExit(exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        console.print("[red]interrupted[/]")
        raise SystemExit(130)
    except _click_usage_errors() as exc:
        exc.show()
        raise SystemExit(exc.exit_code)
    except _user_errors() as exc:
        if debug:
            raise
        console.print(f"[red]error: {escape(str(exc))}[/]", soft_wrap=True)
        raise SystemExit(2)
    except Exception as exc:  # noqa: BLE001 - the last line of defence for the command line
        if debug:
            raise
        console.print(f"[red]error: {type(exc).__name__}: {escape(str(exc))}[/] (run with --debug for the traceback)",
                      soft_wrap=True)
        raise SystemExit(1)


def _click_usage_errors() -> tuple[type[BaseException], ...]:
    """Usage errors of the command-line parser (typer vendors its own click)."""
    kinds: list[type[BaseException]] = []
    for module in ("typer._click.exceptions", "click.exceptions"):
        try:
            kinds.append(__import__(module, fromlist=["ClickException"]).ClickException)
        except ImportError:
            pass
    return tuple(kinds)


if __name__ == "__main__":
    main()
