"""Relayed links on the event loop (no thread per device), the notifier that wakes it, and the
threaded fallback's waits (tinyfl.links.notify, tinyfl.fleet.exchange, tinyfl.flower.relay)."""
from __future__ import annotations

import select
import threading
import time
from typing import Mapping

import pytest

from tinyfl.fleet.device import DeviceSession
from tinyfl.fleet.exchange import Collect, collect, drive_blocking, exchange
from tinyfl.flower.exchange import BoardReply, Request
from tinyfl.flower.relay import RelayHub
from tinyfl.links import LinkError
from tinyfl.links.notify import ReadyNotifier, notifier_of
from tinyfl.wire import HelloRequest
from tinyfl.wire.frame import encode_message

ANSWER = encode_message(HelloRequest(), seq=1)


def _readable(fd: int) -> bool:
    return bool(select.select([fd], [], [], 0)[0])


def test_the_notifier_wakes_once_per_batch_and_quiets_after_take() -> None:
    notifier = ReadyNotifier()
    a, b = object(), object()
    try:
        assert not _readable(notifier.fileno())
        notifier.mark(a)
        notifier.mark(b)
        notifier.mark(a)
        assert _readable(notifier.fileno())
        assert notifier.take() == [a, b]
        assert not _readable(notifier.fileno())
        assert notifier.take() == []
        notifier.mark(b)  # a mark after take wakes again
        assert _readable(notifier.fileno()) and notifier.take() == [b]
    finally:
        notifier.close()
    notifier.mark(a)  # a source still delivering after its notifier closed: harmless
    assert notifier.take() == []


class Gateways:
    """A transport: each board answers every write with ANSWER (or is down, or its gateway is
    missing); records the threads alive while it is called."""

    def __init__(self, down: frozenset[str] = frozenset(), missing: str = "") -> None:
        self.down, self.missing = down, missing
        self.threads: set[str] = set()
        self.requests: list[dict[str, Request]] = []

    def __call__(self, requests: Mapping[str, Request]) -> dict[str, BoardReply | str]:
        self.threads.update(t.name for t in threading.enumerate())
        self.requests.append(dict(requests))
        replies: dict[str, BoardReply | str] = {}
        for gateway, request in requests.items():
            if gateway == self.missing:
                replies[gateway] = "gateway gone"
                continue
            reply = BoardReply()
            for board in request.out:
                if board in self.down:
                    reply.down[board] = "board unplugged"
                else:
                    reply.received[board] = ANSWER
            replies[gateway] = reply
        return replies


def _sessions(hub: RelayHub, gateways: int, boards: int) -> list[DeviceSession]:
    return [DeviceSession(hub.link(f"gw{g}", f"b{b}"), f"gw{g}/b{b}")
            for g in range(gateways) for b in range(boards)]


def test_relayed_devices_are_driven_by_the_loop_not_a_thread_each() -> None:
    transport = Gateways()
    hub = RelayHub(transport, window_s=0.0)
    sessions = _sessions(hub, 3, 20)
    try:
        started = time.monotonic()
        got = collect(sessions, HelloRequest(), time.monotonic() + 10.0,
                      until=lambda m: isinstance(m, HelloRequest))
        elapsed = time.monotonic() - started
    finally:
        hub.close()
    assert all(c.done and len(c.received) == 1 and not c.failure for c in got.values())
    assert elapsed < 5.0
    # one request per gateway with all of its boards' bytes, and no per-device thread
    assert sorted(len(r.out) for r in transport.requests[0].values()) == [20, 20, 20]
    assert not [name for name in transport.threads if name.startswith("tinyfl-link")]
    assert notifier_of(sessions[0].link) is None  # the hub closed its notifier
    assert not any(link.watched for link in hub._links.values())  # nobody waits any more


def test_a_missing_gateway_or_board_ends_only_its_own_conversations() -> None:
    transport = Gateways(down=frozenset({"b1"}), missing="gw1")
    hub = RelayHub(transport, window_s=0.0)
    sessions = _sessions(hub, 2, 3)
    try:
        started = time.monotonic()
        got = collect(sessions, HelloRequest(), time.monotonic() + 1.5,
                      until=lambda m: isinstance(m, HelloRequest))
        elapsed = time.monotonic() - started
        # at the deadline the loop stops waiting: the pump no longer asks for gw1's boards
        assert not any(link.watched for link in hub._links.values())
    finally:
        hub.close()
    assert [n for n, c in got.items() if c.received] == ["gw0/b0", "gw0/b2"]
    assert got["gw0/b1"].failure == "link failed: gateway gw0: board unplugged"
    assert [n for n, c in got.items() if not c.done] == ["gw1/b0", "gw1/b1", "gw1/b2"]
    assert hub.failed["gw1"] >= 1
    assert 1.4 <= elapsed < 3.0  # gw1's boards waited until the deadline, and no longer


def test_bytes_that_came_before_the_exchange_are_read_at_its_start() -> None:
    """The notifier's mark was taken by an earlier exchange (or nobody): the loop still reads
    what a link holds when it starts, rather than waiting for a mark that will not come."""
    transport = Gateways()
    hub = RelayHub(transport, window_s=0.0)
    session = DeviceSession(hub.link("gw0", "b0"), "gw0/b0")
    other = DeviceSession(hub.link("gw0", "b1"), "gw0/b1")  # two: the loop, not the lone path
    try:
        with hub._cond:
            hub._deliver("gw0", BoardReply(received={"b0": ANSWER, "b1": ANSWER}))
        hub.notifier.take()
        started = time.monotonic()
        got = {s.name: Collect(s, HelloRequest()) for s in (session, other)}
        for c in got.values():
            c.until = lambda m: isinstance(m, HelloRequest)
            c.send = lambda *a, **k: None  # nothing goes out: the answer is already there
        assert notifier_of(session.link) is hub.notifier
        exchange(list(got.values()), time.monotonic() + 3.0)
        elapsed = time.monotonic() - started
    finally:
        hub.close()
    assert all(c.done and len(c.received) == 1 for c in got.values())
    assert elapsed < 1.0


class Silent:
    """A link that cannot be polled and never answers; counts its blocking reads."""

    url = "silent://0"

    def __init__(self) -> None:
        self.reads: list[float] = []

    def write(self, data: bytes) -> None:
        pass

    def read(self, max_bytes: int, timeout: float) -> bytes:
        self.reads.append(timeout)
        time.sleep(timeout)
        return b""

    def close(self) -> None:
        pass


def test_the_threaded_fallback_waits_for_the_deadline_in_one_read() -> None:
    link = Silent()
    conversation = Collect(DeviceSession(link, "silent"), HelloRequest())
    started = time.monotonic()
    drive_blocking(conversation, started + 0.8)
    assert len(link.reads) == 1 and link.reads[0] == pytest.approx(0.8, abs=0.05)
    assert time.monotonic() - started == pytest.approx(0.8, abs=0.2)
    assert not conversation.done


class Late(Silent):
    """Answers once, `after` seconds into its first read (a blocking read that returns as soon
    as bytes arrive, like the BLE link's)."""

    def __init__(self, after: float) -> None:
        super().__init__()
        self.after, self.answered = after, False

    def read(self, max_bytes: int, timeout: float) -> bytes:
        self.reads.append(timeout)
        if not self.answered and timeout >= self.after:
            time.sleep(self.after)
            self.answered = True
            return ANSWER
        time.sleep(timeout)
        return b""


def test_the_threaded_fallback_wakes_when_the_answer_arrives() -> None:
    link = Late(0.2)
    conversation = Collect(DeviceSession(link, "late"), HelloRequest(),
                           until=lambda m: isinstance(m, HelloRequest))
    started = time.monotonic()
    drive_blocking(conversation, started + 5.0)
    assert conversation.done and len(conversation.received) == 1
    assert time.monotonic() - started < 1.0


def test_a_closed_relay_link_fails_its_loop_read() -> None:
    hub = RelayHub(Gateways(), window_s=0.0)
    try:
        link = hub.link("gw0", "b0")
        assert link.read_nowait(10) == b""
        link.close()
        with pytest.raises(LinkError, match="link closed"):
            link.read_nowait(10)
    finally:
        hub.close()


def test_closing_relayed_sessions_starts_no_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    from tinyfl.fleet import device

    started: list[object] = []
    real = threading.Thread

    def counted(*args, **kwargs):
        started.append(kwargs.get("target"))
        return real(*args, **kwargs)

    hub = RelayHub(Gateways(), window_s=0.0)
    sessions = _sessions(hub, 2, 50)
    try:
        monkeypatch.setattr(device.threading, "Thread", counted)
        device.close_sessions(sessions)
    finally:
        monkeypatch.undo()
        hub.close()
    assert started == []
    assert all(s.link.closed for s in sessions)
