"""The BLE link's shared logic without a radio: the chunking rule, URLs, reconnects and
errors, against a scripted backend; and the generated BLE constants."""
from __future__ import annotations

import asyncio
import random
import re
import threading

import pytest

from tinyfl.links import LinkError, open_link
from tinyfl.links.ble import BleLink, ble_values, parse_ble_url
from tinyfl.wire import BLE_ATT_OVERHEAD, BLE_MTU_MAX, BLE_MTU_MIN, codegen, encode_payload, spec
from tinyfl.wire import _wire_gen


def _stream(seed: int) -> bytes:
    rng = random.Random(seed)
    return b"".join(encode_payload(4, i, rng.randbytes(rng.randrange(0, 600)), rng.choice([20, 240]))
                    for i in range(8))


@pytest.mark.parametrize("mtu", [BLE_MTU_MIN, 24, 100, 185, BLE_MTU_MAX])
def test_values_follow_the_chunking_rule(mtu: int) -> None:
    for seed in range(5):
        data = _stream(seed)
        values = ble_values(data, mtu)
        assert b"".join(values) == data
        assert all(0 < len(v) <= mtu - BLE_ATT_OVERHEAD for v in values)
        # never two frames in one value: a 0x00 can only be a value's last byte
        assert all(b"\x00" not in v[:-1] for v in values)
        # and no needless cuts: each value is as long as the rule allows
        for v, nxt in zip(values, values[1:]):
            assert v.endswith(b"\x00") or len(v) == mtu - BLE_ATT_OVERHEAD, (v, nxt)


def test_values_of_a_torn_stream_and_bad_mtus() -> None:
    assert ble_values(b"", 23) == []
    assert ble_values(b"\x00\x00", 23) == [b"\x00", b"\x00"]
    assert ble_values(b"\x01" * 45, 23) == [b"\x01" * 20, b"\x01" * 20, b"\x01" * 5]
    for mtu in (0, 22, 518):
        with pytest.raises(ValueError, match="MTU"):
            ble_values(b"\x01", mtu)


def test_urls() -> None:
    t = parse_ble_url("ble://tinyfl-1")
    assert (t.scheme, t.radio, t.peer, t.mtu) == ("ble", "", "tinyfl-1", BLE_MTU_MAX)
    t = parse_ble_url("bumble:tcp-client:127.0.0.1:9000#F0:00:00:00:00:01;mtu=23")
    assert (t.scheme, t.radio, t.peer, t.mtu) == \
        ("bumble", "tcp-client:127.0.0.1:9000", "F0:00:00:00:00:01", 23)
    for bad in ("ble://", "bumble:usb:0", "bumble:#F0:00:00:00:00:01", "ble://x;mtu=22",
                "ble://x;mtu=248", "ble://x;mtu=abc", "ble://x;speed=1", "blex://x"):
        with pytest.raises(LinkError):
            parse_ble_url(bad)
    with pytest.raises(LinkError, match="expected bumble:TRANSPORT#ADDRESS"):
        open_link("bumble:usb:0")  # open_link dispatches BLE URLs to tinyfl.links.ble


def test_bleak_needs_a_bluetooth_stack_and_says_so() -> None:
    # no BlueZ / D-Bus on CI machines: a clear LinkError, never a hang or another exception
    # (here: no adapter, "cannot scan"; on a laptop: nobody advertising that address)
    with pytest.raises(LinkError, match="cannot connect over BLE"):
        open_link("ble://AA:BB:CC:DD:EE:FF", connect_timeout=2.0)


class ScriptedBackend:
    """A peripheral in memory: records writes, answers with `notify`, drops on demand."""

    def __init__(self, mtu: int = 23, fail_connects: int = 0) -> None:
        self.mtu = mtu
        self.fail_connects = fail_connects
        self.written: list[bytes] = []
        self.connects = 0
        self.fail_write_with: type[Exception] | None = None
        self.drop_on_write: int | None = None  # drop the connection at this write index
        self._on_value = self._on_lost = None

    async def connect(self, on_value, on_lost) -> int:
        self.connects += 1
        if self.connects > 1 and self.fail_connects:
            self.fail_connects -= 1
            raise ConnectionError("peer not advertising")
        self._on_value, self._on_lost = on_value, on_lost
        return self.mtu

    async def write(self, value: bytes) -> None:
        if self.drop_on_write is not None and len(self.written) == self.drop_on_write:
            self.drop_on_write = None
            self._on_lost("supervision timeout")
            raise ConnectionError("disconnected")
        if self.fail_write_with is not None:
            raise self.fail_write_with("radio gone")
        self.written.append(value)

    async def disconnect(self) -> None:
        pass

    def notify(self, value: bytes) -> None:
        self._on_value(value)

    def drop(self) -> None:
        self._on_lost("supervision timeout")


def _on_loop(link: BleLink, fn) -> None:
    from tinyfl.links.ble import _Loop
    done = threading.Event()
    _Loop.get().call_soon_threadsafe(lambda: (fn(), done.set()))
    assert done.wait(2.0)


def test_link_writes_values_and_reads_notifications() -> None:
    backend = ScriptedBackend(mtu=23)
    link = BleLink("bumble:x#y", backend, connect_timeout=2.0, reconnect_timeout=1.0)
    frames = encode_payload(3, 1, bytes(range(100)), 20)
    link.write(frames)
    assert b"".join(backend.written) == frames
    assert backend.written == ble_values(frames, 23)
    assert link.stats.values_tx == len(backend.written) and link.stats.bytes_tx == len(frames)
    _on_loop(link, lambda: (backend.notify(b"\x05\x06"), backend.notify(b"\x07\x00")))
    assert link.read(3, 1.0) == b"\x05\x06\x07"
    assert link.read(10, 1.0) == b"\x00"
    assert link.read(10, 0.05) == b""
    assert link.stats.values_rx == 2 and link.stats.largest_rx == 2
    link.close()
    link.close()
    with pytest.raises(LinkError):
        link.read(1, 0.1)


def test_a_drop_mid_frame_ends_the_torn_frame_and_reconnects() -> None:
    backend = ScriptedBackend(mtu=23)
    link = BleLink("bumble:x#y", backend, connect_timeout=2.0, reconnect_timeout=2.0)
    _on_loop(link, lambda: (backend.notify(b"\x01\x02"), backend.drop()))
    # the torn frame gets its delimiter: the host's decoder rejects it alone
    assert link.read(10, 1.0) == b"\x01\x02\x00"
    assert link._wait_connected(2.0)
    assert link.stats.disconnects == 1 and link.stats.connects == 2 and backend.connects == 2
    link.close()


def test_a_drop_while_writing_goes_on_at_the_next_frame() -> None:
    backend = ScriptedBackend(mtu=23)
    link = BleLink("bumble:x#y", backend, connect_timeout=2.0, reconnect_timeout=2.0)
    first = encode_payload(3, 1, bytes(range(1, 60)), 20)  # several values per frame
    second = encode_payload(3, 2, b"\x01\x02", 20)
    backend.drop_on_write = 1  # the second value of the first frame is lost with the link
    link.write(first + second)
    assert link.stats.disconnects == 1 and backend.connects == 2
    # what reached the device: the first value, then (after the reconnect) from the next frame
    frames = [f + b"\x00" for f in (first + second).split(b"\x00")[:-1]]
    assert backend.written[0] == ble_values(frames[0], 23)[0]
    after = b"".join(backend.written[1:])
    assert after == b"".join(frames[1:])  # the rest of the torn frame is skipped
    link.close()


def test_a_peer_that_does_not_come_back_is_a_link_error() -> None:
    backend = ScriptedBackend(mtu=23, fail_connects=1000)
    link = BleLink("bumble:x#y", backend, connect_timeout=2.0, reconnect_timeout=0.5)
    _on_loop(link, backend.drop)
    with pytest.raises(LinkError, match="no reconnect within 0.5 s"):
        link.read(10, 3.0)
    with pytest.raises(LinkError, match="no reconnect"):
        link.write(b"\x01\x00")
    link.close()


def test_a_failing_radio_while_connected_is_a_link_error() -> None:
    backend = ScriptedBackend(mtu=23)
    link = BleLink("bumble:x#y", backend, connect_timeout=2.0, reconnect_timeout=0.5)
    backend.fail_write_with = OSError
    with pytest.raises(LinkError, match="write failed: OSError"):
        link.write(b"\x01\x02\x00")
    link.close()


def test_a_peer_that_never_answers_connect_is_a_link_error() -> None:
    class Silent(ScriptedBackend):
        async def connect(self, on_value, on_lost) -> int:
            await asyncio.sleep(60)
            return 23
    with pytest.raises(LinkError, match="cannot connect over BLE: TimeoutError"):
        BleLink("bumble:x#y", Silent(), connect_timeout=0.3)


def test_generated_ble_constants_follow_the_spec() -> None:
    header = codegen.render_c_header()
    for name in ("SERVICE_UUID", "RX_UUID", "TX_UUID"):
        value = getattr(spec, f"BLE_{name}")
        assert f'#define TINYFL_WIRE_BLE_{name} "{value}"' in header
        assert getattr(_wire_gen, f"BLE_{name}") == value
    defines = dict(re.findall(r"^#define (TINYFL_WIRE_BLE_\w+) (\d+)$", header, re.M))
    for name in ("MTU_MIN", "MTU_MAX", "ATT_OVERHEAD"):
        assert defines[f"TINYFL_WIRE_BLE_{name}"] == str(getattr(spec, f"BLE_{name}"))
        assert getattr(_wire_gen, f"BLE_{name}") == getattr(spec, f"BLE_{name}")
    assert spec.BLE_MTU_MIN - spec.BLE_ATT_OVERHEAD == spec.MIN_CHUNK


def test_codegen_rejects_bad_ble_constants(monkeypatch) -> None:
    monkeypatch.setattr(spec, "BLE_TX_UUID", spec.BLE_RX_UUID)
    with pytest.raises(ValueError, match="BLE UUIDs"):
        codegen.validate_spec()
    monkeypatch.undo()
    monkeypatch.setattr(spec, "BLE_MTU_MIN", 22)
    with pytest.raises(ValueError, match="MTU"):
        codegen.validate_spec()


def test_bridge_as_a_subprocess_serves_a_board_to_another_process(tmp_path) -> None:
    """The bridge in its own process (python -m tinyfl.emulate.ble_bridge), the host's bumble
    central here: hellos at both ends of the MTU range, through a real HCI-over-TCP hop."""
    import subprocess
    import sys

    from tinyfl.demo import DemoOptions, prepare
    from tinyfl.emulate import build_firmware, launch_fleet, write_shard
    from tinyfl.fleet import DeviceSession
    from tinyfl.links.ble_bumble import close_radios

    options = DemoOptions(board="native", n=1, backbone="stats")
    data, _backbone, config = prepare(options, lambda _m: None)
    firmware = build_firmware("native", config)
    shard = write_shard(tmp_path / "s0.bin", data.x_train[:20], data.y_train[:20])
    with launch_fleet("native", 1, firmware, [shard], tmp_path / "boards") as fleet:
        bridge = subprocess.Popen([sys.executable, "-m", "tinyfl.emulate.ble_bridge",
                                   str(fleet[0].port)], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True)
        try:
            url = bridge.stdout.readline().strip()
            assert url.startswith("bumble:tcp-client:127.0.0.1:") and url.endswith("#F0:00:00:00:00:01")
            for mtu in (23, 247):
                session = DeviceSession(open_link(f"{url};mtu={mtu}"), "dev1")
                try:
                    assert session.hello().device_id == 1
                    assert session.link.stats.mtu == mtu
                    stats = session.link.stats  # one hello frame: full values, then the rest
                    assert stats.values_rx == -(-stats.bytes_rx // (mtu - BLE_ATT_OVERHEAD))
                    assert stats.largest_rx == min(stats.bytes_rx, mtu - BLE_ATT_OVERHEAD)
                finally:
                    session.close()
            close_radios()
        finally:
            bridge.stdin.close()
            assert bridge.wait(10) == 0


def test_an_absent_peer_is_a_link_error_and_the_radio_stays_usable(tmp_path) -> None:
    """Connecting to an address nobody advertises fails with a LinkError within the timeout;
    the shared radio then still connects to a board that is there."""
    from tinyfl.demo import DemoOptions, prepare
    from tinyfl.emulate import build_firmware, launch_fleet, write_shard
    from tinyfl.emulate.ble_bridge import BleBridge
    from tinyfl.fleet import DeviceSession
    from tinyfl.links.ble_bumble import BumbleBackend, close_radios

    options = DemoOptions(board="native", n=1, backbone="stats")
    data, _backbone, config = prepare(options, lambda _m: None)
    firmware = build_firmware("native", config)
    shard = write_shard(tmp_path / "s0.bin", data.x_train[:20], data.y_train[:20])
    with launch_fleet("native", 1, firmware, [shard], tmp_path / "boards") as fleet, \
            BleBridge([fleet[0].port]) as bridge:
        try:
            radio = bridge.urls[0].rpartition("#")[0]
            absent = f"{radio}#F0:00:00:00:00:63;mtu=23"
            with pytest.raises(LinkError, match="cannot connect over BLE"):
                BleLink(absent, BumbleBackend(parse_ble_url(absent)), connect_timeout=2.0)
            session = DeviceSession(open_link(bridge.urls[0]), "dev1")
            try:
                assert session.hello().device_id == 1
            finally:
                session.close()
        finally:
            close_radios()


def test_a_flooding_device_cannot_grow_the_host_buffer() -> None:
    backend = ScriptedBackend(mtu=247)
    link = BleLink("bumble:x#y", backend, connect_timeout=2.0)
    link._rx_limit = 1000  # MAX_RX_BUFFER, scaled down
    _on_loop(link, lambda: [backend.notify(bytes([i % 255 + 1]) * 244) for i in range(10)])
    assert link.stats.bytes_rx == 2440 and link.stats.dropped_rx == 1440
    got = b""
    while chunk := link.read(4096, 0.05):
        got += chunk
    assert len(got) == 1000  # what fitted, in order
    assert got[:244] == b"\x01" * 244 and got[976:] == b"\x05" * 24
    link.close()
