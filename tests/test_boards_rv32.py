"""The emulated rv32imc board support on its own (tests/c/rv32_selftest.c under QEMU virt): it
boots, the command line and the exit code pass through semihosting, the clock runs, an idle
board sleeps, and faults (an illegal instruction, a stack overflow) end the emulation instead of
hanging. The port hooks are checked with the other boards' in test_boards_port.py, UART0's round
trip over a TCP serial with the AN386's in test_boards_qemu_common.py."""
from __future__ import annotations

import os
import re
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import serial

from tinyfl.emulate import QemuBoard, build_firmware, build_qemu_program, firmware_size, run_semihosted, write_shard
from tinyfl.emulate.boards import free_port
from tinyfl.emulate.build import board_spec
from tinyfl.emulate.qemu import qemu_command
from tinyfl.firmware_config import FirmwareConfig
from tinyfl.wire import FrameDecoder, Hello

SELFTEST = Path(__file__).parent / "c" / "rv32_selftest.c"


@pytest.fixture(scope="session")
def selftest_elf(qemu_rv32) -> Path:
    return build_qemu_program([SELFTEST], name="rv32_selftest", board="qemu-rv32")


def test_board_names():
    assert board_spec("qemu-rv32").name == board_spec("riscv").name == "qemu-virt-rv32"


@pytest.mark.parametrize("code", [0, 1, 42, 255])
def test_exit_code_propagates(selftest_elf, code):
    assert run_semihosted(selftest_elf, ["exit", str(code)], timeout=20) == (code, "")


def test_libc_errno_works(selftest_elf):
    """picolibc keeps errno thread-local (tp-relative): an out-of-range number from the command
    line must set it, not fault on a store near address 0."""
    assert run_semihosted(selftest_elf, ["errno", "99999999999"], timeout=20) == (
        0, "VALUE 4294967295 ERANGE\nPASS errno\n")
    assert run_semihosted(selftest_elf, ["errno", "42"], timeout=20) == (0, "VALUE 42 OK\nPASS errno\n")


def test_a_shallow_recursion_fits_the_stack(selftest_elf):
    assert run_semihosted(selftest_elf, ["overflow", "20"], timeout=20) == (0, "PASS overflow\n")


@pytest.mark.parametrize("check", [["fault"], ["overflow", "100000"]])
def test_faults_end_the_emulation_with_a_message(selftest_elf, check):
    code, out = run_semihosted(selftest_elf, check, timeout=20)
    assert code == 3, out
    assert "unexpected exception" in out
    cause = int(re.search(r"mcause 0x([0-9a-f]{8})", out).group(1), 16)
    # illegal instruction (2); a store (7) running off the bottom of RAM below the stack
    assert cause == (2 if check == ["fault"] else 7), out


def test_clock_counts_milliseconds(selftest_elf):
    start = time.monotonic()
    code, out = run_semihosted(selftest_elf, ["clock", "200"], timeout=20)
    wall = time.monotonic() - start
    assert code == 0, out
    elapsed, counts, _ = map(int, re.search(r"CLOCK (\d+) (\d+) (\d+)", out).groups())
    assert 200 <= elapsed < 400
    assert wall >= 0.19  # without icount the board's time is the host's
    assert abs(counts / elapsed - 10_000) < 0.05 * 10_000  # mtime at 10 MHz
    code, out = run_semihosted(selftest_elf, ["clock", "50"], icount=True, timeout=20)
    assert code == 0, out
    elapsed, counts, retired = map(int, re.search(r"CLOCK (\d+) (\d+) (\d+)", out).groups())
    assert 50 <= elapsed < 60 and abs(counts / elapsed - 10_000) < 0.05 * 10_000
    assert retired > 0  # minstret counts (the benchmark's instruction counter)


def test_bytes_sent_before_the_uart_is_initialised_are_kept(selftest_elf):
    """A host writes the moment it connects, which is when QEMU starts the CPU: the board's UART
    set-up must not clear what already arrived (enabling the 16550's FIFOs would)."""
    payload = b"hello-request-bytes"
    port = free_port()
    cmd = qemu_command(selftest_elf, ["-serial", f"tcp:127.0.0.1:{port},server=on,wait=on,nodelay=on"],
                       ["echo", str(len(payload)), "100"])
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        assert b"waiting for connection" in proc.stderr.readline()
        link = serial.serial_for_url(f"socket://127.0.0.1:{port}", timeout=5)
        link.write(payload)  # at once: the UART is set up 100 ms later
        assert link.readline() == b"READY\n"
        assert link.read(len(payload)) == payload
        assert link.readline() == b"PASS echo\n"
        assert proc.wait(timeout=10) == 0
        link.close()
    finally:
        proc.kill()
        proc.wait()


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def test_idle_board_sleeps(qemu_rv32, tmp_path):
    """A connected board with nothing to do waits in WFI (woken by UART0 or a 10 ms timer):
    it must not keep a host core busy."""
    config = FirmwareConfig(n_classes=2, n_features=4, input_channels=1, input_steps=8, samples_per_round=4)
    shard = write_shard(tmp_path / "s.bin", np.ones((2, config.input_len)), [0, 1])
    image = build_firmware("qemu-rv32", config)
    with QemuBoard(image, device_id=1, shard=shard, storage=tmp_path / "l.bin") as board:
        link = serial.serial_for_url(board.url, timeout=0.1)
        decoder, hello = FrameDecoder(), None
        deadline = time.monotonic() + 10
        while hello is None and time.monotonic() < deadline:
            for received in decoder.feed(link.read(256)):
                hello = received.message
        assert isinstance(hello, Hello)
        before = _cpu_seconds(board.pid)
        time.sleep(1.0)
        busy = _cpu_seconds(board.pid) - before
        link.close()
    # sleeping: about 0.01 s; a board that spins instead uses 0.4 s even on a loaded 2-core host
    assert busy < 0.15, f"idle board used {busy:.2f} s of CPU in 1 s"


def test_image_size(selftest_elf):
    size = firmware_size(selftest_elf)
    assert size["stack"] == 16 * 1024 + 1024  # the stack and its PMP guard
    assert 0 < size["text"] < 16 * 1024
    assert size["ram"] == size["data"] + size["bss"] >= size["stack"]


def test_the_elf_picks_the_emulator(selftest_elf, tmp_path):
    from tinyfl.emulate.qemu import qemu_target

    assert qemu_target(selftest_elf).emulator == "qemu-system-riscv32"
    assert QemuBoard(selftest_elf, device_id=1, shard="s", storage="l").kind == "qemu-virt-rv32"
    header = bytearray(selftest_elf.read_bytes()[:64])
    bad = tmp_path / "bad.elf"
    for data, message in (
        (b"not an elf", "not an ELF file"),
        (bytes(header[:4]) + b"\x02" + bytes(header[5:]), "not a 32-bit ELF"),  # an rv64 image
        (bytes(header[:18]) + (62).to_bytes(2, "little") + bytes(header[20:]), "no emulated board for ELF machine 62"),
    ):
        bad.write_bytes(data)
        with pytest.raises(ValueError, match=message):
            qemu_command(bad, [])


def test_firmware_refuses_a_bad_command_line_with_a_message(qemu_rv32, tmp_path):
    """The image's own arguments come from the host: missing or oversized ones end the board
    with exit code 2 and one line on the console, never a hang or a fault."""
    config = FirmwareConfig(n_classes=2, n_features=4, input_channels=1, input_steps=8, samples_per_round=4)
    image = build_firmware("qemu-rv32", config)
    code, out = run_semihosted(image, ["--shard", str(tmp_path / "s.bin")], timeout=20)
    assert code == 2 and "usage:" in out, out
    code, out = run_semihosted(image, ["--storage", "x" * 700], timeout=20)
    assert code == 2 and "no semihosting command line" in out, out
    code, out = run_semihosted(image, ["--shard", str(tmp_path / "missing.bin"), "--storage",
                                       str(tmp_path / "l.bin"), "--device-id", "1"], timeout=20)
    assert code == 1 and "cannot open shard" in out, out
