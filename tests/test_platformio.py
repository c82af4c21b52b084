"""PlatformIO projects for real boards (tinyfl.platformio) and what CI proves without the boards:

- the generator writes a project per board (platformio.ini with pinned platforms, lib/tinyfl as
  a PlatformIO library, the glue in src/, the generated config header) reproducibly;
- `pio project config` accepts every generated project (offline);
- PlatformIO itself builds the QEMU board's project with the local platform (`pio run`), the
  image serves the wire protocol under QEMU, and `pio test` runs on-target checks under QEMU;
- the Nano 33 BLE glue compiles for its CPU (arm-none-eabi-g++) and the ESP32 glue with the host
  g++ (no Xtensa compiler exists here) against the Arduino API stand-in (tests/api_standin), and
  a changed signature in the stand-in breaks that build;
- the board-independent glue (capture buffer and command filter, two-slot flash record) on the
  host with sanitizers, and the owner's capture client against it;
- both boards' glue (setup()/loop() and the chip hooks) running on the host against fakes of
  the stand-in's API: an owner's capture, a round trained on the captured windows, the ledger
  in the board's storage.

In CI (CI set) a missing pio, compiler or QEMU fails these tests instead of skipping them.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from tinyfl.emulate import QemuBoard, build_firmware, firmware_size, write_shard
from tinyfl.firmware_config import HEADER_NAME, FirmwareConfig
from tinyfl.paths import BOARDS_DIR, FIRMWARE_DIR
from tinyfl.platformio import (
    PIO_BOARDS,
    CaptureError,
    PioError,
    capture_line,
    find_pio,
    offline_core_dir,
    parse_replies,
    pio_env,
    send_capture,
    write_project,
)
from tinyfl.platformio.capture import resolve_label
from tinyfl.platformio.project import BANNER

STANDIN = Path(__file__).parent / "api_standin"
PROBE = Path(__file__).parent / "c" / "arduino_common_probe.c"
COMMON = BOARDS_DIR / "arduino-common"
CONFIG = FirmwareConfig()
M4F = ["-mthumb", "-mcpu=cortex-m4", "-mfpu=fpv4-sp-d16", "-mfloat-abi=hard"]
CXXFLAGS = ["-std=gnu++17", "-fno-exceptions", "-fno-rtti", "-Wall", "-Wextra", "-Werror"]
CFLAGS = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-Wdouble-promotion", "-Wshadow"]
PIO_TIMEOUT = 120


def _require(*tools: str) -> None:
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        message = f"missing {', '.join(missing)} (run scripts/bootstrap.sh)"
        if os.environ.get("CI"):
            pytest.fail(f"CI requires {message}")
        pytest.skip(message)


@pytest.fixture(scope="session")
def pio(tmp_path_factory) -> tuple[str, dict[str, str]]:
    """The pio executable and its environment: a private core folder with the offline tool-scons."""
    try:
        exe = find_pio()
        core = offline_core_dir(tmp_path_factory.mktemp("pio-core"))
    except PioError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"CI requires PlatformIO: {exc}")
        pytest.skip(str(exc))
    return exe, pio_env(core)


def run_pio(pio, project: Path, *args: str, timeout: float = PIO_TIMEOUT) -> subprocess.CompletedProcess:
    exe, env = pio
    return subprocess.run([exe, *args], cwd=project, env=env, capture_output=True, text=True, timeout=timeout)


def tree_digest(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and ".pio" not in p.parts}


@pytest.fixture(scope="module")
def projects(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("projects")
    return {board: write_project(root / board, board, CONFIG) for board in PIO_BOARDS}


# --- the generator ------------------------------------------------------------------------


def test_ini_pins_every_platform_and_library(projects):
    expected_envs = {
        "nano33ble": {"nano33ble_rev1", "nano33ble_rev2", "nano33ble_sense_rev1", "nano33ble_sense_rev2"},
        "esp32": {"esp32dev", "esp32s3", "esp32c3"},
        "qemu-mps2-an386": {"mps2_an386"},
    }
    for board, project in projects.items():
        text = (project / "platformio.ini").read_text()
        assert text.startswith("; " + BANNER.format(board=board))
        envs = set(re.findall(r"^\[env:([^\]]+)\]$", text, re.M))
        assert envs == expected_envs[board]
        for platform in re.findall(r"^platform = (.+)$", text, re.M):
            assert re.fullmatch(r"platformio/\w+ @ \d+\.\d+\.\d+", platform) or platform.startswith("file://")
        for dep in re.findall(r"^    (arduino-libraries/\S+.*)$", text, re.M):
            assert re.fullmatch(r"arduino-libraries/\w+ @ \d+\.\d+\.\d+", dep), dep


def test_library_holds_runtime_model_and_config(projects):
    project = projects["nano33ble"]
    lib = project / "lib" / "tinyfl"
    manifest = json.loads((lib / "library.json").read_text())
    assert manifest["name"] == "tinyfl" and manifest["tinyfl"]["config_id"] == f"0x{CONFIG.identity():08x}"
    runtime = {p.name for p in FIRMWARE_DIR.glob("*.c") if not p.name.startswith("tinyfl_model_")}
    assert runtime <= {p.name for p in (lib / "src").glob("*.c")}
    assert (lib / "src" / "generated" / "tinyfl_wire_gen.c").read_bytes() == \
        (FIRMWARE_DIR / "generated" / "tinyfl_wire_gen.c").read_bytes()
    assert (lib / "src" / "tinyfl_model_stats.c").is_file()  # the default model
    header = (lib / "src" / HEADER_NAME).read_text()
    assert header == CONFIG.render_header()
    assert header.startswith("/* generated by") and "TINYFL_CONFIG_GEN_VERSION" in header
    for name in ("nano33ble_port.cpp",):
        assert (project / "src" / name).read_bytes() == (BOARDS_DIR / "nano33ble" / name).read_bytes()
    assert (project / "src" / "tinyfl_arduino_app.cpp").read_bytes() == (COMMON / "tinyfl_arduino_app.cpp").read_bytes()


def test_generated_model_keeps_its_layout_and_stale_files_go(tmp_path):
    model_dir = tmp_path / "model-out"
    model_dir.mkdir()
    (model_dir / "tinyfl_model_gen.c").write_text('#include "tinyfl_model_gen.h"\n')
    (model_dir / "tinyfl_model_gen.h").write_text("/* generated */\n")
    kernel = FIRMWARE_DIR / "kernels" / "tinyfl_conv_2d_s8.c"
    out = write_project(tmp_path / "p", "qemu", CONFIG, [model_dir / "tinyfl_model_gen.c", kernel],
                        {"TINYFL_KERNELS_OPTIMIZED": 1})
    src = out / "lib" / "tinyfl" / "src"
    assert (src / "model" / "tinyfl_model_gen.c").is_file() and (src / "model" / "tinyfl_model_gen.h").is_file()
    assert (src / "kernels" / "tinyfl_conv_2d_s8.c").read_bytes() == kernel.read_bytes()
    assert not (src / "tinyfl_model_stats.c").exists()
    assert "-DTINYFL_KERNELS_OPTIMIZED=1" in (out / "platformio.ini").read_text()
    first = tree_digest(out)
    write_project(out, "qemu", CONFIG)  # back to the default model: nothing of the old one stays
    assert not (src / "model").exists() and not (src / "kernels" / "tinyfl_conv_2d_s8.c").exists()
    assert (src / "tinyfl_model_stats.c").is_file()
    write_project(out, "qemu", CONFIG, [model_dir / "tinyfl_model_gen.c", kernel], {"TINYFL_KERNELS_OPTIMIZED": 1})
    assert tree_digest(out) == first  # reproducible: same inputs, same bytes


@pytest.mark.parametrize("kwargs, message", [
    ({"board": "arduino-uno"}, "no PlatformIO project"),
    ({"defines": {"A\nB": 1}}, "not a C macro name"),
    ({"defines": {"X": "1\n[env:evil]"}}, "one token"),
    ({"defines": {"X": "1 -DY"}}, "one token"),
    ({"sample_rate_hz": 0.0}, "sample_rate_hz"),
])
def test_bad_arguments_are_refused(tmp_path, kwargs, message):
    args = {"board": "nano33ble", "defines": None, "sample_rate_hz": 10.0} | kwargs
    with pytest.raises(ValueError, match=message):
        write_project(tmp_path / "p", args["board"], CONFIG, None, args["defines"], sample_rate_hz=args["sample_rate_hz"])


def test_refuses_to_write_over_a_foreign_folder(tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "mine.cpp").write_text("// the user's own code\n")
    with pytest.raises(ValueError, match="not a tinyfl PlatformIO project"):
        write_project(tmp_path, "nano33ble", CONFIG)
    assert (tmp_path / "src" / "mine.cpp").is_file()


def test_missing_model_source_is_refused(tmp_path):
    with pytest.raises(FileNotFoundError, match="model source"):
        write_project(tmp_path / "p", "esp32", CONFIG, [tmp_path / "nope.c"])


# --- PlatformIO itself ----------------------------------------------------------------------


@pytest.mark.parametrize("board", sorted(PIO_BOARDS))
def test_pio_project_config_accepts_project(pio, projects, board):
    proc = run_pio(pio, projects[board], "project", "config", "--json-output")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    sections = dict(json.loads(proc.stdout))
    envs = {name[4:]: dict(opts) for name, opts in sections.items() if name.startswith("env:")}
    assert [e.name for e in PIO_BOARDS[board].envs] == list(envs)
    for env in PIO_BOARDS[board].envs:
        resolved = envs[env.name]
        assert resolved["platform"] == env.platform and resolved["board"] == env.board
        assert f"-DTINYFL_SAMPLE_RATE_HZ=10.0f" in resolved["build_flags"]


@pytest.fixture(scope="module")
def qemu_build(pio, projects, qemu) -> Path:
    project = projects["qemu-mps2-an386"]
    proc = run_pio(pio, project, "run")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    elf = project / ".pio" / "build" / "mps2_an386" / "program.elf"
    assert elf.is_file(), proc.stdout
    return elf


def test_pio_run_builds_the_same_image(qemu_build):
    """PlatformIO's build of the project's lib/ + src/ is the tinyfl image: the same sections,
    byte for byte in size, as tinyfl.emulate's build of the same sources and configuration."""
    pio_size = firmware_size(qemu_build)
    reference = firmware_size(build_firmware("qemu", CONFIG))
    assert pio_size == reference


def test_pio_built_image_serves_a_round_under_qemu(qemu_build, tmp_path):
    """The image PlatformIO built is the tinyfl device: hello, then an update to a round."""
    import numpy as np

    from tinyfl.wire import FrameDecoder, GlobalModel, Hello, Update, encode_message

    rng = np.random.default_rng(3)
    windows = rng.normal(size=(12, CONFIG.input_steps, CONFIG.input_channels)).astype(np.float32)
    shard = write_shard(tmp_path / "shard.bin", windows, np.arange(12) % CONFIG.n_classes)
    model = GlobalModel(run=1, round=1, nonce=77, lr=0.1, local_epochs=1, batch_size=5,
                        n_classes=CONFIG.n_classes, n_features=CONFIG.n_features,
                        params=np.linspace(-0.2, 0.2, CONFIG.n_params, dtype=np.float32))
    with QemuBoard(qemu_build, device_id=41, shard=shard, storage=tmp_path / "ledger.bin") as board:
        host, port = board.url.removeprefix("socket://").rsplit(":", 1)
        decoder, messages = FrameDecoder(), []
        with socket.create_connection((host, int(port)), timeout=5) as link:
            link.settimeout(0.05)
            deadline = time.monotonic() + 30
            sent = False
            while not any(isinstance(m, Update) for m in messages) and time.monotonic() < deadline:
                if not sent and messages:
                    link.sendall(encode_message(model, 1, chunk=64))
                    sent = True
                try:
                    data = link.recv(4096)
                except socket.timeout:
                    continue
                messages += [r.message for r in decoder.feed(data) if r.error is None]
    hello = messages[0]
    assert isinstance(hello, Hello), messages
    assert (hello.device_id, hello.n_classes, hello.n_features) == (41, CONFIG.n_classes, CONFIG.n_features)
    assert hello.firmware_hash == CONFIG.identity() and not hello.flags & 1  # a release build
    update = next((m for m in messages if isinstance(m, Update)), messages)
    assert isinstance(update, Update), update
    assert (update.round, update.nonce, update.sample_count) == (1, 77, CONFIG.samples_per_round)
    assert len(update.values) == CONFIG.n_params


def test_pio_test_runs_on_target_checks_under_qemu(pio, projects, qemu_build):
    proc = run_pio(pio, projects["qemu-mps2-an386"], "test")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert re.search(r"(\d+) test cases: \1 succeeded", out), out
    assert "TINYFL_TEST device_sends_hello_frame PASS" in out


def test_pio_test_reports_a_failing_check(pio, tmp_path, qemu):
    """The runner is not vacuous: a config header that disagrees with the model fails pio test."""
    project = write_project(tmp_path / "broken", "qemu", CONFIG)
    header = project / "lib" / "tinyfl" / "src" / HEADER_NAME
    text = header.read_text()
    header.write_text(text.replace(f"#define TINYFL_INPUT_LEN {CONFIG.input_len}",
                                   f"#define TINYFL_INPUT_LEN {CONFIG.input_len + 1}"))
    proc = run_pio(pio, project, "test")
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out
    assert "TINYFL_TEST model_matches_config FAIL" in out
    assert "TINYFL_TEST crc32_check_value PASS" in out


# --- the board glue against the API stand-in ------------------------------------------------


def _env_flags(pio, project: Path) -> dict[str, list[str]]:
    proc = run_pio(pio, project, "project", "config", "--json-output")
    assert proc.returncode == 0, proc.stderr
    return {name[4:]: dict(opts)["build_flags"] for name, opts in json.loads(proc.stdout) if name.startswith("env:")}


def _compile_glue(project: Path, cxx: str, cc: str, arch: list[str], core: Path, flags: list[str],
                  standin: Path = STANDIN) -> list[str]:
    """Compile every glue source of src/ (-c only); returns the compiler errors (empty: clean)."""
    includes = [f"-I{core}", f"-I{standin / 'libraries'}", f"-I{project / 'src'}",
                f"-I{project / 'lib' / 'tinyfl' / 'src'}"]
    errors = []
    for source in sorted((project / "src").glob("*.c*")):
        tool, std = (cxx, CXXFLAGS) if source.suffix == ".cpp" else (cc, CFLAGS)
        cmd = [tool, *arch, *std, *flags, *includes, "-c", str(source), "-o", os.devnull]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            errors.append(f"{source.name}: {proc.stderr}")
    return errors


def test_nano33ble_glue_compiles_for_cortex_m4f_against_standin(pio, projects, arm_toolchain):
    _require("arm-none-eabi-g++")
    project = projects["nano33ble"]
    for env, flags in _env_flags(pio, project).items():
        errors = _compile_glue(project, "arm-none-eabi-g++", "arm-none-eabi-gcc", M4F,
                               STANDIN / "mbed-nano33ble", flags)
        assert not errors, f"{env}:\n" + "\n".join(errors)


def test_esp32_glue_compiles_with_host_gxx_against_standin(pio, projects):
    # No Xtensa (ESP32, ESP32-S3) compiler exists here: the host g++ checks syntax and the API
    # signatures; the C files are C99 for any target.
    _require("g++", "gcc")
    project = projects["esp32"]
    for env, flags in _env_flags(pio, project).items():
        errors = _compile_glue(project, "g++", "gcc", [], STANDIN / "esp32", flags)
        assert not errors, f"{env}:\n" + "\n".join(errors)


@pytest.mark.parametrize("board, header, old, new, symbol", [
    ("nano33ble", "libraries/Arduino_LSM9DS1.h", "readAcceleration(float &x, float &y, float &z)",
     "readAcceleration(float *x, float *y, float *z)", "readAcceleration"),
    ("nano33ble", "mbed-nano33ble/drivers/FlashIAP.h", "int program(const void *buffer, uint32_t addr, uint32_t size);",
     "int program(const void *buffer, uint32_t addr);", "program"),
    ("esp32", "esp32/Preferences.h", "size_t putBytes(const char *key, const void *value, size_t len);",
     "size_t putBytes(const char *key, const void *value);", "putBytes"),
])
def test_signature_drift_in_the_api_fails_the_build(projects, tmp_path, arm_toolchain, board, header, old, new,
                                                    symbol):
    _require("g++", "arm-none-eabi-g++")
    standin = tmp_path / "standin"
    shutil.copytree(STANDIN, standin)
    path = standin / header
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))
    if board == "nano33ble":
        args = ("arm-none-eabi-g++", "arm-none-eabi-gcc", M4F, standin / "mbed-nano33ble")
        flags = ["-DTINYFL_IMU_LSM9DS1", "-DTINYFL_SAMPLE_RATE_HZ=10.0f"]
    else:
        args = ("g++", "gcc", [], standin / "esp32")
        flags = ["-DTINYFL_IMU_BMI270", "-DTINYFL_SAMPLE_RATE_HZ=10.0f"]
    errors = _compile_glue(projects[board], *args, flags, standin=standin)
    assert errors and any(symbol in e for e in errors), errors


# --- board-independent glue on the host ------------------------------------------------------


def _build_probe(out: Path, *defines: str) -> Path:
    _require("gcc")
    FirmwareConfig(n_classes=4, input_channels=2, input_steps=3, samples_per_round=3).write_header(out)
    exe = out / "probe"
    cmd = ["gcc", *CFLAGS, *defines, "-g", "-fsanitize=address,undefined", "-fno-sanitize-recover=all",
           f"-I{out}", f"-I{FIRMWARE_DIR}", f"-I{COMMON}", str(PROBE), str(COMMON / "tinyfl_capture.c"),
           str(COMMON / "tinyfl_flash_slots.c"), str(FIRMWARE_DIR / "tinyfl_crc32.c"), "-o", str(exe)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return exe


@pytest.fixture(scope="module")
def probe(tmp_path_factory) -> Path:
    return _build_probe(tmp_path_factory.mktemp("probe"))


def test_capture_and_flash_slots_on_the_host(probe):
    proc = subprocess.run([str(probe)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert not [line for line in lines if line.startswith("FAIL")]
    passed = [line for line in lines if line.startswith("ok ")]
    assert len(passed) == 34 and lines[-1] == "0 failures"


def _through_board_filter(probe: Path, data: bytes) -> tuple[bytes, bytes]:
    proc = subprocess.run([str(probe), "filter"], input=data, capture_output=True, timeout=30)
    assert proc.returncode == 0
    return proc.stdout, proc.stderr


def test_capture_client_speaks_the_board_filter(probe):
    frame = b"\x03ab\x00"
    kept, replies = _through_board_filter(probe, frame + capture_line(2, 3))
    assert kept == frame + b"\x00"  # the frame and the delimiter, not the command
    parsed = parse_replies(replies)
    assert parsed[0].ok and parsed[0].text == "capture 2 3"
    assert replies.endswith(b"capture 2 3\n")  # label 2, 3 windows to record
    _, replies = _through_board_filter(probe, capture_line(9, 1))  # the probe's model has 4 classes
    parsed = parse_replies(replies)
    assert not parsed[0].ok and "out of range" in parsed[0].text


def test_capture_from_the_link_can_be_switched_off(tmp_path):
    """TINYFL_CAPTURE_FROM_LINK=0 (serial port not the owner's): commands are still taken out of
    the frame stream, but only `status` runs; the button is then the only way to capture."""
    exe = _build_probe(tmp_path, "-DTINYFL_CAPTURE_FROM_LINK=0")
    kept, replies = _through_board_filter(exe, capture_line(1, 2) + b"\0!capture status\n")
    assert kept == b"\0\0"  # the two delimiters
    parsed = parse_replies(replies)
    assert [r.ok for r in parsed] == [False, True] and "disabled" in parsed[0].text
    assert replies.endswith(b"capture 0 0\n")  # nothing started


def test_capture_client_arguments():
    assert resolve_label("walking", ["standing", "walking"]) == 1
    assert resolve_label(3) == 3 and resolve_label("2", ["a", "b", "c"]) == 2
    with pytest.raises(CaptureError, match="unknown label"):
        resolve_label("flying", ["standing", "walking"])
    with pytest.raises(CaptureError, match="out of range"):
        resolve_label(5, ["a", "b"])
    with pytest.raises(CaptureError):
        capture_line(0, 0)
    with pytest.raises(CaptureError):
        capture_line(256, 1)


def _fake_board(answer: bytes | None, hold: float = 0.3) -> tuple[str, threading.Thread, list[bytes]]:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    got: list[bytes] = []

    def serve():
        conn, _ = server.accept()
        with conn:
            conn.settimeout(2)
            got.append(conn.recv(64))
            conn.sendall(b"\x05abcd\x00")  # a frame first: the client must skip it
            if answer is not None:
                conn.sendall(answer)
            time.sleep(hold)
        server.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return f"socket://127.0.0.1:{server.getsockname()[1]}", thread, got


def test_send_capture_over_a_link():
    url, thread, got = _fake_board(b"\x00!ok capture 1 2\n\x00")
    reply = send_capture(url, "walking", 2, labels=["standing", "walking"], timeout=3)
    thread.join(5)
    assert got == [capture_line(1, 2)] and reply.text == "capture 1 2"

    url, thread, _ = _fake_board(b"\x00!error capture from the link is disabled\n\x00")
    with pytest.raises(CaptureError, match="disabled"):
        send_capture(url, 0, 1, timeout=3)
    thread.join(5)

    url, thread, _ = _fake_board(None, hold=1.5)
    with pytest.raises(CaptureError, match="no answer"):
        send_capture(url, 0, 1, timeout=0.5)
    thread.join(5)

    url, thread, _ = _fake_board(None, hold=0.0)  # the board goes away
    with pytest.raises(CaptureError, match="failed"):
        send_capture(url, 0, 1, timeout=3)
    thread.join(5)


# --- the ESP32 glue running on the host with fakes -------------------------------------------

HOST_CONFIG = FirmwareConfig(n_classes=3, n_features=24, input_channels=6, input_steps=4, samples_per_round=2,
                             max_chunk=64)


GLUE_HOST = {  # board -> (harness, stand-in core, flags of one env)
    "esp32": ("esp32_glue_host.cpp", "esp32", ["-DTINYFL_IMU_BMI270", "-DTINYFL_CAPTURE_BUTTON_PIN=0"]),
    "nano33ble": ("nano33ble_glue_host.cpp", "mbed-nano33ble",
                  ["-DTINYFL_IMU_LSM9DS1", "-DTINYFL_STANDIN_HOST_REGISTERS", "-fno-pie"]),
}


def build_glue_on_host(board: str, out: Path, link_flags: tuple[str, ...] = ()) -> Path:
    """The generated project's src/ and lib/ compiled for the host against the stand-in, with
    tests/c/<board>_glue_host.cpp defining the stand-in's functions as fakes (sanitizers on)."""
    _require("gcc", "g++")
    harness, core, env_flags = GLUE_HOST[board]
    project = write_project(out / "project", board, HOST_CONFIG)
    flags = ["-g", "-O1", "-fsanitize=address,undefined", "-fno-sanitize-recover=all",
             "-DTINYFL_SAMPLE_RATE_HZ=10.0f", *env_flags]
    includes = [f"-I{STANDIN / core}", f"-I{STANDIN / 'libraries'}", f"-I{project / 'src'}",
                f"-I{project / 'lib' / 'tinyfl' / 'src'}", f"-I{Path(__file__).parent / 'c'}"]
    objects = []
    sources = sorted((project / "lib" / "tinyfl" / "src").rglob("*.c")) + sorted((project / "src").glob("*.c*"))
    for i, source in enumerate(sources + [Path(__file__).parent / "c" / harness]):
        obj = out / f"{i:02d}-{source.stem}.o"
        tool, std = ("g++", CXXFLAGS) if source.suffix == ".cpp" else ("gcc", CFLAGS)
        proc = subprocess.run([tool, *std, *flags, *includes, "-c", str(source), "-o", str(obj)],
                              capture_output=True, text=True)
        assert proc.returncode == 0, f"{source.name}: {proc.stderr}"
        objects.append(str(obj))
    exe = out / f"{board}-glue"
    no_pie = ["-no-pie"] if "-fno-pie" in env_flags else []
    proc = subprocess.run(["g++", *flags, *no_pie, *objects, *link_flags, "-lm", "-o", str(exe)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return exe


# The Nano's program image ends well below the ledger pages (top 8 KB of its 1 MB flash) ...
NANO_IMAGE = ("-Wl,--defsym,__etext=0x30000", "-Wl,--defsym,__data_start__=0x20000400",
              "-Wl,--defsym,__data_end__=0x20000500")
# ... or reaches into them: the glue must then refuse to use the flash.
NANO_IMAGE_TOO_BIG = ("-Wl,--defsym,__etext=0xFE100", "-Wl,--defsym,__data_start__=0x20000400",
                      "-Wl,--defsym,__data_end__=0x20000500")


@pytest.fixture(scope="module")
def esp32_on_host(tmp_path_factory) -> Path:
    return build_glue_on_host("esp32", tmp_path_factory.mktemp("esp32-host"))


@pytest.fixture(scope="module")
def nano_on_host(tmp_path_factory) -> Path:
    return build_glue_on_host("nano33ble", tmp_path_factory.mktemp("nano-host"), NANO_IMAGE)


class PipeBoard:
    """The host program's stdin/stdout as a link: wire messages and capture replies."""

    def __init__(self, exe: Path):
        from tinyfl.wire import FrameDecoder

        self.proc = subprocess.Popen([str(exe)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE)
        os.set_blocking(self.proc.stdout.fileno(), False)
        self.decoder = FrameDecoder()
        self.raw = b""
        self.messages: list = []
        self.seq = 0

    def _pump(self) -> None:
        if self.proc.poll() is not None:
            raise AssertionError(f"the board exited ({self.proc.returncode}): {self.proc.stderr.read()!r}")
        data = self.proc.stdout.read() or b""
        self.raw += data
        self.messages += [r.message for r in self.decoder.feed(data) if r.error is None]
        time.sleep(0.01)

    def send(self, data: bytes) -> None:
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def send_message(self, message) -> None:
        from tinyfl.wire import encode_message

        self.seq += 1
        self.send(encode_message(message, self.seq, chunk=32))

    def message(self, kind, timeout: float = 20.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._pump()
            for m in self.messages:
                if isinstance(m, kind):
                    self.messages.remove(m)
                    return m
        raise AssertionError(f"no {kind.__name__} from the board")

    def reply(self, prefix: str, command: bytes | None = None, timeout: float = 20.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if command is not None:
                self.raw = b""
                self.send(command)
            for _ in range(10):
                self._pump()
                found = [r for r in parse_replies(self.raw) if r.text.startswith(prefix)]
                if found:
                    return found[-1]
        raise AssertionError(f"no reply {prefix!r}; got {self.raw[-200:]!r}")

    def close(self) -> int:
        self.proc.stdin.close()  # EOF ends the program
        try:
            return self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise


def _captured_round(exe: Path, device_id: int) -> None:
    """setup()/loop() of the real glue over a pipe: hello; an owner's capture of 2 windows of IMU
    readings at the model's rate; a round that trains on exactly those (sample_count 2) and is
    recorded in the board's storage; the next round finds no sample (captures last until one
    round takes them)."""
    import numpy as np

    from tinyfl.wire import Error, GlobalModel, Hello, HelloRequest, Update

    def round_(n: int) -> GlobalModel:
        params = np.linspace(-0.2, 0.2, HOST_CONFIG.n_params, dtype=np.float32)
        return GlobalModel(run=1, round=n, nonce=1000 + n, lr=0.1, local_epochs=1, batch_size=2,
                           n_classes=HOST_CONFIG.n_classes, n_features=HOST_CONFIG.n_features, params=params)

    board = PipeBoard(exe)
    try:
        hello = board.message(Hello)
        assert hello.device_id == device_id and hello.firmware_hash == HOST_CONFIG.identity()
        assert hello.releases_done == 0 and not hello.flags & 0b110  # entropy healthy, ledger unlocked
        assert board.reply("capture", capture_line(1, 2)).text == "capture 1 2"
        assert board.reply("status 2 0", b"\0!capture status\n").ok  # 2 windows stored, none pending
        board.send_message(round_(1))
        update = board.message(Update)
        assert (update.round, update.sample_count, update.releases_done) == (1, 2, 1)
        board.send_message(HelloRequest())
        assert board.message(Hello).releases_done == 1  # the ledger went through the board's storage
        assert board.reply("status 0 0", b"\0!capture status\n").ok  # taken by the round
        board.send_message(round_(2))
        error = board.message(Error)
        assert error.code == 17 and error.round == 2  # NO_SAMPLES: nothing captured since
    finally:
        code = board.close()
    assert code == 0


def test_esp32_glue_captures_windows_and_trains_on_them(esp32_on_host):
    _captured_round(esp32_on_host, 0xC3D4E5F6)  # low 32 bits of the fake eFuse MAC


def test_nano33ble_glue_captures_windows_and_trains_on_them(nano_on_host):
    _captured_round(nano_on_host, 0x5EED0042)  # the fake FICR DEVICEID[0]


def test_nano33ble_glue_refuses_ledger_pages_inside_the_image(tmp_path):
    """A program image that reaches the ledger pages must not be overwritten by the ledger: the
    glue refuses the flash, the ledger reads as damaged and the device locks (hello says so)."""
    from tinyfl.wire import Hello

    board = PipeBoard(build_glue_on_host("nano33ble", tmp_path, NANO_IMAGE_TOO_BIG))
    try:
        hello = board.message(Hello)
        assert hello.flags & 0b100 and hello.releases_done == 0  # ledger locked
    finally:
        board.close()
