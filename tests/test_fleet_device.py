"""DeviceSession and the host's rule for answers, driven through a scripted in-memory link."""
from __future__ import annotations

import time
from collections import deque

import numpy as np
import pytest

from tinyfl.fleet import DeviceSession, Outcome, RunReader, RunRecorder, SessionError, judge
from tinyfl.fleet.device import Expectation
from tinyfl.links import Link, LinkError
from tinyfl.wire import (
    BudgetExhausted,
    Error,
    FrameDecoder,
    GlobalModel,
    Hello,
    HelloRequest,
    Status,
    Update,
    encode_message,
)

EXPECT = Expectation(round=5, nonce=0xABCDEF0123456789, n_classes=2, n_features=3)


def hello(**changes) -> Hello:
    fields = dict(device_id=1, firmware_hash=2, model_hash=3, n_classes=2, n_features=3,
                  clip=1.0, noise_multiplier=1.0, grid_bits=8, delta=1e-5, eps_limit=10.0,
                  eps_spent=0.0, releases_done=0, releases_max=10, flags=0, max_chunk=240,
                  last_run=0, last_round=0, refusals=[])
    return Hello(**{**fields, **changes})


def update(round_number: int = 5, nonce: int = EXPECT.nonce, n_features: int = 3,
           count: int = 8, grid_step: float = 1 / 256) -> Update:
    return Update(run=1, round=round_number, nonce=nonce, sample_count=4, grid_step=grid_step,
                  eps_spent=1.0, releases_done=1, n_classes=2, n_features=n_features,
                  values=np.arange(count))


class ScriptedLink:
    """A Link whose device answers each message the host writes with scripted bytes."""

    url = "scripted://0"

    def __init__(self, answers: list[bytes] | None = None, fail_after: int | None = None):
        self.answers = deque(answers or [])
        self.inbox = b""
        self.written = FrameDecoder()
        self.sent: list = []
        self.fail_after = fail_after
        self.closed = False

    def write(self, data: bytes) -> None:
        if self.fail_after is not None and len(self.sent) >= self.fail_after:
            raise LinkError(self.url, "unplugged")
        self.sent += [m.message for m in self.written.feed(data)]
        if self.answers:
            self.inbox += self.answers.popleft()

    def read(self, max_bytes: int, timeout: float) -> bytes:
        if not self.inbox:
            time.sleep(min(timeout, 0.01))
            return b""
        data, self.inbox = self.inbox[:max_bytes], self.inbox[max_bytes:]
        return data

    def close(self) -> None:
        self.closed = True


def test_scripted_link_is_a_link() -> None:
    assert isinstance(ScriptedLink(), Link)


@pytest.mark.parametrize("message, outcome, kind", [
    (update(), Outcome.OK, "accept"),
    (update(n_features=4, count=10), Outcome.INVALID, "invalid"),
    (update(count=7), Outcome.INVALID, "invalid"),
    (update(grid_step=0.0), Outcome.INVALID, "invalid"),
    (update(nonce=1), None, "replay"),
    (update(round_number=6), None, "replay"),
    (update(round_number=4, nonce=7), None, "stale"),
    (Error(code=int(Status.CRAFTED), round=5, detail=0), Outcome.DEVICE_ERROR, "refused"),
    (Error(code=int(Status.ROUND), round=3, detail=0), None, "unrelated"),
    (BudgetExhausted(round=5, eps_spent=9.5, eps_limit=10.0, releases_done=9),
     Outcome.BUDGET_EXHAUSTED, "budget"),
    (hello(), None, "unrelated"),
])
def test_judge(message, outcome, kind) -> None:
    verdict = judge(message, EXPECT)
    assert (verdict.outcome, verdict.kind) == (outcome, kind)


def run(session: DeviceSession, deadline_s: float = 0.5, params=None):
    params = np.zeros(8, np.float32) if params is None else params
    return session.run_round(params, 2, 3, round=5, nonce=EXPECT.nonce, lr=0.1, epochs=1,
                             batch=1, deadline=time.monotonic() + deadline_s)


def test_hello_returns_the_answer_and_keeps_the_latest(tmp_path) -> None:
    boot, answer = hello(releases_done=1), hello(releases_done=2, max_chunk=20)
    link = ScriptedLink([encode_message(boot, 0) + encode_message(answer, 1)])
    session = DeviceSession(link, "d", RunRecorder(tmp_path))
    assert session.hello(1.0) == answer and session.last_hello == answer
    assert link.sent == [HelloRequest()]
    # the host now sends in the device's chunk size
    link.answers.append(encode_message(update(), 2))
    result = run(session)
    assert result.outcome is Outcome.OK and result.update == update()
    assert link.written.frames_ok == 1 + -(-len(link.sent[1].encode()) // 20)
    assert [h["releases_done"] for h in RunReader(tmp_path).hellos["d"]] == [1, 2]


def test_hello_timeout_and_dead_link_raise_session_error() -> None:
    with pytest.raises(SessionError, match="no hello"):
        DeviceSession(ScriptedLink(), "d").hello(0.1)
    with pytest.raises(SessionError, match="unplugged"):
        DeviceSession(ScriptedLink(fail_after=0), "d").hello(0.1)


def test_first_terminal_answer_wins_and_the_rest_is_ignored() -> None:
    answers = (encode_message(update(nonce=1), 0)  # a replay, then the real one
               + encode_message(update(), 1)
               + encode_message(Error(code=int(Status.CRAFTED), round=5, detail=0), 2))
    result = run(DeviceSession(ScriptedLink([answers]), "d"))
    assert result.outcome is Outcome.OK and result.replays == 1


def test_an_error_for_no_round_is_reported_at_the_deadline() -> None:
    answer = encode_message(Error(code=int(Status.VALUE), round=0, detail=0), 0)
    result = run(DeviceSession(ScriptedLink([answer]), "d"), deadline_s=0.2)
    assert result.outcome is Outcome.DEVICE_ERROR and "VALUE" in result.detail


def test_nothing_a_device_or_link_does_raises() -> None:
    session = DeviceSession(ScriptedLink(fail_after=0), "d")
    result = run(session)
    assert result.outcome is Outcome.LINK_DOWN and "unplugged" in result.detail
    assert not session.alive
    assert run(session).outcome is Outcome.LINK_DOWN  # stays down without a reconnect
    # a head that cannot be encoded is a host error, reported, not raised
    bad = np.full(8, np.nan, np.float32)
    assert run(DeviceSession(ScriptedLink(), "d"), params=bad).outcome is Outcome.HOST_ERROR
    # noise without a delimiter
    result = run(DeviceSession(ScriptedLink([b"\x55" * 40]), "d"), deadline_s=0.2)
    assert result.outcome is Outcome.BAD_FRAMES


def test_global_model_on_the_wire() -> None:
    link = ScriptedLink()
    params = np.linspace(-1, 1, 8).astype(np.float32)
    run(DeviceSession(link, "d"), deadline_s=0.05, params=params)
    sent = link.sent[0]
    assert isinstance(sent, GlobalModel)
    assert (sent.round, sent.nonce, sent.local_epochs, sent.batch_size) == (5, EXPECT.nonce, 1, 1)
    assert sent.lr == pytest.approx(0.1) and np.array_equal(sent.params, params)


def test_a_flood_of_error_replies_gives_a_bounded_detail() -> None:
    flood = b"".join(encode_message(Error(code=int(Status.CHUNK) if i % 7 else int(Status.CRC),
                                          round=0, detail=i % 9), i) for i in range(400))
    session = DeviceSession(ScriptedLink([flood]), "d")
    session.resends = 0
    result = run(session, deadline_s=0.3)
    assert result.outcome is Outcome.DEVICE_ERROR
    assert len(result.detail) < 400 and "more" in result.detail
