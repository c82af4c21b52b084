"""What the host needs from a link to one device: bytes out, bytes in with a timeout, close.

Serial ports, ptys and emulated boards on TCP (tinyfl.links.serial) implement it, and so does
the BLE link (tinyfl.links.ble), without touching the fleet code.
"""
from __future__ import annotations

from typing import Protocol, runtime_checkable

__all__ = ["Link", "LinkError"]


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
