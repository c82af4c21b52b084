"""The error the device model raises where the C returns a status other than OK."""
from __future__ import annotations

__all__ = ["DeviceModelError"]


class DeviceModelError(ValueError):
    """`status` is the STATUS name the C function returns in the same case ("ARG", ...)."""

    def __init__(self, status: str, message: str):
        super().__init__(f"{status}: {message}")
        self.status = status
