"""SerialLink over the three kinds of serial the host meets: TCP (emulated boards), a pty, and a
device path that does not exist."""
from __future__ import annotations

import os
import socket
import threading
import time

import pytest

from tinyfl.links import Link, LinkError, SerialLink, open_link


@pytest.fixture()
def tcp_peer():
    """A one-connection TCP server on 127.0.0.1 standing in for a board's serial port."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(5)
    accepted: list[socket.socket] = []

    def accept() -> None:
        conn, _ = server.accept()
        accepted.append(conn)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    url = f"socket://127.0.0.1:{server.getsockname()[1]}"
    yield url, accepted, thread
    for conn in accepted:
        conn.close()
    server.close()


def read_exactly(link: Link, n: int, timeout: float = 5.0) -> bytes:
    out = b""
    deadline = time.monotonic() + timeout
    while len(out) < n and time.monotonic() < deadline:
        out += link.read(n - len(out), timeout=0.2)
    return out


def test_socket_link_round_trip_and_timeout(tcp_peer) -> None:
    url, accepted, thread = tcp_peer
    link = open_link(url)
    thread.join(5)
    peer = accepted[0]
    assert isinstance(link, Link) and link.url == url

    link.write(b"\x01\x02\x00")
    assert peer.recv(16) == b"\x01\x02\x00"

    started = time.monotonic()
    assert link.read(64, timeout=0.2) == b""
    assert 0.15 <= time.monotonic() - started < 1.0

    payload = bytes(range(256)) * 8
    peer.sendall(payload)
    assert read_exactly(link, len(payload)) == payload
    # max_bytes is honoured
    peer.sendall(b"abcdef")
    assert read_exactly(link, 2) == b"ab"
    assert read_exactly(link, 4) == b"cdef"
    link.close()
    link.close()


def test_socket_link_read_returns_as_soon_as_bytes_arrive(tcp_peer) -> None:
    url, accepted, thread = tcp_peer
    link = open_link(url)
    thread.join(5)
    threading.Timer(0.1, accepted[0].sendall, args=(b"x",)).start()
    started = time.monotonic()
    assert link.read(100, timeout=5.0) == b"x"
    assert time.monotonic() - started < 2.0
    link.close()


def test_peer_disconnect_is_a_link_error(tcp_peer) -> None:
    url, accepted, thread = tcp_peer
    link = open_link(url)
    thread.join(5)
    accepted[0].close()
    with pytest.raises(LinkError) as info:
        for _ in range(20):
            link.read(10, timeout=0.2)
    assert info.value.url == url
    link.close()


def test_connect_is_retried_until_the_board_listens() -> None:
    probe = socket.create_server(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    servers: list[socket.socket] = []

    def listen_late() -> None:
        time.sleep(0.3)
        servers.append(socket.create_server(("127.0.0.1", port)))

    threading.Thread(target=listen_late, daemon=True).start()
    link = open_link(f"socket://127.0.0.1:{port}", connect_timeout=5.0)
    link.close()
    for server in servers:
        server.close()


def test_refused_socket_and_missing_device_are_link_errors() -> None:
    probe = socket.create_server(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    with pytest.raises(LinkError, match="cannot open"):
        open_link(f"socket://127.0.0.1:{port}", connect_timeout=0.2)
    with pytest.raises(LinkError, match="cannot open"):
        open_link("/dev/ttyACM_tinyfl_does_not_exist")
    with pytest.raises(LinkError, match="BLE"):
        open_link("ble://AA:BB:CC:DD:EE:FF")


def test_pty_link_round_trip() -> None:
    master, slave = os.openpty()
    try:
        link = open_link(os.ttyname(slave))
        assert isinstance(link, SerialLink)
        link.write(b"hello\x00")
        got = b""
        deadline = time.monotonic() + 5
        while len(got) < 6 and time.monotonic() < deadline:
            got += os.read(master, 64)
        assert got == b"hello\x00"
        os.write(master, b"\x11\x22\x00")
        assert read_exactly(link, 3) == b"\x11\x22\x00"
        assert link.read(10, timeout=0.1) == b""
        link.close()
    finally:
        os.close(master)
        os.close(slave)


def test_lossy_link_corrupts_the_chosen_share_of_frames_and_never_a_delimiter() -> None:
    from tinyfl.links.lossy import LossyLink

    class Sink:
        url = "sink://"

        def __init__(self) -> None:
            self.data = b""

        def write(self, data: bytes) -> None:
            self.data += data

        def read(self, max_bytes: int, timeout: float) -> bytes:
            return b""

        def close(self) -> None:
            pass

    frames = [bytes([0x80, 0x01, 0x40] * 5) + b"\x00" for _ in range(4000)]
    sink = Sink()
    link = LossyLink(sink, 0.01, seed=3)
    for frame in frames:
        link.write(frame)
    assert sink.data.count(b"\x00") == len(frames)  # delimiters untouched, none added
    assert link.pieces == 4000 and 20 <= link.corrupted <= 60
    changed = sum(a != b for a, b in zip(sink.data.split(b"\x00"), (f[:-1] for f in frames)))
    assert changed == link.corrupted


def test_pty_link_is_pollable_and_a_hang_up_is_a_link_error() -> None:
    """A tty read with nothing to give returns b"" just like one whose device is gone: the
    link tells them apart (pyserial's own rule), in the event loop's non-blocking reads too."""
    from tinyfl.links import pollable

    master, slave = os.openpty()
    link = open_link(os.ttyname(slave))
    try:
        assert pollable(link) and link.fileno() >= 0
        assert link.read_nowait(10) == b""  # nothing yet: not an error
        os.write(master, b"\x01\x02\x00")
        deadline = time.monotonic() + 5
        got = b""
        while len(got) < 3 and time.monotonic() < deadline:
            got += link.read_nowait(10)
        assert got == b"\x01\x02\x00"
        link.write_nowait(b"\x05\x00")
        assert link.flush_nowait() == 0 and os.read(master, 16) == b"\x05\x00"
        os.close(master)
        master = -1
        with pytest.raises(LinkError):
            link.read_nowait(10)
        with pytest.raises(LinkError):
            link.read(10, timeout=0.2)
    finally:
        link.close()
        if master >= 0:
            os.close(master)
        os.close(slave)
