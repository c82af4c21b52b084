"""The emulated fleet demo: build firmware, launch boards, run private federated rounds.

`run_emulated(...)` is what `tinyfl demo` and the end-to-end tests call: it builds one
firmware image for the board kind, gives every board its own shard of the BasicMotions
training windows (real smartwatch IMU data), runs the aggregator over the boards' serial links
and evaluates the global head on the held-out windows after every round.
"""
from __future__ import annotations

import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .backbones import Backbone, cnn_backbone, stats_backbone
from .firmware_config import DpConfig, FirmwareConfig

__all__ = ["DemoOptions", "DemoResult", "RunExists", "options_from_fleet", "prepare", "privacy_context",
           "run_emulated", "split_shards"]

AUDIT_REPORT = Path("audit-report") / "report.json"  # where `tinyfl audit` writes by default


class RunExists(FileExistsError):
    """The run folder already holds a run and resuming was not asked for."""


@dataclass(frozen=True)
class DemoOptions:
    board: str = "qemu"
    n: int = 4
    rounds: int = 6
    backbone: str = "cnn"
    lr: float = 0.05
    local_epochs: int = 5
    batch_size: int = 5
    samples_per_round: int = 10
    deadline_s: float = 60.0
    seed: int = 0  # shard split and initial head; the device noise is never seeded from here
    dp: DpConfig = field(default_factory=DpConfig)
    test_seed: int | None = None  # test builds only: reproducible device noise
    defines: tuple[tuple[str, Any], ...] = ()  # extra firmware defines (test builds)
    project: Any = None  # a tinyfl.project.Project: its model and data instead of BasicMotions
    # admit test builds (None: only the test build these options ask for themselves)
    allow_test_builds: bool | None = None
    resume: bool = False  # the run folder may hold a run to resume
    secagg: Any = None  # a [secagg] section (tinyfl.fleet.config.SecaggSpec): secure rounds

    @property
    def test_build(self) -> bool:
        return self.test_seed is not None or bool(self.defines)


@dataclass
class DemoResult:
    summary: Any  # tinyfl.fleet.RunSummary
    run_dir: Path
    firmware: Path
    config: FirmwareConfig
    backbone: Backbone
    accuracy_before: float
    accuracy_after: float

    def to_dict(self) -> dict[str, Any]:
        out = self.summary.to_dict()
        out.update(
            firmware=str(self.firmware),
            backbone={"name": self.backbone.name, "features": self.backbone.n_features,
                      "note": self.backbone.note},
            accuracy_before=self.accuracy_before,
            accuracy_after=self.accuracy_after,
            privacy_context=privacy_context(self),
        )
        return out


def privacy_context(result: DemoResult, audit_report: Path | None = AUDIT_REPORT) -> list[str]:
    """What the eps the devices spent means, in plain sentences: what it bounds, what it leaves
    open, and what the audit measured at this noise (from `audit_report` when it audited the
    same z, else where to look)."""
    import math

    from .privacy import epsilon

    dp = result.config.dp
    releases = max((p.releases_before + p.releases_host for p in result.summary.privacy), default=0)
    spent = max((p.eps_host for p in result.summary.privacy), default=0.0)
    if releases == 0:
        return ["no device released an update: no privacy spent"]
    per = epsilon(dp.noise_multiplier, 1, dp.delta)
    out = [
        f"eps {spent:.1f} after {releases} release(s) (RDP, replace relation: any two local datasets of a "
        f"device, delta {dp.delta:g}) bounds how much a device's data can change what the server sees: the "
        f"odds of any guess about it can grow by up to e^{spent:.1f} = {math.exp(spent):.2g} (each release "
        f"eps {per:.1f}, e^{per:.1f} = {math.exp(per):.2g}). A bound that large promises next to nothing by "
        "itself; what it does guarantee: no release without this noise, and the device stops at its budget "
        f"(eps_limit {dp.eps_limit:g}, {result.config.releases_allowed()} releases).",
        "Not protected by eps at all: when a device answers, its error codes, how many samples each update "
        "used, and its public configuration (docs/privacy.md).",
    ]
    found = _audit_at(audit_report, dp.noise_multiplier)
    if found is not None:
        verdicts = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in found["verdicts"].items())
        out.append(f"What an attacker really recovers at this noise is measured by the audit ({audit_report}, "
                   f"z = {dp.noise_multiplier:g}, {found['samples']} sample(s) per update, its worst case): "
                   f"{verdicts}; DP audit {found['dp']}.")
    else:
        out.append(f"What an attacker really recovers at z = {dp.noise_multiplier:g} is measured, not promised: "
                   f"run `tinyfl audit --noise {dp.noise_multiplier:g}` (docs/audit.md lists what it found at "
                   "z = 1 with one sample per update: the label borderline, features and raw input never "
                   f"beyond class level); this demo's updates average {result.config.samples_per_round} "
                   "samples, which blurs each one further.")
    return out


def _audit_at(path: Path | None, z: float) -> dict[str, Any] | None:
    """The verdicts of a `tinyfl audit` report.json at noise z, or None."""
    import json

    if path is None or not Path(path).is_file():
        return None
    try:
        report = json.loads(Path(path).read_text())
        config = report["config"]
        if abs(float(config["dp"]["noise_multiplier"]) - z) > 1e-12 or not report.get("verdicts"):
            return None
        return {"verdicts": dict(report["verdicts"]), "samples": int(config["samples_per_round"]),
                "dp": (report.get("dp_audit") or {}).get("verdict", "not run")}
    except (OSError, ValueError, KeyError, TypeError):
        return None  # not an audit report of this version: say where to look instead


def options_from_fleet(config: Any, dp: DpConfig | None = None, **extra: Any) -> DemoOptions:
    """DemoOptions for a fleet config's [emulate] section, [fleet] round settings and [dp]."""
    emulate, fleet = config.emulate, config.fleet
    if emulate is None:
        raise ValueError("the fleet config has no [emulate] section")
    if emulate.data != "basicmotions":
        raise ValueError(f"emulate.data = {emulate.data!r}: emulated fleets use basicmotions for now")
    return DemoOptions(board=emulate.board, n=emulate.n, rounds=fleet.rounds, lr=fleet.lr,
                       local_epochs=fleet.local_epochs, batch_size=fleet.batch_size,
                       deadline_s=fleet.deadline_s, seed=emulate.seed, dp=dp or config.dp,
                       secagg=config.secagg, **extra)


def split_shards(y: np.ndarray, n: int, seed: int) -> list[np.ndarray]:
    """Indices for n devices, shuffled with `seed`, as equal as possible. With more devices than
    windows every device still gets one: the windows are dealt out again (with replacement
    across devices, never twice to one device)."""
    if len(y) == 0:
        raise ValueError("no training windows to shard")
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(y))
    while len(order) < n:
        order = np.concatenate([order, rng.permutation(len(y))])
    return [np.unique(part) for part in np.array_split(order, n)]


def prepare(options: DemoOptions, say: Callable[[str], None]) -> tuple[Any, Backbone, FirmwareConfig]:
    if options.project is not None:
        from .project import prepare_project

        data, backbone, config = prepare_project(options.project, say)
        return data, backbone, replace(config, dp=options.dp)
    from .data import load_basic_motions

    data = load_basic_motions()
    n_steps, n_channels = data.x_train.shape[1], data.x_train.shape[2]
    if options.backbone == "stats":
        backbone = stats_backbone(n_channels)
    elif options.backbone == "cnn":
        backbone = cnn_backbone("basic_motions", progress=say)
    else:
        raise ValueError(f"unknown backbone {options.backbone!r} (stats or cnn)")
    config = FirmwareConfig(
        n_classes=len(data.class_names), n_features=backbone.n_features,
        input_channels=n_channels, input_steps=n_steps,
        samples_per_round=options.samples_per_round, dp=options.dp,
    )
    return data, backbone, config


def run_emulated(options: DemoOptions, run_dir: Path | str | None = None, *,
                 say: Callable[[str], None] = lambda _m: None,
                 on_round: Callable[[Any], None] | None = None) -> DemoResult:
    from .emulate import build_firmware, launch_fleet, write_shard
    from .fleet import (Aggregator, DeviceSession, DeviceSpec, FleetConfig, Head, RoundSpec,
                        close_sessions, initial_head)
    from .fleet.config import validate_dp
    from .links import open_link

    validate_dp(options.dp)  # before any build: a clip of 0 is a one-line ConfigError
    run_dir = Path(run_dir) if run_dir is not None else Path(tempfile.mkdtemp(prefix="tinyfl-run-"))
    from .fleet.record import holds_run

    if holds_run(run_dir) and not options.resume:
        raise RunExists(f"{run_dir} already holds a run: resume it (--resume) or choose "
                        "another --run-dir")
    data, backbone, config = prepare(options, say)
    run_dir.mkdir(parents=True, exist_ok=True)

    say(f"building {options.board} firmware ({backbone.name} backbone, {config.n_params} head "
        f"parameters, clip {config.dp.clip}, noise multiplier {config.dp.noise_multiplier})")
    build = build_firmware
    if options.secagg is not None:  # images with secure aggregation (tinyfl/secagg/image.py)
        from .secagg.image import emulated_image, build_secagg_firmware

        build = lambda board, cfg, **kw: build_secagg_firmware(  # noqa: E731
            board, cfg, emulated_image(options.secagg, options.n), **kw)
    firmware = build(options.board, config, model_sources=backbone.model_sources,
                     test_build=options.test_seed is not None or bool(options.defines),
                     test_seed=options.test_seed,
                     defines={**backbone.defines, **dict(options.defines)} or None)

    shard_paths = []
    for i, idx in enumerate(split_shards(data.y_train, options.n, options.seed)):
        shard_paths.append(write_shard(run_dir / "boards" / f"shard-{i + 1}.bin",
                                       data.x_train[idx], data.y_train[idx]))

    test_features = backbone.features(data.x_test)

    def evaluate(params: np.ndarray) -> dict[str, Any]:
        k, f = config.n_classes, config.n_features
        w, b = params[: k * f].reshape(k, f), params[k * f:]
        logits = test_features @ w.T + b
        return {"accuracy": float(np.mean(np.argmax(logits, axis=1) == data.y_test))}

    fleet_config = FleetConfig(
        fleet=RoundSpec(rounds=options.rounds, lr=options.lr, local_epochs=options.local_epochs,
                        batch_size=options.batch_size, deadline_s=options.deadline_s,
                        init_seed=options.seed),
        dp=options.dp, secagg=options.secagg,
    )
    say(f"launching {options.n} {options.board} boards")
    with launch_fleet(options.board, options.n, firmware, shard_paths, run_dir / "boards") as fleet:
        sessions = [DeviceSession(open_link(url), f"dev{i + 1}") for i, url in enumerate(fleet.urls)]
        fleet_config = replace(fleet_config, devices=tuple(
            DeviceSpec(link=url, name=s.name) for url, s in zip(fleet.urls, sessions)))
        if backbone.initial_head is not None:  # a project's pretrained head
            head = Head(np.asarray(backbone.initial_head, dtype=np.float32), config.n_classes,
                        config.n_features)
        else:
            head = initial_head(config.n_classes, config.n_features, options.seed)
        allow = options.test_build if options.allow_test_builds is None else options.allow_test_builds
        aggregator = Aggregator(fleet_config, sessions, run_dir, evaluate=evaluate,
                                progress=on_round, initial=head, allow_test_builds=allow)
        try:
            summary = aggregator.run()
        finally:
            close_sessions(sessions)
    accuracies = [e["accuracy"] for e in summary.evaluations if "accuracy" in e]
    return DemoResult(summary, run_dir, firmware, config, backbone,
                      accuracies[0] if accuracies else float("nan"),
                      accuracies[-1] if accuracies else float("nan"))
