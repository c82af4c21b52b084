"""The ledger of a secure-aggregation image on a native board: the plain record plus the
central-RDP extension, written in one storage write. A record without the extension (a plain
image's) is adopted with central = local; a damaged extension, or a record of another size,
locks the device; a plain image locks on a secure image's record (never refills). And the
log hook that exposes the noised input cannot be built into a release image."""
from __future__ import annotations

import struct
import zlib

import pytest

from secagg_fleet_support import CONFIG, POLICY, TEST_SEED, expected_eps, firmware, shards
from test_secagg_hostile import SMALL, masked_round
from tinyfl.emulate import NativeBoard, build_firmware
from tinyfl.fleet.device import DeviceSession
from tinyfl.fleet.secagg_round import hello_and_policy
from tinyfl.links import open_link
from tinyfl.privacy.ledger import LEDGER_SIZE, RDP_ORDERS, Ledger, encode_record
from tinyfl.toolchain import ToolchainError

EXT_SIZE = 8 + 4 * len(RDP_ORDERS) + 4
LOCKED = 0x04


def boot(image, tmp_path, storage):
    board = NativeBoard(image, device_id=1, shard=shards(tmp_path, 1)[0], storage=storage).start()
    session = DeviceSession(open_link(board.url), "dev1")
    return board, session


@pytest.fixture(scope="module")
def image():
    return firmware("native", SMALL)


def test_record_is_plain_record_plus_checked_extension(image, tmp_path):
    storage = tmp_path / "ledger.bin"
    board, session = boot(image, tmp_path, storage)
    try:
        masked_round(session, 1)
    finally:
        session.close()
        board.stop()
    data = storage.read_bytes()
    assert len(data) == LEDGER_SIZE + EXT_SIZE
    ext = data[LEDGER_SIZE:]
    magic, version = struct.unpack_from("<IH", ext)
    assert (magic, version) == (0x41534654, 1)
    assert struct.unpack_from("<I", ext, EXT_SIZE - 4)[0] == zlib.crc32(ext[:-4])
    central = struct.unpack_from(f"<{len(RDP_ORDERS)}I", ext, 8)
    plain = Ledger()
    from tinyfl.secagg.image import curves

    plain.charge(curves(CONFIG, SMALL)[0], 1, 1)
    assert list(central) == list(plain.rdp)  # the device's central sum, bit for bit
    # a reboot reads both sums back
    board, session = boot(image, tmp_path, storage)
    try:
        hello, policy = hello_and_policy(session)
        assert (policy.central_eps_spent, policy.local_eps_spent) == pytest.approx(expected_eps(1, SMALL), rel=1e-6)
        assert not hello.flags & LOCKED
    finally:
        session.close()
        board.stop()


@pytest.mark.parametrize("damage", ["crc", "magic", "short", "long"])
def test_damaged_extension_locks_the_device(image, tmp_path, damage):
    storage = tmp_path / "ledger.bin"
    board, session = boot(image, tmp_path, storage)
    try:
        masked_round(session, 1)
    finally:
        session.close()
        board.stop()
    data = bytearray(storage.read_bytes())
    if damage == "crc":
        data[LEDGER_SIZE + 20] ^= 1
    elif damage == "magic":
        data[LEDGER_SIZE] ^= 0xFF
    elif damage == "short":
        data = data[:-1]
    else:
        data += b"\x00"
    storage.write_bytes(bytes(data))
    board, session = boot(image, tmp_path, storage)
    try:
        hello, policy = hello_and_policy(session)
        assert hello.flags & LOCKED and hello.releases_max == hello.releases_done
    finally:
        session.close()
        board.stop()


def test_plain_record_is_adopted_with_central_equal_to_local(image, tmp_path):
    """A board that released under a plain image, reflashed with secure aggregation: those
    releases were seen whole by the server, so they count in full in the central sum."""
    storage = tmp_path / "ledger.bin"
    past = Ledger()
    past.charge(CONFIG.rdp_curve(), 1, 5)  # a plain release of the same DP configuration
    storage.write_bytes(encode_record(past))
    board, session = boot(image, tmp_path, storage)
    try:
        hello, policy = hello_and_policy(session)
        assert not hello.flags & LOCKED and hello.releases_done == 1
        assert policy.central_eps_spent == pytest.approx(past.eps(CONFIG.rdp_curve()), rel=1e-6)
        assert policy.local_eps_spent == pytest.approx(policy.central_eps_spent, rel=1e-6)
        assert hello.last_round == 5
    finally:
        session.close()
        board.stop()
    assert len(storage.read_bytes()) == LEDGER_SIZE + EXT_SIZE  # rewritten with the extension


def test_plain_image_locks_on_a_secure_record(image, tmp_path):
    storage = tmp_path / "ledger.bin"
    board, session = boot(image, tmp_path, storage)
    try:
        masked_round(session, 1)
    finally:
        session.close()
        board.stop()
    plain = build_firmware("native", CONFIG, test_build=True, test_seed=TEST_SEED)
    board, session = boot(plain, tmp_path, storage)
    try:
        assert session.hello().flags & LOCKED
    finally:
        session.close()
        board.stop()


def test_input_log_hook_is_refused_in_release_builds():
    from tinyfl.secagg.image import build_secagg_firmware

    with pytest.raises(ToolchainError, match="test builds only"):
        build_secagg_firmware("native", CONFIG, POLICY, defines={"TINYFL_TEST_SECAGG_LOG_INPUT": None})
