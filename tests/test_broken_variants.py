"""The deliberately broken firmware variants that audits must catch: each builds only as a test
build and really is broken in the way it says (checked here at the device level)."""
from __future__ import annotations

import time

import numpy as np
import pytest

from tinyfl.demo import DemoOptions, prepare
from tinyfl.emulate import build_firmware, launch_fleet, write_shard
from tinyfl.fleet import DeviceSession, initial_head
from tinyfl.links import open_link
from tinyfl.toolchain import ToolchainError
from tinyfl.wire import GlobalModel, Update

SEED = 99
GRID = 256  # 2^grid_bits of the default config


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    options = DemoOptions(board="native", backbone="stats", samples_per_round=10)
    data, _, config = prepare(options, lambda _m: None)
    shard = write_shard(tmp_path_factory.mktemp("s") / "s.bin", data.x_train[:10], data.y_train[:10])
    return config, shard


def _two_rounds(firmware, shard, config, tmp_path, lr=0.05):
    head = initial_head(config.n_classes, config.n_features, 0).params
    values = []
    with launch_fleet("native", 1, firmware, [shard], tmp_path) as fleet:
        session = DeviceSession(open_link(fleet.urls[0]), "dev")
        for r in (1, 2):  # the same head and the same 10 samples twice
            session.send(GlobalModel(run=1, round=r, nonce=r, lr=lr, local_epochs=5, batch_size=5,
                                     n_classes=config.n_classes, n_features=config.n_features,
                                     params=head))
            deadline = time.monotonic() + 10
            got = None
            while got is None and time.monotonic() < deadline:
                got = next((i.message for i in session.receive(0.2) if isinstance(i.message, Update)), None)
            assert got is not None
            values.append(got.values.astype(np.int64))
        session.close()
    return values


def test_correct_test_build_draws_fresh_noise_each_round(setup, tmp_path):
    config, shard = setup
    fw = build_firmware("native", config, test_build=True, test_seed=SEED)
    a, b = _two_rounds(fw, shard, config, tmp_path)
    assert not np.array_equal(a, b)
    assert np.linalg.norm(a) > 3 * GRID  # noise of sigma 256 per value dominates the norm


def test_reused_seed_repeats_the_noise(setup, tmp_path):
    config, shard = setup
    fw = build_firmware("native", config, test_build=True, test_seed=SEED,
                        defines={"TINYFL_TEST_REUSE_SEED": None})
    a, b = _two_rounds(fw, shard, config, tmp_path)
    np.testing.assert_array_equal(a, b)


def test_no_noise_sends_the_clipped_update(setup, tmp_path):
    config, shard = setup
    fw = build_firmware("native", config, test_build=True, defines={"TINYFL_TEST_NO_NOISE": None})
    a, b = _two_rounds(fw, shard, config, tmp_path)
    np.testing.assert_array_equal(a, b)
    assert np.sum(a * a) <= GRID * GRID


def test_noise_before_clip_is_clipped_away(setup, tmp_path):
    config, shard = setup
    fw = build_firmware("native", config, test_build=True, defines={"TINYFL_TEST_NOISE_BEFORE_CLIP": None})
    a, b = _two_rounds(fw, shard, config, tmp_path)
    assert not np.array_equal(a, b)
    assert np.sum(a * a) <= GRID * GRID and np.sum(b * b) <= GRID * GRID


def test_larger_clip_than_told(setup, tmp_path):
    config, shard = setup
    fw = build_firmware("native", config, test_build=True,
                        defines={"TINYFL_TEST_CLIP_SCALE_LOG2": 2, "TINYFL_TEST_NO_NOISE": None})
    a, _ = _two_rounds(fw, shard, config, tmp_path, lr=1.0)
    assert np.sum(a * a) > GRID * GRID  # beyond the clip bound the host was told


@pytest.mark.parametrize("define", ["TINYFL_TEST_REUSE_SEED", "TINYFL_TEST_NOISE_BEFORE_CLIP",
                                    "TINYFL_TEST_CLIP_SCALE_LOG2"])
def test_broken_variants_never_build_as_release(setup, define):
    config, _ = setup
    with pytest.raises(ToolchainError, match="only allowed in test builds"):
        build_firmware("native", config, defines={define: 1})
