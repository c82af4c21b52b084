"""The bumble backend of the BLE link: a BLE host in Python on any HCI transport bumble opens
(a USB dongle `usb:0`, a serial HCI board, or a virtual controller `tcp-client:HOST:PORT`).

One radio (bumble Device) per transport serves every link of the process that names it, one
GATT connection per peer, as one dongle serves a fleet. Radios stay open until
close_radios() or exit: a link that reconnects reuses its radio.
"""
from __future__ import annotations

import asyncio
import contextlib
from typing import Callable

from bumble import hci
from bumble.device import Device, Peer
from bumble.transport import open_transport

from ..wire import _wire_gen as gen
from .ble import BleTarget, run_on_ble_loop

__all__ = ["BumbleBackend", "close_radios"]

# A random static address (two top bits set) for the host's radio.
HOST_ADDRESS = "C0:71:4E:F1:00:01"
CONNECT_TIMEOUT_S = 5.0  # one LE connection attempt (the link retries reconnects)


class _Radio:
    def __init__(self, spec: str) -> None:
        self.spec = spec
        self.transport = None
        self.device: Device | None = None
        self.connecting = asyncio.Lock()  # a controller makes one LE connection at a time
        self.opening = asyncio.Lock()  # links opened at once share one transport

    async def open(self) -> Device:
        async with self.opening:
            return await self._open()

    async def _open(self) -> Device:
        if self.device is None:
            self.transport = await open_transport(self.spec)
            device = Device.with_hci("tinyfl-host", hci.Address(HOST_ADDRESS),
                                     self.transport.source, self.transport.sink)
            await device.power_on()
            self.device = device
        return self.device

    async def close(self) -> None:
        if self.device is not None:
            try:
                await self.device.power_off()
            except Exception:  # noqa: BLE001 - the controller may already be gone
                pass
            self.device = None
        if self.transport is not None:
            await self.transport.close()
            self.transport = None


_radios: dict[str, _Radio] = {}


def close_radios() -> None:
    """Closes every radio this process opened (tests, before their virtual controllers stop)."""
    async def close_all() -> None:
        for radio in list(_radios.values()):
            await radio.close()
        _radios.clear()
    run_on_ble_loop(close_all(), 10.0)


class BumbleBackend:
    """One GATT connection to a tinyfl peripheral through a bumble radio."""

    def __init__(self, target: BleTarget) -> None:
        self.target = target
        self._connection = None
        self._peer: Peer | None = None
        self._rx_char = None

    async def connect(self, on_value: Callable[[bytes], None],
                      on_lost: Callable[[str], None]) -> int:
        radio = _radios.setdefault(self.target.radio, _Radio(self.target.radio))
        device = await radio.open()
        async with radio.connecting:
            try:
                connection = await device.connect(
                    hci.Address(self.target.peer, hci.Address.RANDOM_DEVICE_ADDRESS),
                    own_address_type=hci.OwnAddressType.RANDOM, timeout=CONNECT_TIMEOUT_S)
            except BaseException:
                # A connect given up (timeout, or the link's own deadline) leaves the
                # controller still initiating: every later connect would be refused.
                with contextlib.suppress(Exception):
                    await asyncio.shield(device.send_command(
                        hci.HCI_LE_Create_Connection_Cancel_Command()))
                raise
        lost = False

        def disconnected(reason: int) -> None:
            nonlocal lost
            if not lost:
                lost = True
                on_lost(f"disconnected, reason 0x{int(reason):02X}")

        connection.on(connection.EVENT_DISCONNECTION, disconnected)
        try:
            peer = Peer(connection)
            if self.target.mtu > gen.BLE_MTU_MIN:
                await peer.request_mtu(self.target.mtu)
            services = await peer.discover_service(gen.BLE_SERVICE_UUID)
            if not services:
                raise ConnectionError(f"{self.target.peer} has no tinyfl service")
            await peer.discover_characteristics(service=services[0])
            rx = services[0].get_characteristics_by_uuid(gen.BLE_RX_UUID)
            tx = services[0].get_characteristics_by_uuid(gen.BLE_TX_UUID)
            if not rx or not tx:
                raise ConnectionError("the tinyfl service lacks its RX or TX characteristic")
            await tx[0].subscribe(lambda value: on_value(bytes(value)))
        except BaseException:
            lost = True  # a half-made connection is not a loss to report
            await connection.disconnect()
            raise
        self._connection, self._peer, self._rx_char = connection, peer, rx[0]
        return int(connection.att_mtu)

    async def write(self, value: bytes) -> None:
        if self._rx_char is None:
            raise ConnectionError("not connected")
        await self._rx_char.write_value(value, with_response=True)

    async def disconnect(self) -> None:
        connection, self._connection, self._rx_char = self._connection, None, None
        if connection is not None:
            try:
                await connection.disconnect()
            except Exception:  # noqa: BLE001 - already gone
                pass
