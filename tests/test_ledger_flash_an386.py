"""The device firmware on the AN386 under QEMU with its ledger as a log on emulated raw flash
(-DTINYFL_AN386_FLASH_LEDGER: RAM with NOR rules, its image in the storage file): releases and
boots persist across power cycles, the image reads back with tinyfl.privacy.ledger, and a
damaged image locks the device."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from test_boards_fleet import CONFIG, STATUS_TRUNCATED, TEST_SEED, Host, global_model, ledger_eps
from tinyfl.emulate import QemuBoard, build_firmware, write_shard
from tinyfl.privacy.ledger import Ledger, decode_flash_log
from tinyfl.wire import BudgetExhausted, Error, Hello, Update

def record_ledger(releases: int) -> Ledger:
    """The record ledger's arithmetic after `releases` releases of CONFIG."""
    curve, ledger = CONFIG.rdp_curve(), Ledger()
    for r in range(releases):
        ledger.charge(curve, 1, r + 1)
    return ledger


PAGE_SIZE, PAGES = 4096, 2  # boards/qemu-mps2-an386/an386_port.h
FLAG_LEDGER_LOCKED = 4  # HELLO_FLAGS


@pytest.fixture(scope="module")
def image(qemu) -> Path:
    return build_firmware("qemu", CONFIG, test_build=True, test_seed=TEST_SEED,
                          defines={"TINYFL_AN386_FLASH_LEDGER": None})


@pytest.fixture()
def board(image, tmp_path) -> QemuBoard:
    rng = np.random.default_rng(5)
    windows = rng.normal(size=(9, CONFIG.input_steps, CONFIG.input_channels)).astype(np.float32)
    shard = write_shard(tmp_path / "shard.bin", windows, np.arange(9) % CONFIG.n_classes)
    return QemuBoard(image, device_id=3, shard=shard, storage=tmp_path / "flash.bin")


def test_releases_and_boots_persist_in_the_flash_log(board):
    with board:
        host = Host(board.url)
        assert isinstance(host.receive(), Hello)
        host.send(global_model(1))
        update = host.receive()
        assert isinstance(update, Update) and update.releases_done == 1
        host.close()
        flash = board.storage.read_bytes()
        assert len(flash) == PAGE_SIZE * PAGES
        ledger = decode_flash_log(flash, PAGE_SIZE)
        assert (ledger.releases_done, ledger.boot_count, ledger.last_round) == (1, 1, 1)
        assert ledger.rdp == record_ledger(1).rdp
        assert flash[PAGE_SIZE:] == b"\xff" * PAGE_SIZE  # appended to page 0, nothing erased yet

        board.restart()  # power cycle
        host = Host(board.url)
        hello = host.receive()
        assert isinstance(hello, Hello) and hello.releases_done == 1 and hello.eps_spent == ledger_eps(1)
        host.send(global_model(1))
        assert isinstance(host.receive(), Error)  # a replay, also after the reboot
        host.send(global_model(2))
        update = host.receive()
        assert isinstance(update, Update) and update.releases_done == 2 and update.eps_spent == ledger_eps(2)
        host.send(global_model(3))  # a third release would pass eps_limit
        assert isinstance(host.receive(), BudgetExhausted)
        host.close()
    ledger = decode_flash_log(board.storage.read_bytes(), PAGE_SIZE)
    assert (ledger.releases_done, ledger.boot_count, ledger.last_round) == (2, 2, 2)
    assert ledger.rdp == record_ledger(2).rdp


def test_a_damaged_flash_image_locks_the_device(board):
    board.storage.write_bytes(b"\x01\x02\x03")  # not a flash image
    with board:
        host = Host(board.url)
        hello = host.receive()
        assert isinstance(hello, Hello) and hello.flags & FLAG_LEDGER_LOCKED
        error = host.receive()
        assert isinstance(error, Error) and error.code != 0
        host.send(global_model(1))
        assert isinstance(host.receive(), BudgetExhausted)
        host.close()
    assert board.storage.read_bytes() == b"\x01\x02\x03"  # left as found, never reset
