"""The whole privacy audit: `run_audit(AuditConfig) -> AuditReport`.

Three parts, each optional:
- "dp": the empirical DP audit of the release mechanism (tinyfl.audit.dp);
- "leakage": the attack audit on emulated devices at a grid of noise levels, a verdict per
  kind of leak (tinyfl.audit.leakage);
- "utility": the privacy/utility curve at a stated fleet size (tinyfl.audit.utility).
`render(report, out_dir)` (tinyfl.audit.render) turns a report into report.html with figures.
"""
from __future__ import annotations

import contextlib
import math
import tempfile
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterator

from ..firmware_config import DpConfig
from .dp import DpAudit, DpAuditConfig
from .leakage import LEAKS, NOT_AUDITED, LeakageConfig, LevelResult
from .utility import UtilityConfig, UtilityCurve

__all__ = ["PARTS", "AuditConfig", "AuditReport", "run_audit"]

PARTS = ("dp", "leakage", "utility")
AUDIT_BOARDS = {"native": "native", "qemu": "qemu-mps2-an386"}  # what the DP audit's boards run on
Progress = Callable[[str, float], None]


@dataclass(frozen=True)
class AuditConfig:
    """What is audited and how hard. The defaults are the fuller audit (a few minutes on two
    cores) of the backbone the demo ships (the int8 CNN); `AuditConfig.smoke()` runs every part
    once, small, for CI (well under a minute), with the statistics backbone unless told (the
    CNN costs about 20 s more: TensorFlow pretraining and the firmware build)."""

    dp: DpConfig = field(default_factory=DpConfig)  # the configured device: clip, z, grid, delta
    board: str = "native"  # emulated boards for the device parts: "native" or "qemu"
    noise_levels: tuple[float, ...] = (0.0, 0.1, 0.3, 1.0, 3.0, 10.0)  # the configured z is added
    devices: int = 4  # emulated devices per noise level
    rounds: int = 10  # 4 devices x 10 rounds x 1 sample: every BasicMotions training window once
    samples_per_round: int = 1  # one sample per update: the device's worst case
    lr: float = 0.05
    local_epochs: int = 5
    batch_size: int = 5
    fleet_size: int = 100  # the fleet the utility statement assumes (noise averages over N)
    other_fleet_sizes: tuple[int, ...] = (10, 1000)  # drawn next to it in the utility figure
    utility_rounds: int = 30
    utility_repeats: int = 3  # independent simulated fleets per point
    # the utility points from recorded fleet runs of `fleet_size` devices (tinyfl.flower) on
    # utility_dataset, instead of the audit's FedAvg loop (`tinyfl audit --simulate N`)
    utility_simulate: bool = False
    utility_dataset: str = "digits"
    dp_audit: DpAuditConfig = field(default_factory=DpAuditConfig)
    alpha: float = 0.05
    workers: int = 2  # processes attacking updates
    test_seed: int | None = None  # test builds only: reproducible device noise in the attack audit
    seed: int = 0
    backbone: str = "cnn"  # the attack audit's device backbone: "cnn" (the demo's) or "stats"
    parts: tuple[str, ...] = PARTS
    # a user's project (its tinyfl.toml) audited instead of BasicMotions: its windows, int8
    # backbone and pretrained head (tinyfl.audit.subject); `for_project` takes its settings
    project: str | None = None
    project_sets: tuple[str, ...] = ()

    @classmethod
    def smoke(cls, **overrides: Any) -> AuditConfig:
        base = cls(noise_levels=(0.0, 1.0, 10.0), rounds=3, other_fleet_sizes=(), workers=1, utility_repeats=1,
                   backbone="stats",
                   dp_audit=DpAuditConfig(mechanism_trials=200_000, board_trials=256))
        return replace(base, **overrides)

    @classmethod
    def for_project(cls, project: Any, sets: tuple[str, ...] = (), *, smoke: bool = False,
                    **overrides: Any) -> AuditConfig:
        """The audit of a loaded project (tinyfl.project.Project): its DP config, the samples per
        round and the round settings its firmware and fleet use; `overrides` win."""
        fleet = project.fleet.fleet
        values: dict[str, Any] = dict(dp=project.dp, samples_per_round=project.samples_per_round,
                                      lr=fleet.lr, local_epochs=fleet.local_epochs, batch_size=fleet.batch_size,
                                      backbone="project", project=str(project.path), project_sets=tuple(sets))
        values.update(overrides)
        return cls.smoke(**values) if smoke else cls(**values)

    def validate(self) -> None:
        """Raises ValueError, one line, for a setting that cannot be audited (checked by run_audit
        and the CLI before any work)."""
        from ..emulate.build import resolve_board
        from ..privacy.accounting import epsilon, releases_allowed

        try:
            board = resolve_board(self.board)
        except ValueError:
            board = None
        if board not in AUDIT_BOARDS.values():
            raise ValueError(f"unknown board {self.board!r}: the audit runs on {' or '.join(AUDIT_BOARDS)}")
        if (self.backbone == "project") != bool(self.project):
            raise ValueError("the project backbone is a project's: give --project" if not self.project
                             else f"a project is audited with its own backbone, not {self.backbone!r}")
        dp = self.dp
        if not (math.isfinite(dp.clip) and dp.clip > 0):
            raise ValueError(f"clip must be a positive number, not {dp.clip:g}")
        if not (math.isfinite(dp.noise_multiplier) and dp.noise_multiplier > 0):
            raise ValueError(f"the configured noise multiplier must be > 0, not {dp.noise_multiplier:g} "
                             "(a device without noise has no eps to audit)")
        if not 0 < dp.delta < 1:
            raise ValueError(f"delta must be in (0, 1), not {dp.delta:g}")
        if not (math.isfinite(dp.eps_limit) and dp.eps_limit > 0):
            raise ValueError(f"eps_limit must be > 0, not {dp.eps_limit:g} (a device with no budget never releases)")
        if releases_allowed(dp.noise_multiplier, dp.delta, dp.eps_limit) < 1:
            raise ValueError(f"eps_limit {dp.eps_limit:g} allows no release at z = {dp.noise_multiplier:g}: one "
                             f"release costs eps {epsilon(dp.noise_multiplier, 1, dp.delta):.3g} (RDP, replace)")
        for name in ("fleet_size", "devices", "rounds", "utility_rounds", "utility_repeats", "workers"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be at least 1, not {getattr(self, name)}")
        if any(int(n) < 1 for n in self.other_fleet_sizes):
            raise ValueError(f"other_fleet_sizes must all be at least 1, not {self.other_fleet_sizes}")
        if self.utility_simulate and self.project and "utility" in self.parts:
            raise ValueError("--simulate runs the statistics backbone on digits or BasicMotions: "
                             "it cannot simulate a project's backbone")
        if self.utility_dataset not in ("digits", "basicmotions"):
            raise ValueError(f"the simulated utility data must be digits or basicmotions, not {self.utility_dataset!r}")
        if not 1 <= self.samples_per_round <= 255:
            raise ValueError(f"samples_per_round must be 1..255, not {self.samples_per_round}")
        if any(not (math.isfinite(z) and z >= 0) for z in self.noise_levels):
            raise ValueError(f"noise levels must be finite and >= 0: {self.noise_levels}")
        unknown = set(self.parts) - set(PARTS)
        if unknown or not self.parts:
            raise ValueError(f"audit parts must be some of {', '.join(PARTS)}, not {', '.join(self.parts) or 'none'}")
        self.dp_audit.defines()  # an unknown variant

    @property
    def levels(self) -> list[float]:
        """The noise grid, with the configured multiplier, sorted."""
        return sorted(set(float(z) for z in self.noise_levels) | {float(self.dp.noise_multiplier)})

    def leakage_config(self) -> LeakageConfig:
        return LeakageConfig(board=self.board, devices=self.devices, rounds=self.rounds,
                             samples_per_round=self.samples_per_round, lr=self.lr,
                             local_epochs=self.local_epochs, batch_size=self.batch_size,
                             clip=self.dp.clip, grid_bits=self.dp.grid_bits, delta=self.dp.delta,
                             alpha=self.alpha, workers=self.workers, test_seed=self.test_seed,
                             seed=self.seed, backbone=self.backbone, project=self.project,
                             project_sets=self.project_sets)

    def utility_config(self) -> UtilityConfig:
        sizes = (self.fleet_size,) + tuple(n for n in self.other_fleet_sizes if n != self.fleet_size)
        return UtilityConfig(fleet_sizes=sizes, rounds=self.utility_rounds, delta=self.dp.delta,
                             eps_limit=self.dp.eps_limit,
                             samples_per_round=self.samples_per_round, lr=self.lr,
                             local_epochs=self.local_epochs, batch_size=self.batch_size,
                             clip=self.dp.clip, grid_bits=self.dp.grid_bits,
                             repeats=self.utility_repeats, workers=self.workers, seed=self.seed,
                             backbone=self.backbone, project=self.project, project_sets=self.project_sets,
                             simulate=self.utility_simulate, simulate_dataset=self.utility_dataset)

    def dp_audit_config(self) -> DpAuditConfig:
        shape: dict[str, int] = {}
        if self.project:  # the mechanism in an image with the project's head size and window
            from .subject import project_subject

            s = project_subject(self.project, self.project_sets)
            shape = dict(n_classes=s.n_classes, n_steps=int(s.x_train.shape[1]),
                         n_channels=int(s.x_train.shape[2]))
        return replace(self.dp_audit, clip=self.dp.clip, grid_bits=self.dp.grid_bits,
                       delta=self.dp.delta, alpha=self.alpha, board=self.board,
                       configured_noise_multiplier=float(self.dp.noise_multiplier), **shape)

    def audited(self) -> dict[str, Any]:
        """What was audited: the data and the backbone, in words (the report's first line)."""
        if self.project:
            from .subject import project_subject

            return project_subject(self.project, self.project_sets).describe()
        from .subject import DEFAULT_DATA

        return {"project": None, "data": DEFAULT_DATA, "backbone": f"the {self.backbone} backbone"}

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["levels"] = self.levels
        return out


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None


@dataclass
class AuditReport:
    config: AuditConfig
    dp: DpAudit | None
    levels: list[LevelResult]
    utility: UtilityCurve | None
    seconds: dict[str, float]
    work_dir: str = ""

    def audited(self) -> dict[str, Any]:
        return self.config.audited()

    # -- the configured point -----------------------------------------------------------------
    @property
    def configured_z(self) -> float:
        return float(self.config.dp.noise_multiplier)

    def level(self, z: float) -> LevelResult | None:
        return next((lv for lv in self.levels if abs(lv.noise_multiplier - z) < 1e-12), None)

    def claimed_eps(self) -> dict[str, float]:
        """What the configured device claims: one release and its whole budget (RDP, replace)."""
        from ..privacy import eps_table, epsilon, epsilon_pld

        dp = self.config.dp
        table = eps_table(dp.noise_multiplier, dp.delta, dp.eps_limit)
        return {"one_release_rdp": epsilon(dp.noise_multiplier, 1, dp.delta),
                "one_release_pld": epsilon_pld(dp.noise_multiplier, 1, dp.delta),
                "releases_allowed": len(table) - 1, "budget_eps": table[-1]}

    def leak_verdicts(self) -> dict[str, dict[str, Any]]:
        """Per kind of leak: the verdict at the configured noise, and from which level of the
        grid on every level is protected."""
        out: dict[str, dict[str, Any]] = {}
        here = self.level(self.configured_z)
        for leak in LEAKS:
            entry: dict[str, Any] = {"verdict": here.verdict(leak) if here else "not audited",
                                     "noise_multiplier": self.configured_z}
            if here is not None:
                best = max((s for s in here.scores if s.leak == leak),
                           key=lambda s: (s.beats_all, min((v.win_rate_lower for v in s.signs.values()),
                                                           default=-math.inf)),
                           default=None)
                if best is not None:
                    entry["strongest_attack"] = {"attack": best.attack, "metric": best.metric,
                                                 "score": best.attack_interval.to_dict(),
                                                 "baselines": {k: v.to_dict() for k, v in best.baselines.items()}}
            leaking = [lv.noise_multiplier for lv in self.levels if lv.verdict(leak) == "leaks"]
            entry["leaks_at"] = leaking
            if all(lv.verdict(leak) == NOT_AUDITED for lv in self.levels):
                entry["protected_from"] = None
                out[leak] = entry
                continue
            above = [lv.noise_multiplier for lv in self.levels
                     if not leaking or lv.noise_multiplier > max(leaking)]
            entry["protected_from"] = min(above) if above else None
            out[leak] = entry
        return out

    def failures(self, *, leaks: bool = False) -> list[str]:
        """What makes the audit FAIL (what `tinyfl audit` exits 1 on): a DP audit part that
        fails; with leaks=True also a kind of leak found at the configured noise."""
        out = [f"DP audit, {label}: FAIL" for label, part in (self.dp.parts() if self.dp else [])
               if not part.passed]
        if leaks and self.levels:
            out += [f"{leak} leaks at z = {self.configured_z:g}" for leak, v in self.leak_verdicts().items()
                    if v["verdict"] == "leaks"]
        return out

    def findings(self) -> list[str]:
        """Plain sentences, the configured point first."""
        out: list[str] = []
        claimed = self.claimed_eps()
        z = self.configured_z
        if self.levels:
            verdicts = self.leak_verdicts()
            leaking = [k for k, v in verdicts.items() if v["verdict"] == "leaks"]
            names = {"label": "the label", "features": "the features", "raw_input": "the raw input"}
            head = (f"At the configured noise (z = {z:g}, eps {claimed['one_release_rdp']:.3g} per release, "
                    f"RDP, replace relation) with {self.config.samples_per_round} sample(s) per update "
                    f"({self.config.backbone} backbone), ")
            if leaking:
                out.append(head + "the updates still leak " + ", ".join(names[k] for k in leaking)
                           + " beyond what an attacker guesses without them.")
            else:
                audited = [k for k, v in verdicts.items() if v["verdict"] != NOT_AUDITED]
                kinds = ("label, features and raw input" if len(audited) == len(LEAKS)
                         else " and ".join(names[k] for k in audited))
                out.append(head + "no attack beats its baseline beyond the confidence interval "
                           f"({self.levels[0].n_samples} samples per level): {kinds} "
                           f"{'are' if len(audited) > 1 else 'is'} protected at this sample size.")
            for leak, v in verdicts.items():
                what = {"label": "Label", "features": "Features", "raw_input": "Raw input"}[leak]
                if v["verdict"] == NOT_AUDITED:
                    why = self.audited().get(leak, "no attack of this kind could run")
                    out.append(f"{what}: not audited; {why}.")
                elif v["protected_from"] is None:
                    out.append(f"{what}: leaks at every noise level of the grid.")
                elif v["leaks_at"]:
                    upto = max(v["leaks_at"])
                    out.append(f"{what}: leaks " + ("without noise only" if upto == 0 else f"up to z = {upto:g}")
                               + f"; protected from z = {v['protected_from']:g} on in this grid.")
                else:
                    out.append(f"{what}: protected at every noise level of the grid, even without noise.")
            for lv in self.levels:
                if lv.refusals:
                    reasons = ", ".join(f"{k} x{v}" for k, v in sorted(lv.refusals.items()))
                    note = (" (the averaged noise pushed the global head past the device's crafted-head "
                            "guard)") if "CRAFTED" in lv.refusals else ""
                    out.append(f"At z = {lv.noise_multiplier:g} devices refused {sum(lv.refusals.values())} "
                               f"round(s): {reasons}{note}; {lv.n_updates} updates were attacked.")
        if self.dp is not None:
            out += ["DP audit, " + f for f in self.dp.findings()]
            m = self.dp.mechanism
            if m is not None:
                out.append(f"DP audit of the mechanism at z = {self.dp.config.noise_multiplier:g}: eps_LB "
                           f"{m.eps_lower_bound:.2f} against the claimed {m.claim_rdp:.2f} (RDP) / "
                           f"{m.claim_pld:.2f} (PLD) for one release: "
                           f"{'pass' if m.passed else 'FAIL'}, {m.eps_lower_bound / m.claim_pld:.0%} of the PLD claim.")
            for label, d in self.dp.parts():
                if d is self.dp.mechanism:
                    continue
                out.append(f"DP audit of whole {d.board} firmware images, {label} ({d.trials_per_world} trials "
                           f"per world, every coordinate, a reboot and a second board replaying the same data): "
                           f"eps_LB {d.eps_lower_bound:.2f} (claim {d.claim_rdp:.2f}), invariants "
                           f"{'hold' if d.invariants_pass else 'FAIL'}: {'pass' if d.passed else 'FAIL'}.")
        if self.utility is not None:
            u = self.utility
            n = self.config.fleet_size
            acc = dict(zip(u.noise_levels, u.accuracy[n]))
            trained = dict(zip(u.noise_levels, u.rounds_trained()))
            if z in acc:
                base = acc.get(0.0)
                how = (f" (recorded fleet simulation on {u.config.simulate_dataset}, statistics backbone)"
                       if u.source == "fleet-simulation" else "")
                out.append(f"Utility{how}: FedAvg over N = {n} devices reaches {acc[z]:.0%} test accuracy at "
                           f"z = {z:g} after {trained[z]} rounds (each device stops at its budget of "
                           f"eps {self.config.dp.eps_limit:g})"
                           + (f" ({base:.0%} without noise, {trained.get(0.0)} rounds)" if base is not None else "")
                           + f"; a device's own noise shrinks by sqrt(N) in the average, its eps does not.")
        return out

    def to_dict(self) -> dict[str, Any]:
        claimed = self.claimed_eps()
        return {
            "audited": self.audited(),
            "config": self.config.to_dict(),
            "claimed": {k: _finite(float(v)) for k, v in claimed.items()},
            "verdicts": {k: v["verdict"] for k, v in self.leak_verdicts().items()} if self.levels else {},
            "leaks": self.leak_verdicts() if self.levels else {},
            "dp_audit": self.dp.to_dict() if self.dp is not None else None,
            "levels": [lv.to_dict() for lv in self.levels],
            "utility": self.utility.to_dict() if self.utility is not None else None,
            "findings": self.findings(),
            "failures": self.failures(),
            "seconds": {k: round(v, 3) for k, v in self.seconds.items()},
            "work_dir": self.work_dir,
        }


@contextlib.contextmanager
def _rich_progress(enabled: bool) -> Iterator[Progress]:
    if not enabled:
        yield lambda _stage, _frac: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, Progress as RichProgress, TextColumn, TimeElapsedColumn

    tasks: dict[str, Any] = {}
    with RichProgress(TextColumn("{task.description:<34}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
                      TimeElapsedColumn(), console=Console(stderr=True), transient=False) as bar:
        def update(stage: str, fraction: float) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=1.0)
            bar.update(tasks[stage], completed=min(max(fraction, 0.0), 1.0))
        yield update


def run_audit(config: AuditConfig, *, work_dir: Path | str | None = None,
              progress: Progress | None = None, show_progress: bool = False) -> AuditReport:
    """Run the parts in config.parts. work_dir keeps the recorded runs (one per noise level,
    readable with `tinyfl attack RUN_DIR`); a temporary folder otherwise. progress(stage,
    fraction) is called as work advances; show_progress draws rich bars on stderr instead."""
    from .dp import run_dp_audit
    from .leakage import run_leakage_level
    from .utility import utility_curve

    config.validate()
    own_tmp = tempfile.TemporaryDirectory(prefix="tinyfl-audit-") if work_dir is None else None
    root = Path(own_tmp.name) if own_tmp else Path(work_dir)
    root.mkdir(parents=True, exist_ok=True)
    seconds: dict[str, float] = {}
    dp = None
    levels: list[LevelResult] = []
    utility = None
    try:
        with _rich_progress(show_progress and progress is None) as bar:
            say = progress or bar
            if "dp" in config.parts:
                t0 = time.monotonic()
                dp = run_dp_audit(config.dp_audit_config(),
                                  progress=lambda part, f: say(f"DP audit: {part}", f))
                seconds["dp"] = time.monotonic() - t0
            if "leakage" in config.parts:
                t0 = time.monotonic()
                leak_cfg = config.leakage_config()
                for z in config.levels:
                    levels.append(run_leakage_level(
                        leak_cfg, z, root / "runs" / f"z{z:g}",
                        progress=lambda f, z=z: say(f"attack audit: z = {z:g}", f)))
                seconds["leakage"] = time.monotonic() - t0
            if "utility" in config.parts:
                t0 = time.monotonic()
                utility = utility_curve(config.utility_config(), config.levels,
                                        progress=lambda f: say("privacy/utility curve", f))
                seconds["utility"] = time.monotonic() - t0
    finally:
        if own_tmp is not None:
            own_tmp.cleanup()
            for lv in levels:
                lv.run_dir = ""  # gone with the temporary folder
    return AuditReport(config, dp, levels, utility, seconds, "" if own_tmp else str(root))
