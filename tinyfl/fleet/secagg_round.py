"""One secure-aggregation round over the wire: the host's side of SecAgg+ with distributed
discrete Gaussian noise, driving real (or emulated) boards through their DeviceSessions.

The protocol logic is tinyfl.secagg.server.SecAggServer (the `cryptography` side); this module
moves its messages over the links (docs/protocol.md "Secure aggregation"), records every frame
in the run record (DeviceSession does), and turns each device's fate into a typed outcome:
a device that stops answering, fails its link or refuses a step at any of the five steps is a
dropout of that step, and the round completes as long as the protocol allows (at least n_min
survivors, t shares of each mask). The host learns only the sum of the survivors' noised
updates; FedAvg divides it by the number of survivors.
"""
from __future__ import annotations

import enum
import secrets
import struct
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from ..links import LinkError
from ..wire import (
    BudgetExhausted,
    Error,
    GlobalModel,
    Hello,
    SecaggKeys,
    SecaggMaskedUpdate,
    SecaggMaskRequest,
    SecaggNeighbours,
    SecaggPolicy,
    SecaggReveal,
    SecaggShareForYou,
    SecaggShares,
    SecaggUnmaskRequest,
    Status,
)
from .device import DeviceSession
from .exchange import Conversation, exchange

__all__ = ["PolicyError", "SecaggOutcome", "SecureRound", "SecureRoundResult", "aggregator_round", "close_interrupted",
           "check_policies", "fedavg_secure", "hello_and_policy", "secure_hello_problem", "select_cohort",
           "threshold_for"]

SECAGG_FLAG = 0x08  # hello flag: secure aggregation compiled in (spec.HELLO_FLAGS)


class SecaggOutcome(str, enum.Enum):
    """What became of one device in a secure round."""

    OK = "ok"                    # its masked update is in the sum
    DROPPED = "dropped"          # stopped answering at `step` (deadline passed)
    LINK_DOWN = "link_down"      # its link failed at `step`
    REFUSED = "refused"          # answered `step` with an error (detail: the status)
    BUDGET = "budget_exhausted"  # refused the round: no budget left
    BAD_REPLY = "bad_reply"      # answered with a message that breaks the round (wrong round, size)
    ROUND_FAILED = "round_failed"  # did its part, but the round could not be unmasked (failure says why)
    LEFT_OUT = "left_out"        # its policy (or id) cannot take part in this cohort: not asked (detail: why)


class PolicyError(ValueError):
    """A device's secure-aggregation policy cannot host this round (one line, names the device)."""


def hello_and_policy(session: DeviceSession, timeout: float = 5.0) -> tuple[Hello, SecaggPolicy | None]:
    """Asks for a hello; returns it with the secagg_policy that follows it (None when the
    hello says secure aggregation is not compiled in). Raises SessionError or PolicyError."""
    from ..wire import HelloRequest
    from .device import SessionError

    deadline = time.monotonic() + timeout
    hello: Hello | None = None
    try:
        session.send(HelloRequest())
        while (left := deadline - time.monotonic()) > 0:
            for item in session.receive(min(left, 0.05)):
                if isinstance(item.message, Hello):
                    hello = item.message
                    if not int(hello.flags) & SECAGG_FLAG:
                        return hello, None
                elif isinstance(item.message, SecaggPolicy) and hello is not None:
                    if int(item.message.device_id) != int(hello.device_id):
                        raise PolicyError(f"{session.name}: policy of device {item.message.device_id} "
                                          f"after the hello of {hello.device_id}")
                    return hello, item.message
    except LinkError as exc:
        raise SessionError(session.name, f"link failed: {exc.detail}") from exc
    raise SessionError(session.name, f"no {'policy' if hello else 'hello'} within {timeout:g} s")


def threshold_for(degree: int) -> int:
    """Shamir threshold t for a device with `degree` neighbours: the device demands
    degree/2 < t <= degree; the smallest such t tolerates the most dropouts."""
    return degree // 2 + 1


def check_policies(policies: Mapping[int, SecaggPolicy], hellos: Mapping[int, Hello], *, k: int,
                   n_min: int) -> int:
    """The n_min the round runs with; PolicyError when a device would refuse the round."""
    for device_id, hello in hellos.items():
        if not int(hello.flags) & SECAGG_FLAG or device_id not in policies:
            raise PolicyError(f"device {device_id}: secure aggregation is not compiled in")
    n = len(hellos)
    degree = n - 1 if k == 0 or k >= n - 1 else k
    need = max([n_min, *(int(p.n_min) for p in policies.values())])
    for device_id, p in policies.items():
        if not 1 <= device_id <= 0xFFFF:
            raise PolicyError(f"device {device_id}: ids above 65535 cannot take part")
        if degree > int(p.k_max):
            raise PolicyError(f"device {device_id}: {degree} neighbours, it accepts {p.k_max}")
        if n > int(p.n_max):
            raise PolicyError(f"device {device_id}: cohort {n} above its n_max {p.n_max}")
    if n < need:
        raise PolicyError(f"{n} devices, the round needs n_min = {need}")
    return need


def select_cohort(policies: Mapping[int, SecaggPolicy], hellos: Mapping[int, Hello], *, k: int,
                  n_min: int) -> tuple[int, list[int], dict[int, str]]:
    """The devices that can take part together: (the round's n_min, their ids, left out id ->
    one-line reason). A device is left out when secure aggregation is not compiled in, its id
    is not a SecAgg id (1..65535), or the cohort breaks its own k_max, n_max or n_min; leaving
    devices out shrinks the cohort, so the others' constraints are checked again until none
    breaks. PolicyError when fewer devices remain than the round's n_min."""
    left_out: dict[int, str] = {}
    for device_id, hello in hellos.items():
        if not int(hello.flags) & SECAGG_FLAG or device_id not in policies:
            left_out[device_id] = "secure aggregation is not compiled in"
        elif not 1 <= device_id <= 0xFFFF:
            left_out[device_id] = f"id {device_id} is not a secure-aggregation id (1..65535)"
    cohort = sorted(d for d in hellos if d not in left_out)
    while cohort:
        n = len(cohort)
        degree = n - 1 if k == 0 or k >= n - 1 else k
        # a cohort too small for a device stays too small as others leave: all of those go;
        # a cohort too large for a device may fit once one leaves: the tightest goes alone
        small = {d: f"cohort {n} below its n_min {policies[d].n_min}" for d in cohort
                 if n < int(policies[d].n_min)}
        large = {}
        for device_id in cohort:
            p = policies[device_id]
            if degree > int(p.k_max):
                large[device_id] = (int(p.k_max) + 1, f"{degree} neighbours, it accepts {p.k_max}")
            elif n > int(p.n_max):
                large[device_id] = (int(p.n_max), f"cohort {n} above its n_max {p.n_max}")
        if small:
            misfits = small
        elif large:
            tightest = min(large, key=lambda d: (large[d][0], d))
            misfits = {tightest: large[tightest][1]}
        else:
            break
        left_out.update(misfits)
        cohort = [d for d in cohort if d not in misfits]
    need = max([2, n_min, *(int(policies[d].n_min) for d in cohort)])
    if len(cohort) < need:
        why = "; ".join(f"{d}: {r}" for d, r in list(left_out.items())[:3])
        more = "; ..." if len(left_out) > 3 else ""
        out = f" ({len(left_out)} left out: {why}{more})" if left_out else ""
        raise PolicyError(f"{len(cohort)} devices can take part{out}, the round needs n_min = {need}")
    return need, cohort, left_out


@dataclass
class SecureRoundResult:
    round: int
    total: np.ndarray | None = None          # the unmasked sum (grid steps), None if it failed
    grid_step: float = 0.0
    survivors: list[int] = field(default_factory=list)  # ids whose masked update is in the sum
    outcomes: dict[int, tuple[SecaggOutcome, str, str]] = field(default_factory=dict)  # id -> (outcome, step, detail)
    eps: dict[int, tuple[float, float]] = field(default_factory=dict)  # id -> (central, local)
    sample_counts: dict[int, int] = field(default_factory=dict)
    failure: str = ""                        # why no sum (empty when total is set)

    @property
    def ok(self) -> bool:
        return self.total is not None

    def to_dict(self) -> dict[str, Any]:
        return {"round": self.round, "ok": self.ok, "survivors": self.survivors,
                "failure": self.failure, "grid_step": self.grid_step,
                "outcomes": {str(d): {"outcome": o.value, "step": s, "detail": t}
                             for d, (o, s, t) in sorted(self.outcomes.items())},
                "eps": {str(d): {"central": c, "local": lo} for d, (c, lo) in sorted(self.eps.items())}}


def fedavg_secure(global_params: np.ndarray, result: SecureRoundResult, server_lr: float) -> np.ndarray:
    """The next head: global + server_lr * (sum of the survivors' updates) / survivors."""
    if not result.ok or not result.survivors:
        return np.asarray(global_params, dtype=np.float32)
    mean = result.total.astype(np.float64) * result.grid_step / len(result.survivors)
    return (np.asarray(global_params, np.float64) + server_lr * mean).astype(np.float32)


class _Await(Conversation):
    """Waits for one device's answer to a step (the request went out before): the answer of
    this run and round, or the outcome that ends the device's part in the round."""

    def __init__(self, session: DeviceSession, want: type, step: str, run: int, round_number: int) -> None:
        super().__init__(session)
        self.want, self.step, self.run, self.round = want, step, run, round_number
        self.answer: Any = None
        self.outcome: tuple[SecaggOutcome, str, str] | None = None

    def start(self, now: float) -> None:
        if not self.session.alive:
            self.outcome, self.done = (SecaggOutcome.LINK_DOWN, self.step, "link is down"), True

    def on_messages(self, items: list, now: float) -> None:
        for item in items:
            m = item.message
            if isinstance(m, self.want) and (m.run, m.round) == (self.run, self.round):
                self.answer = m
            elif isinstance(m, BudgetExhausted):
                self.outcome = (SecaggOutcome.BUDGET, self.step, f"eps {m.eps_spent:.3g}")
            elif isinstance(m, Error):
                self.outcome = (SecaggOutcome.REFUSED, self.step, _status(m.code))
            elif isinstance(m, self.want):
                self.outcome = (SecaggOutcome.BAD_REPLY, self.step, f"run/round {m.run}/{m.round}")
            else:
                continue  # hellos and policies a reboot sends: not an answer
            self.done = True
            return

    def link_failed(self, exc: LinkError) -> None:
        self.outcome = (SecaggOutcome.LINK_DOWN, self.step, exc.detail)
        super().link_failed(exc)


class SecureRound:
    """Runs one round over `sessions` (device id -> DeviceSession; ids are the hellos'
    device_id). `between(step, ids)` is called before each step ("keys", "shares", "masked",
    "reveal") with the devices still in the round (tests stop boards there)."""

    def __init__(self, sessions: Mapping[int, DeviceSession], *, n_min: int, k: int = 0,
                 step_timeout_s: float = 10.0, rng: np.random.Generator | None = None,
                 between: Callable[[str, list[int]], None] | None = None) -> None:
        self.sessions = dict(sessions)
        self.n_min = n_min
        self.k = k
        self.step_timeout_s = step_timeout_s
        self.rng = rng or np.random.default_rng()
        self.between = between or (lambda step, live: None)

    # -- messaging ---------------------------------------------------------------------------
    def _send(self, result: SecureRoundResult, device_id: int, message: Any, step: str) -> bool:
        try:
            self.sessions[device_id].send(message)
            return True
        except LinkError as exc:
            result.outcomes[device_id] = (SecaggOutcome.LINK_DOWN, step, exc.detail)
            return False

    def _gather(self, result: SecureRoundResult, ids: Sequence[int], want: type, step: str,
                run: int, round_number: int) -> dict[int, Any]:
        """The `want` message of each device in `ids` (this run and round), until the step's
        deadline, all devices read by the host's event loop (tinyfl.fleet.exchange); a device
        that errs, fails or stays silent gets its outcome instead."""
        waiting = [d for d in ids if d not in result.outcomes]
        awaits = {d: _Await(self.sessions[d], want, step, run, round_number) for d in waiting}
        exchange(list(awaits.values()), time.monotonic() + self.step_timeout_s)
        got: dict[int, Any] = {}
        for device_id, a in awaits.items():
            if a.answer is not None:
                got[device_id] = a.answer
            else:
                result.outcomes[device_id] = a.outcome or (
                    SecaggOutcome.DROPPED, step, f"no {want.NAME} within {self.step_timeout_s:g} s")
        return got

    # -- the round ---------------------------------------------------------------------------
    def run(self, *, run: int, round_number: int, params: np.ndarray, n_classes: int, n_features: int,
            lr: float, local_epochs: int, batch_size: int, nonce: int | None = None) -> SecureRoundResult:
        result = SecureRoundResult(round_number)
        for session in self.sessions.values():
            session.record_as_round(round_number)
        try:
            return self._run(result, run, round_number, params, n_classes, n_features, lr,
                             local_epochs, batch_size, nonce)
        finally:
            for session in self.sessions.values():
                session.record_as_round(0)

    def _run(self, result: SecureRoundResult, run: int, round_number: int, params: np.ndarray,
             n_classes: int, n_features: int, lr: float, local_epochs: int, batch_size: int,
             nonce: int | None) -> SecureRoundResult:
        from ..secagg.server import SecAggError, SecAggServer

        head = GlobalModel(run=run, round=round_number, nonce=secrets.randbits(64) if nonce is None else nonce, lr=lr,
                           local_epochs=local_epochs, batch_size=batch_size, n_classes=n_classes,
                           n_features=n_features, params=params)
        ids = sorted(self.sessions)
        self.between("keys", ids)
        live = [d for d in ids if self._send(result, d, head, "keys")]
        keys = self._gather(result, live, SecaggKeys, "keys", run, round_number)
        n = len(keys)
        degree = n - 1 if self.k == 0 or self.k >= n - 1 else self.k
        server = SecAggServer(round=round_number, k=degree, t=threshold_for(degree), n_min=self.n_min,
                              rng=self.rng)
        try:
            neighbours = server.collect_keys({d: (m.c_pk, m.s_pk) for d, m in keys.items()})
            self.between("shares", sorted(keys))
            for d, nbs in neighbours.items():
                records = [struct.pack("<H", nb.id) + nb.c_pk + nb.s_pk for nb in nbs]
                self._send(result, d, SecaggNeighbours(run=run, round=round_number, t=server.t,
                                                       neighbours=records), "shares")
            shares = self._gather(result, list(neighbours), SecaggShares, "shares", run, round_number)
            shares = {d: list(m.ciphers) for d, m in shares.items()
                      if len(m.ciphers) == len(server.graph[d]) or self._bad(result, d, "shares")}
            inbox = server.collect_shares(shares)
            self.between("masked", sorted(inbox))
            for v, msgs in inbox.items():
                for sender, cipher in msgs:
                    if not self._send(result, v, SecaggShareForYou(run=run, round=round_number, sender=sender,
                                                                    cipher=cipher), "masked"):
                        break
                alive, cohort = server.alive_for(v)
                self._send(result, v, SecaggMaskRequest(run=run, round=round_number, cohort=cohort,
                                                        alive=alive), "masked")
            masked = self._gather(result, sorted(inbox), SecaggMaskedUpdate, "masked", run, round_number)
            ys = {}
            for d, m in masked.items():
                if len(m.values) != n_classes * (n_features + 1):
                    self._bad(result, d, "masked")
                    continue
                ys[d] = m.values.astype(np.uint32)
                result.eps[d] = (float(m.central_eps_spent), float(m.local_eps_spent))
                result.sample_counts[d] = int(m.sample_count)
                result.grid_step = float(m.grid_step)
            server.collect_masked(ys)
            self.between("reveal", list(server.u3))
            for u in server.u3:
                survived, cohort = server.survived_for(u)
                self._send(result, u, SecaggUnmaskRequest(run=run, round=round_number, cohort=cohort,
                                                          survived=survived), "reveal")
            reveals = self._gather(result, server.u3, SecaggReveal, "reveal", run, round_number)
            result.total = server.unmask({d: list(m.records) for d, m in reveals.items()})
            result.survivors = list(server.u3)
        except SecAggError as exc:
            result.failure = str(exc)
        for d in result.survivors:
            result.outcomes.setdefault(d, (SecaggOutcome.OK, "reveal", ""))
        for d in self.sessions:  # the round failed before these devices' step came to an end
            result.outcomes.setdefault(d, (SecaggOutcome.ROUND_FAILED, "", result.failure))
        return result

    def _bad(self, result: SecureRoundResult, device_id: int, step: str) -> bool:
        result.outcomes[device_id] = (SecaggOutcome.BAD_REPLY, step, "wrong number of records")
        return False


def _status(code: int) -> str:
    try:
        return Status(code).name
    except ValueError:
        return f"status {code}"


# ---------------------------------------------------------------------------------------------
# the Aggregator's secure-aggregation round mode ([secagg] in the fleet configuration)


def secure_hello_problem(hello: Hello, dp: Any, *, allow_test_builds: bool = False) -> str:
    """Admission of a secure-aggregation device: as a plain one, except that its hello's noise
    multiplier is its own share of the round's noise (at most the fleet's)."""
    from dataclasses import replace

    from ..privacy.noise import effective_noise_multiplier
    from .admission import hello_problem

    if not int(hello.flags) & SECAGG_FLAG:
        return "secure aggregation is not compiled in (the fleet has [secagg])"
    z = effective_noise_multiplier(dp.noise_multiplier)
    if float(hello.noise_multiplier) > z * (1 + 1e-6):
        return f"its noise share {float(hello.noise_multiplier):.6g} exceeds the fleet's z {z:.6g}"
    return hello_problem(replace(hello, noise_multiplier=z), dp, allow_test_builds=allow_test_builds)


def aggregator_round(agg: Any, state: dict[str, Any], round_number: int, head: Any, *,
                     resumed_nonce: int | None = None):
    """One secure round for tinyfl.fleet.aggregator.Aggregator (its `_round` in [secagg] mode):
    the same record (heads, state, events, every frame) and the same RoundReport as a plain
    round; FedAvg on the unmasked sum divided by the survivors. With `resumed_nonce`, the
    round the previous process was killed in is closed, never played again (the devices'
    secrets are gone and a device refuses a round it has begun): see close_interrupted."""
    from .aggregator import RoundReport
    from .record import Head

    if resumed_nonce is not None:
        return close_interrupted(agg, state, round_number, head, resumed_nonce)

    spec = agg.config.secagg
    fleet = agg.config.fleet
    run = int(state.get("run", 1))
    started = time.monotonic()
    nonce = secrets.randbits(64)
    agg.recorder.save_head(round_number, "global", head)
    agg._journal(state, {"op": "begin", "round": round_number, "nonce": nonce})  # noqa: SLF001 - the same package

    def ask(session: DeviceSession):
        try:
            if not session.alive and not session.reconnect():
                return session, None, None, "link is down and could not be reopened"
            hello, policy = hello_and_policy(session, agg.recheck_timeout)
        except (PolicyError, RuntimeError) as exc:  # SessionError is a RuntimeError
            return session, None, None, str(exc)
        problem = secure_hello_problem(hello, agg.config.dp, allow_test_builds=agg.allow_test_builds)
        if not problem and (hello.n_classes, hello.n_features) != (head.n_classes, head.n_features):
            problem = "device head shape differs from the fleet's"
        return session, hello, policy, problem

    outcomes: dict[str, str] = {}
    details: dict[str, str] = {}
    by_id: dict[int, DeviceSession] = {}
    hellos: dict[int, Hello] = {}
    policies: dict[int, SecaggPolicy] = {}
    # a few dozen boards at most (n_max): one thread per board for the hello and policy
    with ThreadPoolExecutor(max_workers=max(1, min(64, len(agg.sessions)))) as pool:
        asked = list(pool.map(ask, agg.sessions))
    for session, hello, policy, problem in asked:
        if problem or hello is None or policy is None:
            outcomes[session.name], details[session.name] = "refused", problem or "no policy"
            continue
        device_id = int(hello.device_id)
        if device_id in by_id:  # the first to claim an id keeps it; the round goes on without this one
            outcomes[session.name] = SecaggOutcome.LEFT_OUT.value
            details[session.name] = f"device id {device_id} is already {by_id[device_id].name}'s"
            agg.recorder.event(SecaggOutcome.LEFT_OUT.value, round_number=round_number, device=session.name,
                               reason=details[session.name])
            continue
        by_id[device_id], hellos[device_id], policies[device_id] = session, hello, policy
    result = SecureRoundResult(round_number)
    try:
        n_min, cohort, left_out = select_cohort(policies, hellos, k=spec.k, n_min=spec.n_min)
        for device_id, reason in left_out.items():
            name = by_id[device_id].name
            outcomes[name], details[name] = SecaggOutcome.LEFT_OUT.value, reason
            agg.recorder.event(SecaggOutcome.LEFT_OUT.value, round_number=round_number, device=name,
                               reason=reason)
        by_id = {d: by_id[d] for d in cohort}
        for session in by_id.values():
            session.recorder.event("secagg_round_start", round_number=round_number, device=session.name)
        result = SecureRound(by_id, n_min=n_min, k=spec.k, step_timeout_s=spec.step_timeout_s).run(
            run=run, round_number=round_number, params=head.params, n_classes=head.n_classes,
            n_features=head.n_features, lr=float(fleet.lr), local_epochs=fleet.local_epochs,
            batch_size=fleet.batch_size, nonce=nonce)
    except PolicyError as exc:
        result.failure = str(exc)
        for device_id in by_id:  # too few could take part: none was asked
            result.outcomes[device_id] = (SecaggOutcome.ROUND_FAILED, "", result.failure)
    for device_id, (outcome, step, detail) in result.outcomes.items():
        name = by_id[device_id].name
        outcomes[name] = outcome.value
        if outcome is not SecaggOutcome.OK:
            details[name] = f"{step}: {detail}"
    kept = "" if result.ok else f"secure round failed: {result.failure}"
    new_head = Head(fedavg_secure(head.params, result, fleet.server_lr), head.n_classes, head.n_features)
    agg.recorder.event("secagg_round_result", round_number=round_number, **result.to_dict())
    if kept:
        agg.recorder.event("head_kept", round_number=round_number, reason=kept)
    agg.recorder.sync()
    agg.recorder.save_head(round_number, "result", new_head)
    report = RoundReport(round=round_number, nonce=nonce, outcomes=outcomes, details=details,
                         accepted=[by_id[d].name for d in result.survivors],
                         elapsed_s=time.monotonic() - started, interrupted=False, head_kept=kept)
    from dataclasses import asdict

    agg._journal(state, {"op": "end", "report": asdict(report)})  # noqa: SLF001 - the same package
    report.evaluation = agg._evaluate(state, round_number, new_head.params)  # noqa: SLF001 - the same package
    return new_head, report


def close_interrupted(agg: Any, state: dict[str, Any], round_number: int, head: Any, nonce: int):
    """Ends the secure round a killed aggregator left open, from its record alone: finished if
    the record holds the masked updates and reveals to unmask it (the same replay as
    recompute_secure_globals), else failed with the head kept; no device is asked anything,
    so the run goes on with the next round, which every device accepts. A device whose masked
    update the killed host never read has still spent it: privacy_from_record reports it as
    a lost release (the device's count is above the record's)."""
    from dataclasses import asdict

    from .aggregator import RoundReport
    from .record import Head, RunReader
    from .secagg_record import device_ids_of, round_messages, secure_round_from_record

    started = time.monotonic()
    reader = RunReader(agg.run_dir)
    sent, received = round_messages(reader)
    result, names = secure_round_from_record(sent, received, device_ids_of(reader), round_number)
    why = "" if result.ok else f"the aggregator stopped during the round and the record cannot unmask it: " \
                               f"{result.failure}"
    outcomes: dict[str, str] = {}
    details: dict[str, str] = {}
    for device_id, name in sorted(names.items()):
        if device_id in result.survivors:
            outcomes[name] = SecaggOutcome.OK.value
        else:
            outcomes[name] = SecaggOutcome.ROUND_FAILED.value
            details[name] = why or "the aggregator stopped during the round: not in the recorded sum"
    kept = f"secure round failed: {why}" if why else ""
    new_head = Head(fedavg_secure(head.params, result, agg.config.fleet.server_lr), head.n_classes, head.n_features)
    agg.recorder.event("secagg_round_result", round_number=round_number, interrupted=True, **result.to_dict())
    if kept:
        agg.recorder.event("head_kept", round_number=round_number, reason=kept)
    agg.recorder.sync()
    agg.recorder.save_head(round_number, "result", new_head)
    report = RoundReport(round=round_number, nonce=nonce, outcomes=outcomes, details=details,
                         accepted=[names[d] for d in result.survivors], elapsed_s=time.monotonic() - started,
                         interrupted=True, head_kept=kept)
    agg._journal(state, {"op": "end", "report": asdict(report)})  # noqa: SLF001 - the same package
    report.evaluation = agg._evaluate(state, round_number, new_head.params)  # noqa: SLF001 - the same package
    return new_head, report
