"""A Link over BLE GATT: the tinyfl service of the wire spec carries the same frame stream as a
serial port. Two backends share everything here and differ only in how they reach the radio:

    ble://NAME-or-ADDRESS[;mtu=N]          bleak (laptops: BlueZ, CoreBluetooth, WinRT)
    bumble:TRANSPORT#ADDRESS[;mtu=N]       bumble (USB HCI dongles, virtual controllers in CI),
                                           e.g. bumble:usb:0#F0:00:00:00:00:01 or
                                           bumble:tcp-client:127.0.0.1:9000#F0:00:00:00:00:01

Chunking rule (wire spec): an ATT value holds at most MTU - 3 bytes and never bytes of two
frames. The host writes values with response (the device's stack acknowledges each, so a slow
device slows the host instead of losing bytes); the device notifies one value per chunk.

A link that loses its connection reconnects by itself (bounded by `reconnect_timeout`): bytes
in flight are lost, which the host's resend logic recovers like any lost frame. On a
reconnect a torn incoming frame is ended with a 0x00, so it is rejected as one bad frame
instead of spoiling the next; the device side does the same with what it received.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import time
from dataclasses import dataclass, field
from typing import Awaitable, Callable, Protocol

from ..wire import _wire_gen as gen
from .base import LinkError

__all__ = ["BleBackend", "BleLink", "BleStats", "BleTarget", "ble_values", "open_ble_link",
           "parse_ble_url"]

CONNECT_TIMEOUT_S = 10.0
RECONNECT_TIMEOUT_S = 10.0
WRITE_TIMEOUT_S = 5.0
# Received bytes held for a host that is not reading (a serial port's OS buffer, in effect):
# a device that floods notifications loses the excess instead of growing the host's memory.
MAX_RX_BUFFER = 1 << 20


def ble_values(data: bytes, mtu: int) -> list[bytes]:
    """Cuts a piece of the frame stream into ATT values by the wire spec's rule: at most
    mtu - BLE_ATT_OVERHEAD bytes each, and a cut after every 0x00 delimiter."""
    if not gen.BLE_MTU_MIN <= mtu <= 517:
        raise ValueError(f"ATT MTU {mtu} outside {gen.BLE_MTU_MIN}..517")
    limit = mtu - gen.BLE_ATT_OVERHEAD
    values: list[bytes] = []
    start = 0
    while start < len(data):
        end = data.find(b"\x00", start, start + limit)
        end = start + limit if end < 0 else end + 1
        values.append(bytes(data[start:end]))
        start = end
    return values


@dataclass(frozen=True)
class BleTarget:
    """What a BLE URL names: the backend, its radio (bumble transport), the peer, the MTU the
    host asks for."""

    scheme: str  # "ble" (bleak) or "bumble"
    radio: str  # bumble transport spec; "" for bleak
    peer: str  # address or advertised name
    mtu: int = gen.BLE_MTU_MAX


def parse_ble_url(url: str) -> BleTarget:
    """Parses ble://PEER[;mtu=N] and bumble:TRANSPORT#PEER[;mtu=N]; raises LinkError."""
    rest, _, option = url.partition(";")
    mtu = gen.BLE_MTU_MAX
    if option:
        key, _, value = option.partition("=")
        if key != "mtu" or not value.isdigit() or \
                not gen.BLE_MTU_MIN <= int(value) <= gen.BLE_MTU_MAX:
            raise LinkError(url, f"bad option {option!r}: expected mtu=N with N in "
                                 f"{gen.BLE_MTU_MIN}..{gen.BLE_MTU_MAX}")
        mtu = int(value)
    if rest.startswith("ble://"):
        peer = rest[len("ble://"):]
        if not peer:
            raise LinkError(url, "no device: expected ble://NAME-or-ADDRESS")
        return BleTarget("ble", "", peer, mtu)
    if rest.startswith("bumble:"):
        radio, sep, peer = rest[len("bumble:"):].rpartition("#")
        if not sep or not radio or not peer:
            raise LinkError(url, "expected bumble:TRANSPORT#ADDRESS")
        return BleTarget("bumble", radio, peer, mtu)
    raise LinkError(url, "not a BLE URL (ble://... or bumble:...)")


class BleBackend(Protocol):
    """One GATT connection to the tinyfl service, driven on the BLE loop. connect() subscribes
    to the TX characteristic (each notification goes to `on_value`), calls `on_lost` once when
    the connection drops, and returns the negotiated ATT MTU."""

    async def connect(self, on_value: Callable[[bytes], None],
                      on_lost: Callable[[str], None]) -> int: ...

    async def write(self, value: bytes) -> None: ...

    async def disconnect(self) -> None: ...


@dataclass
class BleStats:
    """What crossed the air: ATT values and their bytes in each direction."""

    mtu: int = 0
    values_tx: int = 0
    bytes_tx: int = 0
    values_rx: int = 0  # notifications
    bytes_rx: int = 0
    dropped_rx: int = 0  # bytes beyond MAX_RX_BUFFER, never delivered
    largest_tx: int = 0
    largest_rx: int = 0
    connects: int = 0
    disconnects: int = 0
    mtus: list[int] = field(default_factory=list)  # the MTU of every connection


class _Loop:
    """The one asyncio loop all BLE links of a process run on (a daemon thread)."""

    _lock = threading.Lock()
    _loop: asyncio.AbstractEventLoop | None = None

    @classmethod
    def get(cls) -> asyncio.AbstractEventLoop:
        with cls._lock:
            if cls._loop is None or cls._loop.is_closed():
                loop = asyncio.new_event_loop()
                threading.Thread(target=loop.run_forever, name="tinyfl-ble",
                                 daemon=True).start()
                cls._loop = loop
            return cls._loop


def run_on_ble_loop(coro: Awaitable, timeout: float):
    """Runs `coro` on the BLE loop and waits for it from a host thread."""
    future = asyncio.run_coroutine_threadsafe(coro, _Loop.get())
    try:
        return future.result(timeout)
    except concurrent.futures.TimeoutError:
        future.cancel()
        raise


class BleLink:
    """A Link over a BleBackend. Thread-safe between the BLE loop and one host thread."""

    def __init__(self, url: str, backend: BleBackend, *,
                 connect_timeout: float = CONNECT_TIMEOUT_S,
                 reconnect_timeout: float = RECONNECT_TIMEOUT_S) -> None:
        self.url = url
        self.stats = BleStats()
        self._backend = backend
        self._reconnect_timeout = reconnect_timeout
        self._cond = threading.Condition()
        self._rx = bytearray()
        self._rx_limit = MAX_RX_BUFFER
        self._connected = False
        self._failed = ""  # why the link is gone for good
        self._closed = False
        self._reconnecting: concurrent.futures.Future | None = None
        self._connect(connect_timeout)

    # --- connection ---------------------------------------------------------------------
    def _on_value(self, value: bytes) -> None:  # BLE loop
        with self._cond:
            self.stats.values_rx += 1
            self.stats.bytes_rx += len(value)
            self.stats.largest_rx = max(self.stats.largest_rx, len(value))
            room = self._rx_limit - len(self._rx)
            if len(value) > room:
                self.stats.dropped_rx += len(value) - max(room, 0)
                value = value[:max(room, 0)]
            self._rx += value
            self._cond.notify_all()

    def _on_lost(self, reason: str) -> None:  # BLE loop
        with self._cond:
            if not self._connected:
                return
            self._connected = False
            self.stats.disconnects += 1
            if self._rx and self._rx[-1] != 0:
                self._rx.append(0)  # end the torn frame: one rejected frame, not two
            self._cond.notify_all()
            if not self._closed:
                self._reconnecting = asyncio.run_coroutine_threadsafe(
                    self._reconnect(reason), _Loop.get())

    async def _attach(self) -> None:
        mtu = await self._backend.connect(self._on_value, self._on_lost)
        with self._cond:
            self._connected = True
            self.stats.mtu = mtu
            self.stats.mtus.append(mtu)
            self.stats.connects += 1
            self._cond.notify_all()

    def _connect(self, timeout: float) -> None:
        try:
            run_on_ble_loop(asyncio.wait_for(self._attach(), timeout), timeout + 1.0)
        except LinkError:
            raise
        except Exception as exc:  # noqa: BLE001 - every backend error means "cannot open"
            raise LinkError(self.url, f"cannot connect over BLE: {type(exc).__name__}: {exc}") \
                from exc

    async def _reconnect(self, reason: str) -> None:
        deadline = time.monotonic() + self._reconnect_timeout
        last = reason
        while not self._closed and (left := deadline - time.monotonic()) > 0:
            try:
                await asyncio.wait_for(self._attach(), left)
                return
            except Exception as exc:  # noqa: BLE001 - retried until the deadline
                last = f"{type(exc).__name__}: {exc}"
                await asyncio.sleep(0.1)
        with self._cond:
            self._failed = f"disconnected ({reason}); no reconnect within " \
                           f"{self._reconnect_timeout:g} s: {last}"
            self._cond.notify_all()

    def _wait_connected(self, timeout: float) -> bool:
        """Waits for a live connection; False after `timeout`; LinkError if it is gone."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not self._connected:
                if self._failed or self._closed:
                    raise LinkError(self.url, self._failed or "closed")
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
            return True

    # --- Link ---------------------------------------------------------------------------
    def write(self, data: bytes) -> None:
        values = ble_values(bytes(data), self.stats.mtu or gen.BLE_MTU_MIN)
        i = 0
        while i < len(values):
            if not self._wait_connected(self._reconnect_timeout + 1.0):
                raise LinkError(self.url, "write failed: not reconnected")
            mtu = self.stats.mtu
            value = values[i]
            if len(value) > mtu - gen.BLE_ATT_OVERHEAD:  # a reconnect gave a smaller MTU
                values[i:] = ble_values(b"".join(values[i:]), mtu)
                continue
            drops = self.stats.disconnects
            try:
                run_on_ble_loop(self._backend.write(value), WRITE_TIMEOUT_S)
            except Exception as exc:  # noqa: BLE001 - a dropped connection, or a dead radio
                with self._cond:  # the loss may be reported just after the failed write
                    self._cond.wait_for(lambda: self.stats.disconnects != drops, 0.5)
                if self.stats.disconnects == drops:  # still connected: the radio failed
                    raise LinkError(self.url, f"write failed: {type(exc).__name__}: {exc}") \
                        from exc
                if self._wait_connected(self._reconnect_timeout + 1.0):
                    # the device ends the torn frame on reconnect: go on at the next frame
                    while i < len(values) and not values[i].endswith(b"\x00"):
                        i += 1
                    i += 1
                    continue
                raise LinkError(self.url, f"write failed: {exc}") from exc
            with self._cond:
                self.stats.values_tx += 1
                self.stats.bytes_tx += len(value)
                self.stats.largest_tx = max(self.stats.largest_tx, len(value))
            i += 1

    def read(self, max_bytes: int, timeout: float) -> bytes:
        if max_bytes < 1:
            raise ValueError("max_bytes must be at least 1")
        deadline = time.monotonic() + timeout
        with self._cond:
            while not self._rx:
                if self._closed or (self._failed and not self._connected):
                    raise LinkError(self.url, f"read failed: {self._failed or 'closed'}")
                left = deadline - time.monotonic()
                if left <= 0:
                    return b""
                self._cond.wait(left)
            out = bytes(self._rx[:max_bytes])
            del self._rx[:max_bytes]
            return out

    def close(self) -> None:
        with self._cond:
            if self._closed:
                return
            self._closed = True
            self._connected = False  # our own disconnect is not a loss
            self._cond.notify_all()
        if self._reconnecting is not None:
            self._reconnecting.cancel()
        try:
            run_on_ble_loop(self._backend.disconnect(), 5.0)
        except Exception:  # noqa: BLE001 - closing a link whose device vanished is fine
            pass

    def __enter__(self) -> BleLink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"BleLink({self.url!r})"


def open_ble_link(url: str, *, connect_timeout: float = CONNECT_TIMEOUT_S,
                  reconnect_timeout: float = RECONNECT_TIMEOUT_S) -> BleLink:
    """Opens a BLE URL (see the module docstring); raises LinkError with the reason."""
    target = parse_ble_url(url)
    if target.scheme == "bumble":
        try:
            from .ble_bumble import BumbleBackend
        except ImportError as exc:
            raise LinkError(url, "bumble is not installed (pip install 'tinyfl[ble]')") from exc
        backend: BleBackend = BumbleBackend(target)
    else:
        try:
            from .ble_bleak import BleakBackend
        except ImportError as exc:
            raise LinkError(url, "bleak is not installed (pip install 'tinyfl[ble]')") from exc
        backend = BleakBackend(target)
    return BleLink(url, backend, connect_timeout=connect_timeout,
                   reconnect_timeout=reconnect_timeout)
