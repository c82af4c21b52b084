"""The device owner's side of capture mode (boards/arduino-common/tinyfl_capture.h): ask a board
on the owner's own USB serial port to record labelled windows for the next round.

A command is one text line after a frame delimiter, `\\0!capture <label> <windows>\\n`; the
board answers `\\0!ok ...\\n\\0` or `\\0!error <why>\\n\\0`. Labels stay on the device and the
owner's machine: the server only ever sees the protected update.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Sequence

__all__ = ["CaptureError", "CaptureReply", "capture_line", "parse_replies", "resolve_label", "send_capture"]

MAX_WINDOWS = 255  # TINYFL_CAPTURE_SLOTS is at most 255; the board refuses more than it holds


class CaptureError(RuntimeError):
    """The board refused the command, did not answer, or the label is unknown."""


@dataclass(frozen=True)
class CaptureReply:
    ok: bool
    text: str  # after "!ok " or "!error "


def resolve_label(label: int | str, labels: Sequence[str] | None = None) -> int:
    """A class index from an index or a class name (labels: the model's class names, in order)."""
    if isinstance(label, int) or (isinstance(label, str) and label.isdigit()):
        index = int(label)
        if labels is not None and not 0 <= index < len(labels):
            raise CaptureError(f"label {index} out of range: the model has {len(labels)} classes")
        return index
    if labels is None or label not in labels:
        known = ", ".join(labels) if labels else "none given"
        raise CaptureError(f"unknown label {label!r} (classes: {known})")
    return list(labels).index(label)


def capture_line(label: int, windows: int = 1) -> bytes:
    """The bytes that start a capture of `windows` windows labelled `label` on a board."""
    if not 0 <= label <= 255:
        raise CaptureError(f"label must be 0..255, got {label}")
    if not 1 <= windows <= MAX_WINDOWS:
        raise CaptureError(f"windows must be 1..{MAX_WINDOWS}, got {windows}")
    return f"\0!capture {label} {windows}\n".encode("ascii")


def parse_replies(data: bytes) -> list[CaptureReply]:
    """Capture replies among the bytes read from the port (frames and other bytes are skipped)."""
    replies = []
    for part in data.split(b"\0"):
        if not part.startswith(b"!") or not part.endswith(b"\n") or len(part) > 64:
            continue
        text = part[1:-1].decode("ascii", errors="replace")
        if text.startswith("ok "):
            replies.append(CaptureReply(True, text[3:]))
        elif text.startswith("error "):
            replies.append(CaptureReply(False, text[6:]))
    return replies


def send_capture(port: str, label: int | str, windows: int = 1, *, labels: Sequence[str] | None = None,
                 baudrate: int = 115200, timeout: float = 3.0) -> CaptureReply:
    """Start a capture on the board at `port` (a device path or a pyserial URL); returns the
    board's `ok` reply, raises CaptureError on an error reply or no reply within `timeout`."""
    import serial  # pyserial, a core dependency

    index = resolve_label(label, labels)
    line = capture_line(index, windows)
    try:
        with serial.serial_for_url(port, baudrate=baudrate, timeout=0.1) as link:
            link.write(line)
            link.flush()
            received = b""
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                received += link.read(256)
                for reply in parse_replies(received):
                    if reply.ok and not reply.text.startswith("capture "):
                        continue
                    if not reply.ok:
                        raise CaptureError(f"the board refused the capture: {reply.text}")
                    return reply
                if len(received) > 1 << 16:
                    received = received[-256:]
    except serial.SerialException as exc:
        raise CaptureError(f"link to {port} failed: {exc}") from exc
    raise CaptureError(f"no answer from the board on {port} within {timeout:.1f} s")
