"""The board side of BLE: the C chunking rule and receive buffer (boards/arduino-common/
tinyfl_ble_stream.c) against the host's Python rule, and the Nano 33 BLE (ArduinoBLE) and
ESP32 (NimBLE-Arduino) glue compiled against the Arduino API stand-in with BLE on."""
from __future__ import annotations

import random
import subprocess
from pathlib import Path

import pytest

from tinyfl.firmware_config import FirmwareConfig
from tinyfl.links.ble import ble_values
from tinyfl.paths import BOARDS_DIR, FIRMWARE_DIR
from tinyfl.platformio import write_project
from tinyfl.wire import encode_payload

TESTS = Path(__file__).parent
CFLAGS = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-Wshadow", "-g", "-O1",
          "-fsanitize=address,undefined", "-fno-sanitize-recover=all"]
CXXFLAGS = ["-std=gnu++17", "-fno-exceptions", "-fno-rtti", "-Wall", "-Wextra", "-Werror"]
M4F = ["-mthumb", "-mcpu=cortex-m4", "-mfpu=fpv4-sp-d16", "-mfloat-abi=hard"]
STANDIN = TESTS / "api_standin"


@pytest.fixture(scope="module")
def probe(tmp_path_factory) -> Path:
    exe = tmp_path_factory.mktemp("ble-probe") / "ble_stream_probe"
    common = BOARDS_DIR / "arduino-common"
    subprocess.run(["gcc", *CFLAGS, f"-I{common}", f"-I{FIRMWARE_DIR}",
                    str(common / "tinyfl_ble_stream.c"), str(TESTS / "c" / "ble_stream_probe.c"),
                    "-o", str(exe)], check=True)
    return exe


def _stream(seed: int) -> bytes:
    rng = random.Random(seed)
    return b"".join(encode_payload(rng.randrange(1, 7), i, rng.randbytes(rng.randrange(0, 700)),
                                   rng.choice([20, 64, 240])) for i in range(6)) + rng.randbytes(50)


@pytest.mark.parametrize("mtu", [23, 24, 64, 185, 247])
def test_c_values_match_the_host_rule(probe: Path, mtu: int) -> None:
    for seed in range(4):
        data = _stream(seed)
        out = subprocess.run([str(probe), "values", str(mtu), "100000"], input=data,
                             capture_output=True, check=True).stdout.decode().split("\n")
        assert out[-2] == "status 0"
        assert [int(x) for x in out[:-2]] == [len(v) for v in ble_values(data, mtu)]


def test_c_values_clamp_the_mtu_and_stop_at_a_failed_notification(probe: Path) -> None:
    data = _stream(9)
    low = subprocess.run([str(probe), "values", "5", "100000"], input=data, capture_output=True,
                         check=True).stdout.decode().split()
    assert [int(x) for x in low[:-2]] == [len(v) for v in ble_values(data, 23)]
    high = subprocess.run([str(probe), "values", "600", "100000"], input=data,
                          capture_output=True, check=True).stdout.decode().split()
    assert [int(x) for x in high[:-2]] == [len(v) for v in ble_values(data, 247)]
    failed = subprocess.run([str(probe), "values", "23", "3"], input=data, capture_output=True,
                            check=True).stdout.decode().split("\n")
    assert failed[3] == "status 20"  # TINYFL_E_IO after the three that went out
    assert len(failed) == 5


def test_c_receive_buffer_keeps_order_and_bounds(probe: Path) -> None:
    data = _stream(3)[:3000]
    proc = subprocess.run([str(probe), "fifo", "244"], input=data, capture_output=True, check=True)
    assert proc.stdout == b"\x00" + data  # the connect delimiter, then every byte in order
    assert b"dropped 0 " in proc.stderr
    cap = int(proc.stderr.split()[-1])
    big = random.Random(1).randbytes(cap * 3)
    proc = subprocess.run([str(probe), "fifo", str(cap)], input=big, capture_output=True,
                          check=True)
    # pushes of a whole buffer's worth while only 7 bytes are read each time: the excess is
    # dropped and counted, never written past the buffer (ASan would stop the probe)
    dropped = int(proc.stderr.split()[3])
    assert dropped > 0 and len(proc.stdout) + dropped == len(big) + 1
    assert proc.stdout[:1] == b"\x00" and proc.stdout[1:cap] == big[:cap - 1]
