"""The server's end of the relay: one RelayLink per (gateway, board), a Link like a serial port,
whose bytes travel in batches through a transport (Flower messages, or a direct call in tests).

The unchanged Aggregator drives DeviceSessions over these links, from its one event loop
(tinyfl.fleet.exchange): a RelayLink has no descriptor, so it offers the NotifiedLink capability
(tinyfl.links.notify): the hub's one ReadyNotifier wakes the loop when bytes for any of its
links arrive, and the loop reads them without blocking. A pump thread gathers every byte
written since the last exchange, sends each gateway one request with all of its boards' bytes,
and hands the bytes of the replies to the links. While somebody waits for a board (the loop
watches its link, or a thread is blocked in its read()) the pump keeps exchanging, so a
gateway's boards are polled as long as somebody waits for them. Round nonces, decoding and
every check stay on the server: a gateway only moves bytes.
"""
from __future__ import annotations

import threading
import time
from typing import Callable, Mapping

from ..links import LinkError
from ..links.notify import ReadyNotifier
from .exchange import BoardReply, ExchangeError, Request

__all__ = ["RelayHub", "RelayLink", "Transport"]

GATHER_S = 0.1  # an exchange goes out once no session has written for this long
MAX_GATHER_S = 1.0  # or after this long, however many still write

# gateway -> request  ->  gateway -> reply, or a one-line reason the gateway gave none
Transport = Callable[[Mapping[str, Request]], Mapping[str, "BoardReply | str"]]


class RelayLink:
    """A Link to one board behind a gateway."""

    def __init__(self, hub: RelayHub, gateway: str, board: str) -> None:
        self.hub, self.gateway, self.board = hub, gateway, board
        self.url = f"flower://{gateway}/{board}"
        self.inbox = bytearray()
        self.down = ""  # why the gateway's link to the board failed
        self.closed = False
        self.readers = 0  # threads waiting in read(): somebody waits for this board
        self.watched = False  # an event loop waits for this board (NotifiedLink.watch)
        self.notifier = hub.notifier

    def write(self, data: bytes) -> None:
        if self.closed or self.down:
            raise LinkError(self.url, self.down or "link closed")
        self.hub._queue(self, bytes(data))

    def write_nowait(self, data: bytes) -> None:
        self.write(data)  # queued in the hub: never blocks

    def read_nowait(self, max_bytes: int) -> bytes:
        if max_bytes < 1:
            raise ValueError("max_bytes must be at least 1")
        return self.hub._read_nowait(self, max_bytes)

    def watch(self, on: bool) -> None:
        self.hub._watch(self, on)

    def read(self, max_bytes: int, timeout: float) -> bytes:
        if max_bytes < 1:
            raise ValueError("max_bytes must be at least 1")
        return self.hub._read(self, max_bytes, timeout)

    def close(self) -> None:
        self.hub._close(self)

    def __repr__(self) -> str:
        return f"RelayLink({self.url!r})"


class RelayHub:
    """Moves the bytes of all RelayLinks through `transport`, one request per gateway.

    window_s: how long a gateway listens to its boards after writing (sent in each request).
    on_event(kind, **detail): optional, told about gateways that gave no usable reply.
    """

    def __init__(self, transport: Transport, *, window_s: float = 1.0,
                 on_event: Callable[..., None] | None = None) -> None:
        self.transport = transport
        self.window_s = window_s
        self.on_event = on_event
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)  # readers wait on it for bytes
        self._wake = threading.Condition(self._lock)  # the pump waits on it for work
        self._links: dict[tuple[str, str], RelayLink] = {}
        self._out: dict[tuple[str, str], bytearray] = {}
        self._reopen: set[tuple[str, str]] = set()
        self._closing = False
        self._last_write = 0.0
        self.exchanges = 0  # requests sent, all gateways
        self.failed: dict[str, int] = {}  # gateway -> exchanges without a usable reply
        self.exchange_s: list[float] = []  # how long each batched exchange took
        self.notifier = ReadyNotifier()  # wakes the event loop driving the links
        self._thread = threading.Thread(target=self._pump, name="tinyfl-relay", daemon=True)
        self._thread.start()

    def link(self, gateway: str, board: str) -> RelayLink:
        with self._cond:
            key = (gateway, board)
            old = self._links.get(key)
            link = RelayLink(self, gateway, board)
            if old is not None:
                old.closed = True
                self.notifier.mark(old)
                self._reopen.add(key)  # the gateway opens its own link to the board again
            self._links[key] = link
            self._out.pop(key, None)
            self._wake.notify()
            return link

    def close(self) -> None:
        with self._cond:
            self._closing = True
            self._wake.notify()
            self._cond.notify_all()
        self._thread.join(timeout=30)
        self.notifier.close()

    # --- called by links ----------------------------------------------------------------
    def _queue(self, link: RelayLink, data: bytes) -> None:
        with self._cond:
            self._out.setdefault((link.gateway, link.board), bytearray()).extend(data)
            self._last_write = time.monotonic()
            self._wake.notify()

    def _read(self, link: RelayLink, max_bytes: int, timeout: float) -> bytes:
        deadline = time.monotonic() + max(0.0, timeout)
        with self._cond:
            link.readers += 1
            self._wake.notify()
            try:
                while not link.inbox and not link.down and not link.closed:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        return b""
                    self._cond.wait(left)
            finally:
                link.readers -= 1
            if link.inbox:
                data = bytes(link.inbox[:max_bytes])
                del link.inbox[:max_bytes]
                return data
            raise LinkError(link.url, link.down or "link closed")

    def _read_nowait(self, link: RelayLink, max_bytes: int) -> bytes:
        with self._cond:
            if link.inbox:
                data = bytes(link.inbox[:max_bytes])
                del link.inbox[:max_bytes]
                if link.inbox:
                    self.notifier.mark(link)  # the rest on the loop's next pass
                else:
                    # like a thread between two reads: not listening while the loop handles
                    # what it read; the loop watches again if it still waits (a gateway is
                    # not asked for a board whose answer has just come)
                    link.watched = False
                return data
            if link.down or link.closed:
                raise LinkError(link.url, link.down or "link closed")
            return b""

    def _watch(self, link: RelayLink, on: bool) -> None:
        with self._cond:
            if on and not link.watched:
                self._wake.notify()
            link.watched = on

    def _close(self, link: RelayLink) -> None:
        with self._cond:
            link.closed = True
            self._cond.notify_all()
        self.notifier.mark(link)

    # --- the pump -----------------------------------------------------------------------
    def _has_work(self) -> bool:
        return bool(self._out) or bool(self._reopen) or any(
            _listening(link) for link in self._links.values())

    def _requests(self) -> dict[str, Request]:
        """What every gateway with work gets now (call with the lock held)."""
        requests: dict[str, Request] = {}
        for key, link in self._links.items():
            gateway, board = key
            out = self._out.pop(key, None)
            if out or key in self._reopen or _listening(link):
                request = requests.setdefault(gateway, Request(window_s=self.window_s))
                if out:
                    request.out[board] = bytes(out)
                if key in self._reopen:
                    request.reopen.append(board)
        self._reopen.clear()
        return requests

    def _pump(self) -> None:
        while True:
            with self._cond:
                while not self._closing and not self._has_work():
                    self._wake.wait(0.1)
                if self._closing:
                    return
                # the fleet's sessions write at about the same moment: gather them all into
                # this exchange (until the writes pause) rather than sending the first alone
                give_up = time.monotonic() + MAX_GATHER_S
                while not self._closing:
                    now = time.monotonic()
                    quiet_at = self._last_write + GATHER_S
                    if now >= quiet_at or now >= give_up:
                        break
                    self._wake.wait(min(quiet_at, give_up) - now)
                requests = self._requests()
                if not requests:
                    continue
            self.exchanges += len(requests)
            started = time.monotonic()
            try:
                replies = dict(self.transport(requests))
            except Exception as exc:  # noqa: BLE001 - a transport failure loses one exchange
                replies = {g: f"transport failed: {type(exc).__name__}: {exc}" for g in requests}
            self.exchange_s.append(time.monotonic() - started)
            if self.on_event is not None:
                self.on_event("relay_exchange", gateways=len(requests),
                              seconds=round(self.exchange_s[-1], 3))
            with self._cond:
                # a transport may ask more gateways than had work (server.every_gateway)
                for gateway in requests.keys() | replies.keys():
                    self._deliver(gateway, replies.get(gateway, "no reply"))
                self._cond.notify_all()

    def _deliver(self, gateway: str, reply: BoardReply | str) -> None:
        if isinstance(reply, str):
            self.failed[gateway] = self.failed.get(gateway, 0) + 1
            if self.on_event is not None:
                self.on_event("gateway_no_reply", gateway=gateway, reason=reply)
            return
        for board, data in reply.received.items():
            link = self._links.get((gateway, board))
            if link is not None and not link.closed:
                link.inbox.extend(data)
                self.notifier.mark(link)
        for board, reason in reply.down.items():
            link = self._links.get((gateway, board))
            if link is not None and not link.closed:
                link.down = f"gateway {gateway}: {reason}"
                self.notifier.mark(link)


def _listening(link: RelayLink) -> bool:
    """Somebody waits for bytes this link does not have yet (bytes just delivered are being
    read): its gateway is asked again."""
    return ((link.readers > 0 or link.watched) and not link.inbox and not link.closed
            and not link.down)


def checked_reply(raw: Mapping[str, object], boards: set[str]) -> BoardReply | str:
    """parse_reply, with a malformed reply turned into its one-line reason."""
    from .exchange import parse_reply

    try:
        return parse_reply(raw, boards)
    except ExchangeError as exc:
        return f"malformed reply: {exc}"
