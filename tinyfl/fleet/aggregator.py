"""Federated rounds over a fleet of devices: DP-FedAvg of the protected head updates.

Each round: a fresh 64-bit nonce, the global head sent to every device in parallel, updates
collected until the round's deadline, then the unweighted mean of the accepted updates
(values * grid_step, as DP-FedAvg does: weighting by sample counts would leak them and change
the sensitivity) added to the head with the server learning rate. A round with no update keeps
the head. After each round the run is checkpointed, so an aggregator started again on the same
run directory resumes at the next round.
"""
from __future__ import annotations

import math
import secrets
import time
import traceback
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from ..wire import GlobalModel, Hello, Update
from .config import FleetConfig
from .device import DeviceSession, Outcome, RoundResult, SessionError
from .record import Head, RunReader, RunRecorder, load_head, round_dir

__all__ = ["Aggregator", "DevicePrivacy", "RoundReport", "RunSummary", "fedavg",
           "initial_head", "privacy_from_record"]

STATE_VERSION = 1
EPS_REL_TOL = 1e-3
# [fleet] keys that must not change when a run resumes (they shape the recorded results)
RESUME_FIXED = ("lr", "local_epochs", "batch_size", "server_lr", "chunk", "init_seed")


def fedavg(global_params: np.ndarray, updates: Sequence[Update], server_lr: float) -> np.ndarray:
    """global + server_lr * mean(values * grid_step), in float64, rounded once to float32.
    Updates are summed in the order given; no update keeps the head."""
    base = np.asarray(global_params, dtype=np.float32)
    if not updates:
        return base.copy()
    total = np.zeros(base.shape, dtype=np.float64)
    for update in updates:
        values = np.asarray(update.values, dtype=np.float64)
        if values.shape != base.shape:
            raise ValueError(f"update of {values.shape} values for a head of {base.shape}")
        total += values * float(update.grid_step)
    mean = total / len(updates)
    return (base.astype(np.float64) + float(server_lr) * mean).astype(np.float32)


def initial_head(n_classes: int, n_features: int, seed: int) -> Head:
    """A small random head (weights uniform in +-1/sqrt(features), zero bias): an all-zero head
    is what a privacy-aware device refuses as crafted."""
    rng = np.random.default_rng(seed)
    bound = 1.0 / math.sqrt(n_features)
    weights = rng.uniform(-bound, bound, size=n_classes * n_features)
    params = np.concatenate([weights, np.zeros(n_classes)]).astype(np.float32)
    return Head(params, n_classes, n_features)


@dataclass
class RoundReport:
    round: int
    nonce: int
    outcomes: dict[str, str]  # device -> Outcome value
    details: dict[str, str]
    accepted: list[str]
    elapsed_s: float
    interrupted: bool = False  # the aggregator stopped during this round; head unchanged
    evaluation: dict[str, Any] | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RoundReport:
        return cls(**data)


@dataclass
class DevicePrivacy:
    """The host's account of one device's privacy spend, checked against the device's own."""

    device: str
    noise_multiplier: float
    delta: float
    eps_limit: float
    test_build: bool  # fixed-seed firmware: its updates are not private at all
    releases_before: int  # releases the device reported at its first hello of this run
    releases_host: int  # releases observed by the host during this run
    eps_host: float  # eps for releases_before + releases_host
    releases_device: int | None  # the device's latest report
    eps_device: float | None
    agrees: bool
    note: str = ""


@dataclass
class RunSummary:
    run_dir: Path
    rounds_total: int
    rounds_completed: int
    resumed_at: int | None  # the round this invocation started at, if it resumed
    final: Head
    rounds: list[RoundReport]
    privacy: list[DevicePrivacy]
    evaluations: list[dict[str, Any]] = field(default_factory=list)  # {"round": r, ...}

    @property
    def eps_disagreements(self) -> list[DevicePrivacy]:
        return [p for p in self.privacy if not p.agrees]

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_dir": str(self.run_dir),
            "rounds_total": self.rounds_total,
            "rounds_completed": self.rounds_completed,
            "resumed_at": self.resumed_at,
            "final": {"n_classes": self.final.n_classes, "n_features": self.final.n_features,
                      "params_l2": float(np.linalg.norm(self.final.params))},
            "rounds": [asdict(r) for r in self.rounds],
            "privacy": [{k: _json_number(v) for k, v in asdict(p).items()}
                        for p in self.privacy],
            "eps_disagreements": [p.device for p in self.eps_disagreements],
            "evaluations": self.evaluations,
        }


def _json_number(value: Any) -> Any:
    """JSON has no infinity: eps without noise is reported as the string "inf"."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def _default_epsilon(noise_multiplier: float, releases: int, delta: float) -> float:
    from ..privacy.accounting import epsilon

    return float(epsilon(noise_multiplier, releases, delta))


def _dp_config(hello: Hello) -> dict[str, Any]:
    return {"clip": float(hello.clip), "noise_multiplier": float(hello.noise_multiplier),
            "grid_bits": int(hello.grid_bits), "delta": float(hello.delta),
            "eps_limit": float(hello.eps_limit), "releases_max": int(hello.releases_max),
            "test_build": bool(hello.flags & 1), "device_id": int(hello.device_id),
            "firmware_hash": int(hello.firmware_hash), "model_hash": int(hello.model_hash)}


class Aggregator:
    """Runs `config.fleet.rounds` rounds over `sessions`, recording into `run_dir`.

    evaluate(params) -> dict: optional, called with the flat head (W row-major, then b) before
    round 1 and after every round (e.g. accuracy on test data).
    progress(report): optional, called after each round is checkpointed.
    initial: the head to start from (default: initial_head(..., config.fleet.init_seed)).
    epsilon: (noise_multiplier, releases, delta) -> eps; default tinyfl.privacy.accounting.
    """

    def __init__(self, config: FleetConfig, sessions: Sequence[DeviceSession],
                 run_dir: str | Path, *,
                 evaluate: Callable[[np.ndarray], dict[str, Any]] | None = None,
                 progress: Callable[[RoundReport], None] | None = None,
                 initial: Head | None = None, hello_timeout: float = 10.0,
                 epsilon: Callable[[float, int, float], float] | None = None) -> None:
        names = [s.name for s in sessions]
        if not names:
            raise ValueError("no devices: the fleet needs at least one session")
        if len(set(names)) != len(names):
            raise ValueError(f"device names must be unique, got {names}")
        self.config = config
        self.sessions = list(sessions)
        self.run_dir = Path(run_dir)
        self.evaluate = evaluate
        self.progress = progress
        self.initial = initial
        self.hello_timeout = hello_timeout
        self.epsilon = epsilon or _default_epsilon
        recorders = {id(s.recorder): s.recorder for s in self.sessions if s.recorder is not None}
        if len(recorders) > 1:
            raise ValueError("all sessions must share one RunRecorder")
        if recorders:
            self.recorder = next(iter(recorders.values()))
            if self.recorder.run_dir.resolve() != self.run_dir.resolve():
                raise ValueError(f"sessions record into {self.recorder.run_dir}, "
                                 f"not {self.run_dir}")
            self._owns_recorder = False
        else:
            self.recorder = RunRecorder(self.run_dir)
            self._owns_recorder = True
        for session in self.sessions:
            session.recorder = self.recorder
            session.chunk = config.fleet.chunk

    # --- phases -------------------------------------------------------------------------
    def _hello_all(self, pool: ThreadPoolExecutor, sessions: Sequence[DeviceSession],
                   timeout: float) -> dict[str, Hello]:
        def ask(session: DeviceSession) -> Hello | None:
            try:
                return session.hello(timeout)
            except SessionError as exc:
                self.recorder.event("hello_failed", device=session.name, reason=exc.detail)
                return None

        answers = dict(zip([s.name for s in sessions], pool.map(ask, sessions)))
        return {name: hello for name, hello in answers.items() if hello is not None}

    def _start(self, hellos: dict[str, Hello]) -> tuple[dict[str, Any], Head]:
        """Fresh run: fix the head shape, write config.json and the initial head."""
        fleet = self.config.fleet
        if self.initial is not None:
            head = self.initial
        else:
            shapes = Counter((h.n_classes, h.n_features) for h in hellos.values())
            if not shapes:
                raise SessionError("fleet", "no device answered the hello")
            (n_classes, n_features), _ = shapes.most_common(1)[0]
            head = initial_head(n_classes, n_features, fleet.init_seed)
        if head.params.shape != (head.n_classes * (head.n_features + 1),):
            raise ValueError("initial head: params length does not match its shape")
        self.recorder.save_head(0, "result", head)
        # A run newer than every board's last release, so boards that served an earlier run
        # take part again (the device orders releases by (run, round)).
        run = 1 + max((int(h.last_run) for h in hellos.values()), default=0)
        state = {"version": STATE_VERSION, "run": run, "next_round": 1, "in_progress": None,
                 "n_classes": head.n_classes, "n_features": head.n_features,
                 "fleet": self.config.to_dict()["fleet"], "history": [], "evaluations": []}
        self.recorder.save_state(state)
        return state, head

    def _resume(self, state: dict[str, Any]) -> tuple[dict[str, Any], Head]:
        if state.get("version") != STATE_VERSION:
            raise ValueError(f"{self.run_dir}: state version {state.get('version')} unknown")
        now = self.config.to_dict()["fleet"]
        changed = [k for k in RESUME_FIXED if state["fleet"].get(k) != now[k]]
        if changed:
            raise ValueError(f"{self.run_dir}: cannot resume with a different "
                             f"{', '.join('fleet.' + k for k in changed)}")
        state["fleet"] = now  # rounds and deadline may change when resuming
        interrupted = state.get("in_progress")
        if interrupted:
            # Devices may already have trained and released for that round, and a device
            # refuses a round number twice; so the round ends without an update.
            r = int(interrupted["round"])
            head = load_head(round_dir(self.run_dir, r - 1) / "result.npz")
            self.recorder.save_head(r, "result", head)
            self.recorder.event("round_interrupted", round_number=r)
            state["history"].append(asdict(RoundReport(
                round=r, nonce=int(interrupted["nonce"]), outcomes={}, details={},
                accepted=[], elapsed_s=0.0, interrupted=True)))
            state["next_round"] = r + 1
            state["in_progress"] = None
            self.recorder.save_state(state)
        head = load_head(round_dir(self.run_dir, state["next_round"] - 1) / "result.npz")
        self.recorder.event("resume", round_number=state["next_round"])
        return state, head

    def _save_config(self, hellos: dict[str, Hello], head: Head) -> None:
        path = self.run_dir / "config.json"
        previous = RunReader(self.run_dir).config if path.exists() else {}
        devices_dp = dict(previous.get("devices_dp", {}))
        devices_dp.update({name: _dp_config(h) for name, h in hellos.items()})
        order = list(previous.get("device_order", []))
        order += [s.name for s in self.sessions if s.name not in order]
        links = dict(previous.get("links", {}))
        links.update({s.name: s.url for s in self.sessions})
        self._order = {name: i for i, name in enumerate(order)}
        config = self.config.to_dict()
        self.recorder.save_config({**config, "device_order": order, "links": links,
                                   "devices_dp": devices_dp,
                                   "head": {"n_classes": head.n_classes,
                                            "n_features": head.n_features}})

    def _evaluate(self, state: dict[str, Any], round_number: int,
                  params: np.ndarray) -> dict[str, Any] | None:
        if self.evaluate is None:
            return None
        metrics = {"round": round_number, **self.evaluate(params.copy())}
        state["evaluations"].append(metrics)
        return metrics

    # --- the run ------------------------------------------------------------------------
    def run(self) -> RunSummary:
        try:
            with ThreadPoolExecutor(max_workers=max(1, len(self.sessions)),
                                    thread_name_prefix="tinyfl-device") as pool:
                return self._run(pool)
        finally:
            if self._owns_recorder:
                self.recorder.close()

    def _run(self, pool: ThreadPoolExecutor) -> RunSummary:
        fleet = self.config.fleet
        live = [s for s in self.sessions if s.alive]
        hellos = self._hello_all(pool, live, self.hello_timeout)
        saved = self.recorder.load_state()
        if saved is None:
            state, head = self._start(hellos)
            resumed_at = None
        else:
            state, head = self._resume(saved)
            resumed_at = state["next_round"]
        self._save_config(hellos, head)
        shape = (head.n_classes, head.n_features)
        for name, hello in hellos.items():
            if (hello.n_classes, hello.n_features) != shape:
                self.recorder.event("shape_mismatch", device=name,
                                    device_shape=[hello.n_classes, hello.n_features],
                                    head_shape=list(shape))
        if saved is None and self.evaluate is not None:
            self._evaluate(state, 0, head.params)
            self.recorder.save_state(state)

        for round_number in range(state["next_round"], fleet.rounds + 1):
            head, report = self._round(pool, state, round_number, head)
            if self.progress is not None:
                self.progress(report)

        self._hello_all(pool, [s for s in self.sessions if s.alive],
                        min(self.hello_timeout, 2.0))
        privacy = privacy_from_record(self.run_dir, self.epsilon)
        summary = RunSummary(
            run_dir=self.run_dir, rounds_total=fleet.rounds,
            rounds_completed=state["next_round"] - 1, resumed_at=resumed_at, final=head,
            rounds=[RoundReport.from_dict(r) for r in state["history"]], privacy=privacy,
            evaluations=list(state["evaluations"]))
        for p in summary.eps_disagreements:
            self.recorder.event("eps_disagreement", device=p.device, eps_host=p.eps_host,
                                eps_device=p.eps_device, note=p.note)
        return summary

    def _eligible(self, session: DeviceSession, shape: tuple[int, int]) -> str:
        """Why a session sits this round out ("" if it takes part); reconnects dead links."""
        if not session.alive:
            if not session.reconnect():
                return "link is down and could not be reopened"
            try:
                session.hello(min(self.hello_timeout, 2.0))
            except SessionError as exc:
                return f"reconnected but no hello: {exc.detail}"
        hello = session.last_hello
        if hello is None:
            try:
                hello = session.hello(min(self.hello_timeout, 2.0))
            except SessionError as exc:
                return f"no hello: {exc.detail}"
        if (hello.n_classes, hello.n_features) != shape:
            return f"device head {hello.n_classes}x{hello.n_features} differs from the fleet's"
        return ""

    def _round(self, pool: ThreadPoolExecutor, state: dict[str, Any], round_number: int,
               head: Head) -> tuple[Head, RoundReport]:
        fleet = self.config.fleet
        started = time.monotonic()
        shape = (head.n_classes, head.n_features)
        reasons = dict(zip([s.name for s in self.sessions],
                           pool.map(lambda s: self._eligible(s, shape), self.sessions)))
        nonce = secrets.randbits(64)
        self.recorder.save_head(round_number, "global", head)
        state["in_progress"] = {"round": round_number, "nonce": nonce}
        self.recorder.save_state(state)

        deadline = time.monotonic() + fleet.deadline_s
        taking_part = [s for s in self.sessions if not reasons[s.name]]

        def play(session: DeviceSession) -> RoundResult:
            return session.run_round(head.params, head.n_classes, head.n_features,
                                     round_number, nonce, fleet.lr, fleet.local_epochs,
                                     fleet.batch_size, deadline, run=int(state.get("run", 1)))

        results = {r.device: r for r in pool.map(play, taking_part)}
        for name, reason in reasons.items():
            if reason:
                results[name] = RoundResult(name, round_number, Outcome.SKIPPED, detail=reason)
                self.recorder.event("skipped", round_number=round_number, device=name,
                                    reason=reason)
        # summed in the recorded device order, so recompute_globals adds in the same order
        ordered = sorted(results.values(), key=lambda r: self._order[r.device])
        accepted = [r for r in ordered if r.accepted]
        new_params = fedavg(head.params, [r.update for r in accepted], fleet.server_lr)
        new_head = Head(new_params, head.n_classes, head.n_features)
        self.recorder.save_head(round_number, "result", new_head)
        for r in ordered:
            self.recorder.event("round_result", **r.to_dict())
        report = RoundReport(
            round=round_number, nonce=nonce,
            outcomes={r.device: r.outcome.value for r in ordered},
            details={r.device: r.detail for r in ordered if r.detail},
            accepted=[r.device for r in accepted], elapsed_s=time.monotonic() - started)
        state["history"].append(asdict(report))
        state["next_round"] = round_number + 1
        state["in_progress"] = None
        self.recorder.save_state(state)
        try:
            report.evaluation = self._evaluate(state, round_number, new_params)
        except Exception:  # noqa: BLE001 - a failing evaluation must not lose the round
            self.recorder.event("evaluate_failed", round_number=round_number,
                                detail=traceback.format_exc(limit=5))
        if report.evaluation is not None:
            state["history"][-1]["evaluation"] = report.evaluation
            self.recorder.save_state(state)
        return new_head, report


def privacy_from_record(run_dir: str | Path,
                        epsilon: Callable[[float, int, float], float] | None = None
                        ) -> list[DevicePrivacy]:
    """Each device's privacy spend as the host can establish it from the record alone.

    A release is an update the host received for a round it sent, echoing that round's nonce
    (late or not, accepted or not: the device drew noise and sent it). Devices start the run
    with the releases_done of their first hello. The device's own latest report (hello,
    update or budget_exhausted) must agree within a relative 1e-3.
    """
    from ..wire import BudgetExhausted

    epsilon = epsilon or _default_epsilon
    reader = RunReader(run_dir)
    hellos = reader.hellos
    nonces: dict[tuple[str, int], int] = {}
    for rm in reader.messages("tx"):
        if isinstance(rm.message, GlobalModel):
            nonces[(rm.device, rm.message.round)] = rm.message.nonce
    released: dict[str, set[int]] = {name: set() for name in hellos}
    latest: dict[str, tuple[int, float]] = {}
    for rm in reader.messages("rx"):
        msg = rm.message
        if isinstance(msg, Update):
            if nonces.get((rm.device, msg.round)) == msg.nonce:
                released.setdefault(rm.device, set()).add(msg.round)
            latest[rm.device] = (int(msg.releases_done), float(msg.eps_spent))
        elif isinstance(msg, (Hello, BudgetExhausted)):
            latest[rm.device] = (int(msg.releases_done), float(msg.eps_spent))

    out = []
    for name in sorted(hellos):
        if not hellos[name]:
            continue
        first, last = hellos[name][0], hellos[name][-1]
        z, delta = float(last["noise_multiplier"]), float(last["delta"])
        before = int(first["releases_done"])
        count = len(released.get(name, ()))
        total = before + count
        eps_host = 0.0 if total == 0 else (math.inf if z <= 0.0 else epsilon(z, total, delta))
        releases_device, eps_device = latest.get(name, (None, None))
        notes = []
        agrees = eps_device is not None and (
            eps_host == eps_device
            or math.isclose(eps_host, eps_device, rel_tol=EPS_REL_TOL, abs_tol=1e-12))
        if eps_device is None:
            notes.append("the device never reported its spend")
        elif not agrees:
            notes.append(f"host eps {eps_host:.6g} != device eps {eps_device:.6g}")
        if releases_device is not None and releases_device != total:
            notes.append(f"host counts {total} releases, device reports {releases_device}")
        if first["flags"] & 1:
            notes.append("test build with a fixed seed: updates are not private")
        out.append(DevicePrivacy(
            device=name, noise_multiplier=z, delta=delta, eps_limit=float(last["eps_limit"]),
            test_build=bool(first["flags"] & 1), releases_before=before, releases_host=count,
            eps_host=eps_host, releases_device=releases_device, eps_device=eps_device,
            agrees=agrees, note="; ".join(notes)))
    return out
