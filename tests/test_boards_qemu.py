"""The emulated AN386 board support on its own (tests/c/an386_selftest.c under QEMU): it boots,
semihosting reaches host files, the command line and the exit code, the clock runs, and faults
end the emulation instead of hanging. UART0 over a TCP serial: test_boards_qemu_common.py."""
from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from tinyfl.emulate import QemuTimeout, build_qemu_program, firmware_size, run_semihosted

SELFTEST = Path(__file__).parent / "c" / "an386_selftest.c"


@pytest.fixture(scope="session")
def selftest_elf(qemu) -> Path:
    return build_qemu_program([SELFTEST], name="an386_selftest")


@pytest.mark.parametrize("code", [0, 1, 42, 255])
def test_exit_code_propagates(selftest_elf, code):
    assert run_semihosted(selftest_elf, ["exit", str(code)], timeout=20) == (code, "")


def test_fault_ends_the_emulation_with_a_message(selftest_elf):
    code, out = run_semihosted(selftest_elf, ["fault"], timeout=20)
    assert code == 3
    assert "unexpected exception" in out


def test_semihosting_file_io(selftest_elf, tmp_path):
    data = bytes(range(256)) * 3 + b"tail"
    src, dst = tmp_path / "in.bin", tmp_path / "out.bin"
    src.write_bytes(data)
    code, out = run_semihosted(selftest_elf, ["file", str(src), str(dst)], timeout=20)
    assert code == 0, out
    assert out.splitlines() == [f"LEN {len(data)}", "PASS file"]
    assert dst.read_bytes() == data[::-1]
    assert not (tmp_path / "out.bin.tmp").exists()  # renamed over the target


def test_missing_file_gives_an_error_code(selftest_elf, tmp_path):
    code, _ = run_semihosted(selftest_elf, ["file", str(tmp_path / "nope"), str(tmp_path / "o")], timeout=20)
    assert code == 10


def test_entropy_comes_from_the_host_and_differs_per_run(selftest_elf):
    values = []
    for _ in range(2):
        code, out = run_semihosted(selftest_elf, ["entropy"], timeout=20)
        assert code == 0, out
        match = re.search(r"ENTROPY ([0-9a-f]{64})", out)
        assert match, out
        values.append(match.group(1))
    assert values[0] != values[1]


def test_clock_counts_milliseconds_and_icount_ticks(selftest_elf):
    start = time.monotonic()
    code, out = run_semihosted(selftest_elf, ["clock", "200"], timeout=20)
    wall = time.monotonic() - start
    assert code == 0, out
    elapsed, ticks = map(int, re.search(r"CLOCK (\d+) (\d+)", out).groups())
    assert 200 <= elapsed < 400
    assert wall >= 0.19  # without icount the board's time is the host's
    # 25 MHz FPGA counter: 25000 ticks per board millisecond
    assert abs(ticks / elapsed - 25000) < 0.05 * 25000
    code, out = run_semihosted(selftest_elf, ["clock", "50"], icount=True, timeout=20)
    assert code == 0, out
    elapsed, ticks = map(int, re.search(r"CLOCK (\d+) (\d+)", out).groups())
    assert 50 <= elapsed < 60 and abs(ticks / elapsed - 25000) < 0.05 * 25000


def test_timeout_kills_a_program_that_never_exits(selftest_elf):
    with pytest.raises(QemuTimeout) as info:
        run_semihosted(selftest_elf, ["echo", "1"], timeout=1.5)
    assert "READY" in info.value.output


def test_selftest_image_is_small(selftest_elf):
    size = firmware_size(selftest_elf)
    assert size["stack"] == 16 * 1024
    assert 0 < size["text"] < 16 * 1024
    assert size["ram"] == size["data"] + size["bss"] >= size["stack"]
