"""Update protection: C == Python integers with the same seed, norm after rounding <= 2^k,
clipping really bounds, exact rounding without noise, refusals."""
from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest

import dp_clib
from tinyfl.device_model import (
    ChaCha20Drbg,
    DeviceModelError,
    clip_and_round,
    clip_target,
    dgauss_variance,
    grid_step,
    protect_update,
)
from tinyfl.device_model import protect as protect_model


@pytest.fixture(scope="module")
def lib() -> dp_clib.CoreLib:
    return dp_clib.CoreLib(dp_clib.build_core_library())


def random_update(rng: np.random.Generator, n: int) -> np.ndarray:
    scale = float(rng.choice([1e-4, 0.01, 0.3, 5.0, 300.0]))
    u = rng.normal(0, scale, n)
    if rng.random() < 0.3:
        u[rng.integers(0, n)] *= 50  # one dominant coordinate
    return u.astype(np.float32)


CASES = [  # n, grid_bits, clip, (zn, zd) or None
    (100, 8, 1.0, (1, 1)),
    (1040, 12, 0.5, (37, 100)),
    (25, 4, 2.0, (1, 2)),
    (260, 10, 0.1, (113, 355)),
    (7, 16, 3.0, (5, 1)),
    (1040, 8, 1.0, None),
]


@pytest.mark.parametrize("n,k,clip,z", CASES)
def test_c_and_python_integers_identical(lib, n, k, clip, z):
    rng = np.random.default_rng([n, k])
    var = dgauss_variance(*z, k) if z else None
    for trial in range(8):
        u = random_update(rng, n)
        seed = rng.integers(0, 256, 44, dtype=np.uint8).tobytes()
        rc, c_clipped, c_out = lib.protect(lib.drbg(seed), u, clip, k, var)
        assert rc == dp_clib.STATUS_OK
        py_clipped, py_out = protect_update(u, clip, k, var, ChaCha20Drbg(seed) if z else None)
        assert np.array_equal(c_clipped, py_clipped)
        assert np.array_equal(c_out.astype(np.int64), py_out)


@pytest.mark.parametrize("n,k,clip", [(100, 8, 1.0), (1040, 12, 0.5), (16, 4, 1.0), (1040, 6, 7.5)])
def test_norm_after_rounding_within_grid(lib, n, k, clip):
    rng = np.random.default_rng([n, k, 1])
    target = clip_target(clip, k, n)
    g = grid_step(clip, k)
    for _ in range(40):
        u = random_update(rng, n)
        rc, clipped, q = lib.clip_round(u, clip, k)
        assert rc == dp_clib.STATUS_OK
        assert int((q.astype(np.int64) ** 2).sum()) <= 4**k
        norm_in = float(np.linalg.norm(u.astype(np.float64)))
        norm_out = float(np.linalg.norm(clipped.astype(np.float64)))
        # clipping really bounds, and leaves short updates alone
        assert norm_out <= float(target) * (1 + 1e-5)
        if norm_in <= float(target) * (1 - 1e-5):
            assert np.array_equal(clipped, u)
        else:
            assert norm_out == pytest.approx(float(target), rel=1e-5)
        # the float value of the integers is the clipped update, up to half a step per coord
        assert np.max(np.abs(q * g - clipped)) <= g / 2 * (1 + 1e-6)


def test_rounding_worst_case_reaches_but_never_exceeds_the_bound(lib):
    """Every coordinate at a half step, norm exactly at the clip target: rounding away from
    zero adds the full sqrt(n)/2 margin and lands exactly on 2^k."""
    n, k, clip = 16, 4, 1.0
    g = float(grid_step(clip, k))
    u = np.full(n, 3.5 * g, dtype=np.float32) * np.where(np.arange(n) % 2, -1, 1).astype(np.float32)
    assert float(np.linalg.norm(u)) == pytest.approx(float(clip_target(clip, k, n)))
    rc, _, q = lib.clip_round(u, clip, k)
    assert rc == dp_clib.STATUS_OK
    assert np.array_equal(np.abs(q), np.full(n, 4))
    assert int((q.astype(np.int64) ** 2).sum()) == 4**k


def test_integer_norm_repair_without_margin():
    """The repair loop alone keeps the integer norm within 2^k (here: no margin at all)."""
    rng = np.random.default_rng(3)
    for _ in range(50):
        n, k, clip = 64, 6, 1.0
        u = rng.normal(0, 1, n).astype(np.float32)
        _, q = protect_model._clip_round(u, clip, k, np.float32(clip))
        assert int(np.dot(q, q)) <= 4**k


def test_no_noise_is_exact_rounding(lib):
    """clip = 1 makes g a power of two, so u / g is exact: compare with rational arithmetic."""
    rng = np.random.default_rng(4)
    n, k, clip = 200, 10, 1.0
    for _ in range(20):
        u = (rng.normal(0, 0.02, n) * rng.choice([1, 0.001])).astype(np.float32)
        u[:5] = np.array([0.5, -0.5, 1.5, -2.5, 0.49999997], dtype=np.float32) / (1 << k)
        if np.linalg.norm(u) >= clip_target(clip, k, n):
            continue
        expected = []
        for v in u:
            x = Fraction(float(v)) * (1 << k)
            mag = math.floor(abs(x) + Fraction(1, 2))
            expected.append(mag if x >= 0 else -mag)
        for rc, out in (lib.clip_round(u, clip, k)[::2], lib.protect(None, u, clip, k, None)[::2]):
            assert rc == dp_clib.STATUS_OK
            assert out.tolist() == expected
        assert clip_and_round(u, clip, k)[1].tolist() == expected


def test_noise_has_the_configured_variance(lib):
    n, k, clip = 1040, 8, 1.0
    var = dgauss_variance(1, 2, k)  # z = 1/2: sigma = 128 grid steps
    u = np.zeros(n, dtype=np.float32)
    noise = np.concatenate([
        lib.protect(lib.drbg(bytes([i]) * 44), u, clip, k, var)[2] for i in range(20)
    ]).astype(np.float64)
    sigma2 = var[0] / var[1]
    assert abs(noise.mean()) < 5 * math.sqrt(sigma2 / noise.size)
    assert abs(noise.var() - sigma2) < 5 * sigma2 * math.sqrt(3 / noise.size)


def test_variance_fraction_is_reduced_first(lib):
    n, k, clip = 50, 8, 1.0
    u = np.random.default_rng(5).normal(0, 0.1, n).astype(np.float32)
    var = dgauss_variance(3, 10, k)
    seed = bytes(range(44))
    reduced = lib.protect(lib.drbg(seed), u, clip, k, var)[2]
    scaled = lib.protect(lib.drbg(seed), u, clip, k, (var[0] * 12, var[1] * 12))[2]
    assert np.array_equal(reduced, scaled)
    assert np.array_equal(protect_update(u, clip, k, (var[0] * 12, var[1] * 12),
                                         ChaCha20Drbg(seed))[1], reduced)


@pytest.mark.parametrize(
    "n,k,clip,var,status",
    [
        (0, 8, 1.0, None, "ARG"),
        (10, 0, 1.0, None, "ARG"),
        (10, 21, 1.0, None, "ARG"),
        (10, 8, 0.0, None, "ARG"),
        (10, 8, -1.0, None, "ARG"),
        (10, 8, float("nan"), None, "ARG"),
        (10, 8, float("inf"), None, "ARG"),
        (1040, 4, 1.0, None, "ARG"),  # margin sqrt(1040)/2 = 16.1 steps > 2^4
        (10, 8, 1.0, (0, 1), "ARG"),
        (10, 8, 1.0, (1, 0), "ARG"),
        (10, 8, 1.0, (1, 65), "ARG"),  # sigma^2 < 1/64
        (10, 20, 1.0, (2**49, 1), "ARG"),  # beyond the sampler's range
    ],
)
def test_refusals_same_in_c_and_python(lib, n, k, clip, var, status):
    u = np.ones(max(n, 1), dtype=np.float32)[:n]
    rc, clipped, _ = lib.protect(lib.drbg(bytes(44)), u, clip, k, var)
    assert rc == dp_clib.status_code(status)
    assert np.array_equal(clipped, u)  # refused before touching the update
    with pytest.raises(DeviceModelError) as err:
        protect_update(u, clip, k, var, ChaCha20Drbg(bytes(44)))
    assert err.value.status == status


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf, 3e38])
def test_non_finite_update_is_a_value_error(lib, bad):
    u = np.ones(10, dtype=np.float32)
    u[3] = bad
    if bad == 3e38:
        u[4] = bad  # squares overflow float32
    rc, _, _ = lib.protect(lib.drbg(bytes(44)), u, 1.0, 8, (1, 1))
    assert rc == dp_clib.status_code("VALUE")
    with pytest.raises(DeviceModelError) as err:
        protect_update(u, 1.0, 8, (1, 1), ChaCha20Drbg(bytes(44)))
    assert err.value.status == "VALUE"
