"""The statistics feature extractor behind the backbone seam: C == Python, layout, model."""
from __future__ import annotations

import ctypes

import numpy as np
import pytest

import dp_clib
from tinyfl.device_model import MODEL_HASH, stats_features
from tinyfl.paths import REPO_ROOT, build_dir
from tinyfl.toolchain import cached_output, compile_host, firmware_sources


@pytest.fixture(scope="module")
def lib() -> dp_clib.CoreLib:
    return dp_clib.CoreLib(dp_clib.build_core_library())


@pytest.mark.parametrize("n_channels,n_steps", [(6, 100), (3, 50), (1, 1), (9, 7)])
def test_c_matches_python_exactly(lib, n_channels, n_steps):
    rng = np.random.default_rng([n_channels, n_steps])
    windows = (rng.normal(0, 3, (20, n_steps, n_channels)) + rng.normal(0, 5, n_channels)).astype(np.float32)
    rc, c_features, model_hash = lib.stats(windows.reshape(20, -1), n_channels, n_steps)
    assert rc == dp_clib.STATUS_OK
    assert model_hash == MODEL_HASH
    py_features = stats_features(windows)
    assert np.array_equal(c_features, py_features)
    # and both are the textbook statistics
    x = windows.astype(np.float64)
    reference = np.stack([x.mean(axis=1), x.std(axis=1), x.min(axis=1), x.max(axis=1)], axis=2)
    np.testing.assert_allclose(py_features, reference.reshape(20, -1), rtol=1e-4, atol=1e-4)


def test_window_is_time_major_interleaved(lib):
    n_steps, n_channels = 10, 3
    # channel c holds c * 10 + step: a FIFO of (ax, ay, az) triples
    window = np.array([[c * 10 + s for c in range(n_channels)] for s in range(n_steps)],
                      dtype=np.float32)
    rc, features, _ = lib.stats(window.reshape(1, -1), n_channels, n_steps)
    assert rc == dp_clib.STATUS_OK
    for c in range(n_channels):
        mean, std, lo, hi = features[0, 4 * c: 4 * c + 4]
        assert (mean, lo, hi) == (c * 10 + 4.5, c * 10, c * 10 + 9)
        assert std == pytest.approx(np.std(np.arange(10)), rel=1e-6)


@pytest.fixture(scope="module")
def model_lib() -> ctypes.CDLL:
    from tinyfl.firmware_config import FirmwareConfig

    config_dir = build_dir() / "dp_model_stats"
    header = FirmwareConfig(input_channels=3, input_steps=40, n_features=12).write_header(config_dir)
    sources = firmware_sources(["tinyfl_model_stats.c", "tinyfl_features_stats.c"])
    sources.append(REPO_ROOT / "tests" / "c" / "dp_model_stats_api.c")
    includes = [config_dir, *dp_clib.status_include_dirs()]
    out = cached_output("dp_model_stats", [*sources, header, *sorted(sources[0].parent.glob("*.h"))], ".so")
    if not out.exists():
        compile_host(sources, out, include_dirs=includes, shared=True)
    lib = ctypes.CDLL(str(out))
    lib.tinyfl_test_model_extract.restype = ctypes.c_int
    return lib


def test_model_backbone_uses_the_configured_window(model_lib):
    rng = np.random.default_rng(1)
    window = rng.normal(0, 1, (40, 3)).astype(np.float32)
    features = np.zeros(12, dtype=np.float32)
    input_len, feature_len, model_hash = ctypes.c_uint16(), ctypes.c_uint16(), ctypes.c_uint32()
    rc = model_lib.tinyfl_test_model_extract(
        window.ctypes.data_as(ctypes.c_void_p), features.ctypes.data_as(ctypes.c_void_p),
        ctypes.byref(input_len), ctypes.byref(feature_len), ctypes.byref(model_hash))
    assert rc == dp_clib.STATUS_OK
    assert (input_len.value, feature_len.value, model_hash.value) == (120, 12, MODEL_HASH)
    assert np.array_equal(features, stats_features(window)[0])
