"""One thread drives the whole fleet's links: send to many devices, collect their answers until
a deadline.

An exchange is a set of Conversations, one per device (what to send, when to send it again,
what answer ends it). Links that offer the non-blocking capability (tinyfl.links.PollableLink:
serial ports, ptys, TCP boards) are driven by one selectors loop (epoll on Linux: no limit on
descriptor numbers, unlike select()); their writes queue in the link and move when the OS
takes them, so a board that stops reading delays nobody. In-process links without a descriptor
(the Flower relay's RelayLinks) join the same loop through their source's ReadyNotifier
(tinyfl.links.notify): one descriptor per source, however many links it carries. Links that
can do neither (BLE through bleak or bumble) each get a thread that runs the same Conversation
with blocking reads, each read waiting exactly until the next wake-up or the deadline. Either
way every conversation is finished (finish()) when the exchange returns, by the deadline.

selectors rather than asyncio: the links are plain descriptors and the work per event is a few
calls, so a loop of select() and callbacks costs less per device than asyncio's tasks and
futures, and the sessions, the threaded fallback and the callers stay synchronous.

The round exchange (tinyfl.fleet.device.RoundConversation), the hello phase (Collect with
HelloRequest) and other round modes use it: `collect()` sends one message to many sessions and
gathers what comes back.
"""
from __future__ import annotations

import heapq
import math
import selectors
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Callable, Sequence

from ..links import LinkError, pollable
from ..links.notify import ReadyNotifier, notifier_of
from ..wire import ReceivedMessage

if TYPE_CHECKING:
    from .device import DeviceSession

__all__ = ["Collect", "Conversation", "collect", "exchange"]

LOOP_READ_SIZE = 65536  # one read per readiness: a whole burst of frames at once


class Conversation:
    """One device's part in an exchange. Subclasses send in start() (and on_wake() for timed
    resends, at wake_at()), read answers in on_messages(), set `done` when the answer they
    wait for has come, and settle the outcome in finish(). Nothing they do may raise: an
    exception is caught, recorded, and ends this conversation only (host_error)."""

    def __init__(self, session: DeviceSession) -> None:
        self.session = session
        self.done = False
        self.nowait = False  # set by exchange(): sends queue in the link and never block

    def send(self, message: Any, payload: bytes | None = None) -> None:
        """Sends one message on this conversation's link; raises LinkError."""
        self.session.send(message, payload, wait=not self.nowait)

    def start(self, now: float) -> None:
        pass

    def wake_at(self) -> float:
        """When on_wake() is due (time.monotonic()), math.inf for never."""
        return math.inf

    def on_wake(self, now: float) -> None:
        pass

    def feed(self, data: bytes, now: float) -> None:
        """Bytes from the link: recorded and decoded by the session, then on_messages()."""
        self.on_messages(self.session.ingest(data), now)

    def on_messages(self, items: list[ReceivedMessage], now: float) -> None:
        pass

    def link_failed(self, exc: LinkError) -> None:
        self.done = True

    def host_error(self, exc: BaseException) -> None:
        self.done = True
        self.session.host_event("host_error", detail="".join(
            traceback.format_exception(type(exc), exc, exc.__traceback__, limit=5)))

    def finish(self) -> None:
        pass


class Collect(Conversation):
    """Sends `message` (its encoding `payload`, shared by the whole exchange) once and keeps
    every message that arrives; done at the first for which `until(message)` is true."""

    def __init__(self, session: DeviceSession, message: Any, payload: bytes | None = None,
                 until: Callable[[Any], bool] | None = None) -> None:
        super().__init__(session)
        self.message, self.payload, self.until = message, payload, until
        self.received: list[ReceivedMessage] = []
        self.failure = ""  # why the link failed, if it did

    def start(self, now: float) -> None:
        if not self.session.alive:
            self.failure, self.done = "link is down", True
            return
        self.send(self.message, self.payload)

    def on_messages(self, items: list[ReceivedMessage], now: float) -> None:
        self.received += items
        if self.until is not None and any(self.until(i.message) for i in items):
            self.done = True

    def link_failed(self, exc: LinkError) -> None:
        self.failure = f"link failed: {exc.detail}"
        super().link_failed(exc)


def _guard(conversation: Conversation, call: Callable[..., None], *args: Any) -> None:
    try:
        call(*args)
    except LinkError as exc:
        conversation.session.link_failed(exc)
        conversation.link_failed(exc)
    except Exception as exc:  # noqa: BLE001 - one device's failure must not stop the others
        conversation.host_error(exc)


def drive_blocking(conversation: Conversation, deadline: float) -> None:
    """One conversation on a link that cannot be polled: blocking reads in its own thread."""
    session = conversation.session
    _guard(conversation, conversation.start, time.monotonic())
    while not conversation.done and (now := time.monotonic()) < deadline:
        wake = conversation.wake_at()
        if wake <= now:
            _guard(conversation, conversation.on_wake, now)
            continue
        try:
            # the link's own blocking read returns as soon as bytes (or its failure) arrive;
            # otherwise it waits exactly until the next wake-up or the deadline
            data = session.read(min(deadline, wake) - now)
        except LinkError as exc:
            session.link_failed(exc)
            conversation.link_failed(exc)
            return
        if data:
            _guard(conversation, conversation.feed, data, time.monotonic())
            if session.recorder is not None:
                session.recorder.flush()  # no loop pass flushes for a thread


class _Loop:
    """The selectors loop over the conversations whose links can be polled, directly (their
    own descriptor) or through their source's ReadyNotifier."""

    def __init__(self, conversations: Sequence[Conversation], deadline: float) -> None:
        self.deadline = deadline
        self.selector = selectors.DefaultSelector()
        self.masks: dict[int, int] = {}  # id(conversation) -> registered events
        self.fds: dict[int, int] = {}  # id(conversation) -> its link's descriptor
        self.notified: dict[int, Conversation] = {}  # id(link) -> its conversation
        self.watched: dict[int, Any] = {}  # id(conversation) -> the link it watches
        self.wakes: dict[int, float] = {}  # id(conversation) -> the wake-up in the heap
        self.timers: list[tuple[float, int, Conversation]] = []
        self.active = 0
        self.recorders = {id(c.session.recorder): c.session.recorder for c in conversations
                          if c.session.recorder is not None}
        notifiers: dict[int, ReadyNotifier] = {}
        now = time.monotonic()
        for conversation in conversations:
            conversation.nowait = True
            _guard(conversation, conversation.start, now)
            if conversation.done:
                continue
            link = conversation.session.link
            notifier = notifier_of(link)
            try:
                if notifier is not None:
                    if id(notifier) not in notifiers:
                        self.selector.register(notifier.fileno(), selectors.EVENT_READ, notifier)
                        notifiers[id(notifier)] = notifier
                    link.watch(True)
                    self.notified[id(link)] = conversation
                    self.watched[id(conversation)] = link
                    self.masks[id(conversation)] = 0  # no descriptor of its own
                else:
                    fd = link.fileno()
                    self.selector.register(fd, selectors.EVENT_READ, conversation)
                    self.masks[id(conversation)] = selectors.EVENT_READ
                    self.fds[id(conversation)] = fd
            except (OSError, ValueError, KeyError) as exc:
                error = LinkError(conversation.session.url, f"cannot poll: {exc}")
                conversation.session.link_failed(error)
                conversation.link_failed(error)
                continue
            self.active += 1
            self._settle(conversation)
        # bytes that came before anybody watched marked nobody we know: read every link once
        self.unseen = list(self.notified.values())

    def _settle(self, conversation: Conversation) -> None:
        """After anything happened to a conversation: stop watching it once it is done, watch
        for writability while its link holds output, and schedule its next wake-up."""
        key = id(conversation)
        if key not in self.masks:
            return
        link = conversation.session.link
        if conversation.done:
            self._forget(conversation)
            return
        if key in self.watched:
            try:
                self.watched[key].watch(True)  # still waiting (a read may have stopped the watch)
            except LinkError as exc:
                conversation.session.link_failed(exc)
                conversation.link_failed(exc)
                self._forget(conversation)
                return
        elif key in self.fds:
            try:
                pending = link.pending_output() > 0
            except (OSError, AttributeError):
                pending = False
            mask = selectors.EVENT_READ | (selectors.EVENT_WRITE if pending else 0)
            if mask != self.masks[key]:
                self.selector.modify(self.fds[key], mask, conversation)
                self.masks[key] = mask
        wake = conversation.wake_at()
        if wake != self.wakes.get(key) and wake < math.inf:
            self.wakes[key] = wake
            heapq.heappush(self.timers, (wake, key, conversation))

    def _forget(self, conversation: Conversation) -> None:
        key = id(conversation)
        if self.masks.pop(key, None) is None:
            return
        self.active -= 1
        self.wakes.pop(key, None)
        if key not in self.fds:
            self._unwatch(conversation)
            return
        try:
            self.selector.unregister(self.fds.pop(key))
        except (KeyError, ValueError, OSError):
            pass  # a descriptor closed with its failed link

    def _unwatch(self, conversation: Conversation) -> None:
        link = self.watched.pop(id(conversation), None)  # the session may hold a new one now
        if link is None:
            return
        self.notified.pop(id(link), None)
        try:
            link.watch(False)
        except Exception:  # noqa: BLE001 - a link that cannot say so is not waited for anyway
            pass

    def _event(self, conversation: Conversation, mask: int, now: float) -> None:
        link = conversation.session.link
        try:
            if mask & selectors.EVENT_WRITE:
                link.flush_nowait()
            if mask & selectors.EVENT_READ:
                data = link.read_nowait(LOOP_READ_SIZE)
                if data:
                    _guard(conversation, conversation.feed, data, now)
        except LinkError as exc:
            conversation.session.link_failed(exc)
            conversation.link_failed(exc)
        self._settle(conversation)

    def _ready(self, notifier: ReadyNotifier) -> None:
        for link in notifier.take():
            conversation = self.notified.get(id(link))
            if conversation is not None and conversation.session.link is link:
                self._event(conversation, selectors.EVENT_READ, time.monotonic())

    def _due(self, now: float) -> None:
        while self.timers and self.timers[0][0] <= now:
            wake, key, conversation = heapq.heappop(self.timers)
            if self.wakes.get(key) != wake or conversation.done:
                continue  # rescheduled since, or over
            del self.wakes[key]
            _guard(conversation, conversation.on_wake, now)
            self._settle(conversation)

    def run(self) -> None:
        try:
            for conversation in self.unseen:
                if id(conversation) in self.masks:
                    self._event(conversation, selectors.EVENT_READ, time.monotonic())
            while self.active and (now := time.monotonic()) < self.deadline:
                self._due(now)
                until = min(self.deadline, self.timers[0][0] if self.timers else math.inf)
                for key, mask in self.selector.select(max(0.0, until - time.monotonic())):
                    if isinstance(key.data, ReadyNotifier):
                        self._ready(key.data)
                    else:
                        self._event(key.data, mask, time.monotonic())
                for recorder in self.recorders.values():
                    recorder.flush()  # one write per file per pass: lines reach the OS in batches
        finally:
            for conversation in list(self.notified.values()):
                self._unwatch(conversation)
            self.selector.close()


def _loop_can_drive(link: Any) -> bool:
    return notifier_of(link) is not None or pollable(link)


def exchange(conversations: Sequence[Conversation], deadline: float) -> None:
    """Runs `conversations` until each is done or `deadline` (a time.monotonic() value), then
    finishes every one of them. Never raises for what a device or its link does."""
    polled = [c for c in conversations if not c.session.alive or _loop_can_drive(c.session.link)]
    threaded = [c for c in conversations
                if c.session.alive and not _loop_can_drive(c.session.link)]
    if threaded and not polled and len(threaded) == 1:  # one device alone: no thread needed
        drive_blocking(threaded[0], deadline)
        threaded = []
    pool = (ThreadPoolExecutor(max_workers=len(threaded), thread_name_prefix="tinyfl-link")
            if threaded else None)
    try:
        futures = [pool.submit(drive_blocking, c, deadline) for c in threaded] if pool else []
        if polled:
            _Loop(polled, deadline).run()
        for future in futures:
            future.result()
    finally:
        if pool is not None:
            pool.shutdown(wait=True)
        for conversation in conversations:
            _guard(conversation, conversation.finish)
            conversation.nowait = False
        for recorder in {id(c.session.recorder): c.session.recorder for c in conversations
                         if c.session.recorder is not None}.values():
            recorder.flush()


def collect(sessions: Sequence[DeviceSession], message: Any, deadline: float, *,
            until: Callable[[Any], bool] | None = None) -> dict[str, Collect]:
    """Sends `message` (encoded once) to every session and gathers what each sends back until
    `until(answer)` holds for one of its messages or `deadline`: name -> Collect (received,
    done, failure)."""
    payload = message.encode()
    conversations = {s.name: Collect(s, message, payload, until) for s in sessions}
    exchange(list(conversations.values()), deadline)
    return conversations
