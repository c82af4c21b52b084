"""Byte links from the host to devices: serial ports, ptys, emulated boards on TCP."""
from .base import Link, LinkError
from .serial import DEFAULT_BAUDRATE, SerialLink, open_link

__all__ = ["DEFAULT_BAUDRATE", "Link", "LinkError", "SerialLink", "open_link"]
