"""Byte links from the host to devices: serial ports, ptys, emulated boards on TCP, and BLE
(the tinyfl GATT service, through bleak or bumble). open_link() takes any of their URLs."""
from .base import Link, LinkError, PollableLink, pollable
from .ble import BleLink, open_ble_link
from .serial import DEFAULT_BAUDRATE, SerialLink, open_link

__all__ = ["DEFAULT_BAUDRATE", "BleLink", "Link", "LinkError", "PollableLink", "SerialLink",
           "open_ble_link", "open_link", "pollable"]
