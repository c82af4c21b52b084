"""The firmware on every emulated board (native, QEMU Cortex-M4F, QEMU rv32imc), driven over its
serial link like real hardware: hello on connect, a round answered with an update, a replayed
round refused, the ledger kept across a restart, a damaged ledger locking the device, and the
same update from every board. Also: fleets never leave processes behind."""
from __future__ import annotations

import os
import signal
import socket
import time
from pathlib import Path

import numpy as np
import pytest
import serial

from tinyfl.emulate import BoardError, NativeBoard, QemuBoard, build_firmware, launch_fleet, write_shard
from tinyfl.emulate import boards as boards_module
from tinyfl.firmware_config import DpConfig, FirmwareConfig
from tinyfl.privacy.ledger import Ledger
from tinyfl.wire import BudgetExhausted, Error, FrameDecoder, GlobalModel, Hello, HelloRequest, Update, encode_message

# Small and quick, with a device chunk (64) and a host chunk (32) that split every message.
CONFIG = FirmwareConfig(
    n_classes=3, n_features=8, input_channels=2, input_steps=16, samples_per_round=6, max_chunk=64,
    dp=DpConfig(clip=1.0, noise_multiplier=1.0, grid_bits=8, delta=1e-5, eps_limit=20.0),
)
TEST_SEED = 11
STATUS_TRUNCATED, STATUS_ROUND = 5, 12
BOARD_KINDS = ["native", "qemu", "qemu-rv32"]
_TOOLS_FIXTURE = {"qemu": "qemu", "qemu-rv32": "qemu_rv32"}  # fails in CI, skips elsewhere


class Host:
    """Just enough of a host: frames out, whole decoded messages in. Opens the board's URL with
    pyserial (as tinyfl.links does) or, to skip pyserial's 0.3 s pause on close, a plain socket."""

    def __init__(self, url: str, *, pyserial: bool = False):
        if pyserial:
            self.link = serial.serial_for_url(url, timeout=0.02)
            self._read = lambda: self.link.read(1024)
        else:
            host, port = url.removeprefix("socket://").rsplit(":", 1)
            self.link = socket.create_connection((host, int(port)), timeout=5)
            self.link.settimeout(0.02)
            self._read = self._read_socket
        self.decoder = FrameDecoder()
        self.pending: list = []
        self.seq = 0

    def _read_socket(self) -> bytes:
        try:
            return self.link.recv(1024)
        except socket.timeout:
            return b""

    def send(self, message) -> None:
        self.seq += 1
        data = encode_message(message, self.seq, chunk=32)
        if isinstance(self.link, socket.socket):
            self.link.sendall(data)
        else:
            self.link.write(data)

    def receive(self, timeout: float = 10.0):
        deadline = time.monotonic() + timeout
        while not self.pending:
            if time.monotonic() > deadline:
                raise TimeoutError("no message from the board")
            for received in self.decoder.feed(self._read()):
                assert received.error is None, received.error
                self.pending.append(received.message)
        return self.pending.pop(0)

    def close(self) -> None:
        self.link.close()


def global_model(round_: int, nonce: int = 0x1234_5678_9ABC) -> GlobalModel:
    params = np.linspace(-0.2, 0.2, CONFIG.n_params, dtype=np.float32)
    return GlobalModel(run=1, round=round_, nonce=nonce, lr=0.1, local_epochs=2, batch_size=3,
                       n_classes=CONFIG.n_classes, n_features=CONFIG.n_features, params=params)


@pytest.fixture(scope="session")
def firmware(request) -> dict[str, Path]:
    """Test builds (fixed noise seed) of every board from CONFIG, built on first use."""
    images: dict[str, Path] = {}

    def get(kind: str) -> Path:
        if kind not in images:
            if kind in _TOOLS_FIXTURE:
                request.getfixturevalue(_TOOLS_FIXTURE[kind])  # fails in CI, skips elsewhere
            images[kind] = build_firmware(kind, CONFIG, test_build=True, test_seed=TEST_SEED)
        return images[kind]

    return get


@pytest.fixture()
def shard(tmp_path) -> Path:
    rng = np.random.default_rng(5)
    windows = rng.normal(size=(9, CONFIG.input_steps, CONFIG.input_channels)).astype(np.float32)
    labels = np.arange(9) % CONFIG.n_classes
    return write_shard(tmp_path / "shard.bin", windows, labels)


def ledger_eps(releases: int) -> float:
    """What the device reports after `releases` releases of CONFIG (its ledger, bit for bit)."""
    curve, ledger = CONFIG.rdp_curve(), Ledger()
    for r in range(releases):
        ledger.charge(curve, 1, r + 1)
    return ledger.eps(curve)


def make_board(kind: str, firmware, shard: Path, tmp_path: Path, device_id: int = 3):
    cls = NativeBoard if kind == "native" else QemuBoard
    return cls(firmware(kind), device_id=device_id, shard=shard, storage=tmp_path / f"{kind}-ledger.bin")


@pytest.mark.parametrize("kind", BOARD_KINDS)
def test_hello_on_connect(kind, firmware, shard, tmp_path):
    with make_board(kind, firmware, shard, tmp_path, device_id=77) as board:
        host = Host(board.url, pyserial=True)
        hello = host.receive()
        host.close()
    assert isinstance(hello, Hello)
    assert (hello.device_id, hello.n_classes, hello.n_features) == (77, 3, 8)
    assert hello.firmware_hash == CONFIG.identity()
    assert (hello.clip, hello.grid_bits, hello.max_chunk) == (1.0, 8, 64)
    assert hello.noise_multiplier == pytest.approx(1.0)
    assert hello.eps_limit == 20.0 and hello.delta == pytest.approx(1e-5)
    assert (hello.releases_done, hello.releases_max, hello.eps_spent) == (0, CONFIG.releases_allowed(), 0.0)
    assert CONFIG.releases_allowed() == len(CONFIG.eps_table()) - 1  # the host's table agrees
    assert hello.flags & 1  # a test build says so


@pytest.mark.parametrize("kind", BOARD_KINDS)
def test_round_replay_and_ledger_across_restart(kind, firmware, shard, tmp_path):
    table = CONFIG.eps_table()
    with make_board(kind, firmware, shard, tmp_path) as board:
        host = Host(board.url)
        assert isinstance(host.receive(), Hello)
        host.send(global_model(1))
        update = host.receive()
        assert isinstance(update, Update)
        assert (update.round, update.nonce) == (1, 0x1234_5678_9ABC)
        assert (update.n_classes, update.n_features, update.values.shape) == (3, 8, (CONFIG.n_params,))
        assert update.sample_count == CONFIG.samples_per_round
        assert update.grid_step == CONFIG.dp.clip / 2**CONFIG.dp.grid_bits
        assert update.releases_done == 1 and update.eps_spent == ledger_eps(1)
        assert table[1] <= update.eps_spent == pytest.approx(table[1], rel=1e-5)
        assert np.any(update.values != 0)

        host.send(global_model(1, nonce=5))  # the same round again: a replay
        refused = host.receive()
        assert isinstance(refused, Error) and (refused.code, refused.round) == (STATUS_ROUND, 1)
        host.close()

        board.restart()  # power cycle: the ledger lives in the storage file
        host = Host(board.url)
        hello = host.receive()
        assert isinstance(hello, Hello) and hello.releases_done == 1
        assert hello.eps_spent == ledger_eps(1)
        host.send(global_model(1))
        assert isinstance(host.receive(), Error)  # still a replay after the reboot
        host.send(global_model(2))
        update = host.receive()
        assert isinstance(update, Update) and update.releases_done == 2 and update.round == 2
        host.close()
    assert not board.alive


@pytest.mark.parametrize("kind", BOARD_KINDS)
def test_a_new_host_can_reconnect(kind, firmware, shard, tmp_path):
    with make_board(kind, firmware, shard, tmp_path) as board:
        first = Host(board.url)
        assert isinstance(first.receive(), Hello)
        first.close()
        time.sleep(0.05)
        second = Host(board.url)
        second.send(HelloRequest())
        hello = second.receive()
        assert isinstance(hello, Hello) and hello.device_id == 3
        second.close()


@pytest.mark.parametrize("kind", BOARD_KINDS)
def test_a_host_that_vanishes_mid_round_does_not_hang_the_board(kind, firmware, shard, tmp_path):
    """The update is written while no host is connected (the bytes are lost, as on an unplugged
    cable); the board keeps serving and the round stays spent."""
    with make_board(kind, firmware, shard, tmp_path) as board:
        first = Host(board.url)
        assert isinstance(first.receive(), Hello)
        first.send(global_model(1))
        first.close()
        time.sleep(0.2)
        second = Host(board.url)
        second.send(HelloRequest())
        hello = second.receive()
        if isinstance(hello, Update):  # a slow board answered the round after the switch
            hello = second.receive()
        assert isinstance(hello, Hello) and hello.releases_done == 1
        second.close()


@pytest.mark.parametrize("kind", BOARD_KINDS)
def test_damaged_ledger_locks_the_device(kind, firmware, shard, tmp_path):
    board = make_board(kind, firmware, shard, tmp_path)
    board.storage.write_bytes(b"\x01\x02\x03")  # not a ledger record
    with board:
        host = Host(board.url)
        assert isinstance(host.receive(), Hello)
        error = host.receive()
        assert isinstance(error, Error) and error.code == STATUS_TRUNCATED
        host.send(global_model(1))
        assert isinstance(host.receive(), BudgetExhausted)
        host.close()
    assert board.storage.read_bytes() == b"\x01\x02\x03"  # left as found, never reset


def test_every_board_gives_the_same_update(firmware, shard, tmp_path):
    """Same config, test seed, device id and samples: the updates decode to the same shape and
    (float training on x86-64, on Cortex-M4F's FPU and in rv32imc soft float, then the same
    noise) the same integers, up to a rounding step where the libms differ in a last bit."""
    updates = {}
    for kind in BOARD_KINDS:
        with make_board(kind, firmware, shard, tmp_path / kind) as board:
            host = Host(board.url)
            hello = host.receive()
            host.send(global_model(1))
            updates[kind] = (hello, host.receive())
            host.close()
    hello_n, upd_n = updates["native"]
    assert isinstance(upd_n, Update)
    for kind in BOARD_KINDS[1:]:
        hello_q, upd_q = updates[kind]
        assert hello_n == hello_q, kind
        assert isinstance(upd_q, Update), kind
        assert upd_n.values.shape == upd_q.values.shape == (CONFIG.n_params,)
        for field in ("round", "nonce", "sample_count", "grid_step", "eps_spent", "releases_done", "n_classes",
                      "n_features"):
            assert getattr(upd_n, field) == getattr(upd_q, field), (kind, field)
        assert np.max(np.abs(upd_n.values.astype(np.int64) - upd_q.values)) <= 1, kind


@pytest.mark.parametrize("kind", BOARD_KINDS)
def test_fleet_stops_every_board_even_on_error(kind, firmware, tmp_path):
    shards = [write_shard(tmp_path / f"s{i}.bin", np.ones((2, CONFIG.input_len)), [0, 1]) for i in range(3)]
    with pytest.raises(RuntimeError, match="boom"):
        with launch_fleet(kind, 3, firmware(kind), shards, tmp_path / "fleet", device_ids=[10, 11, 12]) as fleet:
            assert fleet.device_ids == [10, 11, 12] and len(set(fleet.urls)) == 3
            pids = [b.pid for b in fleet]
            hosts = [Host(url) for url in fleet.urls]
            assert [h.receive().device_id for h in hosts] == [10, 11, 12]
            for h in hosts:
                h.close()
            raise RuntimeError("boom")
    assert all(not b.alive and b.returncode is not None for b in fleet)
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    assert (tmp_path / "fleet" / "device-11" / "ledger.bin").exists()


def test_failed_launch_stops_the_boards_already_started(firmware, tmp_path):
    good = write_shard(tmp_path / "good.bin", np.ones((1, CONFIG.input_len)), [0])
    before = set(boards_module._live)
    with pytest.raises(BoardError, match="cannot open shard"):
        launch_fleet("native", 2, firmware("native"), [good, tmp_path / "missing.bin"], tmp_path / "fleet")
    assert set(boards_module._live) == before


@pytest.mark.parametrize("kind", ["qemu", "qemu-rv32"])
def test_qemu_fleet_with_icount(kind, firmware, shard, tmp_path):
    with launch_fleet(kind, 1, firmware(kind), [shard], tmp_path, icount=True) as fleet:
        host = Host(fleet[0].url)
        assert isinstance(host.receive(), Hello)
        host.send(global_model(1))
        assert isinstance(host.receive(), Update)
        host.close()


@pytest.mark.parametrize("connected", [False, True])
def test_native_board_exits_cleanly_on_sigterm(connected, firmware, shard, tmp_path):
    board = make_board("native", firmware, shard, tmp_path).start()
    try:
        if connected:
            host = Host(board.url)
            assert isinstance(host.receive(), Hello)
        os.kill(board.pid, signal.SIGTERM)
        deadline = time.monotonic() + 5
        while board.alive and time.monotonic() < deadline:
            time.sleep(0.01)
        assert board.returncode == 0
        if connected:
            host.close()
    finally:
        board.stop()


def test_qemu_stack_use_stays_well_inside_the_reserved_stack(qemu, shard, tmp_path):
    """A measurement build reports the stack's high-water mark; a round must stay far below the
    16 KB the linker script reserves (an overflow would run off the bottom of RAM)."""
    image = build_firmware("qemu", CONFIG, test_build=True, defines={"TINYFL_AN386_REPORT_STACK": None})
    with QemuBoard(image, device_id=1, shard=shard, storage=tmp_path / "l.bin") as board:
        host = Host(board.url)
        host.receive()
        host.send(global_model(1))
        assert isinstance(host.receive(), Update)
        host.close()
        deadline = time.monotonic() + 5
        while "stack used" not in board.log_text() and time.monotonic() < deadline:
            time.sleep(0.01)
    used = max(int(line.split()[-1]) for line in board.log_text().splitlines() if "stack used" in line)
    assert 0 < used < 8 * 1024
