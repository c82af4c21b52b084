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


def _release(session, config, run, r, lr=0.05):
    head = initial_head(config.n_classes, config.n_features, 0).params
    session.send(GlobalModel(run=run, round=r, nonce=r, lr=lr, local_epochs=5, batch_size=5,
                             n_classes=config.n_classes, n_features=config.n_features, params=head))
    deadline = time.monotonic() + 10
    got = None
    while got is None and time.monotonic() < deadline:
        got = next((i.message for i in session.receive(0.2) if isinstance(i.message, Update)), None)
    assert got is not None
    return got.values.astype(np.int64)


def _two_rounds(firmware, shard, config, tmp_path, lr=0.05):
    with launch_fleet("native", 1, firmware, [shard], tmp_path) as fleet:
        session = DeviceSession(open_link(fleet.urls[0]), "dev")
        # the same head and the same 10 samples twice
        values = [_release(session, config, 1, r, lr) for r in (1, 2)]
        session.close()
    return values


def _release_reboot_release(firmware, shard, config, tmp_path):
    """The first release of a boot, a reboot (same ledger, the shard replayed from its start),
    and the first release of the next boot: the same data and head both times."""
    with launch_fleet("native", 1, firmware, [shard], tmp_path) as fleet:
        session = DeviceSession(open_link(fleet.urls[0]), "dev")
        first = _release(session, config, 1, 1)
        session.close()
        fleet[0].restart()
        session = DeviceSession(open_link(fleet[0].url), "dev")
        second = _release(session, config, 2, 1)  # a new run: the ledger refuses old rounds
        session.close()
    return first, second


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


BIAS_0 = 4 * 24  # the update's coordinate of class 0's bias (4 classes x 24 features, then biases)


def test_unnoised_coordinate_is_sent_clean(setup, tmp_path):
    config, shard = setup
    fw = build_firmware("native", config, test_build=True, defines={"TINYFL_TEST_UNNOISED_COORD": BIAS_0})
    clean = build_firmware("native", config, test_build=True, defines={"TINYFL_TEST_NO_NOISE": None})
    a, b = _two_rounds(fw, shard, config, tmp_path / "broken")
    expected, _ = _two_rounds(clean, shard, config, tmp_path / "clean")
    assert a[BIAS_0] == b[BIAS_0] == expected[BIAS_0] != 0  # the noise-free integer, twice
    others = np.delete(np.arange(len(a)), BIAS_0)
    assert np.sum(a[others] != b[others]) >= 95  # the rest is noised (a tie has probability 1e-3)


def test_correct_build_draws_new_noise_after_a_reboot(setup, tmp_path):
    config, shard = setup
    first, second = _release_reboot_release(build_firmware("native", config), shard, config, tmp_path)
    assert not np.array_equal(first, second)


def test_constant_key_repeats_the_release_after_a_reboot(setup, tmp_path):
    config, shard = setup
    fw = build_firmware("native", config, test_build=True, defines={"TINYFL_TEST_CONSTANT_KEY": None})
    first, second = _release_reboot_release(fw, shard, config, tmp_path)
    np.testing.assert_array_equal(first, second)  # anyone with the image can strip the noise
    assert np.linalg.norm(first) > 3 * GRID  # noised, as a release build would be
    a, b = _two_rounds(fw, shard, config, tmp_path / "rounds")
    assert not np.array_equal(a, b)  # within one boot the noise looks fresh


def test_constant_key_cannot_hide_behind_a_test_seed(setup):
    config, _ = setup
    with pytest.raises(ToolchainError, match="keyed like a release build"):
        build_firmware("native", config, test_build=True, test_seed=SEED,
                       defines={"TINYFL_TEST_CONSTANT_KEY": None})


def test_unnoised_coordinate_must_exist(setup):
    config, _ = setup
    with pytest.raises(ToolchainError, match="must be a coordinate"):
        build_firmware("native", config, test_build=True, defines={"TINYFL_TEST_UNNOISED_COORD": 100})


@pytest.mark.parametrize("define", ["TINYFL_TEST_REUSE_SEED", "TINYFL_TEST_NOISE_BEFORE_CLIP",
                                    "TINYFL_TEST_CLIP_SCALE_LOG2", "TINYFL_TEST_UNNOISED_COORD",
                                    "TINYFL_TEST_CONSTANT_KEY"])
def test_broken_variants_never_build_as_release(setup, define):
    config, _ = setup
    with pytest.raises(ToolchainError, match="only allowed in test builds"):
        build_firmware("native", config, defines={define: 1})
