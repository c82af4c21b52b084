"""Federated rounds over a fleet of devices: DP-FedAvg of the protected head updates.

Each round: a fresh 64-bit nonce, the global head encoded once and sent to every device by one
event loop (tinyfl.fleet.exchange; links that cannot be polled get a thread each), updates
collected until the round's deadline, then the unweighted mean of the accepted updates
(values * grid_step, as DP-FedAvg does: weighting by sample counts would leak them and change
the sensitivity) added to the head with the server learning rate. A round with no update keeps
the head. Only devices whose hello matches the fleet's DP configuration take part, and only
updates that configuration can produce are averaged (tinyfl.fleet.admission). After each round
the record is made durable and the run is checkpointed, so an aggregator started again on the
same run directory resumes (the checkpoint is a journal, one line per round): a round it was killed in is finished with the same nonce (a resend
for the devices, answered with the update they already released), then the next rounds run.
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

from ..wire import GlobalModel, Hello, Status, Update
from .admission import head_problem, hello_problem
from .config import FleetConfig
from .device import (DeviceSession, Expectation, Outcome, RoundConversation, RoundResult,
                     SessionError, hello_all, judge)
from .exchange import exchange
from .record import Head, RunReader, RunRecorder, apply_state, load_head, round_dir

__all__ = ["Aggregator", "DevicePrivacy", "DeviceReport", "RoundReport", "RunSummary", "fedavg",
           "initial_head", "next_head", "privacy_from_record"]

STATE_VERSION = 1
EPS_REL_TOL = 1e-3
# [fleet] keys that must not change when a run resumes (they shape the recorded results)
RESUME_FIXED = ("lr", "local_epochs", "batch_size", "server_lr", "chunk", "init_seed")
RECONNECT_THREADS = 32  # links reopened at once before a round (opening one blocks)


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


def next_head(global_params: np.ndarray, updates: Sequence[Update],
              server_lr: float) -> tuple[np.ndarray, str]:
    """fedavg, unless its result cannot go out as a global_model (non-finite, or beyond the
    wire's range): then the head stays as it was, and the reason is returned. The live host
    and recompute_globals both use it."""
    new = fedavg(global_params, updates, server_lr)
    problem = head_problem(new)
    if problem:
        return np.asarray(global_params, dtype=np.float32).copy(), problem
    return new, ""


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
    interrupted: bool = False  # the aggregator stopped during this round; finished on resume
    evaluation: dict[str, Any] | None = None
    head_kept: str = ""  # why the average was not applied (it could not be sent)

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
    releases_lost: int = 0  # releases the device reports that no received update shows
    # secure-aggregation devices: eps_host / eps_device above are the local guarantee (against
    # any server); these are the central one (given n_min honest survivors per round)
    secure: bool = False
    n_min: int | None = None  # the device's policy: the survivors the central guarantee assumes
    eps_central_host: float | None = None  # from its secagg_policy, budget.central_epsilon
    eps_central_device: float | None = None  # its ledger's latest report


@dataclass
class DeviceReport:
    """One device at the end of a run: admitted or why not, what it refused since boot."""

    device: str
    refused: str  # why the host refused it ("" if admitted)
    refusals: dict[str, int]  # the device's own counters (last hello): STATUS name -> count
    releases_lost: int  # releases seen in its counters that no update arrived for (live)


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
    devices: list[DeviceReport] = field(default_factory=list)
    failure: str = ""  # one line when the run did not do what was asked ("" if it did)

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
            "devices": [asdict(d) for d in self.devices],
            "failure": self.failure,
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
    allow_test_builds: admit devices whose hello says TEST_BUILD (fixed seed or a broken
    mechanism: their updates are not private). Off by default.
    recheck_timeout: the wait for a hello after a reconnect, for a device that has not said
    hello yet, and at the end of the run (default min(hello_timeout, 2 s); a relayed link
    whose bytes take seconds to come back needs more).
    """

    def __init__(self, config: FleetConfig, sessions: Sequence[DeviceSession],
                 run_dir: str | Path, *,
                 evaluate: Callable[[np.ndarray], dict[str, Any]] | None = None,
                 progress: Callable[[RoundReport], None] | None = None,
                 initial: Head | None = None, hello_timeout: float = 10.0,
                 epsilon: Callable[[float, int, float], float] | None = None,
                 allow_test_builds: bool = False,
                 recheck_timeout: float | None = None) -> None:
        names = [s.name for s in sessions]
        if not names:
            raise ValueError("no devices: the fleet needs at least one session")
        if len(set(names)) != len(names):
            raise ValueError(f"device names must be unique, got {names}")
        config.validate()
        self.config = config
        self.sessions = list(sessions)
        self.run_dir = Path(run_dir)
        self.evaluate = evaluate
        self.progress = progress
        self.initial = initial
        self.hello_timeout = hello_timeout
        self.recheck_timeout = (min(hello_timeout, 2.0) if recheck_timeout is None
                                else recheck_timeout)
        self.epsilon = epsilon or _default_epsilon
        self.allow_test_builds = allow_test_builds
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
            session.resends = config.fleet.resends
            session.resend_interval_s = config.fleet.resend_interval_s
            # this process's bytes start a new stream in the record (a resumed run's earlier
            # process may have died in the middle of a frame)
            self.recorder.reset(session.name, 0)

    # --- phases -------------------------------------------------------------------------
    def _hello_all(self, sessions: Sequence[DeviceSession], timeout: float) -> dict[str, Hello]:
        """Asks every session for a hello at once (one exchange: O(N) for N devices)."""
        out: dict[str, Hello] = {}
        for name, answer in hello_all(list(sessions), timeout).items():
            if isinstance(answer, SessionError):
                self.recorder.event("hello_failed", device=name, reason=answer.detail)
            else:
                out[name] = answer
        return out

    def _journal(self, state: dict[str, Any], entry: dict[str, Any]) -> None:
        """Applies one change to the checkpoint and appends it, durably, to the journal."""
        apply_state(state, entry)
        self.recorder.append_state(entry)

    def _refusal(self, hello: Hello) -> str:
        if self.config.secagg is not None:  # secure-aggregation mode: tinyfl/fleet/secagg_round.py
            from .secagg_round import secure_hello_problem
            return secure_hello_problem(hello, self.config.dp, allow_test_builds=self.allow_test_builds)
        return hello_problem(hello, self.config.dp, allow_test_builds=self.allow_test_builds)

    def _start(self, hellos: dict[str, Hello]) -> tuple[dict[str, Any], Head]:
        """Fresh run: fix the head shape, write config.json and the initial head."""
        fleet = self.config.fleet
        if self.initial is not None:
            head = self.initial
        else:
            # only devices the host admits decide the shape
            shapes = Counter((h.n_classes, h.n_features) for h in hellos.values()
                             if not self._refusal(h))
            if not shapes:
                why = "; ".join(f"{name}: {self._refusal(h)}" for name, h in hellos.items())
                raise SessionError("fleet", "no admissible device answered the hello"
                                   + (f" ({why})" if why else ""))
            (n_classes, n_features), _ = shapes.most_common(1)[0]
            head = initial_head(n_classes, n_features, fleet.init_seed)
        if head.params.shape != (head.n_classes * (head.n_features + 1),):
            raise ValueError("initial head: params length does not match its shape")
        problem = head_problem(head.params)
        if problem:
            raise ValueError(f"initial head: {problem}")
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
        now = self.config.to_dict()
        changed = [f"fleet.{k}" for k in RESUME_FIXED if state["fleet"].get(k) != now["fleet"][k]]
        recorded_dp = RunReader(self.run_dir).config.get("dp")
        if recorded_dp is not None and recorded_dp != now["dp"]:
            changed.append("dp")
        if changed:
            raise ValueError(f"{self.run_dir}: cannot resume with a different "
                             f"{', '.join(changed)}")
        self._journal(state, {"op": "fleet", "fleet": now["fleet"]})  # rounds, deadline may change
        head = load_head(round_dir(self.run_dir, state["next_round"] - 1) / "result.npz")
        self.recorder.event("resume", round_number=state["next_round"],
                            interrupted=bool(state.get("in_progress")))
        return state, head

    def _decided_in_record(self, round_number: int, nonce: int, head: Head,
                           run: int) -> dict[str, RoundResult]:
        """Devices whose answer to an interrupted round is already in the record: the same
        rule as recompute_globals (the first answer judge() ends the round with wins)."""
        decided: dict[str, RoundResult] = {}
        dp = self.config.dp
        for rm in RunReader(self.run_dir).messages("rx"):
            if rm.round != round_number or rm.device in decided or rm.message is None:
                continue
            expect = Expectation(round_number, nonce, head.n_classes, head.n_features, run, dp)
            verdict = judge(rm.message, expect)
            if verdict.outcome is None:
                continue
            decided[rm.device] = RoundResult(
                rm.device, round_number, verdict.outcome, detail=verdict.detail,
                update=rm.message if isinstance(rm.message, Update) else None)
        return decided

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
                                   "allow_test_builds": self.allow_test_builds,
                                   "head": {"n_classes": head.n_classes,
                                            "n_features": head.n_features}})

    def _evaluate(self, state: dict[str, Any], round_number: int,
                  params: np.ndarray) -> dict[str, Any] | None:
        if self.evaluate is None:
            return None
        metrics = {"round": round_number, **self.evaluate(params.copy())}
        self._journal(state, {"op": "evaluation", "metrics": metrics})
        return metrics

    # --- the run ------------------------------------------------------------------------
    def run(self) -> RunSummary:
        try:
            return self._run()
        finally:
            if self._owns_recorder:
                self.recorder.close()
            else:
                self.recorder.flush()

    def _run(self) -> RunSummary:
        fleet = self.config.fleet
        live = [s for s in self.sessions if s.alive]
        hellos = self._hello_all(live, self.hello_timeout)
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
            refusal = self._refusal(hello)
            if refusal:
                self.recorder.event("device_refused", device=name, reason=refusal)
        if saved is None and self.evaluate is not None:
            self._evaluate(state, 0, head.params)

        first_round = state["next_round"]
        interrupted = state.get("in_progress")
        if interrupted:
            r = int(interrupted["round"])
            global_head = load_head(round_dir(self.run_dir, r) / "global.npz")
            decided = self._decided_in_record(r, int(interrupted["nonce"]), global_head,
                                              int(state.get("run", 1)))
            head, report = self._round(state, r, global_head,
                                       nonce=int(interrupted["nonce"]), decided=decided)
            if self.progress is not None:
                self.progress(report)
        for round_number in range(state["next_round"], fleet.rounds + 1):
            head, report = self._round(state, round_number, head)
            if self.progress is not None:
                self.progress(report)

        final_hellos = self._hello_all([s for s in self.sessions if s.alive],
                                       self.recheck_timeout)
        privacy = privacy_from_record(self.run_dir, self.epsilon)
        rounds = [RoundReport.from_dict(r) for r in state["history"]]
        summary = RunSummary(
            run_dir=self.run_dir, rounds_total=fleet.rounds,
            rounds_completed=state["next_round"] - 1, resumed_at=resumed_at, final=head,
            rounds=rounds, privacy=privacy, evaluations=list(state["evaluations"]),
            devices=self._device_reports({**hellos, **final_hellos}),
            failure=_failure([r for r in rounds if r.round >= first_round]))
        for p in summary.eps_disagreements:
            self.recorder.event("eps_disagreement", device=p.device, eps_host=p.eps_host,
                                eps_device=p.eps_device, note=p.note)
        if summary.failure:
            self.recorder.event("run_failed", reason=summary.failure)
        self.recorder.sync()
        return summary

    def _device_reports(self, hellos: dict[str, Hello]) -> list[DeviceReport]:
        out = []
        for session in self.sessions:
            hello = hellos.get(session.name) or session.last_hello
            refusals: dict[str, int] = {}
            refused = "no hello"
            if hello is not None:
                refused = self._refusal(hello)
                for code, count in enumerate(hello.refusals):
                    if count:
                        refusals[_status_name(code)] = int(count)
            out.append(DeviceReport(session.name, refused, refusals, session.releases_lost))
        return out

    def _eligible_all(self, sessions: Sequence[DeviceSession], shape: tuple[int, int],
                      run: int) -> dict[str, tuple[Outcome | None, str]]:
        """Whether each session takes part this round (None, "") or why not. Dead links are
        reopened (a few at a time: opening blocks) and asked for a hello, as are sessions
        that never said hello; the others are judged on the hello they gave."""
        reasons: dict[str, tuple[Outcome | None, str]] = {}
        dead = [s for s in sessions if not s.alive]
        if dead:
            with ThreadPoolExecutor(max_workers=min(RECONNECT_THREADS, len(dead)),
                                    thread_name_prefix="tinyfl-reconnect") as pool:
                reopened = dict(zip([s.name for s in dead], pool.map(lambda s: s.reconnect(),
                                                                       dead)))
            for name, ok in reopened.items():
                if not ok:
                    reasons[name] = (Outcome.SKIPPED, "link is down and could not be reopened")
        again = [s for s in dead if s.name not in reasons]
        unknown = [s for s in sessions if s.alive and s not in again and s.last_hello is None]
        asked = hello_all(again + unknown, self.recheck_timeout) if again or unknown else {}
        for session in again:
            if isinstance(asked[session.name], SessionError):
                reasons[session.name] = (Outcome.SKIPPED, "reconnected but no hello: "
                                         f"{asked[session.name].detail}")
        for session in unknown:
            if isinstance(asked[session.name], SessionError):
                reasons[session.name] = (Outcome.SKIPPED,
                                         f"no hello: {asked[session.name].detail}")
        for session in sessions:
            if session.name not in reasons:
                reasons[session.name] = self._admits(session.last_hello, shape, run)
        return reasons

    def _admits(self, hello: Hello | None, shape: tuple[int, int],
                run: int) -> tuple[Outcome | None, str]:
        if hello is None:
            return Outcome.SKIPPED, "no hello"
        refusal = self._refusal(hello)
        if refusal:
            return Outcome.REFUSED, refusal
        if (hello.n_classes, hello.n_features) != shape:
            return (Outcome.SKIPPED,
                    f"device head {hello.n_classes}x{hello.n_features} differs from the fleet's")
        if int(hello.last_run) > run:
            return (Outcome.SKIPPED, f"the device took part in a newer run ({hello.last_run}) "
                    f"than this one ({run}) and refuses its rounds")
        return None, ""

    def _round(self, state: dict[str, Any], round_number: int,
               head: Head, *, nonce: int | None = None,
               decided: dict[str, RoundResult] | None = None) -> tuple[Head, RoundReport]:
        """One round. With `nonce`, an interrupted round is finished: the same head and nonce
        again (a resend for the devices), except for those `decided` already answered."""
        if self.config.secagg is not None:  # secure-aggregation mode: tinyfl/fleet/secagg_round.py
            from .secagg_round import aggregator_round
            return aggregator_round(self, state, round_number, head, resumed_nonce=nonce)
        fleet = self.config.fleet
        run = int(state.get("run", 1))
        started = time.monotonic()
        shape = (head.n_classes, head.n_features)
        decided = dict(decided or {})
        asked = [s for s in self.sessions if s.name not in decided]
        reasons = self._eligible_all(asked, shape, run)
        resumed = nonce is not None
        if nonce is None:
            nonce = secrets.randbits(64)
            self.recorder.save_head(round_number, "global", head)
            self._journal(state, {"op": "begin", "round": round_number, "nonce": nonce})

        deadline = time.monotonic() + fleet.deadline_s
        taking_part = [s for s in asked if reasons[s.name][0] is None]

        # encoded once for the whole fleet; each device only gets its own frame headers
        message = GlobalModel(run=run, round=round_number, nonce=nonce, lr=float(fleet.lr),
                              local_epochs=fleet.local_epochs, batch_size=fleet.batch_size,
                              n_classes=head.n_classes, n_features=head.n_features,
                              params=head.params)
        payload = message.encode()
        expect = Expectation(round_number, nonce, head.n_classes, head.n_features, run,
                             self.config.dp)
        conversations = [RoundConversation(s, message, payload, expect) for s in taking_part]
        exchange(conversations, deadline)
        results = {c.result.device: c.result for c in conversations}
        results.update(decided)
        for name, (outcome, reason) in reasons.items():
            if outcome is not None:
                results[name] = RoundResult(name, round_number, outcome, detail=reason)
                self.recorder.event(outcome.value, round_number=round_number, device=name,
                                    reason=reason)
        # summed in the recorded device order, so recompute_globals adds in the same order
        ordered = sorted(results.values(), key=lambda r: self._order[r.device])
        accepted = [r for r in ordered if r.accepted]
        new_params, kept = next_head(head.params, [r.update for r in accepted], fleet.server_lr)
        if kept:
            self.recorder.event("head_kept", round_number=round_number, reason=kept)
        new_head = Head(new_params, head.n_classes, head.n_features)
        for r in ordered:
            self.recorder.event("round_result", **r.to_dict())
        # Durability: an update counts as accepted once its frames are on disk; only then
        # may a result or a checkpoint that depends on it be written (docs/protocol.md).
        self.recorder.sync()
        self.recorder.save_head(round_number, "result", new_head)
        report = RoundReport(
            round=round_number, nonce=nonce,
            outcomes={r.device: r.outcome.value for r in ordered},
            details={r.device: r.detail for r in ordered if r.detail},
            accepted=[r.device for r in accepted], elapsed_s=time.monotonic() - started,
            interrupted=resumed, head_kept=kept)
        self._journal(state, {"op": "end", "report": asdict(report)})
        try:
            report.evaluation = self._evaluate(state, round_number, new_params)
        except Exception:  # noqa: BLE001 - a failing evaluation must not lose the round
            self.recorder.event("evaluate_failed", round_number=round_number,
                                detail=traceback.format_exc(limit=5))
        return new_head, report


def _status_name(code: int) -> str:
    try:
        return Status(code).name
    except ValueError:
        return f"status {code}"


def _failure(rounds: Sequence[RoundReport]) -> str:
    """One line when the rounds this invocation ran did not train at all ("" otherwise)."""
    if not rounds or any(r.accepted for r in rounds):
        return ""
    causes: Counter[str] = Counter()
    for r in rounds:
        for device, outcome in r.outcomes.items():
            detail = r.details.get(device, "")
            code = next((s.name for s in Status if detail.startswith(s.name + " ")), "")
            causes[f"{outcome} {code}".strip() if code else outcome] += 1
    listed = ", ".join(f"{n}x {cause}" for cause, n in causes.most_common())
    return (f"no update was accepted in any of {len(rounds)} round(s)"
            + (f" ({listed})" if listed else " (no device took part)"))


def privacy_from_record(run_dir: str | Path,
                        epsilon: Callable[[float, int, float], float] | None = None
                        ) -> list[DevicePrivacy]:
    """Each device's privacy spend as the host can establish it from the record alone.

    A release is an update the host received for a round it sent, echoing that round's nonce
    (late or not, accepted or not: the device drew noise and sent it). Devices start the run
    with the releases_done of their first hello. The device's own latest report (hello,
    update or budget_exhausted) must agree within a relative 1e-3.
    """
    from ..wire import BudgetExhausted, SecaggMaskedUpdate, SecaggPolicy

    epsilon = epsilon or _default_epsilon
    reader = RunReader(run_dir)
    hellos = reader.hellos
    # one pass over the record, both directions: the rounds and nonces each device answered
    # are matched against what was sent once the pass is over (order-free)
    nonces: dict[tuple[str, int], int] = {}
    answered: set[tuple[str, int, int]] = set()  # (device, round, nonce echoed)
    latest: dict[str, tuple[int, float]] = {}
    policies: dict[str, SecaggPolicy] = {}
    central_device: dict[str, float] = {}
    for rm in reader.messages(None):
        msg = rm.message
        if rm.direction == "tx":
            if isinstance(msg, GlobalModel):
                nonces[(rm.device, msg.round)] = msg.nonce
        elif isinstance(msg, Update):
            answered.add((rm.device, msg.round, msg.nonce))
            latest[rm.device] = (int(msg.releases_done), float(msg.eps_spent))
        elif isinstance(msg, SecaggMaskedUpdate):  # a secure round's release: its local guarantee
            answered.add((rm.device, msg.round, msg.nonce))
            latest[rm.device] = (int(msg.releases_done), float(msg.local_eps_spent))
            central_device[rm.device] = float(msg.central_eps_spent)
        elif isinstance(msg, SecaggPolicy):  # follows each hello of a secure image
            policies[rm.device] = msg
            central_device[rm.device] = float(msg.central_eps_spent)
        elif isinstance(msg, (Hello, BudgetExhausted)):
            latest[rm.device] = (int(msg.releases_done), float(msg.eps_spent))
    released: dict[str, set[int]] = {name: set() for name in hellos}
    for device, round_number, nonce in answered:
        if nonces.get((device, round_number)) == nonce:
            released.setdefault(device, set()).add(round_number)

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
        lost = 0
        if releases_device is not None and releases_device != total:
            notes.append(f"host counts {total} releases, device reports {releases_device}")
            lost = max(0, releases_device - total)
        policy = policies.get(name)
        central_host = central_dev = None
        if policy is not None:
            try:
                central_host = _central_epsilon(policy, last, total)
            except (ValueError, ArithmeticError):  # a policy (device bytes) no guarantee can come from
                central_host = math.inf
                notes.append(f"its policy's noise ({policy.noise_num}/{policy.noise_den} grid steps^2 over "
                             f"n_min {policy.n_min}) gives no central guarantee")
            central_dev = central_device.get(name)
            central_agrees = central_dev is not None and math.isclose(
                central_host, central_dev, rel_tol=EPS_REL_TOL, abs_tol=1e-12)
            if not central_agrees and math.isfinite(central_host):
                notes.append("the device never reported its central spend" if central_dev is None else
                             f"host central eps {central_host:.6g} != device central eps {central_dev:.6g}")
            agrees = agrees and central_agrees
        if first["flags"] & 1:
            notes.append("test build with a fixed seed: updates are not private")
        out.append(DevicePrivacy(
            device=name, noise_multiplier=z, delta=delta, eps_limit=float(last["eps_limit"]),
            test_build=bool(first["flags"] & 1), releases_before=before, releases_host=count,
            eps_host=eps_host, releases_device=releases_device, eps_device=eps_device,
            agrees=agrees, note="; ".join(notes), releases_lost=lost, secure=policy is not None,
            n_min=None if policy is None else int(policy.n_min), eps_central_host=central_host,
            eps_central_device=central_dev))
    return out


def _central_epsilon(policy: Any, hello: dict[str, Any], releases: int) -> float:
    """A secure device's central eps after `releases` secure releases, from its own policy
    (n_min, per-device variance) and hello (grid, delta, head size), with dp-accounting:
    tinyfl.secagg.budget.central_epsilon, the float figure its ledger's curve rounds up."""
    from ..secagg.budget import central_epsilon

    if releases == 0:
        return 0.0
    return central_epsilon(releases, float(hello["delta"]), bound=2 ** int(hello["grid_bits"]),
                           dim=int(hello["n_classes"]) * (int(hello["n_features"]) + 1),
                           n_min=int(policy.n_min), local_var=int(policy.noise_num) / int(policy.noise_den))
