"""The bleak backend of the BLE link: what a laptop has (BlueZ on Linux, CoreBluetooth on
macOS, WinRT on Windows). Kept thin on purpose: chunking, reconnects and errors live in
tinyfl.links.ble, shared with the bumble backend that CI runs (bleak needs a kernel Bluetooth
stack that CI machines lack).
"""
from __future__ import annotations

import re
from typing import Callable

from bleak import BleakClient, BleakScanner

from ..wire import _wire_gen as gen
from .ble import BleTarget

__all__ = ["BleakBackend"]

SCAN_TIMEOUT_S = 10.0
_ADDRESS = re.compile(r"^([0-9A-Fa-f]{2}:){5}[0-9A-Fa-f]{2}$|^[0-9A-Fa-f-]{36}$")  # MAC or macOS UUID


class BleakBackend:
    """One GATT connection to a tinyfl peripheral found by address or advertised name."""

    def __init__(self, target: BleTarget) -> None:
        self.target = target
        self._client: BleakClient | None = None

    async def connect(self, on_value: Callable[[bytes], None],
                      on_lost: Callable[[str], None]) -> int:
        try:
            if _ADDRESS.match(self.target.peer):
                device = await BleakScanner.find_device_by_address(self.target.peer,
                                                                   SCAN_TIMEOUT_S)
            else:
                device = await BleakScanner.find_device_by_name(self.target.peer,
                                                                SCAN_TIMEOUT_S)
        except (OSError, RuntimeError, ImportError) as exc:  # no adapter, no BlueZ/D-Bus
            raise ConnectionError(f"cannot scan (no Bluetooth adapter or OS Bluetooth service? "
                                  f"a USB HCI dongle works with bumble:usb:0#ADDRESS): "
                                  f"{type(exc).__name__}: {exc}") from exc
        if device is None:
            raise ConnectionError(f"no BLE device {self.target.peer!r} advertising")
        client = BleakClient(device, disconnected_callback=lambda _c: on_lost("disconnected"),
                             services=[gen.BLE_SERVICE_UUID])
        await client.connect()
        try:
            if client.services.get_characteristic(gen.BLE_RX_UUID) is None:
                raise ConnectionError(f"{self.target.peer} has no tinyfl service")
            await client.start_notify(gen.BLE_TX_UUID, lambda _c, data: on_value(bytes(data)))
        except BaseException:
            await client.disconnect()
            raise
        self._client = client
        # the OS negotiates the MTU; never use more than the URL allows
        return max(gen.BLE_MTU_MIN, min(int(client.mtu_size), self.target.mtu))

    async def write(self, value: bytes) -> None:
        if self._client is None:
            raise ConnectionError("not connected")
        await self._client.write_gatt_char(gen.BLE_RX_UUID, value, response=True)

    async def disconnect(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.disconnect()
