"""Many FakeDevices served by one thread: a selectors loop accepts, reads and answers for all of
them, so 1,000 fake boards cost the test machine one loop instead of 1,000 threads that each
wake 20 times a second (benches and scale tests; the devices' logic is FakeDevice's own).

Modes that hold an answer back in time (late) block, so they are not served here.
"""
from __future__ import annotations

import selectors
import socket
import threading
import time
from dataclasses import dataclass, field

from tinyfl.wire import FrameDecoder

from .fake_device import FakeDevice

BLOCKING_MODES = frozenset({"late"})


@dataclass
class _Conn:
    device: FakeDevice
    sock: socket.socket
    decoder: FrameDecoder = field(default_factory=FrameDecoder)
    out: bytearray = field(default_factory=bytearray)
    closing: bool = False

    # what FakeDevice._out() calls: queue, and send what the socket takes now
    def sendall(self, data: bytes) -> None:
        self.out += data
        self.push()

    def push(self) -> None:
        while self.out:
            try:
                sent = self.sock.send(self.out)
            except BlockingIOError:
                return
            del self.out[:sent]


class FakeFleet:
    """Serves `devices` (their listening sockets and state) from one thread."""

    def __init__(self, devices: list[FakeDevice]) -> None:
        for device in devices:
            if device.mode in BLOCKING_MODES:
                raise ValueError(f"FakeFleet cannot serve mode {device.mode!r}")
        self.devices = devices
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True, name="fake-fleet")
        self._selector = selectors.DefaultSelector()
        self._hellos: list[tuple[float, _Conn]] = []  # boot hellos due

    def start(self) -> FakeFleet:
        for device in self.devices:
            device._server.setblocking(False)
            self._selector.register(device._server, selectors.EVENT_READ, device)
        self._thread.start()
        return self

    def signal_stop(self) -> None:
        self._stop.set()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        for device in self.devices:
            device._server.close()

    def __enter__(self) -> FakeFleet:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _close(self, conn: _Conn) -> None:
        try:
            self._selector.unregister(conn.sock)
        except (KeyError, ValueError):
            pass
        conn.sock.close()

    def _accept(self, device: FakeDevice) -> None:
        try:
            sock, _ = device._server.accept()
        except BlockingIOError:
            return
        sock.setblocking(False)
        device.connections += 1
        conn = _Conn(device, sock)
        self._selector.register(sock, selectors.EVENT_READ, conn)
        # like a board, hello once booted (pyserial discards what arrives as it connects)
        self._hellos.append((time.monotonic() + device.boot_delay_s, conn))

    def _read(self, conn: _Conn) -> None:
        try:
            data = conn.sock.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._close(conn)
            return
        for item in conn.decoder.feed(data):
            conn.device.received.append(item.message)
            if not conn.device._handle(conn, item.message):  # type: ignore[arg-type]
                conn.push()
                self._close(conn)
                return

    def _loop(self) -> None:
        while not self._stop.is_set():
            now = time.monotonic()
            due = [c for t, c in self._hellos if t <= now]
            self._hellos = [(t, c) for t, c in self._hellos if t > now]
            for conn in due:
                conn.sendall(conn.device._encode(conn.device.hello()))
                self._watch(conn)
            for key, mask in self._selector.select(0.02 if self._hellos else 0.1):
                if isinstance(key.data, FakeDevice):
                    self._accept(key.data)
                else:
                    if mask & selectors.EVENT_WRITE:
                        key.data.push()
                    if mask & selectors.EVENT_READ:
                        self._read(key.data)
                    self._watch(key.data)
        for key in list(self._selector.get_map().values()):
            if isinstance(key.data, _Conn):
                key.data.sock.close()
        self._selector.close()

    def _watch(self, conn: _Conn) -> None:
        """Wait for writability only while output is queued."""
        try:
            key = self._selector.get_key(conn.sock)
        except (KeyError, ValueError):
            return  # closed
        want = selectors.EVENT_READ | (selectors.EVENT_WRITE if conn.out else 0)
        if key.events != want:
            self._selector.modify(conn.sock, want, conn)
