"""One device as the host sees it: a link, a frame decoder, and the rules for its answers.

Whatever a device does in a round (answer, refuse, replay an old update, send garbage, go
silent, drop the link) ends as a RoundResult with a typed Outcome; nothing it sends can raise
out of run_round and stop the rest of the fleet. A round is a RoundConversation: the same state
machine whether one event loop plays the whole fleet (tinyfl.fleet.exchange) or a thread plays
one device whose link cannot be polled.
"""
from __future__ import annotations

import enum
import functools
import math
import threading
import time
import traceback
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from ..firmware_config import DpConfig
from ..links import Link, LinkError, open_link
from ..wire import (
    MAX_CHUNK,
    BudgetExhausted,
    Error,
    FrameDecoder,
    GlobalModel,
    Hello,
    HelloRequest,
    ReceivedMessage,
    Status,
    Update,
    encode_payload,
)
from .admission import update_values_problem
from .exchange import Conversation, exchange
from .record import MAX_PENDING_RX, RunRecorder, split_frames

__all__ = [
    "DeviceSession",
    "Expectation",
    "Judgement",
    "Outcome",
    "RoundConversation",
    "RoundResult",
    "SessionError",
    "close_sessions",
    "judge",
]

READ_SIZE = 4096
POLL_S = 0.25  # longest single wait, so a dead link or the deadline is noticed promptly
SETTLE_S = 0.05  # after a dropped frame, wait this long for the rest of the burst to pass
# A device error for round 0 with one of these codes: the device dropped a frame of ours
DROPPED_FRAME = frozenset({Status.COBS, Status.CRC, Status.CHUNK, Status.TRUNCATED})


class Outcome(str, enum.Enum):
    """How one device's round ended."""

    OK = "ok"  # an update with this round's nonce and the right shape: aggregated
    TIMEOUT = "timeout"  # nothing usable before the deadline
    DEVICE_ERROR = "device_error"  # the device refused with an error message
    BUDGET_EXHAUSTED = "budget_exhausted"  # the device's privacy budget is spent
    REPLAY = "replay"  # only updates with a wrong round or nonce arrived
    BAD_FRAMES = "bad_frames"  # only frames that failed CRC/COBS/decoding arrived
    INVALID = "invalid"  # this round's update, but with the wrong shape, grid or norm
    LINK_DOWN = "link_down"  # the link failed (device unplugged, process died)
    SKIPPED = "skipped"  # not asked this round (no hello, wrong head shape)
    REFUSED = "refused"  # the host refused the device (DP config, test build, cannot release)
    HOST_ERROR = "host_error"  # a bug on the host side, caught to keep the fleet running


class SessionError(RuntimeError):
    """A device did not answer a hello, or its link failed."""

    def __init__(self, device: str, detail: str) -> None:
        super().__init__(f"{device}: {detail}")
        self.device = device
        self.detail = detail


@dataclass(frozen=True)
class Expectation:
    """What a valid answer to one round's global_model must match."""

    round: int
    nonce: int
    n_classes: int
    n_features: int
    run: int = 1
    dp: DpConfig | None = None  # the fleet's DP configuration: bounds grid step and norm


@dataclass(frozen=True)
class Judgement:
    outcome: Outcome | None  # None: not an answer to this round; keep waiting
    kind: str  # accept, invalid, refused, budget, replay, stale, unrelated
    detail: str = ""


def _update_problem(update: Update, expect: Expectation) -> str:
    if (update.n_classes, update.n_features) != (expect.n_classes, expect.n_features):
        return (f"shape {update.n_classes}x{update.n_features}, expected "
                f"{expect.n_classes}x{expect.n_features}")
    n_params = expect.n_classes * (expect.n_features + 1)
    if len(update.values) != n_params:
        return f"{len(update.values)} values, expected {n_params}"
    if not (math.isfinite(update.grid_step) and update.grid_step > 0.0):
        return f"grid_step {update.grid_step!r} is not a positive finite number"
    if expect.dp is not None:
        return update_values_problem(update.values, update.grid_step, expect.dp)
    return ""


def _status_name(code: int) -> str:
    try:
        return Status(code).name
    except ValueError:
        return f"status {code}"


def judge(message: Any, expect: Expectation) -> Judgement:
    """The host's rule for one decoded message received during a round.

    The live session and recompute_globals both use it, so a run recomputed from its record
    accepts exactly the updates the live host accepted.
    """
    if isinstance(message, Update):
        if message.run != expect.run:
            return Judgement(None, "stale", f"update for run {message.run}, not {expect.run}")
        if message.round == expect.round and message.nonce == expect.nonce:
            problem = _update_problem(message, expect)
            if problem:
                return Judgement(Outcome.INVALID, "invalid", problem)
            return Judgement(Outcome.OK, "accept")
        if message.round == expect.round:
            return Judgement(None, "replay", f"round {message.round} update with a wrong nonce")
        if message.round > expect.round:
            return Judgement(None, "replay", f"update for future round {message.round}")
        return Judgement(None, "stale", f"update for earlier round {message.round}")
    if isinstance(message, Error):
        detail = f"{_status_name(message.code)} (round {message.round}, detail {message.detail})"
        if message.round == expect.round:
            return Judgement(Outcome.DEVICE_ERROR, "refused", detail)
        return Judgement(None, "unrelated", f"error {detail}")
    if isinstance(message, BudgetExhausted):
        detail = (f"eps spent {message.eps_spent:.4g} of {message.eps_limit:.4g} after "
                  f"{message.releases_done} releases")
        if message.round == expect.round:
            return Judgement(Outcome.BUDGET_EXHAUSTED, "budget", detail)
        return Judgement(None, "unrelated", f"budget exhausted for round {message.round}")
    return Judgement(None, "unrelated", type(message).__name__)


@dataclass
class RoundResult:
    device: str
    round: int
    outcome: Outcome
    update: Update | None = None  # set when outcome is OK (or INVALID: what was received)
    detail: str = ""
    rejected_frames: dict[str, int] = field(default_factory=dict)  # by status name
    replays: int = 0  # updates with a wrong round or nonce
    late_rounds: list[int] = field(default_factory=list)  # earlier rounds answered late
    resends: int = 0  # times the global model was sent again (lost frames, silence)
    elapsed_s: float = 0.0

    @property
    def accepted(self) -> bool:
        return self.outcome is Outcome.OK

    def to_dict(self) -> dict[str, Any]:
        return {"device": self.device, "round": self.round, "outcome": self.outcome.value,
                "detail": self.detail, "rejected_frames": self.rejected_frames,
                "replays": self.replays, "late_rounds": self.late_rounds,
                "resends": self.resends, "elapsed_s": round(self.elapsed_s, 4)}


class DeviceSession:
    """The host's end of one device: owns its FrameDecoder and transmit sequence number.

    `recorder` gets every byte sent and received (split into frames) and every rejection.
    `reopen` makes a new link after the old one failed (default: open_link(link.url)).
    """

    def __init__(self, link: Link, name: str, recorder: RunRecorder | None = None, *,
                 chunk: int = MAX_CHUNK,
                 reopen: Callable[[], Link] | None = None) -> None:
        self.link = link
        self.name = name
        self.recorder = recorder
        self.chunk = chunk
        self.decoder = FrameDecoder()
        self.last_hello: Hello | None = None
        self.alive = True
        self._reopen = reopen or (lambda: open_link(self.link.url, connect_timeout=1.0))
        self._tx_seq = 0
        self._rx_pending = b""
        self._rx_bytes = 0
        self._label_round = 0  # the round frames are recorded under (0: outside rounds)
        self._sent_nonces: dict[int, int] = {}
        # round -> the values accepted for it: the same update again answers a resend
        self._answered: dict[int, bytes] = {}
        self._resent: set[int] = set()  # rounds whose head went out more than once
        self.resends = 3  # per round; the aggregator sets these from [fleet]
        self.resend_interval_s = math.inf
        self.releases_seen: int | None = None  # the device's latest releases_done
        self.releases_lost = 0  # releases the device made whose update never arrived intact

    @property
    def url(self) -> str:
        return self.link.url

    # --- bytes in and out -------------------------------------------------------------
    def _event(self, kind: str, **detail: Any) -> None:
        if self.recorder is not None:
            self.recorder.event(kind, round_number=self._label_round, device=self.name,
                                **detail)

    def host_event(self, kind: str, **detail: Any) -> None:
        """Records an event about this device under the round being played."""
        self._event(kind, **detail)

    def link_failed(self, exc: LinkError) -> None:
        """Marks the link down (once) and records why."""
        if self.alive:
            self.alive = False
            self._flush_rx()
            self._event("link_down", reason=exc.detail)

    _link_failed = link_failed

    def send(self, message: Any, payload: bytes | None = None, *, wait: bool = True) -> None:
        """Encodes and writes one message (`payload`: its encoding, when the caller already
        has it: a round's head is encoded once for the whole fleet); raises LinkError if the
        link fails. wait=False (for a PollableLink driven by an exchange) queues the bytes in
        the link instead of blocking until they are written."""
        chunk = self.chunk
        if self.last_hello is not None:
            chunk = min(chunk, int(self.last_hello.max_chunk))
        if payload is None:
            data = encode_payload(message.TYPE_ID, self._tx_seq, message.encode(), chunk)
        else:
            data = _shared_frames(message.TYPE_ID, self._tx_seq, payload, chunk)
        self._tx_seq = (self._tx_seq + 1) & 0xFFFF
        if self.recorder is not None:
            self.recorder.frames(self.name, "tx", self._label_round, data)
        try:
            if wait:
                self.link.write(data)
            else:
                self.link.write_nowait(data)  # type: ignore[attr-defined]
        except LinkError as exc:
            self._link_failed(exc)
            raise

    def _record_rx(self, data: bytes) -> None:
        if self.recorder is None:
            return
        frames, self._rx_pending = split_frames(self._rx_pending + data)
        for frame in frames:
            self.recorder.frame(self.name, "rx", self._label_round, frame)
        if len(self._rx_pending) >= MAX_PENDING_RX:
            self._flush_rx()

    def _flush_rx(self) -> None:
        if self.recorder is not None and self._rx_pending:
            self.recorder.frame(self.name, "rx", self._label_round, self._rx_pending)
        self._rx_pending = b""

    def read(self, timeout: float) -> bytes:
        """Raw bytes that arrive within `timeout` (not yet recorded: pass them to ingest());
        raises LinkError if the link fails."""
        try:
            return self.link.read(READ_SIZE, timeout)
        except LinkError as exc:
            self._link_failed(exc)
            raise

    def receive(self, timeout: float) -> list[ReceivedMessage]:
        """Reads what arrives within `timeout`, records it, returns the decoded messages.
        Raises LinkError if the link fails."""
        return self.ingest(self.read(timeout))

    def ingest(self, data: bytes) -> list[ReceivedMessage]:
        """Records bytes read from the link and returns the messages they complete."""
        if not data:
            return []
        self._rx_bytes += len(data)
        self._record_rx(data)
        received = self.decoder.feed(data)
        for item in received:
            if isinstance(item.message, Hello):
                self._note_hello(item.message)
            if isinstance(item.message, (Hello, Update, BudgetExhausted)):
                self._note_releases(item.message)
        return received

    def _note_releases(self, message: Hello | Update | BudgetExhausted) -> None:
        """A device counts every release; a jump the host saw no update for is a release
        lost on the way (it cost budget all the same), reported once."""
        done = int(message.releases_done)
        expected = (self.releases_seen or 0) + (1 if isinstance(message, Update) else 0)
        if self.releases_seen is not None and done > expected:
            lost = done - expected
            self.releases_lost += lost
            self._event("releases_lost", count=lost, releases_done=done,
                        seen=self.releases_seen, message=type(message).__name__)
        if self.releases_seen is None or done > self.releases_seen:
            self.releases_seen = done

    def _note_hello(self, hello: Hello) -> None:
        self.last_hello = hello
        if self.recorder is not None:
            self.recorder.hello(self.name, hello)

    def record_as_round(self, round_number: int) -> None:
        """Frames sent and received from now on are recorded under `round_number` (0: outside
        rounds); run_round does this itself, other round drivers (secure aggregation) call it."""
        self._label_round = int(round_number)

    # --- protocol ---------------------------------------------------------------------
    def hello(self, timeout: float = 5.0) -> Hello:
        """Asks for a hello and returns the first one that arrives after asking (a boot hello
        may be that one; later hellos still update `last_hello`). Raises SessionError."""
        if not self.alive:
            raise SessionError(self.name, "link is down")
        deadline = time.monotonic() + timeout
        try:
            self.send(HelloRequest())
            while (left := deadline - time.monotonic()) > 0:
                hellos = [r.message for r in self.receive(min(left, POLL_S))
                          if isinstance(r.message, Hello)]
                if hellos:
                    return hellos[-1]
        except LinkError as exc:
            raise SessionError(self.name, f"link failed: {exc.detail}") from exc
        finally:
            if self.recorder is not None:
                self.recorder.flush()
        self._event("hello_timeout", timeout_s=timeout)
        raise SessionError(self.name, f"no hello within {timeout:g} s")

    def reconnect(self) -> bool:
        """Opens a fresh link after a failure; the decoder restarts with the new stream."""
        try:
            self.link.close()
            self.link = self._reopen()
        except LinkError as exc:
            self._event("reconnect_failed", reason=exc.detail)
            return False
        self.decoder = FrameDecoder()
        self._rx_pending = b""
        self.alive = True
        if self.recorder is not None:
            self.recorder.reset(self.name, self._label_round)
        self._event("reconnected", url=self.link.url)
        return True

    def run_round(self, global_params: np.ndarray, n_classes: int, n_features: int,
                  round: int, nonce: int, lr: float, epochs: int, batch: int,
                  deadline: float, run: int = 1, dp: DpConfig | None = None,
                  payload: bytes | None = None) -> RoundResult:
        """Sends the round's global_model and waits until `deadline` (a time.monotonic()
        value) for this device's answer, sending it again (same run, round and nonce) up to
        `self.resends` times when frames are lost or the device stays silent for
        `self.resend_interval_s`. With `dp`, an update must have that configuration's grid
        step and a norm it can produce. `payload`: the global_model already encoded with these
        very fields (GlobalModel(...).encode()), so a fleet encodes its head once. Never
        raises. (A fleet plays its devices together: RoundConversation in an exchange.)"""
        try:
            message = GlobalModel(run=int(run), round=round, nonce=nonce, lr=float(lr),
                                  local_epochs=int(epochs), batch_size=int(batch),
                                  n_classes=int(n_classes), n_features=int(n_features),
                                  params=np.asarray(global_params, dtype=np.float32))
            if payload is None:
                payload = message.encode()  # once, however often it is resent
        except Exception as exc:  # noqa: BLE001 - a head the wire cannot carry
            self._label_round = round
            result = RoundResult(self.name, round, Outcome.HOST_ERROR,
                                 detail=f"{type(exc).__name__}: {exc}")
            self._event("host_error", detail=traceback.format_exc(limit=5))
            self._event(result.outcome.value, detail=result.detail)
            self._label_round = 0
            return result
        expect = Expectation(round, nonce, int(n_classes), int(n_features), int(run), dp)
        conversation = RoundConversation(self, message, payload, expect)
        exchange([conversation], deadline)
        return conversation.result

    def _note(self, verdict: Judgement, message: Any, result: RoundResult,
              notes: Counter[str], errors: Counter[str]) -> None:
        ours = isinstance(message, Update) and \
            self._sent_nonces.get(message.round) == message.nonce
        if verdict.kind == "stale" and ours and message.round not in self._answered:
            self._answered[message.round] = _values_key(message)
            result.late_rounds.append(message.round)
            self._event("late_update", update_round=message.round)
        elif verdict.kind == "stale" and ours and message.round in self._resent \
                and self._answered[message.round] == _values_key(message):
            self._event("resend_answer", update_round=message.round)  # a resend's echo
        elif verdict.kind in ("replay", "stale"):
            result.replays += 1
            self._event("replay", reason=verdict.detail)
        elif isinstance(message, (Error, BudgetExhausted)):
            # round 0: the device could not even read the round (e.g. a garbled global_model)
            if message.round == 0:
                errors[verdict.detail] += 1
            self._event("unrelated_refusal", reason=verdict.detail)
        notes[verdict.kind] += 1

    def close(self) -> None:
        self._flush_rx()
        self.link.close()

    def __repr__(self) -> str:
        return f"DeviceSession({self.name!r}, {self.url!r})"


class RoundConversation(Conversation):
    """One device's round in an exchange: the global model out, the device's answer judged
    (judge()), the head sent again (same run, round and nonce: idempotent for the device) up
    to session.resends times when a frame was lost on the way or the device stays silent for
    session.resend_interval_s. `result` holds the RoundResult once finish() has run.

    `message` and `payload` (its encoding) are shared by the whole fleet: only the frame
    headers (the session's sequence number) differ per device."""

    def __init__(self, session: DeviceSession, message: GlobalModel, payload: bytes,
                 expect: Expectation) -> None:
        super().__init__(session)
        self.message, self.payload, self.expect = message, payload, expect
        self.result = RoundResult(session.name, expect.round, Outcome.TIMEOUT)
        self._ended = False  # an answer, a failed link or a host error settled the outcome
        self._notes: Counter[str] = Counter()
        self._errors: Counter[str] = Counter()
        self._before: Counter[str] = Counter()
        self._bytes_before = 0
        self._started = self._last_sent = self._last_heard = self._ended_at = 0.0
        self._dropped = False  # a frame was lost on the way, in either direction

    def _end(self, outcome: Outcome, detail: str) -> None:
        self.result.outcome, self.result.detail = outcome, detail
        self._ended = self.done = True
        self._ended_at = time.monotonic()

    def start(self, now: float) -> None:
        session = self.session
        self._started = now
        session._label_round = self.expect.round
        self._before = Counter(session.decoder.rejected)
        self._bytes_before = session._rx_bytes
        if not session.alive:
            self._end(Outcome.LINK_DOWN, "link is down")
            return
        session._sent_nonces[self.expect.round] = self.expect.nonce
        self.send(self.message, self.payload)
        self._last_sent = self._last_heard = time.monotonic()

    def wake_at(self) -> float:
        if self.done or self.result.resends >= self.session.resends:
            return math.inf
        interval = self.session.resend_interval_s
        return max(self._last_sent, self._last_heard) + (
            min(SETTLE_S, interval) if self._dropped else interval)

    def on_wake(self, now: float) -> None:
        if now < self.wake_at():
            return
        # A resend is idempotent for the device (same run, round and nonce: the same update,
        # no new charge), so a lost head or a lost update costs one resend.
        quiet_for = now - max(self._last_sent, self._last_heard)
        self.send(self.message, self.payload)
        self.session._resent.add(self.expect.round)
        self.result.resends += 1
        self.session.host_event("resend", number=self.result.resends,
                                why="frame lost" if self._dropped else f"silent {quiet_for:.2f} s")
        self._last_sent, self._dropped = time.monotonic(), False

    def feed(self, data: bytes, now: float) -> None:
        session = self.session
        rejected_before = sum(session.decoder.rejected.values())
        items = session.ingest(data)
        if data:
            self._last_heard = now
        if sum(session.decoder.rejected.values()) > rejected_before:
            self._dropped = True  # the device's answer was corrupted: ask again
        for item in items:
            if item.message is None:
                self._notes["undecodable"] += 1
                self._dropped = True
                session.host_event("undecodable", type_id=item.type_id,
                                   error=str(getattr(item, "error", "")))
                continue
            verdict = judge(item.message, self.expect)
            if verdict.outcome is not None:
                if isinstance(item.message, Update):
                    self.result.update = item.message
                    session._answered[self.expect.round] = _values_key(item.message)
                self._end(verdict.outcome, verdict.detail)
                return
            if isinstance(item.message, Error) and item.message.round == 0 \
                    and item.message.code in DROPPED_FRAME:
                self._dropped = True  # the device lost a frame of our head
            session._note(verdict, item.message, self.result, self._notes, self._errors)

    def link_failed(self, exc: LinkError) -> None:
        if not self._ended:
            self._end(Outcome.LINK_DOWN, exc.detail)

    def host_error(self, exc: BaseException) -> None:
        self.session.host_event("host_error", detail="".join(
            traceback.format_exception(type(exc), exc, exc.__traceback__, limit=5)))
        self._end(Outcome.HOST_ERROR, f"{type(exc).__name__}: {exc}")

    def finish(self) -> None:
        session, result = self.session, self.result
        rejected = Counter(session.decoder.rejected)
        rejected.subtract(self._before)
        if not self._ended:  # the deadline came first: say what did arrive
            result.detail = "no answer within the deadline"
            if self._errors:
                result.outcome, result.detail = Outcome.DEVICE_ERROR, _summarise(self._errors)
            elif result.replays:
                result.outcome = Outcome.REPLAY
                result.detail = f"{result.replays} update(s) with a wrong round or nonce"
            elif self._notes["undecodable"] or any(v > 0 for v in rejected.values()):
                result.outcome = Outcome.BAD_FRAMES
                result.detail = "only frames that failed to decode arrived"
            elif session._rx_bytes > self._bytes_before and session.decoder.buffered:
                result.outcome = Outcome.BAD_FRAMES
                result.detail = f"{session.decoder.buffered} bytes held without a complete frame"
        result.rejected_frames.update({k: v for k, v in rejected.items() if v > 0})
        if result.rejected_frames:
            session.host_event("frames_rejected", counts=result.rejected_frames)
        if result.outcome is not Outcome.OK:
            session.host_event(result.outcome.value, detail=result.detail)
        # this device's own time: until its answer, or until the exchange ended
        result.elapsed_s = (self._ended_at if self._ended else time.monotonic()) - self._started
        session._label_round = 0


def hello_all(sessions: list[DeviceSession], timeout: float) -> dict[str, Hello | SessionError]:
    """DeviceSession.hello() for many sessions at once (one exchange): name -> the first hello
    that arrived after asking, or the SessionError hello() would have raised."""
    from .exchange import collect

    asked = collect(sessions, HelloRequest(), time.monotonic() + timeout,
                    until=lambda m: isinstance(m, Hello))
    out: dict[str, Hello | SessionError] = {}
    for session in sessions:
        talk = asked[session.name]
        hellos = [r.message for r in talk.received if isinstance(r.message, Hello)]
        if hellos:
            out[session.name] = hellos[-1]
        elif talk.failure:
            out[session.name] = SessionError(session.name, talk.failure)
        else:
            session.host_event("hello_timeout", timeout_s=timeout)
            out[session.name] = SessionError(session.name, f"no hello within {timeout:g} s")
    return out


@functools.lru_cache(maxsize=64)
def _shared_frames(type_id: int, seq: int, payload: bytes, chunk: int) -> bytes:
    """The frames of one encoded message, built once per (sequence number, chunk size): a
    fleet's devices share a round's payload object (hashed once, compared by identity), and
    most of them are at the same sequence number, so a head goes through COBS and CRC a
    handful of times per round instead of once per device."""
    return encode_payload(type_id, seq, payload, chunk)


def _summarise(errors: Counter[str], most: int = 4) -> str:
    """A bounded one-line account of many error replies (a device may send thousands)."""
    shown = [d + (f" x{n}" if n > 1 else "") for d, n in errors.most_common(most)]
    if len(errors) > most:
        shown.append(f"{sum(errors.values()) - sum(n for _, n in errors.most_common(most))} more")
    return "; ".join(shown)


def _values_key(update: Update) -> bytes:
    return np.asarray(update.values, dtype=np.int64).tobytes()


def close_sessions(sessions: list[DeviceSession]) -> None:
    """Closes every session at once (pyserial pauses 0.3 s when it closes a socket link); an
    in-process link (tinyfl.links.notify: the relay's) closes at once, so in this thread."""
    from ..links.notify import notifier_of

    threads = []
    for session in sessions:
        if notifier_of(session.link) is not None:
            session.close()
        else:
            threads.append(threading.Thread(target=session.close, daemon=True))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=5)
