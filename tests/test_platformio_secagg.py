"""Secure aggregation in the PlatformIO projects (write_project(..., secagg=SecaggImage(...))):

- the project compiles firmware/secagg/ with TINYFL_SECAGG and the generated policy, and
  carries Monocypher as lib/monocypher (copied from build/third_party/monocypher, with its
  licence and a note of version and sha256s); rewriting without secure aggregation removes it;
- nothing in the project makes PlatformIO fetch Monocypher: the name has no owner (PlatformIO
  never installs such a dependency, it finds it in lib/), and `pio run` builds the project with
  every proxy pointing at a closed port;
- `pio project config` of the Nano 33 BLE and ESP32 envs (serial and BLE) shows the flag and
  Monocypher;
- PlatformIO's build of the QEMU board's secure project is byte-identical (objcopy -O binary,
  the bytes a board is flashed with) to tinyfl.secagg.image.build_secagg_firmware's, release
  and test builds alike; and that image, under QEMU, takes part in a secure round with native
  boards built by build_secagg_firmware: the unmasked sum is the sum of the survivors' logged
  inputs and its ledger reports the same two eps.

In CI a missing pio, arm-none-eabi-gcc or QEMU fails these tests instead of skipping them.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest

from secagg_fleet_support import CONFIG, DEFINES, TEST_SEED, expected_eps, logged_input, open_sessions, shards
from tinyfl.emulate import Fleet, launch_fleet
from tinyfl.firmware_config import DpConfig, FirmwareConfig
from tinyfl.fleet.secagg_round import SecureRound, check_policies
from tinyfl.paths import FIRMWARE_DIR
from tinyfl.platformio import PioError, find_pio, offline_core_dir, pio_env, write_project
from tinyfl.secagg import third_party
from tinyfl.secagg.image import SecaggImage, build_secagg_firmware, render_source

PIO_TIMEOUT = 300
# 4 boards in the round test (complete graph, t = 2): n_min 3 leaves room for one dropout
POLICY = SecaggImage(n_min=3, n_max=64, k_max=16, local_multiplier=0.5)
# The QEMU test image also reports its stack's high-water mark (a measurement build).
MEASURE = {**DEFINES, "TINYFL_AN386_REPORT_STACK": None}
TEST_DEFINES = {**MEASURE, "TINYFL_TEST_BUILD": None, "TINYFL_TEST_SEED": TEST_SEED}  # = test_build=True
# The share step's stack (docs/privacy.md: about 2.0 kB on the Cortex-M4) must leave most of
# the ESP32 Arduino loop task's 8 KB to the Arduino core and the glue.
STACK_BUDGET = 4096
SECAGG_SOURCES = sorted((FIRMWARE_DIR / "secagg").rglob("*.[ch]"))
# Any attempt to reach a registry or download server fails at once.
NO_NETWORK = {k: "http://127.0.0.1:9" for k in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY",
                                                 "all_proxy", "ALL_PROXY")}


@pytest.fixture(scope="session")
def pio(tmp_path_factory) -> tuple[str, dict[str, str]]:
    try:
        exe = find_pio()
        core = offline_core_dir(tmp_path_factory.mktemp("pio-core"))
    except PioError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"CI requires PlatformIO: {exc}")
        pytest.skip(str(exc))
    return exe, {**pio_env(core), **NO_NETWORK}


def run_pio(pio, project: Path, *args: str) -> subprocess.CompletedProcess:
    exe, env = pio
    return subprocess.run([exe, *args], cwd=project, env=env, capture_output=True, text=True,
                          timeout=PIO_TIMEOUT)


def tree_digest(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and ".pio" not in p.parts}


def ini_lib_deps(ini: str) -> list[str]:
    deps, inside = [], False
    for line in ini.splitlines():
        if re.match(r"^\w", line):
            inside = line.startswith("lib_deps")
        elif inside and line.startswith("    "):
            deps.append(line.strip())
    return deps


# --- the generator ----------------------------------------------------------------------------


def test_secure_project_holds_secagg_policy_and_monocypher(tmp_path):
    config = FirmwareConfig()
    out = write_project(tmp_path / "p", "nano33ble", config, secagg=POLICY)
    src = out / "lib" / "tinyfl" / "src"
    for path in SECAGG_SOURCES:  # flat: firmware/secagg's includes are flat
        assert (src / path.name).read_bytes() == path.read_bytes(), path.name
    assert (src / "tinyfl_secagg_image_gen.c").read_text() == render_source(config, POLICY)
    ini = (out / "platformio.ini").read_text()
    assert "    -DTINYFL_SECAGG\n" in ini and "    -DTINYFL_SECAGG_MAX_NEIGHBOURS=16\n" in ini

    mono, pinned = out / "lib" / "monocypher", third_party.monocypher_dir()
    for name, digest in third_party.FILES.items():
        copied = mono / ("src" if name.endswith((".c", ".h")) else "") / name
        assert copied.read_bytes() == (pinned / name).read_bytes()
        assert hashlib.sha256(copied.read_bytes()).hexdigest() == digest
    note = (mono / "SOURCE.md").read_text()
    for text in (third_party.MONOCYPHER_VERSION, third_party.SDIST, third_party.SDIST_SHA256,
                 *third_party.FILES.values()):
        assert text in note
    manifest = json.loads((mono / "library.json").read_text())
    assert manifest["version"] == third_party.MONOCYPHER_VERSION and "CC0" in manifest["license"]
    assert json.loads((out / "lib" / "tinyfl" / "library.json").read_text())["tinyfl"]["secagg"] is True

    first = tree_digest(out)
    write_project(out, "nano33ble", config, secagg=POLICY)
    assert tree_digest(out) == first  # reproducible
    write_project(out, "nano33ble", config)  # without: nothing of it stays
    assert not mono.exists() and not list(src.glob("tinyfl_secagg*")) and not (src / "tinyfl_shamir.c").exists()
    ini = (out / "platformio.ini").read_text()
    assert "TINYFL_SECAGG" not in ini and "monocypher" not in ini


def test_a_policy_the_image_cannot_hold_is_refused_before_writing(tmp_path):
    wide = FirmwareConfig(dp=DpConfig(grid_bits=16))
    for config, bad, message in ((FirmwareConfig(), SecaggImage(n_min=1), "n_min"),
                                 (FirmwareConfig(), SecaggImage(k_max=40), "k_max"),
                                 (wide, SecaggImage(n_max=65535), "wrap")):
        with pytest.raises(ValueError, match=message):
            write_project(tmp_path / "p", "esp32", config, secagg=bad)
        assert not (tmp_path / "p").exists()


@pytest.mark.parametrize("board", ["nano33ble", "esp32"])
def test_monocypher_has_no_network_dependency(tmp_path, board):
    """Every reference to Monocypher is the bare name, which PlatformIO resolves in lib/ and
    never installs (a dependency without owner or URL is a built-in one), and the copied library
    declares nothing further to fetch."""
    from platformio.package.meta import PackageSpec

    for link in ("serial", "ble"):
        out = write_project(tmp_path / link, board, FirmwareConfig(), secagg=POLICY, link=link)
        deps = [d for d in ini_lib_deps((out / "platformio.ini").read_text()) if "monocypher" in d.lower()]
        tinyfl = json.loads((out / "lib" / "tinyfl" / "library.json").read_text())
        deps += [d["name"] for d in tinyfl["dependencies"]]
        assert deps and set(deps) == {"monocypher"}
        for dep in deps:
            spec = PackageSpec(dep)
            assert not spec.external and not spec.owner, dep
        manifest = json.loads((out / "lib" / "monocypher" / "library.json").read_text())
        assert not {"repository", "dependencies", "homepage", "url"} & set(manifest)
        assert (out / "lib" / "monocypher" / "src" / "monocypher.c").is_file()


# --- PlatformIO itself ------------------------------------------------------------------------


@pytest.mark.parametrize("board", ["nano33ble", "esp32"])
@pytest.mark.parametrize("link", ["serial", "ble"])
def test_pio_project_config_shows_monocypher_and_the_flag(pio, tmp_path, board, link):
    out = write_project(tmp_path / "p", board, FirmwareConfig(), secagg=POLICY, link=link)
    proc = run_pio(pio, out, "project", "config", "--json-output")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    envs = {name[4:]: dict(opts) for name, opts in json.loads(proc.stdout) if name.startswith("env:")}
    assert envs
    for name, opts in envs.items():
        assert "-DTINYFL_SECAGG" in opts["build_flags"], name
        assert "-DTINYFL_SECAGG_MAX_NEIGHBOURS=16" in opts["build_flags"], name
        assert "monocypher" in opts["lib_deps"], name


def _objcopy_binary(elf: Path, out: Path) -> bytes:
    subprocess.run(["arm-none-eabi-objcopy", "-O", "binary", str(elf), str(out)], check=True)
    return out.read_bytes()


def _pio_build(pio, project: Path) -> Path:
    proc = run_pio(pio, project, "run")
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert "monocypher" in proc.stdout  # built from lib/monocypher
    return project / ".pio" / "build" / "mps2_an386" / "program.elf"


@pytest.fixture(scope="module")
def secure_test_image(pio, qemu, tmp_path_factory) -> Path:
    """PlatformIO's build of the QEMU board's secure project, as a test build (it logs its
    noised input so that the round's sum can be checked)."""
    out = write_project(tmp_path_factory.mktemp("pio-secure") / "qemu", "qemu", CONFIG, defines=TEST_DEFINES,
                        secagg=POLICY)
    return _pio_build(pio, out)


def test_pio_secure_release_image_is_byte_identical(pio, qemu, tmp_path):
    """What a user flashes: PlatformIO's release image of the secure project is, byte for byte,
    build_secagg_firmware's image of the same configuration and policy."""
    config = FirmwareConfig()
    elf = _pio_build(pio, write_project(tmp_path / "qemu", "qemu", config, secagg=POLICY))
    reference = build_secagg_firmware("qemu", config, POLICY)
    ours, theirs = _objcopy_binary(elf, tmp_path / "pio.bin"), _objcopy_binary(reference, tmp_path / "ref.bin")
    assert len(ours) > 40_000  # Monocypher is in it
    assert ours == theirs


def test_pio_secure_test_image_is_byte_identical(secure_test_image, tmp_path):
    reference = build_secagg_firmware("qemu", CONFIG, POLICY, test_build=True, test_seed=TEST_SEED,
                                      defines=MEASURE)
    assert _objcopy_binary(secure_test_image, tmp_path / "pio.bin") == \
        _objcopy_binary(reference, tmp_path / "ref.bin")


def test_pio_secure_image_takes_part_in_a_secure_round(secure_test_image, tmp_path):
    """Two QEMU boards running PlatformIO's image and two native boards built by
    build_secagg_firmware; one native board drops out after the keys."""
    native_image = build_secagg_firmware("native", CONFIG, POLICY, test_build=True, test_seed=TEST_SEED,
                                         defines=DEFINES)
    data = shards(tmp_path, 4)
    native = launch_fleet("native", 2, native_image, data[:2], tmp_path / "native", device_ids=[1, 2])
    try:
        on_qemu = launch_fleet("qemu", 2, secure_test_image, data[2:], tmp_path / "qemu", device_ids=[3, 4])
    except BaseException:
        native.stop()
        raise
    with native, on_qemu:
        fleet = Fleet([*native, *on_qemu])
        boards = {b.device_id: b for b in fleet}
        sessions, hellos, policies = open_sessions(fleet)
        try:
            assert hellos[3].firmware_hash == hellos[1].firmware_hash
            assert check_policies(policies, hellos, k=0, n_min=0) == POLICY.n_min

            def between(step: str, live: list[int]) -> None:
                if step == "shares":
                    boards[2].stop()

            result = SecureRound(sessions, n_min=POLICY.n_min, step_timeout_s=30.0,
                                 rng=np.random.default_rng(5), between=between).run(
                run=1, round_number=1, params=np.linspace(-0.1, 0.1, CONFIG.n_params, dtype=np.float32),
                n_classes=CONFIG.n_classes, n_features=CONFIG.n_features, lr=0.1, local_epochs=2, batch_size=3)
        finally:
            for s in sessions.values():
                s.close()
    assert result.ok, result.failure
    assert result.survivors == [1, 3, 4]
    truth = sum(logged_input(boards[d], 1, CONFIG.n_params) for d in result.survivors)
    np.testing.assert_array_equal(result.total, truth)
    central, local = expected_eps(1, POLICY)
    for d in (1, 3, 4):
        assert result.eps[d] == pytest.approx((central, local), rel=1e-6)
    used = [int(line.split()[-1]) for d in (3, 4) for line in boards[d].log_text().splitlines()
            if "stack used" in line]
    print(f"secure round, Cortex-M4F stack high-water mark: {max(used)} bytes")
    assert used and 1024 < max(used) < STACK_BUDGET


# --- the real boards' glue, on the host against fakes of the Arduino APIs ---------------------

# The glue's window is the IMU's 6 channels; the native boards of the round share the config.
GLUE_CONFIG = FirmwareConfig(n_classes=3, n_features=24, input_channels=6, input_steps=4, samples_per_round=2,
                             max_chunk=64, dp=DpConfig(eps_limit=500.0))
# The fakes' chip ids (tests/c/*_glue_host.cpp) folded to the 16-bit SecAgg id by the glue.
GLUE_IDS = {"esp32": 0xC3D4 ^ 0xE5F6, "nano33ble": 0x5EED ^ 0x0042}


def build_secure_glue_on_host(board: str, out: Path) -> Path:
    """test_platformio.build_glue_on_host for a secure project: lib/monocypher is compiled too."""
    import test_platformio as tp

    tp._require("gcc", "g++")
    harness, core, env_flags = tp.GLUE_HOST[board]
    project = write_project(out / "project", board, GLUE_CONFIG, secagg=POLICY)
    ini = (project / "platformio.ini").read_text()
    flags = ["-g", "-O1", "-fsanitize=address,undefined", "-fno-sanitize-recover=all",
             "-DTINYFL_SAMPLE_RATE_HZ=10.0f", "-DTINYFL_SECAGG", "-DTINYFL_SECAGG_MAX_NEIGHBOURS=16", *env_flags]
    assert all(f"    {f}\n" in ini for f in flags[5:7])  # the flags the project gives every env
    mono = project / "lib" / "monocypher" / "src"
    includes = [f"-I{tp.STANDIN / core}", f"-I{tp.STANDIN / 'libraries'}", f"-I{project / 'src'}",
                f"-I{project / 'lib' / 'tinyfl' / 'src'}", f"-I{mono}", f"-I{Path(__file__).parent / 'c'}"]
    sources = sorted((project / "lib" / "tinyfl" / "src").rglob("*.c")) + [mono / "monocypher.c"]
    sources += sorted((project / "src").glob("*.c*")) + [Path(__file__).parent / "c" / harness]
    objects = []
    for i, source in enumerate(sources):
        obj = out / f"{i:02d}-{source.stem}.o"
        tool, std = ("g++", tp.CXXFLAGS) if source.suffix == ".cpp" else ("gcc", tp.CFLAGS)
        proc = subprocess.run([tool, *std, *flags, *includes, "-c", str(source), "-o", str(obj)],
                              capture_output=True, text=True)
        assert proc.returncode == 0, f"{source.name}: {proc.stderr}"
        objects.append(str(obj))
    exe = out / f"{board}-secure-glue"
    link = ["-no-pie", *tp.NANO_IMAGE] if board == "nano33ble" else []
    proc = subprocess.run(["g++", *flags, *link, *objects, "-lm", "-o", str(exe)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    if board == "esp32":  # a secure image sizes the Arduino loop task's stack itself
        symbols = subprocess.run(["nm", "-C", str(exe)], capture_output=True, text=True).stdout
        assert "getArduinoLoopTaskStackSize()" in symbols
    return exe


class PipeBridge:
    """A TCP port in front of the host program's stdin/stdout, so the fleet code opens it as a
    link (socket://) like any emulated board."""

    def __init__(self, board) -> None:
        import socket
        import threading

        self.board = board
        self.server = socket.create_server(("127.0.0.1", 0))
        self.url = f"socket://127.0.0.1:{self.server.getsockname()[1]}"
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        import select

        conn, _ = self.server.accept()
        out = self.board.proc.stdout.fileno()
        with conn:
            while not self.stop.is_set():
                ready, _, _ = select.select([out, conn], [], [], 0.05)
                if out in ready:
                    try:
                        data = os.read(out, 4096)
                    except BlockingIOError:
                        data = b"?"
                    if not data:
                        return
                    if data != b"?":
                        conn.sendall(data)
                if conn in ready:
                    data = conn.recv(4096)
                    if not data:
                        return
                    self.board.send(data)

    def close(self) -> None:
        self.stop.set()
        self.server.close()
        self.thread.join(5)


@pytest.mark.parametrize("board", ["esp32", "nano33ble"])
def test_board_glue_takes_part_in_a_secure_round(board, tmp_path):
    """The real glue (setup()/loop(), NVS or the two flash slots, the chip's entropy) with
    secure aggregation, on the host against fakes: after an owner's capture it takes part in a
    secure round with two native boards; its share of the sum is a bounded update (a wrong mask
    would leave words spread over 2^32), its ledger (plain record + central extension, through
    the board's storage) reports both eps, and its id is the folded 16-bit one."""
    import test_platformio as tp
    from tinyfl.emulate import write_shard
    from tinyfl.fleet.device import DeviceSession
    from tinyfl.fleet.secagg_round import hello_and_policy
    from tinyfl.links import open_link
    from tinyfl.privacy.ledger import Ledger
    from tinyfl.secagg.image import curves, variance

    glue = tp.PipeBoard(build_secure_glue_on_host(board, tmp_path))
    bridge = None
    try:
        assert glue.reply("capture", tp.capture_line(1, 2)).text == "capture 1 2"
        assert glue.reply("status 2 0", b"\0!capture status\n").ok
        bridge = PipeBridge(glue)
        rng = np.random.default_rng(9)
        data = [write_shard(tmp_path / f"shard-{i}.bin",
                            rng.normal(size=(8, GLUE_CONFIG.input_steps,
                                             GLUE_CONFIG.input_channels)).astype(np.float32),
                            np.arange(8) % GLUE_CONFIG.n_classes) for i in range(2)]
        native_image = build_secagg_firmware("native", GLUE_CONFIG, POLICY, test_build=True, test_seed=TEST_SEED,
                                             defines=DEFINES)
        with launch_fleet("native", 2, native_image, data, tmp_path / "native", device_ids=[1, 2]) as fleet:
            sessions, hellos, policies = open_sessions(fleet)
            glue_id = GLUE_IDS[board]
            sessions[glue_id] = DeviceSession(open_link(bridge.url), board)
            try:
                hellos[glue_id], policies[glue_id] = hello_and_policy(sessions[glue_id], timeout=20.0)
                assert hellos[glue_id].device_id == glue_id
                assert hellos[glue_id].firmware_hash == hellos[1].firmware_hash
                assert check_policies(policies, hellos, k=0, n_min=0) == POLICY.n_min
                result = SecureRound(sessions, n_min=POLICY.n_min, step_timeout_s=30.0,
                                     rng=np.random.default_rng(4)).run(
                    run=1, round_number=1, params=np.linspace(-0.2, 0.2, GLUE_CONFIG.n_params, dtype=np.float32),
                    n_classes=GLUE_CONFIG.n_classes, n_features=GLUE_CONFIG.n_features, lr=0.1, local_epochs=1,
                    batch_size=2)
                assert result.ok, (result.failure, result.outcomes)
                assert result.survivors == sorted([1, 2, glue_id])
                hello_after, _ = hello_and_policy(sessions[glue_id], timeout=20.0)
                assert hello_after.releases_done == 1  # the ledger went through the board's storage
                boards = {b.device_id: b for b in fleet}
                own = result.total - sum(logged_input(boards[d], 1, GLUE_CONFIG.n_params) for d in (1, 2))
            finally:
                for s in sessions.values():
                    s.close()
    finally:
        if bridge is not None:
            bridge.close()
        code = glue.close()
    assert code == 0
    num, den = variance(GLUE_CONFIG, POLICY)
    noise = np.sqrt(GLUE_CONFIG.n_params * num / den)
    assert np.linalg.norm(own) <= 2 ** GLUE_CONFIG.dp.grid_bits + 1.5 * noise, own
    assert np.any(own != 0)
    central, local = curves(GLUE_CONFIG, POLICY)
    ledgers = Ledger(), Ledger()
    ledgers[0].charge(central, 1, 1)
    ledgers[1].charge(local, 1, 1)
    assert result.eps[glue_id] == pytest.approx((ledgers[0].eps(central), ledgers[1].eps(local)), rel=1e-6)


# --- from a project's [secagg] section -----------------------------------------------------------


def test_board_policy_from_a_secagg_section():
    from tinyfl.fleet.config import SecaggSpec
    from tinyfl.platformio.secure import board_policy

    assert board_policy(SecaggSpec(n_min=3, local_multiplier=0.7)) == SecaggImage(3, 1000, 16, 0.7)
    assert board_policy(SecaggSpec(n_min=3, k=24)).k_max == 24
    # five listed boards, complete graph: 4 neighbours, t = 3, one dropout tolerated -> n_min 4
    assert board_policy(SecaggSpec(), 5) == SecaggImage(4, 1000, 16, 0.5)
    with pytest.raises(ValueError, match="secagg.n_min"):
        board_policy(SecaggSpec())


def test_project_secagg_section_gives_a_secure_board_project(tmp_path):
    from types import SimpleNamespace

    from tinyfl.project import ProjectError, init_project, load_project
    from tinyfl.project.build import _platformio_project

    init_project(tmp_path / "p")
    toml = tmp_path / "p" / "tinyfl.toml"
    toml.write_text(toml.read_text() + "\n[secagg]\nn_min = 3\nlocal_multiplier = 0.5\n")
    project = load_project(tmp_path / "p")
    assert project.fleet.secagg is not None and project.fleet.secagg.n_min == 3
    assert load_project(tmp_path / "p", ["secagg.k=4"]).fleet.secagg.k == 4
    backbone = SimpleNamespace(model_sources=None, defines={})
    report = _platformio_project(project, "esp32", FirmwareConfig(), backbone, 1.0, lambda _m: None)
    assert report["secagg"] == {"n_min": 3, "n_max": 1000, "k_max": 16, "local_multiplier": 0.5}
    out = Path(report["platformio_project"])
    assert "    -DTINYFL_SECAGG\n" in (out / "platformio.ini").read_text()
    assert (out / "lib" / "monocypher" / "src" / "monocypher.c").is_file()

    toml.write_text(toml.read_text().replace("n_min = 3\n", ""))
    with pytest.raises(ProjectError, match="secagg.n_min"):
        _platformio_project(load_project(tmp_path / "p"), "esp32", FirmwareConfig(), backbone, 1.0, lambda _m: None)
    toml.write_text(toml.read_text() + "mystery = 1\n")
    with pytest.raises(ProjectError, match="unknown key"):
        load_project(tmp_path / "p")


@pytest.mark.parametrize("link", ["serial", "ble"])
def test_secure_glue_compiles_for_the_boards_against_the_standin(pio, tmp_path, arm_toolchain, link):
    """The secure projects' glue, with each env's flags as PlatformIO resolves them: the Nano 33
    BLE's for the Cortex-M4F, the ESP32's with the host g++ (no Xtensa compiler here)."""
    import test_platformio as tp

    tp._require("arm-none-eabi-g++", "g++")
    nano = ("arm-none-eabi-g++", "arm-none-eabi-gcc", tp.M4F, tp.STANDIN / "mbed-nano33ble")
    for board, args in (("nano33ble", nano), ("esp32", ("g++", "gcc", [], tp.STANDIN / "esp32"))):
        out = write_project(tmp_path / board / link, board, FirmwareConfig(), secagg=POLICY, link=link)
        proc = run_pio(pio, out, "project", "config", "--json-output")
        assert proc.returncode == 0, proc.stderr
        for name, opts in json.loads(proc.stdout):
            if name.startswith("env:"):
                flags = dict(opts)["build_flags"] + [f"-I{out / 'lib' / 'monocypher' / 'src'}"]
                assert "-DTINYFL_SECAGG" in flags
                errors = tp._compile_glue(out, *args, flags)
                assert not errors, f"{name}:\n" + "\n".join(errors)


# --- BLE link bounds -----------------------------------------------------------------------------


def test_secure_messages_fit_the_ble_receive_buffer():
    """The BLE glue buffers what the host writes until the runtime reads it
    (boards/arduino-common/tinyfl_ble_stream.h: MAX_MESSAGE + MAX_CHUNKS * 15 bytes). The host's
    largest secure sends, at the wire's k = 32 and in the smallest frames (most overhead): the
    neighbours message, and the mask step's burst (one secagg_share_for_you per neighbour, then
    the mask request, sent without waiting) must fit it whole."""
    import struct

    from tinyfl.wire import SecaggMaskRequest, SecaggNeighbours, SecaggShareForYou, SecaggUnmaskRequest, \
        encode_message, spec

    header = (Path(__file__).parents[1] / "boards" / "arduino-common" / "tinyfl_ble_stream.h").read_text()
    assert "#define TINYFL_BLE_RX_CAP (TINYFL_WIRE_MAX_MESSAGE + TINYFL_WIRE_MAX_CHUNKS * 15)" in header
    rx_cap = spec.MAX_MESSAGE + spec.MAX_CHUNKS * 15
    k = spec.SECAGG_MAX_NEIGHBOURS
    key = bytes(range(32))
    ids = list(range(2, k + 2))
    neighbours = SecaggNeighbours(run=1, round=2**32 - 1, t=k,
                                  neighbours=[struct.pack("<H", i) + key + key for i in ids])
    burst = [SecaggShareForYou(run=1, round=2**32 - 1, sender=i, cipher=bytes(spec.SECAGG_CIPHER_SIZE)) for i in ids]
    burst.append(SecaggMaskRequest(run=1, round=2**32 - 1, cohort=65535, alive=ids))
    unmask = SecaggUnmaskRequest(run=1, round=2**32 - 1, cohort=65535, survived=ids)
    framed = lambda m: len(encode_message(m, 255, chunk=spec.MIN_CHUNK))  # noqa: E731
    sizes = {"neighbours": framed(neighbours), "mask burst": sum(framed(m) for m in burst), "unmask": framed(unmask)}
    print(f"largest host -> device secure sends (framed, {spec.MIN_CHUNK}-byte chunks): {sizes}, buffer {rx_cap}")
    assert all(0 < size <= rx_cap for size in sizes.values()), sizes
    assert sizes["neighbours"] > 2 * 1024  # really the k = 32 message
