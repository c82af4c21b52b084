"""The board side of BLE: the C chunking rule and receive buffer (boards/arduino-common/
tinyfl_ble_stream.c) against the host's Python rule, and the Nano 33 BLE (ArduinoBLE) and
ESP32 (NimBLE-Arduino) glue compiled against the Arduino API stand-in with BLE on."""
from __future__ import annotations

import os
import random
import shutil
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


# --- the glue with BLE on, against the Arduino API stand-in ------------------------------------

HOST_CONFIG = FirmwareConfig(n_classes=3, n_features=24, input_channels=6, input_steps=4,
                             samples_per_round=2, max_chunk=64)


def _compile(project: Path, cxx: str, cc: str, arch: list[str], core: Path,
             flags: list[str], standin: Path = STANDIN) -> list[str]:
    includes = [f"-I{core}", f"-I{standin / 'libraries'}", f"-I{project / 'src'}",
                f"-I{project / 'lib' / 'tinyfl' / 'src'}"]
    errors = []
    for source in sorted((project / "src").glob("*.c*")):
        tool, std = (cxx, CXXFLAGS) if source.suffix == ".cpp" else (cc, CFLAGS[:5])
        proc = subprocess.run([tool, *arch, *std, *flags, *includes, "-c", str(source),
                               "-o", os.devnull], capture_output=True, text=True)
        if proc.returncode != 0:
            errors.append(f"{source.name}: {proc.stderr}")
    return errors


def _ble_project(tmp_path: Path, board: str) -> tuple[Path, list[str]]:
    project = write_project(tmp_path / board, board, HOST_CONFIG, link="ble")
    ini = (project / "platformio.ini").read_text()
    env = ini.split("[env:")[1]  # the first env's flags
    flags = [line.strip() for line in env.split("build_flags =")[1].split("lib_deps")[0].splitlines()
             if line.strip().startswith("-D")]
    return project, flags + ["-DTINYFL_PIO_PROJECT", "-DTINYFL_SAMPLE_RATE_HZ=10.0f"]


def test_ble_projects_pin_their_library_and_carry_the_ble_glue(tmp_path: Path) -> None:
    for board, lib, glue in (("nano33ble", "arduino-libraries/ArduinoBLE @ 2.0.1", "nano33ble_ble.cpp"),
                             ("esp32", "h2zero/NimBLE-Arduino @ 2.5.1", "esp32_ble.cpp")):
        project, flags = _ble_project(tmp_path, board)
        ini = (project / "platformio.ini").read_text()
        envs = ini.count("[env:")
        assert ini.count("-DTINYFL_LINK_BLE=1") == envs and ini.count(lib) == envs
        assert "-DTINYFL_LINK_BLE=1" in flags
        src = {p.name for p in (project / "src").iterdir()}
        assert {glue, "tinyfl_ble_link.cpp", "tinyfl_ble_stream.c"} <= src
        # a serial project of the same board has none of it
        serial = write_project(tmp_path / f"{board}-serial", board, HOST_CONFIG)
        assert "TINYFL_LINK_BLE" not in (serial / "platformio.ini").read_text()
        assert not any(p.name.startswith("tinyfl_ble") or p.name.endswith("_ble.cpp")
                       for p in (serial / "src").iterdir())
    with pytest.raises(ValueError, match="no BLE link"):
        write_project(tmp_path / "q", "qemu", HOST_CONFIG, link="ble")
    with pytest.raises(ValueError, match="link must be"):
        write_project(tmp_path / "x", "esp32", HOST_CONFIG, link="wifi")


def test_nano33ble_ble_glue_compiles_for_cortex_m4f(tmp_path: Path, arm_toolchain) -> None:
    project, flags = _ble_project(tmp_path, "nano33ble")
    errors = _compile(project, "arm-none-eabi-g++", "arm-none-eabi-gcc", M4F,
                      STANDIN / "mbed-nano33ble", flags)
    assert not errors, "\n".join(errors)


def test_esp32_ble_glue_compiles_with_host_gxx(tmp_path: Path) -> None:
    project, flags = _ble_project(tmp_path, "esp32")
    errors = _compile(project, "g++", "gcc", [], STANDIN / "esp32", flags)
    assert not errors, "\n".join(errors)


@pytest.mark.parametrize("board, header, old, new", [
    ("nano33ble", "libraries/utility/ATT.h", "virtual uint16_t mtu(uint16_t handle) const;",
     "virtual uint16_t mtu() const;"),
    ("esp32", "libraries/NimBLEDevice.h",
     "virtual void onWrite(NimBLECharacteristic *pCharacteristic, NimBLEConnInfo &connInfo);",
     "virtual void onWrite(NimBLECharacteristic *pCharacteristic);"),
])
def test_ble_api_drift_fails_the_build(tmp_path: Path, arm_toolchain, board, header, old,
                                       new) -> None:
    """The compile checks are real: the glue no longer builds when an API it uses changes."""
    standin = tmp_path / "standin"
    shutil.copytree(STANDIN, standin)
    path = standin / header
    assert old in path.read_text()
    path.write_text(path.read_text().replace(old, new))
    project, flags = _ble_project(tmp_path, board)
    if board == "nano33ble":
        errors = _compile(project, "arm-none-eabi-g++", "arm-none-eabi-gcc", M4F,
                          standin / "mbed-nano33ble", flags, standin)
    else:
        errors = _compile(project, "g++", "gcc", [], standin / "esp32", flags, standin)
    assert [e for e in errors if e.startswith(f"{board}_ble.cpp")], errors


# --- the Nano's BLE glue running on the host against fakes of ArduinoBLE ---------------------

@pytest.fixture(scope="module")
def nano_ble_host(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("nano-ble-host")
    common, nano = BOARDS_DIR / "arduino-common", BOARDS_DIR / "nano33ble"
    includes = [f"-I{STANDIN / 'mbed-nano33ble'}", f"-I{STANDIN / 'libraries'}", f"-I{common}",
                f"-I{FIRMWARE_DIR}"]
    flags = ["-g", "-O1", "-fsanitize=address,undefined", "-fno-sanitize-recover=all",
             "-DTINYFL_LINK_BLE=1", "-DTINYFL_STANDIN_HOST_REGISTERS"]
    objects = []
    for source in (common / "tinyfl_ble_stream.c", common / "tinyfl_ble_link.cpp",
                   nano / "nano33ble_ble.cpp", TESTS / "c" / "nano33ble_ble_host.cpp"):
        obj = out / f"{source.stem}.o"
        tool, std = ("g++", CXXFLAGS) if source.suffix == ".cpp" else ("gcc", CFLAGS[:5])
        subprocess.run([tool, *std, *flags, *includes, "-c", str(source), "-o", str(obj)],
                       check=True)
        objects.append(str(obj))
    exe = out / "nano33ble_ble_host"
    subprocess.run(["g++", *flags, *objects, "-o", str(exe)], check=True)
    return exe


@pytest.mark.parametrize("mtu", [23, 185, 247])
def test_nano_ble_glue_serves_a_central(nano_ble_host: Path, mtu: int) -> None:
    data = _stream(mtu)
    out = subprocess.run([str(nano_ble_host), str(mtu)], input=data, capture_output=True,
                         check=True).stdout.decode().splitlines()
    assert out[0] == "begin 0 name tinyfl-0000002a maxmtu 247 advertising 1"
    assert out[1] == "mtu before connect 0"
    # the connection's handle was found from the central's printed address: its MTU is used
    assert out[2] == "mtu before subscribe 0" and out[3] == "dropped while nobody listens 0"
    assert out[4] == f"mtu {mtu}"
    notes = [line for line in out if line.startswith("notify")]
    assert notes == [f"notify {len(v)}" for v in ble_values(data, mtu)]  # never OVERSIZE
    assert "write 0" in out
    assert "read 00 05 01 02 00" in out  # the connect's delimiter, then the values in order
    assert out[-1] == "after disconnect mtu 0 advertising 2"


# --- the ESP32's BLE glue running on the host against fakes of NimBLE-Arduino -----------------

@pytest.fixture(scope="module")
def esp32_ble_host(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("esp32-ble-host")
    common, esp32 = BOARDS_DIR / "arduino-common", BOARDS_DIR / "esp32"
    includes = [f"-I{STANDIN / 'esp32'}", f"-I{STANDIN / 'libraries'}", f"-I{common}",
                f"-I{FIRMWARE_DIR}"]
    flags = ["-g", "-O1", "-fsanitize=address,undefined", "-fno-sanitize-recover=all",
             "-DTINYFL_LINK_BLE=1"]
    objects = []
    for source in (common / "tinyfl_ble_stream.c", common / "tinyfl_ble_link.cpp",
                   esp32 / "esp32_ble.cpp", TESTS / "c" / "esp32_ble_host.cpp"):
        obj = out / f"{source.stem}.o"
        tool, std = ("g++", CXXFLAGS) if source.suffix == ".cpp" else ("gcc", CFLAGS[:5])
        subprocess.run([tool, *std, *flags, *includes, "-c", str(source), "-o", str(obj)],
                       check=True)
        objects.append(str(obj))
    exe = out / "esp32_ble_host"
    subprocess.run(["g++", *flags, *objects, "-lpthread", "-o", str(exe)], check=True)
    return exe


@pytest.mark.parametrize("mtu, busy", [(23, 0), (247, 3), (100, 25)])
def test_esp32_ble_glue_serves_a_central(esp32_ble_host: Path, mtu: int, busy: int) -> None:
    data = _stream(mtu)
    out = subprocess.run([str(esp32_ble_host), str(mtu), str(busy)], input=data,
                         capture_output=True, check=True).stdout.decode().splitlines()
    assert out[:4] == ["service tinyfl", "characteristic rx properties 0x0c max 244",
                       "characteristic tx properties 0x10 max 244",
                       "begin 0 name tinyfl-0000002a advertised tinyfl-0000002a tinyfl mtu 247"]
    assert out[4:7] == ["mtu before connect 0", "mtu before subscribe 0", f"mtu {mtu}"]
    notes = [line for line in out if line.startswith("notify")]
    values = ble_values(data, mtu)
    if busy < 20:  # the stack's short lack of buffers is waited out (NOTIFY_TRIES = 20)
        assert notes == [f"notify {len(v)}" for v in values]
        assert "write 0" in out and f"delays {busy}" in out
    else:  # a stack that stays busy: the write fails at once, nothing half-sent after it
        assert notes == [] and "write 20" in out and "delays 20" in out
    assert "read 00 05 01 02 00" in out
    assert out[-1] == "after disconnect mtu 0 write 0"
