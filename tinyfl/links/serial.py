"""Serial links through pyserial: device paths (/dev/ttyACM0), ptys, and socket://HOST:PORT for
emulated boards (QEMU's `-serial tcp:...,server=on` and the native board both listen on TCP).

pyserial opens the port; the bytes then move on its raw descriptor (the TCP socket, or the
tty's fd, both non-blocking), so the link is a PollableLink that an event loop can drive, and
waits use poll(), which has no limit on descriptor numbers (select() fails from fd 1024 on,
and pyserial's own socket reads and writes use select()). Output that the OS does not take at
once waits in the link's queue, bounded. Ports without a descriptor (rfc2217://, loop://) fall
back to pyserial's own read and write.

pyserial empties the input buffer when it opens a port: whatever a device sent before that
(e.g. its boot hello) is gone, so the host asks for a hello instead of waiting for one.
"""
from __future__ import annotations

import errno
import os
import select
import socket
import time
import urllib.parse

import serial

from .base import Link, LinkError

__all__ = ["DEFAULT_BAUDRATE", "MAX_PENDING_OUTPUT", "SerialLink", "open_link"]

DEFAULT_BAUDRATE = 115200
WRITE_TIMEOUT_S = 5.0  # a device that stops reading must not hang the host forever
# A device that stops reading must not grow the host's memory either: past this many queued
# bytes (dozens of global models) the link counts as failed.
MAX_PENDING_OUTPUT = 256 * 1024
_RETRY = (errno.EAGAIN, errno.EWOULDBLOCK, errno.EINTR)


class SerialLink:
    """A Link over an open pyserial port (serial.Serial or a URL handler's Serial)."""

    def __init__(self, url: str, port: serial.SerialBase) -> None:
        self.url = url
        self._port = port
        self._port.timeout = 0
        self._out = bytearray()
        # the raw channel: a socket (socket://) or a tty descriptor (device paths, ptys)
        self._sock: socket.socket | None = getattr(port, "_socket", None)
        self._fd: int | None = None
        if self._sock is not None:
            self._sock.setblocking(False)
        elif isinstance(getattr(port, "fd", None), int):
            self._fd = port.fd

    # --- the non-blocking capability -------------------------------------------------
    def fileno(self) -> int:
        if self._sock is not None:
            return self._sock.fileno()
        if self._fd is not None:
            return self._fd
        raise OSError(errno.EBADF, f"{self.url} has no descriptor to poll")

    def _raw_read(self, max_bytes: int) -> bytes:
        try:
            if self._sock is not None:
                data = self._sock.recv(max_bytes)
            else:
                data = os.read(self._fd, max_bytes)  # type: ignore[arg-type]
        except BlockingIOError:
            return b""
        except OSError as exc:
            if exc.errno in _RETRY:
                return b""
            raise LinkError(self.url, f"read failed: {exc}") from exc
        if not data and (self._sock is not None or self._tty_gone()):
            # a readable socket that gives no data: the other end is gone
            raise LinkError(self.url, "read failed: the device closed the link")
        return data

    def _tty_gone(self) -> bool:
        """A tty read with nothing to give returns b"" (pyserial sets VMIN 0), as does one
        whose device vanished: the descriptor's poll events tell them apart (a hang-up, or
        readable and still empty, as pyserial judges it)."""
        poller = select.poll()
        poller.register(self._fd, select.POLLIN)
        events = sum(e for _, e in poller.poll(0))
        if events & (select.POLLHUP | select.POLLERR | select.POLLNVAL):
            return True
        return bool(events & select.POLLIN) and not self._tty_has_input()

    def _tty_has_input(self) -> bool:
        try:
            return self._port.in_waiting > 0
        except (serial.SerialException, OSError):
            return False

    def _raw_write(self, data: bytes | memoryview) -> int:
        try:
            if self._sock is not None:
                return self._sock.send(data)
            return os.write(self._fd, data)  # type: ignore[arg-type]
        except BlockingIOError:
            return 0
        except OSError as exc:
            if exc.errno in _RETRY:
                return 0
            raise LinkError(self.url, f"write failed: {exc}") from exc

    def read_nowait(self, max_bytes: int) -> bytes:
        if self._sock is None and self._fd is None:
            return self._pyserial_read(max_bytes, 0.0)
        return self._raw_read(max_bytes)

    def flush_nowait(self) -> int:
        while self._out:
            sent = self._raw_write(memoryview(self._out))
            if sent <= 0:
                break
            del self._out[:sent]
        return len(self._out)

    def write_nowait(self, data: bytes) -> None:
        if self._sock is None and self._fd is None:
            self.write(data)
            return
        if len(self._out) + len(data) > MAX_PENDING_OUTPUT:
            raise LinkError(self.url, f"write failed: the device took none of the last "
                            f"{len(self._out)} bytes sent")
        self._out += data
        self.flush_nowait()

    def pending_output(self) -> int:
        return len(self._out)

    def _wait(self, events: int, timeout: float) -> bool:
        poller = select.poll()
        poller.register(self.fileno(), events)
        try:
            return bool(poller.poll(max(0.0, timeout) * 1000.0))
        except InterruptedError:
            return False

    # --- Link ----------------------------------------------------------------------------
    def write(self, data: bytes) -> None:
        if self._sock is None and self._fd is None:
            self._pyserial_write(data)
            return
        if len(self._out) + len(data) > MAX_PENDING_OUTPUT:
            raise LinkError(self.url, f"write failed: {len(self._out)} bytes still queued")
        self._out += data
        deadline = time.monotonic() + WRITE_TIMEOUT_S
        while self.flush_nowait():
            left = deadline - time.monotonic()
            if left <= 0:
                raise LinkError(self.url, f"write timed out with {len(self._out)} of "
                                f"{len(data)} bytes not sent")
            self._wait(select.POLLOUT, left)

    def read(self, max_bytes: int, timeout: float) -> bytes:
        if max_bytes < 1:
            raise ValueError("max_bytes must be at least 1")
        if self._sock is None and self._fd is None:
            return self._pyserial_read(max_bytes, timeout)
        self.flush_nowait()  # queued output moves while the host waits for an answer
        data = self._raw_read(max_bytes)
        if data or timeout <= 0:
            return data
        try:
            if not self._wait(select.POLLIN, timeout):
                return b""
        except (OSError, ValueError) as exc:
            raise LinkError(self.url, f"read failed: {exc}") from exc
        return self._raw_read(max_bytes)

    # --- ports without a descriptor (rfc2217://, loop://, spy://) ------------------------
    def _pyserial_write(self, data: bytes) -> None:
        try:
            written = self._port.write(data)
            self._port.flush()
        except (serial.SerialException, OSError, ValueError, TypeError) as exc:
            raise LinkError(self.url, f"write failed: {exc}") from exc
        if written is not None and written != len(data):
            raise LinkError(self.url, f"write timed out after {written} of {len(data)} bytes")

    def _pyserial_read(self, max_bytes: int, timeout: float) -> bytes:
        try:
            self._port.timeout = max(0.0, timeout)
            return bytes(self._port.read(max_bytes))
        except (serial.SerialException, OSError, ValueError, TypeError) as exc:
            raise LinkError(self.url, f"read failed: {exc}") from exc
        finally:
            self._port.timeout = 0

    def close(self) -> None:
        self._out.clear()
        try:
            self._port.close()
        except (serial.SerialException, OSError):
            pass  # closing a link whose device vanished is not an error

    def __enter__(self) -> SerialLink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"SerialLink({self.url!r})"


def _plain_tcp(url: str) -> bool:
    parts = urllib.parse.urlsplit(url)
    return parts.scheme == "socket" and not parts.query and parts.port is not None


class _TcpPort:
    """socket://HOST:PORT opened directly, as pyserial would but without its select() calls
    (which fail for descriptors past 1024); like pyserial, what arrived before the host
    connected is discarded."""

    def __init__(self, url: str, timeout: float) -> None:
        parts = urllib.parse.urlsplit(url)
        self.timeout = 0
        self._socket = socket.create_connection((parts.hostname, parts.port),
                                                timeout=min(timeout, 5.0))
        self._socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._socket.setblocking(False)
        try:
            while self._socket.recv(4096):
                pass
        except BlockingIOError:
            pass

    def close(self) -> None:
        try:
            self._socket.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._socket.close()


def open_link(url: str, *, baudrate: int = DEFAULT_BAUDRATE, connect_timeout: float = 5.0) -> Link:
    """Opens `url`: a device path, a pty path, socket://127.0.0.1:PORT, or a BLE URL
    (ble://NAME-or-ADDRESS, bumble:TRANSPORT#ADDRESS: see tinyfl.links.ble).

    A TCP board that is still starting refuses connections for a moment, so connecting is
    retried until `connect_timeout` seconds have passed. Raises LinkError with the reason.
    """
    if url.startswith(("ble://", "bumble:")):
        from .ble import open_ble_link  # bleak or bumble, imported only for a BLE URL

        return open_ble_link(url, connect_timeout=max(connect_timeout, 5.0))
    deadline = time.monotonic() + connect_timeout
    retry = url.startswith("socket://")
    while True:
        try:
            if _plain_tcp(url):
                return SerialLink(url, _TcpPort(url, max(0.05, deadline - time.monotonic())))
            port = serial.serial_for_url(
                url, baudrate=baudrate, timeout=0, write_timeout=WRITE_TIMEOUT_S
            )
            return SerialLink(url, port)
        except (serial.SerialException, OSError, ValueError) as exc:
            if not retry or time.monotonic() >= deadline:
                raise LinkError(url, f"cannot open: {exc}") from exc
            time.sleep(0.05)
