"""The firmware build driver: caching, test/release switches, model sources, sizes."""
from __future__ import annotations

import socket
import time

import numpy as np
import pytest

from tinyfl.emulate import NativeBoard, build_firmware, firmware_size, write_shard
from tinyfl.emulate.build import board_spec
from tinyfl.firmware_config import FirmwareConfig
from tinyfl.toolchain import ToolchainError
from tinyfl.wire import FrameDecoder, Hello

CONFIG = FirmwareConfig(n_classes=2, n_features=4, input_channels=1, input_steps=8, samples_per_round=4)


def first_hello(board: NativeBoard) -> Hello:
    decoder = FrameDecoder()
    with socket.create_connection(("127.0.0.1", board.port), timeout=10) as s:
        while True:
            for received in decoder.feed(s.recv(1024)):
                return received.message


def test_second_build_is_cached():
    first = build_firmware("native", CONFIG, test_build=True, test_seed=1)
    mtime = first.stat().st_mtime_ns
    start = time.monotonic()
    again = build_firmware("native", CONFIG, test_build=True, test_seed=1)
    assert again == first and again.stat().st_mtime_ns == mtime
    assert time.monotonic() - start < 0.5
    assert (first.parent / "tinyfl_config_gen.h").read_text() == CONFIG.render_header()
    assert first.parent.name.startswith("native-")


def test_every_input_changes_the_image_folder():
    base = build_firmware("native", CONFIG, test_build=True, test_seed=1).parent
    other_seed = build_firmware("native", CONFIG, test_build=True, test_seed=2).parent
    other_config = build_firmware("native", FirmwareConfig(n_classes=3, n_features=4, input_channels=1,
                                                           input_steps=8, samples_per_round=4),
                                  test_build=True, test_seed=1).parent
    assert len({base, other_seed, other_config}) == 3


def test_a_fixed_seed_needs_a_test_build():
    with pytest.raises(ValueError):
        build_firmware("native", CONFIG, test_seed=3)
    # Smuggled in as a plain define, the config header itself refuses to compile.
    with pytest.raises(ToolchainError, match="only allowed in test builds"):
        build_firmware("native", CONFIG, defines={"TINYFL_TEST_SEED": 3})


def test_unknown_board():
    with pytest.raises(ValueError, match="unknown board"):
        build_firmware("nano33ble", CONFIG)
    assert board_spec("qemu").name == "qemu-mps2-an386"


def test_release_build_says_it_is_not_a_test_build(tmp_path):
    shard = write_shard(tmp_path / "s.bin", np.ones((2, CONFIG.input_len)), [0, 1])
    image = build_firmware("native", CONFIG)
    with NativeBoard(image, device_id=1, shard=shard, storage=tmp_path / "l.bin") as board:
        hello = first_hello(board)
    assert isinstance(hello, Hello) and hello.flags == 0


def test_model_sources_replace_the_default_model(tmp_path):
    model = tmp_path / "model" / "tinyfl_model_probe.c"
    model.parent.mkdir()
    (model.parent / "probe_model.h").write_text("#define PROBE_MODEL_HASH 0xC0FFEEu\n")
    model.write_text(
        '#include "probe_model.h"\n#include "tinyfl_config.h"\n#include "tinyfl_model.h"\n'
        "static tinyfl_status probe_extract(const tinyfl_backbone *bb, const float *w, float *f)\n"
        "{ (void)bb; for (int i = 0; i < TINYFL_HEAD_FEATURES; i++) f[i] = w[i]; return TINYFL_OK; }\n"
        "void tinyfl_model_backbone(tinyfl_backbone *bb)\n"
        "{ bb->input_len = TINYFL_INPUT_LEN; bb->feature_len = TINYFL_HEAD_FEATURES;\n"
        "  bb->model_hash = PROBE_MODEL_HASH; bb->extract = probe_extract; bb->state = 0; }\n"
    )
    shard = write_shard(tmp_path / "s.bin", np.ones((2, CONFIG.input_len)), [0, 1])
    image = build_firmware("native", CONFIG, test_build=True, model_sources=[model])
    with NativeBoard(image, device_id=1, shard=shard, storage=tmp_path / "l.bin") as board:
        hello = first_hello(board)
    assert hello.model_hash == 0xC0FFEE


def test_qemu_image_size(arm_toolchain):
    image = build_firmware("qemu", FirmwareConfig())
    size = firmware_size(image)
    assert size["flash"] == size["text"] + size["data"]
    assert size["ram"] == size["data"] + size["bss"]
    assert size["stack"] == 16 * 1024
    # The default image (4 x 24 head, 6 x 100 windows) fits a small Cortex-M4F comfortably.
    assert size["flash"] < 64 * 1024
    assert size["ram"] < 96 * 1024


def test_native_image_size():
    size = firmware_size(build_firmware("native", CONFIG))
    assert size["stack"] == 0 and size["text"] > 0
