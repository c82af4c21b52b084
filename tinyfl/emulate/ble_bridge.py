"""Emulated boards as BLE peripherals: a bumble GATT server per board exposes the board's serial
socket through exactly the tinyfl service of the wire spec, as the Arduino glue does on a
Nano 33 BLE or an ESP32.

All radios are virtual bumble controllers on one in-process LocalLink: one controller per
board (its peripheral), plus one for the host, reachable over HCI on a TCP port of 127.0.0.1
(a "USB dongle" for the host's bumble backend). `bridge.urls[i]` is the host's link URL.

Device side of the chunking rule, as on a board: what the board writes is cut into
notifications of at most MTU - 3 bytes that never span two frames; a value the host writes
goes to the board as it is; on every new connection the board first gets a 0x00 so a frame
torn by the last disconnect is rejected alone. While no host is connected and subscribed,
the board's output is dropped (a real board's notifications go nowhere either).
"""
from __future__ import annotations

import asyncio
import socket
import threading
from dataclasses import dataclass, field
from typing import Sequence

from bumble import hci
from bumble.controller import Controller
from bumble.core import AdvertisingData, UUID
from bumble.device import Connection, Device
from bumble.gatt import Characteristic, CharacteristicValue, Service
from bumble.host import Host
from bumble.link import LocalLink
from bumble.transport.common import AsyncPipeSink
from bumble.transport.tcp_server import open_tcp_server_transport_with_socket

from ..links.ble import ble_values
from ..wire import _wire_gen as gen

__all__ = ["BleBridge", "PeripheralStats"]

START_TIMEOUT_S = 10.0


@dataclass
class PeripheralStats:
    """What one board's peripheral saw: notifications and writes, their sizes, connections."""

    notifications: int = 0
    notified_bytes: int = 0
    largest_notification: int = 0
    writes: int = 0
    written_bytes: int = 0
    largest_write: int = 0
    dropped_bytes: int = 0  # board output while nobody listened
    connections: int = 0
    disconnects_forced: int = 0
    mtus: list[int] = field(default_factory=list)  # negotiated MTU at each notification burst
    oversize: int = 0  # notifications longer than MTU - 3 (must stay 0)


class _HostRadio(Controller):
    """The host's virtual controller. bumble's Controller acknowledges LE Create Connection
    Cancel but stays "connecting", refusing every later connection; a real controller stops
    initiating (Core spec Vol 4, Part E, 7.8.13), and so does this one."""

    def on_hci_le_create_connection_cancel_command(self, command):
        result = super().on_hci_le_create_connection_cancel_command(command)
        self.pending_le_connection = None
        return result


def peripheral_address(index: int) -> str:
    """The random static address of board `index` (0-based)."""
    return f"F0:00:00:00:{(index + 1) >> 8:02X}:{(index + 1) & 0xFF:02X}"


class _Peripheral:
    def __init__(self, index: int, board_port: int, link: LocalLink) -> None:
        self.index = index
        self.board_port = board_port
        self.address = peripheral_address(index)
        self.stats = PeripheralStats()
        self.connection: Connection | None = None
        self.drop_at: int | None = None  # the connection drops instead of this notification
        self.drop_at_write: int | None = None  # ... or instead of taking this write
        controller = Controller(f"board{index + 1}", link=link)
        self.device = Device(name=f"tinyfl-{index + 1}", address=hci.Address(self.address),
                             host=Host(controller, AsyncPipeSink(controller)))
        self.device.gatt_server.max_mtu = gen.BLE_MTU_MAX
        self.tx = Characteristic(gen.BLE_TX_UUID, Characteristic.Properties.NOTIFY,
                                 Characteristic.READABLE, b"")
        rx = Characteristic(
            gen.BLE_RX_UUID,
            Characteristic.Properties.WRITE | Characteristic.Properties.WRITE_WITHOUT_RESPONSE,
            Characteristic.WRITEABLE, CharacteristicValue(write=self._on_write))
        self.device.add_service(Service(gen.BLE_SERVICE_UUID, [rx, self.tx]))
        self.device.on(self.device.EVENT_CONNECTION, self._on_connection)
        self.writer: asyncio.StreamWriter | None = None
        self.reader_task: asyncio.Task | None = None

    async def start(self) -> None:
        reader, self.writer = await asyncio.open_connection("127.0.0.1", self.board_port)
        self.reader_task = asyncio.create_task(self._pump(reader))
        await self.device.power_on()
        self.device.advertising_data = bytes(AdvertisingData([
            (AdvertisingData.FLAGS, bytes([0x06])),
            (AdvertisingData.COMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS,
             bytes(UUID(gen.BLE_SERVICE_UUID))),
        ]))
        self.device.scan_response_data = bytes(AdvertisingData([
            (AdvertisingData.COMPLETE_LOCAL_NAME, self.device.name.encode())]))
        await self.device.start_advertising(auto_restart=True)

    def _on_connection(self, connection: Connection) -> None:
        self.connection = connection
        self.stats.connections += 1
        if self.writer is not None:
            self.writer.write(b"\x00")  # end a frame the last connection tore
        connection.on(connection.EVENT_DISCONNECTION, lambda _reason: self._on_gone(connection))

    def _on_gone(self, connection: Connection) -> None:
        if self.connection is connection:
            self.connection = None

    def _on_write(self, connection: Connection, value: bytes) -> None:
        value = bytes(value)
        if self.drop_at_write is not None:
            self.drop_at_write -= 1
            if self.drop_at_write <= 0:  # the value never reaches the board
                self.drop_at_write = None
                self.stats.disconnects_forced += 1
                asyncio.get_running_loop().create_task(connection.disconnect())
                return
        self.stats.writes += 1
        self.stats.written_bytes += len(value)
        self.stats.largest_write = max(self.stats.largest_write, len(value))
        if self.writer is not None:
            self.writer.write(value)

    async def _pump(self, reader: asyncio.StreamReader) -> None:
        """Board output -> notifications, in order."""
        while data := await reader.read(4096):
            connection = self.connection
            if connection is None:
                self.stats.dropped_bytes += len(data)
                continue
            mtu = int(connection.att_mtu)
            self.stats.mtus.append(mtu)
            for value in ble_values(data, mtu):
                if self.connection is not connection:
                    self.stats.dropped_bytes += len(value)
                    continue
                if self.drop_at is not None:
                    self.drop_at -= 1
                    if self.drop_at <= 0:  # this value is lost with the connection
                        self.drop_at = None
                        self.stats.disconnects_forced += 1
                        self.stats.dropped_bytes += len(value)
                        await connection.disconnect()
                        continue
                if len(value) > mtu - gen.BLE_ATT_OVERHEAD:
                    self.stats.oversize += 1
                try:
                    await self.device.notify_subscriber(connection, self.tx, value)
                except Exception:  # noqa: BLE001 - the connection went away under us
                    self.stats.dropped_bytes += len(value)
                    continue
                self.stats.notifications += 1
                self.stats.notified_bytes += len(value)
                self.stats.largest_notification = max(self.stats.largest_notification,
                                                      len(value))

    async def stop(self) -> None:
        if self.reader_task is not None:
            self.reader_task.cancel()
        if self.writer is not None:
            self.writer.close()
        try:
            await self.device.power_off()
        except Exception:  # noqa: BLE001 - stopping anyway
            pass


class BleBridge:
    """Serves emulated boards (their TCP ports) as BLE peripherals until stop()."""

    def __init__(self, board_ports: Sequence[int]) -> None:
        self.board_ports = list(board_ports)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="tinyfl-ble-bridge",
                                        daemon=True)
        self._peripherals: list[_Peripheral] = []
        self._transport = None
        self.hci_port = 0

    @property
    def urls(self) -> list[str]:
        """Host link URLs, one per board (append ;mtu=N to choose the MTU)."""
        return [f"bumble:tcp-client:127.0.0.1:{self.hci_port}#{p.address}"
                for p in self._peripherals]

    def stats(self, index: int) -> PeripheralStats:
        return self._peripherals[index].stats

    def _call(self, coro, timeout: float = START_TIMEOUT_S):
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    async def _start(self) -> None:
        link = LocalLink()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self.hci_port = sock.getsockname()[1]
        self._transport = await open_tcp_server_transport_with_socket(sock)
        _HostRadio("host-radio", host_source=self._transport.source,
                   host_sink=self._transport.sink, link=link)
        for i, port in enumerate(self.board_ports):
            peripheral = _Peripheral(i, port, link)
            await peripheral.start()
            self._peripherals.append(peripheral)

    def start(self) -> BleBridge:
        self._thread.start()
        try:
            self._call(self._start())
        except BaseException:
            self.stop()
            raise
        return self

    def drop_at(self, index: int, notification: int) -> None:
        """Board `index` loses its connection instead of sending its `notification`-th next
        notification (1: the next one), as a radio that fades in the middle of a message."""
        if notification < 1:
            raise ValueError("notification counts from 1")

        async def arm() -> None:
            self._peripherals[index].drop_at = notification
        self._call(arm())

    def drop_at_write(self, index: int, write: int) -> None:
        """Board `index` loses its connection instead of taking the host's `write`-th next
        write (1: the next one): a head torn on its way to the board."""
        if write < 1:
            raise ValueError("write counts from 1")

        async def arm() -> None:
            self._peripherals[index].drop_at_write = write
        self._call(arm())

    def stop(self) -> None:
        if not self._thread.is_alive():
            return

        async def stop_all() -> None:
            for p in self._peripherals:
                await p.stop()
            if self._transport is not None:
                await self._transport.close()
        try:
            self._call(stop_all())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(5.0)

    def __enter__(self) -> BleBridge:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    """`python -m tinyfl.emulate.ble_bridge PORT [PORT ...]`: serves the emulated boards on
    those 127.0.0.1 ports as BLE peripherals, prints one link URL per board, runs until
    interrupted (or until stdin closes, for a parent process that wants it gone)."""
    import argparse
    import sys

    parser = argparse.ArgumentParser(prog="python -m tinyfl.emulate.ble_bridge",
                                     description=main.__doc__)
    parser.add_argument("ports", nargs="+", type=int, help="TCP ports of emulated boards")
    args = parser.parse_args(argv)
    with BleBridge(args.ports) as bridge:
        for url in bridge.urls:
            print(url, flush=True)
        try:
            sys.stdin.read()  # returns when stdin closes
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
