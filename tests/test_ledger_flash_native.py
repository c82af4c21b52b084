"""The device firmware on the native board with its ledger as a log on emulated raw flash
(-DTINYFL_NATIVE_FLASH_LEDGER), the process killed before flash erases and word writes of a
boot and two releases (TINYFL_NATIVE_TEST_FLASH_CUT, test builds), then rebooted: the ledger
never locks, never holds less than what was sent, and reads back with tinyfl.privacy.ledger."""
from __future__ import annotations

import socket
import time
from pathlib import Path

import numpy as np
import pytest

from test_boards_fleet import CONFIG, TEST_SEED, global_model, ledger_eps
from tinyfl.emulate import NativeBoard, build_firmware, write_shard
from tinyfl.privacy.ledger import RDP_ORDERS, decode_flash_log
from tinyfl.wire import FrameDecoder, Hello, Update, encode_message

PAGE_SIZE = 4096  # boards/native/board_native.h
FLAG_LEDGER_LOCKED = 4


class Link:
    """Frames out, messages in; returns None once the board's process has ended."""

    def __init__(self, board: NativeBoard):
        host, port = board.url.removeprefix("socket://").rsplit(":", 1)
        self.board = board
        self.sock = socket.create_connection((host, int(port)), timeout=5)
        self.sock.settimeout(0.01)
        self.decoder = FrameDecoder()
        self.pending: list = []
        self.seq = 0

    def send(self, message) -> None:
        self.seq += 1
        try:
            self.sock.sendall(encode_message(message, self.seq, chunk=32))
        except OSError:
            pass  # the board died: the next receive says so

    def receive(self, timeout: float = 10.0):
        deadline = time.monotonic() + timeout
        while not self.pending:
            try:
                data = self.sock.recv(4096)
            except socket.timeout:
                data = None
            except OSError:
                data = b""
            if data:
                self.pending += [r.message for r in self.decoder.feed(data) if r.error is None]
            elif not self.board.alive:
                return None
            if time.monotonic() > deadline:
                raise TimeoutError("no message from the board")
        return self.pending.pop(0)

    def close(self) -> None:
        self.sock.close()


@pytest.fixture(scope="module")
def image() -> Path:
    return build_firmware("native", CONFIG, test_build=True, test_seed=TEST_SEED,
                          defines={"TINYFL_NATIVE_FLASH_LEDGER": None})


def _session(board: NativeBoard) -> tuple[int, bool]:
    """Boot, then rounds 1 and 2: (updates received, whether the board survived)."""
    link = Link(board)
    sent = 0
    try:
        if not isinstance(link.receive(), Hello):
            return sent, False
        for round_ in (1, 2):
            link.send(global_model(round_))
            message = link.receive()
            if message is None:
                return sent, False
            assert isinstance(message, Update), message
            sent += 1
        return sent, True
    finally:
        link.close()


def _cuts() -> tuple[list[int], int]:
    """Flash operations of the session, from the log's layout: the first boot erases page 0 and
    writes the empty checkpoint and a boot entry; the first release writes a curve and a release
    entry, the second a release entry. Every operation of the small entries and of the ends of
    the large ones, every 16th inside those (the host harness cuts all of them)."""
    ckpt, curve, rel, boot = 7 + len(RDP_ORDERS), 2 + len(RDP_ORDERS), 4, 2
    boot_end = 1 + ckpt + boot
    curve_end = boot_end + curve
    total = curve_end + 2 * rel
    cuts = set(range(0, total, 16)) | set(range(ckpt - 2, boot_end + 2)) | set(range(curve_end - 2, total))
    return sorted(cuts), total


def test_power_cut_before_flash_operations_of_a_boot_and_two_releases(image, tmp_path, monkeypatch):
    rng = np.random.default_rng(5)
    windows = rng.normal(size=(9, CONFIG.input_steps, CONFIG.input_channels)).astype(np.float32)
    shard = write_shard(tmp_path / "shard.bin", windows, np.arange(9) % CONFIG.n_classes)
    storage = tmp_path / "flash.bin"
    cuts, total = _cuts()
    outcomes = set()
    for cut in [*cuts, total]:
        storage.unlink(missing_ok=True)
        board = NativeBoard(image, device_id=3, shard=shard, storage=storage)
        monkeypatch.setenv("TINYFL_NATIVE_TEST_FLASH_CUT", str(cut))
        try:
            board.start()
            sent, survived = _session(board)
        finally:
            board.stop()
        monkeypatch.delenv("TINYFL_NATIVE_TEST_FLASH_CUT")
        # the layout predicts the session's operations exactly: only a cut past them all survives
        assert survived == (cut == total), (cut, total)
        with board:  # power back on
            link = Link(board)
            hello = link.receive()
            link.close()
        assert isinstance(hello, Hello) and not hello.flags & FLAG_LEDGER_LOCKED, cut
        # what was sent, or that and the release being written when the power failed
        assert hello.releases_done in (sent, sent + 1), (cut, sent, hello.releases_done)
        assert hello.eps_spent == ledger_eps(hello.releases_done)
        assert decode_flash_log(storage.read_bytes(), PAGE_SIZE).releases_done == hello.releases_done
        outcomes.add((sent, hello.releases_done))
    # every stage was cut: the first boot, the first release (curve, then entry), the second
    assert {(0, 0), (0, 1), (1, 1), (1, 2), (2, 2)} <= outcomes, outcomes
