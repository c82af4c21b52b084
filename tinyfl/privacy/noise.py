"""The noise a device adds, as exact rationals: what the firmware is built with.

A device releases integers on a grid of g = C / 2^k per step, with integer L2 sensitivity
2^k (the clip bound after rounding), plus discrete Gaussian noise of standard deviation
sigma = z * 2^k grid steps. z is carried as a fraction zn/zd so the device never needs a
float square root or division to know its variance: sigma^2 = (zn * 2^k)^2 / zd^2.
"""
from __future__ import annotations

from fractions import Fraction

from ..device_model.dgauss import dgauss_check, dgauss_variance

__all__ = [
    "DEFAULT_MAX_DEN",
    "rational_noise_multiplier",
    "effective_noise_multiplier",
    "noise_variance",
    "sigma_grid_steps",
    "max_grid_bits",
]

DEFAULT_MAX_DEN = 1000


def rational_noise_multiplier(z: float, max_den: int = DEFAULT_MAX_DEN) -> tuple[int, int]:
    """(zn, zd) with zn/zd the closest fraction to z with zd <= max_den. z must be >= 0."""
    if not z >= 0 or z != z or z == float("inf"):
        raise ValueError(f"noise multiplier must be finite and >= 0, got {z!r}")
    frac = Fraction(z).limit_denominator(max_den)
    return frac.numerator, frac.denominator


def effective_noise_multiplier(z: float, max_den: int = DEFAULT_MAX_DEN) -> float:
    """The multiplier a device really applies (zn/zd), which accounting must use."""
    zn, zd = rational_noise_multiplier(z, max_den)
    return zn / zd


def noise_variance(z: float, grid_bits: int, max_den: int = DEFAULT_MAX_DEN) -> tuple[int, int]:
    """sigma^2 in grid steps^2 as (num, den) in lowest terms; ValueError when the device's
    sampler cannot draw it exactly (see tinyfl_dgauss_check)."""
    zn, zd = rational_noise_multiplier(z, max_den)
    num, den = dgauss_variance(zn, zd, grid_bits)
    if not dgauss_check(num, den):
        raise ValueError(
            f"sigma^2 = {num}/{den} (z = {zn}/{zd}, grid_bits = {grid_bits}) is outside the "
            "exact sampler's range: num, den <= 2^48 and 1/64 <= sigma^2 <= 2^40; lower "
            "grid_bits or pick a noise multiplier with a smaller denominator")
    return num, den


def sigma_grid_steps(z: float, grid_bits: int, max_den: int = DEFAULT_MAX_DEN) -> float:
    zn, zd = rational_noise_multiplier(z, max_den)
    return zn * (1 << grid_bits) / zd


def max_grid_bits(z: float, limit: int = 20, max_den: int = DEFAULT_MAX_DEN) -> int:
    """Largest grid_bits <= limit whose variance the sampler supports (0 if none)."""
    zn, zd = rational_noise_multiplier(z, max_den)
    best = 0
    for k in range(1, limit + 1):
        if dgauss_check(*dgauss_variance(zn, zd, k)):
            best = k
    return best
