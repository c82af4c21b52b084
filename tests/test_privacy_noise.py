"""Noise parameters as exact rationals, and the sampler range they must fit."""
from __future__ import annotations

import math

import pytest

import dp_clib
from tinyfl.device_model import dgauss_variance
from tinyfl.privacy import max_grid_bits, noise_variance, rational_noise_multiplier, sigma_grid_steps


@pytest.mark.parametrize("z,expected", [(1.0, (1, 1)), (0.3, (3, 10)), (0.5, (1, 2)),
                                        (2.0, (2, 1)), (1 / math.pi, (113, 355)),
                                        (0.0, (0, 1)), (0.123456, (10, 81))])
def test_rational_noise_multiplier(z, expected):
    assert rational_noise_multiplier(z) == expected
    zn, zd = rational_noise_multiplier(z)
    assert zd <= 1000
    assert abs(zn / zd - z) <= 1 / (zd * 1000)


@pytest.mark.parametrize("z", [-0.1, float("nan"), float("inf")])
def test_rational_noise_multiplier_rejects(z):
    with pytest.raises(ValueError):
        rational_noise_multiplier(z)


def test_noise_variance_is_sigma_squared_in_grid_steps():
    num, den = noise_variance(0.3, 8)
    assert math.gcd(num, den) == 1
    assert num / den == pytest.approx((0.3 * 256) ** 2)
    assert sigma_grid_steps(0.3, 8) == pytest.approx(76.8)
    assert noise_variance(1.0, 8) == (65536, 1)


def test_out_of_range_variance_is_refused():
    with pytest.raises(ValueError, match="range"):
        noise_variance(0.999, 20)  # 999^2 * 4^20 / 10^6 needs more than 48 bits
    with pytest.raises(ValueError):
        noise_variance(0.0, 8)


def test_max_grid_bits_agrees_with_the_device_check():
    lib = dp_clib.CoreLib(dp_clib.build_core_library())
    for z in (1.0, 0.37, 0.999, 1 / math.pi, 5.0):
        k = max_grid_bits(z)
        assert 1 <= k <= 20
        num, den = noise_variance(z, k)
        assert lib.dgauss_check(num, den) == dp_clib.STATUS_OK
        if k < 20:
            zn, zd = rational_noise_multiplier(z)
            assert lib.dgauss_check(*dgauss_variance(zn, zd, k + 1)) != dp_clib.STATUS_OK
