"""Each emulated board's port hooks, called directly (tests/c/board_port_probe.h): storage
semantics the ledger relies on, the sensor replaying the shard in order with wrap-around, the
entropy source and the clock. Both boards must behave the same."""
from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from tinyfl.emulate import build_qemu_program, run_semihosted, write_shard
from tinyfl.paths import BOARDS_DIR, FIRMWARE_DIR
from tinyfl.toolchain import cached_output, compile_host

C_DIR = Path(__file__).parent / "c"
STATUS_OK, STATUS_TRUNCATED, STATUS_SHAPE, STATUS_STORAGE = 0, 5, 11, 15
INPUT_LEN = 5
QEMU_PORT = BOARDS_DIR / "qemu-common" / "qemu_port.c"  # the hooks both QEMU boards share


@pytest.fixture(scope="session")
def native_probe() -> Path:
    sources = [C_DIR / "native_port_probe.c", BOARDS_DIR / "native" / "board_native.c"]
    headers = [C_DIR / "board_port_probe.h", BOARDS_DIR / "native" / "board_native.h",
               FIRMWARE_DIR / "tinyfl_port.h", FIRMWARE_DIR / "generated" / "tinyfl_wire_gen.h"]
    out = cached_output("native_port_probe", [*sources, *headers])
    if not out.exists():
        compile_host(sources, out, include_dirs=[BOARDS_DIR / "native"])
    return out


@pytest.fixture(scope="session")
def an386_probe(qemu) -> Path:
    return build_qemu_program(
        [C_DIR / "an386_port_probe.c", BOARDS_DIR / "qemu-mps2-an386" / "board_port.c", QEMU_PORT], name="an386_port_probe"
    )


@pytest.fixture(scope="session")
def rv32_probe(qemu_rv32) -> Path:
    return build_qemu_program(
        [C_DIR / "rv32_port_probe.c", QEMU_PORT], name="rv32_port_probe",
        board="qemu-rv32",
    )


@pytest.fixture(params=["native", "qemu", "qemu-rv32"])
def probe(request):
    """Runs the probe of one board: probe(shard, storage, samples) -> output lines."""
    if request.param == "native":
        exe = request.getfixturevalue("native_probe")

        def run(shard, storage, samples):
            proc = subprocess.run([exe, shard, storage, str(samples), str(INPUT_LEN)],
                                  capture_output=True, text=True, timeout=20)
            assert proc.returncode == 0, proc.stderr
            return proc.stdout.splitlines()
    else:
        elf = request.getfixturevalue("an386_probe" if request.param == "qemu" else "rv32_probe")

        def run(shard, storage, samples):
            code, out = run_semihosted(elf, [str(shard), str(storage), str(samples), str(INPUT_LEN)], timeout=20)
            assert code == 0, out
            return out.splitlines()
    return run


def _facts(lines):
    facts: dict[str, list[list[str]]] = {}
    for line in lines:
        key, *rest = line.split()
        facts.setdefault(key, []).append(rest)
    return facts


def _bits(x: float) -> str:
    return np.float32(x).tobytes()[::-1].hex()  # big-endian hex of the float32 bits


def test_port_hooks(probe, tmp_path):
    windows = np.arange(3 * INPUT_LEN, dtype=np.float32).reshape(3, INPUT_LEN) * 0.5 - 1.0
    shard = write_shard(tmp_path / "shard.bin", windows, [2, 0, 1])
    storage = tmp_path / "ledger.bin"
    facts = _facts(probe(shard, storage, 5))
    assert facts["DONE"] == [[]]
    # Never written -> STORAGE (the ledger starts fresh); then an exact round trip.
    assert facts["STORAGE_FIRST"] == [[str(STATUS_STORAGE)]]
    assert facts["STORAGE_WRITE"] == [[str(STATUS_OK)]]
    assert facts["STORAGE_READBACK"] == [[str(STATUS_OK), "1"]]
    assert storage.read_bytes() == bytes(range(0xA0, 0xA0 + 24))
    assert not Path(str(storage) + ".tmp").exists()
    # The shard in order, then from the start again.
    order = [0, 1, 2, 0, 1]
    expected = [[str(STATUS_OK), str([2, 0, 1][i]), _bits(windows[i, 0]), _bits(windows[i, -1])] for i in order]
    assert facts["SAMPLE"] == expected
    assert facts["SAMPLE_BAD_LEN"] == [[str(STATUS_SHAPE)]]
    status, noise = facts["ENTROPY"][0]
    assert status == str(STATUS_OK) and noise != "00" * 16
    assert facts["MILLIS_MONOTONIC"] == [["1"]]


def test_damaged_storage_is_not_mistaken_for_absent(probe, tmp_path):
    """A record of the wrong size must not read as "never written" (which would reset the
    privacy ledger): the ledger locks on TRUNCATED."""
    shard = write_shard(tmp_path / "shard.bin", np.zeros((1, INPUT_LEN)), [0])
    storage = tmp_path / "ledger.bin"
    for damaged in (b"", b"\x01\x02\x03", bytes(25)):
        storage.write_bytes(damaged)
        facts = _facts(probe(shard, storage, 1))
        assert facts["STORAGE_FIRST"] == [[str(STATUS_TRUNCATED)]], damaged
