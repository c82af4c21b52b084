"""Serial links through pyserial: device paths (/dev/ttyACM0), ptys, and socket://HOST:PORT for
emulated boards (QEMU's `-serial tcp:...,server=on` and the native board both listen on TCP).

The port is kept non-blocking and reads wait with select() on its file descriptor, so a read
returns whatever has arrived as soon as anything has, on every kind of port alike.

pyserial empties the input buffer when it opens a port: whatever a device sent before that
(e.g. its boot hello) is gone, so the host asks for a hello instead of waiting for one.
"""
from __future__ import annotations

import select
import time

import serial

from .base import Link, LinkError

__all__ = ["DEFAULT_BAUDRATE", "SerialLink", "open_link"]

DEFAULT_BAUDRATE = 115200
WRITE_TIMEOUT_S = 5.0  # a device that stops reading must not hang the host forever


class SerialLink:
    """A Link over an open pyserial port (serial.Serial or a URL handler's Serial)."""

    def __init__(self, url: str, port: serial.SerialBase) -> None:
        self.url = url
        self._port = port
        self._port.timeout = 0

    def write(self, data: bytes) -> None:
        try:
            written = self._port.write(data)
            self._port.flush()
        except (serial.SerialException, OSError, ValueError, TypeError) as exc:
            raise LinkError(self.url, f"write failed: {exc}") from exc
        if written is not None and written != len(data):
            raise LinkError(self.url, f"write timed out after {written} of {len(data)} bytes")

    def read(self, max_bytes: int, timeout: float) -> bytes:
        if max_bytes < 1:
            raise ValueError("max_bytes must be at least 1")
        try:
            if timeout > 0:
                ready, _, _ = select.select([self._port.fileno()], [], [], timeout)
                if not ready:
                    return b""
            return bytes(self._port.read(max_bytes))
        except (serial.SerialException, OSError, ValueError, TypeError) as exc:
            # pyserial reports a peer that went away as "socket disconnected" or as a port
            # that is readable but returns no data; both mean the device is gone.
            raise LinkError(self.url, f"read failed: {exc}") from exc

    def close(self) -> None:
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
            port = serial.serial_for_url(
                url, baudrate=baudrate, timeout=0, write_timeout=WRITE_TIMEOUT_S
            )
            return SerialLink(url, port)
        except (serial.SerialException, OSError, ValueError) as exc:
            if not retry or time.monotonic() >= deadline:
                raise LinkError(url, f"cannot open: {exc}") from exc
            time.sleep(0.05)
