"""The two QEMU boards share one semihosting layer, port and command line (boards/qemu-common),
so the same host input must get the same answer from both, apart from the board's name; and
each board's own UART0 carries the link the same way."""
from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest
import serial

from tinyfl.emulate import build_firmware, build_qemu_program, run_semihosted
from tinyfl.emulate.boards import free_port
from tinyfl.emulate.qemu import qemu_command
from tinyfl.firmware_config import FirmwareConfig

CONFIG = FirmwareConfig(n_classes=2, n_features=4, input_channels=1, input_steps=8, samples_per_round=4)
BOARDS = {"qemu": ("qemu", "an386"), "qemu-rv32": ("qemu_rv32", "rv32")}  # board: (tool fixture, name)
C_DIR = Path(__file__).parent / "c"


def _answers(board: str, tmp_path) -> list[tuple[int, str]]:
    """(exit code, console text with the board's name taken out) for each bad command line."""
    image = build_firmware(board, CONFIG)
    bad_shard = tmp_path / "not-a-shard.bin"
    bad_shard.write_bytes(b"TFLX" + bytes(6))
    storage = str(tmp_path / "ledger.bin")
    cases = [
        ["--shard", str(tmp_path / "s.bin")],  # no --storage
        ["--storage", "x" * 700],  # longer than the image takes
        ["--shard", str(tmp_path / "missing.bin"), "--storage", storage, "--device-id", "1"],
        ["--shard", str(bad_shard), "--storage", storage, "--device-id", "1"],
        ["--shard", str(bad_shard), "--storage", "y" * 250, "--device-id", "1"],  # path too long
    ]
    name = BOARDS[board][1]
    out = []
    for args in cases:
        code, text = run_semihosted(image, args, timeout=20)
        out.append((code, text.replace(f"tinyfl {name}: ", "tinyfl BOARD: ").strip()))
    return out


def test_both_boards_refuse_bad_command_lines_alike(request, tmp_path):
    answers = {}
    for board, (fixture, _) in BOARDS.items():
        request.getfixturevalue(fixture)
        answers[board] = _answers(board, tmp_path)
    assert answers["qemu"] == answers["qemu-rv32"]
    codes = [code for code, _ in answers["qemu"]]
    assert codes == [2, 2, 1, 1, 1], answers["qemu"]
    texts = [text for _, text in answers["qemu"]]
    assert texts[0].startswith("tinyfl BOARD: usage:")
    assert texts[1] == "tinyfl BOARD: no semihosting command line (or too long)"
    assert texts[2].startswith("tinyfl BOARD: cannot open shard ")
    assert texts[3].startswith("tinyfl BOARD: not a version 1 sample shard: ")
    assert texts[4].startswith("tinyfl BOARD: storage path too long: ")



@pytest.mark.parametrize("board", list(BOARDS))
def test_uart_round_trips_bytes_over_tcp(request, board):
    """The board's real link: UART0 as a TCP server that starts the CPU on connect."""
    fixture, name = BOARDS[board]
    request.getfixturevalue(fixture)
    selftest_elf = build_qemu_program([C_DIR / f"{name}_selftest.c"], name=f"{name}_selftest", board=board)
    payload = bytes(range(256)) * 8
    port = free_port()
    cmd = qemu_command(
        selftest_elf,
        ["-serial", f"tcp:127.0.0.1:{port},server=on,wait=on,nodelay=on"],
        ["echo", str(len(payload))],
    )
    if board == "qemu-rv32":
        assert "qemu-system-riscv32" in cmd[0] and cmd[1:5] == ["-M", "virt", "-bios", "none"]
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        assert b"waiting for connection" in proc.stderr.readline()
        link = serial.serial_for_url(f"socket://127.0.0.1:{port}", timeout=5)
        assert link.readline() == b"READY\n"  # nothing sent before the host connected is lost
        start = time.monotonic()
        link.write(payload)
        echoed = link.read(len(payload))
        elapsed = time.monotonic() - start
        assert echoed == payload
        assert link.readline() == b"PASS echo\n"
        assert proc.wait(timeout=10) == 0
        assert elapsed < 2.0, f"UART RX too slow: {elapsed:.2f} s for {len(payload)} bytes"
        link.close()
    finally:
        proc.kill()
        proc.wait()
