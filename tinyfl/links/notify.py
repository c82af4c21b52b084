"""In-process links on the event loop: one descriptor for many links, no descriptor per link.

Some links have no descriptor of their own: their bytes are handed over by another thread of
this process (the Flower relay's RelayLinks, filled by the hub's pump). Rather than a blocking
read in a thread per link, such a link offers the NotifiedLink capability: a ReadyNotifier
shared by all the links of its source (one socketpair per hub), which the source marks when a
link has bytes or has failed. The event loop (tinyfl.fleet.exchange) waits on the notifier's
descriptor alongside the ordinary ones and, when it becomes readable, takes the set of links
marked since, then reads each with read_nowait().

The notifier only says "look at these links": a link marked while nobody drives it is looked at
by whoever drives it next, who reads it once when it starts (level, not edge, is what counts).
"""
from __future__ import annotations

import socket
import threading
from typing import Any, Protocol, runtime_checkable

__all__ = ["NotifiedLink", "ReadyNotifier", "notifier_of"]


class ReadyNotifier:
    """A set of links that have something to read, and a descriptor that is readable while
    the set is not empty. mark() may be called from any thread; take() by the loop."""

    def __init__(self) -> None:
        self._recv, self._send = socket.socketpair()
        self._recv.setblocking(False)
        self._send.setblocking(False)
        self._lock = threading.Lock()
        self._ready: dict[int, Any] = {}  # id(link) -> link, in the order marked
        self._signalled = False
        self.closed = False

    def fileno(self) -> int:
        return self._recv.fileno()

    def mark(self, link: Any) -> None:
        """`link` has bytes, or has failed: wakes the loop (one byte per batch of marks)."""
        with self._lock:
            if self.closed:
                return
            self._ready[id(link)] = link
            if not self._signalled:
                self._signalled = True
                try:
                    self._send.send(b"\0")
                except BlockingIOError:
                    pass  # already readable: the loop will look

    def take(self) -> list[Any]:
        """The links marked since the last take(), and the descriptor quiet again."""
        with self._lock:
            if self.closed:
                return []
            try:
                while self._recv.recv(4096):
                    pass
            except (BlockingIOError, InterruptedError):
                pass
            ready = list(self._ready.values())
            self._ready.clear()
            self._signalled = False
            return ready

    def close(self) -> None:
        with self._lock:
            if self.closed:
                return
            self.closed = True
            self._ready.clear()
        self._recv.close()
        self._send.close()


@runtime_checkable
class NotifiedLink(Protocol):
    """A Link without a descriptor that an event loop can drive through its notifier."""

    notifier: ReadyNotifier

    def read_nowait(self, max_bytes: int) -> bytes:
        """What has arrived (up to max_bytes), b"" if nothing has; never blocks. Raises
        LinkError once the link has failed and nothing is left to read."""
        ...

    def write_nowait(self, data: bytes) -> None:
        """Queues `data`; never blocks."""
        ...

    def watch(self, on: bool) -> None:
        """Somebody waits (or stops waiting) for this link's bytes without a blocking read:
        a source that moves bytes only on demand (the relay) keeps asking for them. A
        read_nowait() that empties the link may end the watch (the reader is busy with what it
        read); the loop watches again after it has handled the bytes, if it still waits."""
        ...


_CAPABILITY = ("read_nowait", "write_nowait", "watch")


def notifier_of(link: Any) -> ReadyNotifier | None:
    """The link's open notifier if it offers the NotifiedLink capability, else None."""
    notifier = getattr(link, "notifier", None)
    if not isinstance(notifier, ReadyNotifier) or notifier.closed:
        return None
    if not all(callable(getattr(link, name, None)) for name in _CAPABILITY):
        return None
    return notifier
