"""What the host needs from a link to one device: bytes out, bytes in with a timeout, close.

Serial ports, ptys and emulated boards on TCP (tinyfl.links.serial) implement it, and so does
the BLE link (tinyfl.links.ble), without touching the fleet code.

A link may also offer the optional non-blocking capability (PollableLink: a file descriptor to
wait on, reads and writes that never block, and its own output buffer), so that one thread can
drive a thousand of them (tinyfl.fleet.exchange). `pollable(link)` says whether it does; links
that cannot (BLE through bleak or bumble) are driven by a thread each; in-process links
without a descriptor (the Flower relay's) use tinyfl.links.notify instead.
"""
from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

__all__ = ["Link", "LinkError", "PollableLink", "pollable"]


class LinkError(OSError):
    """A link could not be opened, or failed while reading or writing (the device is gone)."""

    def __init__(self, url: str, detail: str) -> None:
        super().__init__(f"{url}: {detail}")
        self.url = url
        self.detail = detail


@runtime_checkable
class Link(Protocol):
    """A byte stream to one device. Implementations raise LinkError, never other I/O errors."""

    url: str

    def write(self, data: bytes) -> None:
        """Sends all of `data` (blocks until written)."""
        ...

    def read(self, max_bytes: int, timeout: float) -> bytes:
        """Returns 1..max_bytes bytes as soon as any arrive, or b"" after `timeout` seconds."""
        ...

    def close(self) -> None:
        """Releases the link; closing twice is harmless."""
        ...


@runtime_checkable
class PollableLink(Link, Protocol):
    """A Link that an event loop can drive. `write` still blocks, after what is queued."""

    def fileno(self) -> int:
        """The descriptor that becomes readable when bytes (or the end of the link) arrive
        and writable when queued output can move; raises OSError if there is none."""
        ...

    def read_nowait(self, max_bytes: int) -> bytes:
        """What has arrived (up to max_bytes), b"" if nothing has; never blocks."""
        ...

    def write_nowait(self, data: bytes) -> None:
        """Queues `data` after any queued output and sends what the OS takes now; never
        blocks. Raises LinkError if the queue would pass its bound (the device stopped
        reading for good)."""
        ...

    def pending_output(self) -> int:
        """Bytes queued and not yet taken by the OS."""
        ...

    def flush_nowait(self) -> int:
        """Sends what the OS takes now of the queue; returns the bytes still queued."""
        ...


_CAPABILITY = ("fileno", "read_nowait", "write_nowait", "pending_output", "flush_nowait")


def pollable(link: Any) -> bool:
    """Whether `link` offers the non-blocking capability with a usable descriptor."""
    # attribute checks, not isinstance(link, PollableLink): a runtime Protocol check costs
    # tens of microseconds, once per device and exchange
    if not all(callable(getattr(link, name, None)) for name in _CAPABILITY):
        return False
    try:
        return link.fileno() >= 0
    except (OSError, AttributeError, ValueError):
        return False
