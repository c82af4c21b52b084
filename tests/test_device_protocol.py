"""The device's side of issues 7 and 8 on emulated boards: the ledger carries the privacy loss
across a reflash, test images tell their real noise, entropy health, idempotent resends,
rate-limited error replies and refusal detail."""
from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest

from tinyfl.emulate import NativeBoard, QemuBoard, build_firmware, write_shard
from tinyfl.firmware_config import DpConfig, FirmwareConfig
from tinyfl.privacy import epsilon_composed
from tinyfl.privacy.ledger import LEDGER_SIZE, Ledger, decode_record, encode_record
from tinyfl.wire import (
    BudgetExhausted,
    Error,
    GlobalModel,
    Hello,
    HelloRequest,
    SetDpConfig,
    Status,
    Update,
    encode_frame,
    encode_message,
)
from tinyfl.wire._wire_gen import HelloFlag

from device_host import RawHost

DELTA = 1e-5
FLT_MAX = float(np.finfo(np.float32).max)


def make_config(z: float, eps_limit: float = 60.0) -> FirmwareConfig:
    return FirmwareConfig(n_classes=3, n_features=8, input_channels=2, input_steps=16, samples_per_round=6,
                          max_chunk=64, dp=DpConfig(clip=1.0, noise_multiplier=z, grid_bits=8, delta=DELTA,
                                                    eps_limit=eps_limit))


Z1, Z4 = make_config(1.0), make_config(4.0)


def global_model(run: int, round_: int, nonce: int = 77, config: FirmwareConfig = Z1) -> GlobalModel:
    params = np.linspace(-0.2, 0.2, config.n_params, dtype=np.float32)
    return GlobalModel(run=run, round=round_, nonce=nonce, lr=0.1, local_epochs=2, batch_size=3,
                       n_classes=config.n_classes, n_features=config.n_features, params=params)


@pytest.fixture()
def shard(tmp_path):
    rng = np.random.default_rng(5)
    windows = rng.normal(size=(9, 16, 2)).astype(np.float32)
    return write_shard(tmp_path / "shard.bin", windows, np.arange(9) % 3)


def board(kind: str, firmware, shard, storage, device_id: int = 3):
    return (QemuBoard if kind == "qemu" else NativeBoard)(firmware, device_id=device_id, shard=shard,
                                                           storage=storage)


def ledger_after(history) -> Ledger:
    """The device's ledger after [(config, releases), ...] (its arithmetic, bit for bit)."""
    ledger = Ledger()
    for config, n in history:
        for _ in range(n):
            ledger.charge(config.rdp_curve(), 1, ledger.releases_done + 1)
    return ledger


@pytest.mark.parametrize("kind", ["native", "qemu"])
def test_reflash_with_another_dp_config_composes(kind, shard, tmp_path, request):
    """Issue 7: 3 releases at z = 1, then a z = 4 image on the same storage. The image must
    report the RDP composition (21.4 and up), never its own count-based figure (4.0)."""
    if kind == "qemu":
        request.getfixturevalue("qemu")
    storage = tmp_path / "ledger.bin"
    with board(kind, build_firmware(kind, Z1, test_build=True, test_seed=1), shard, storage) as b:
        host = RawHost(b.url)
        for r in (1, 2, 3):
            host.send(global_model(1, r, nonce=r))
            assert isinstance(host.answer(), Update)
        host.close()
    with board(kind, build_firmware(kind, Z4, test_build=True, test_seed=1), shard, storage) as b:
        host = RawHost(b.url)
        hello = host.receive()
        assert isinstance(hello, Hello) and hello.noise_multiplier == 4.0 and hello.releases_done == 3
        truth = epsilon_composed([(1.0, 3)], DELTA)
        expected = ledger_after([(Z1, 3)])
        assert hello.eps_spent == expected.eps(Z4.rdp_curve())
        assert truth <= hello.eps_spent == pytest.approx(truth, rel=1e-5) and truth > 21.4
        assert hello.releases_max == expected.releases_max(Z4.rdp_curve())
        assert hello.releases_max - 3 < Z4.releases_allowed()  # what is left shrank

        host.send(global_model(2, 1))
        update = host.answer()
        truth = epsilon_composed([(1.0, 3), (4.0, 1)], DELTA)
        assert isinstance(update, Update) and update.releases_done == 4
        assert update.eps_spent == ledger_after([(Z1, 3), (Z4, 1)]).eps(Z4.rdp_curve())
        assert truth <= update.eps_spent == pytest.approx(truth, rel=1e-5)
        host.close()
    record = decode_record(storage.read_bytes())
    assert record.rdp == ledger_after([(Z1, 3), (Z4, 1)]).rdp and (record.last_run, record.last_round) == (2, 1)


def test_no_noise_image_says_z0_and_its_release_stays_unbounded(shard, tmp_path):
    storage = tmp_path / "ledger.bin"
    no_noise = build_firmware("native", Z1, test_build=True, defines={"TINYFL_TEST_NO_NOISE": None})
    with board("native", no_noise, shard, storage) as b:
        host = RawHost(b.url)
        hello = host.receive()
        assert hello.noise_multiplier == 0.0 and hello.flags & HelloFlag.TEST_BUILD
        host.send(global_model(1, 1))
        update = host.answer()
        assert isinstance(update, Update) and update.eps_spent == FLT_MAX
        host.close()
    # the ledger remembers: a noisy image on the same storage reports it and releases nothing
    with board("native", build_firmware("native", Z1), shard, storage) as b:
        host = RawHost(b.url)
        hello = host.receive()
        assert hello.eps_spent == FLT_MAX and hello.releases_max == hello.releases_done == 1
        assert not hello.flags & HelloFlag.TEST_BUILD
        host.send(global_model(1, 2))
        assert isinstance(host.answer(), BudgetExhausted)
        host.close()


@pytest.mark.parametrize("mode", ["stuck", "dead"])
def test_broken_entropy_source_refuses_every_release(mode, shard, tmp_path, monkeypatch):
    monkeypatch.setenv("TINYFL_NATIVE_TEST_ENTROPY", mode)
    firmware = build_firmware("native", Z1, test_build=True, test_seed=1)
    with board("native", firmware, shard, tmp_path / "ledger.bin") as b:
        host = RawHost(b.url)
        hello = host.receive()
        assert hello.flags & HelloFlag.ENTROPY_FAILED and not hello.flags & HelloFlag.LEDGER_LOCKED
        boot_error = host.receive()
        assert isinstance(boot_error, Error) and boot_error.code == Status.ENTROPY
        host.send(global_model(1, 4))
        refusal = host.answer()
        assert isinstance(refusal, Error) and (refusal.code, refusal.round) == (Status.ENTROPY, 4)
        hello = host.hello()
        assert hello.releases_done == 0 and hello.refusals[Status.ENTROPY] == 1
        host.close()


def test_the_broken_entropy_switch_is_test_only(shard, tmp_path, monkeypatch):
    monkeypatch.setenv("TINYFL_NATIVE_TEST_ENTROPY", "stuck")
    with board("native", build_firmware("native", Z1), shard, tmp_path / "ledger.bin") as b:
        host = RawHost(b.url)
        assert not host.receive().flags & HelloFlag.ENTROPY_FAILED
        host.send(global_model(1, 1))
        assert isinstance(host.answer(), Update)
        host.close()


def test_a_resend_gets_the_same_update_at_no_cost(shard, tmp_path):
    with board("native", build_firmware("native", Z1), shard, tmp_path / "ledger.bin") as b:
        host = RawHost(b.url)
        host.send(global_model(3, 7, nonce=1234))
        first = host.answer()
        host.send(global_model(3, 7, nonce=1234))  # the host lost the update: resend
        again = host.answer()
        assert isinstance(first, Update) and again == first
        hello = host.hello()
        assert hello.releases_done == 1 and hello.eps_spent == first.eps_spent
        host.send(global_model(3, 7, nonce=999))  # same round, another nonce: a replay
        refusal = host.answer()
        assert isinstance(refusal, Error) and (refusal.code, refusal.round, refusal.detail) == (Status.ROUND, 7, 7)
        host.send(global_model(3, 7, nonce=1234))  # the cache still answers the real resend
        assert host.answer() == first
        host.close()
        b.restart()  # the cache is RAM only: after a reboot the round is a replay
        host = RawHost(b.url)
        host.send(global_model(3, 7, nonce=1234))
        refusal = host.answer()
        assert isinstance(refusal, Error) and refusal.code == Status.ROUND
        assert host.hello().releases_done == 1
        host.close()


def _corrupt(frames: bytes) -> bytes:
    """Every frame with one non-zero byte changed (the CRC then fails; COBS stays valid)."""
    out = []
    for frame in frames.split(b"\x00")[:-1]:
        frame = bytearray(frame)
        frame[len(frame) // 2] = frame[len(frame) // 2] % 255 + 1
        out.append(bytes(frame) + b"\x00")
    return b"".join(out)


def test_error_replies_to_dropped_frames_are_rate_limited(shard, tmp_path):
    with board("native", build_firmware("native", Z1), shard, tmp_path / "ledger.bin") as b:
        host = RawHost(b.url)
        assert isinstance(host.receive(), Hello)
        frames = encode_message(global_model(1, 1), 1, chunk=20)
        assert frames.count(b"\x00") >= 7  # 7 frames: 7 error replies before the limit
        host.send_raw(_corrupt(frames))
        replies = host.collect()
        assert len(replies) == 1 and isinstance(replies[0], Error)
        assert replies[0].code in (Status.CRC, Status.COBS, Status.TRUNCATED)
        host.send_raw(_corrupt(frames))  # still no complete message since: silence
        assert host.collect() == []
        host.send(HelloRequest())  # a complete message: the next drop is reported again
        host.send_raw(_corrupt(frames))
        replies = host.collect()
        assert [type(m) for m in replies] == [Hello, Error]
        host.send(global_model(1, 1))  # the link still works
        assert isinstance(host.answer(), Update)
        host.close()


def test_refusals_report_the_round_and_count_by_cause(shard, tmp_path):
    with board("native", build_firmware("native", Z1), shard, tmp_path / "ledger.bin") as b:
        host = RawHost(b.url)
        assert isinstance(host.receive(), Hello)
        # a global model cut short: decoding fails, but run and round lead the payload
        payload = global_model(6, 41).encode()
        host.send_raw(encode_frame(3, 50, 0, 1, payload[:30]))
        refusal = host.answer()
        assert isinstance(refusal, Error) and refusal.code == Status.TRUNCATED
        assert (refusal.round, refusal.detail) == (41, 6)
        host.send_raw(encode_frame(3, 51, 0, 1, payload[:5]))  # not even the round arrived
        refusal = host.answer()
        assert (refusal.code, refusal.round) == (Status.TRUNCATED, 0)
        shape = GlobalModel(**{**global_model(6, 42).__dict__, "n_features": 7,
                               "params": np.zeros(3 * 8, np.float32)})
        host.send(shape)
        refusal = host.answer()
        assert (refusal.code, refusal.round) == (Status.SHAPE, 42)
        host.send(SetDpConfig(clip=9.0, noise_multiplier=0.0, eps_limit=1e9, seed=bytes(32)))
        assert host.answer().code == Status.REFUSED
        host.send_raw(encode_frame(4, 52, 0, 1, b""))  # a message the device never takes
        assert host.answer().code == Status.TYPE
        host.send_raw(encode_frame(99, 53, 0, 1, b""))  # unknown: the frame layer drops it
        assert host.answer().code == Status.TYPE  # (a dropped frame, not a refused message)
        refusals = host.hello().refusals
        expected = np.zeros_like(refusals)
        expected[[Status.TRUNCATED, Status.SHAPE, Status.REFUSED, Status.TYPE]] = [2, 1, 1, 1]
        np.testing.assert_array_equal(refusals, expected)
        host.close()


def test_a_ledger_of_another_format_locks_the_device(shard, tmp_path):
    storage = tmp_path / "ledger.bin"
    old = struct.pack("<IHHIIII", 0x4C4C4654, 2, 1, 5, 1, 0, 1)  # a version 2 record (28 bytes)
    old += struct.pack("<I", zlib.crc32(old))
    same_size = encode_record(Ledger(), version=2)
    assert len(same_size) == LEDGER_SIZE
    for record, code in ((old, Status.TRUNCATED), (same_size, Status.STORAGE)):
        storage.write_bytes(record)
        with board("native", build_firmware("native", Z1), shard, storage) as b:
            host = RawHost(b.url)
            hello = host.receive()
            assert hello.flags & HelloFlag.LEDGER_LOCKED and hello.eps_spent == FLT_MAX
            assert hello.releases_max == hello.releases_done
            assert host.receive().code == code
            host.send(global_model(9, 1))
            assert isinstance(host.answer(), BudgetExhausted)
            host.close()
        assert storage.read_bytes() == record  # left as found


def test_release_decisions_match_the_device_model(shard, tmp_path):
    """A random stream of (run, round, nonce) with resends, replays and reboots: every answer of
    the native board is what tinyfl.device_model decides, and eps follows the ledger model."""
    from tinyfl.device_model import DeviceState, apply

    config = make_config(1.0, eps_limit=40.0)
    state = DeviceState(curve=config.rdp_curve())
    rng = np.random.default_rng(12)
    kinds = {"release": Update, "resend": Update, "ROUND": Error, "BUDGET": BudgetExhausted}
    seen = set()
    with board("native", build_firmware("native", config), shard, tmp_path / "ledger.bin") as b:
        host = RawHost(b.url)
        last_update = None
        for step in range(40):
            if step % 13 == 12:
                host.close()
                b.restart()
                state.reboot()
                host = RawHost(b.url)
            if last_update is not None and rng.random() < 0.25:  # a resend, or a replay with another nonce
                run, round_, nonce = last_update.run, last_update.round, int(last_update.nonce) + int(rng.integers(0, 2))
            else:
                run, round_, nonce = int(rng.integers(1, 4)), int(rng.integers(1, 6)), int(rng.integers(0, 2**63))
            decision = apply(state, run, round_, nonce)
            seen.add(decision)
            host.send(global_model(run, round_, nonce=nonce, config=config))
            answer = host.answer()
            assert isinstance(answer, kinds[decision]), (step, decision, answer)
            if decision == "resend":
                assert answer == last_update
            elif decision == "release":
                last_update = answer
                assert answer.eps_spent == state.ledger.eps(state.curve)
                assert answer.releases_done == state.ledger.releases_done
            elif decision == "ROUND":
                assert answer.code == Status.ROUND
        hello = host.hello()
        assert (hello.last_run, hello.last_round) == (state.ledger.last_run, state.ledger.last_round)
        assert hello.releases_max == state.ledger.releases_max(state.curve)
        host.close()
    assert {"release", "resend", "ROUND"} <= seen


@pytest.mark.parametrize("defines,seed,noise", [
    ({}, 1, 1.0),
    ({"TINYFL_TEST_NO_NOISE": None}, None, 0.0),
    ({"TINYFL_TEST_REUSE_SEED": None}, 1, 1.0),
    ({"TINYFL_TEST_NOISE_BEFORE_CLIP": None}, None, 1.0),
    ({"TINYFL_TEST_CLIP_SCALE_LOG2": 2}, None, 1.0),  # noise z C for the clip C it tells
    ({"TINYFL_TEST_CLIP_SCALE_LOG2": 2, "TINYFL_TEST_NO_NOISE": None}, None, 0.0),
])
def test_every_test_image_says_so_and_tells_its_noise(defines, seed, noise, shard, tmp_path):
    firmware = build_firmware("native", Z1, test_build=True, test_seed=seed, defines=defines)
    with board("native", firmware, shard, tmp_path / "ledger.bin") as b:
        host = RawHost(b.url)
        hello = host.receive()
        assert hello.flags & HelloFlag.TEST_BUILD and hello.noise_multiplier == noise
        host.close()


def test_the_device_reads_a_ledger_written_by_the_model(shard, tmp_path):
    """The record format is shared: a ledger the Python model writes (5 releases at z = 2, then
    2 at z = 1, last release run 4 round 9) is what the device reports and continues from."""
    z2 = make_config(2.0)
    ledger = ledger_after([(z2, 5), (Z1, 2)])
    ledger.last_run, ledger.last_round = 4, 9
    storage = tmp_path / "ledger.bin"
    storage.write_bytes(encode_record(ledger))
    with board("native", build_firmware("native", Z1), shard, storage) as b:
        host = RawHost(b.url)
        hello = host.receive()
        assert (hello.releases_done, hello.last_run, hello.last_round) == (7, 4, 9)
        assert hello.eps_spent == ledger.eps(Z1.rdp_curve())
        assert hello.eps_spent == pytest.approx(epsilon_composed([(2.0, 5), (1.0, 2)], DELTA), rel=1e-5)
        assert hello.releases_max == ledger.releases_max(Z1.rdp_curve())
        host.send(global_model(4, 9))
        assert host.answer().code == Status.ROUND
        host.send(global_model(4, 10))
        assert isinstance(host.answer(), Update)
        host.close()
    stored = decode_record(storage.read_bytes())
    ledger.charge(Z1.rdp_curve(), 4, 10)
    ledger.boot_count += 1
    assert stored.rdp == ledger.rdp and stored.boot_count == ledger.boot_count
