"""Exact discrete Gaussian sampler, draw for draw the same as firmware/tinyfl_dgauss.c.

Canonne, Kamath, Steinke (NeurIPS 2020), Algorithms 1-3, in integer arithmetic. Rules that fix
the order of generator draws (so C and Python return the same integers):
- Bernoulli(p) with p = 0 or p = 1 draws nothing;
- Bernoulli(a / b) is `below(b) < a`; when b = den * k would pass 2^64 it is
  Bernoulli(a / den) then Bernoulli(1 / k) (`below(k) == 0`), the same law;
- Bernoulli(1/2) is `below(2) == 1` (1 means a negative sign).

The discrete Laplace proposal has the rational scale sigma^2 / mu with mu = floor(sigma)
(sigma >= 1) or 1 / ceil(1 / sigma) (sigma < 1), so the rejection exponent
(|Y| - mu)^2 / (2 sigma^2) has a small denominator; see docs/privacy.md.
"""
from __future__ import annotations

from math import isqrt
from typing import Protocol

import numpy as np

__all__ = [
    "MAX_NUM",
    "MAX_DEN",
    "MAX_SIGMA2",
    "Drbg",
    "dgauss_check",
    "bernoulli_exp",
    "dlaplace",
    "dgauss",
    "dgauss_samples",
    "dgauss_variance",
]

MAX_NUM = 1 << 48
MAX_DEN = 1 << 48
MAX_SIGMA2 = 1 << 40  # sigma <= 2^20 keeps every sample inside int32
_U64 = (1 << 64) - 1
_I32_MAX = (1 << 31) - 1
_U32_MAX = (1 << 32) - 1


class Drbg(Protocol):
    def below(self, bound: int) -> int: ...


def dgauss_check(num: int, den: int) -> bool:
    """True when sigma^2 = num / den is inside the range the sampler supports (as C)."""
    if num < 1 or den < 1 or num > MAX_NUM or den > MAX_DEN:
        return False
    if den > 64 * num:
        return False
    return num <= MAX_SIGMA2 * den  # sigma^2 <= 2^40


def _bernoulli_frac(drbg: Drbg, num: int, den: int, k: int) -> bool:
    """Bernoulli(num / (den * k))."""
    if num == 0:
        return False
    if den <= _U64 // k:
        d = den * k
        if num >= d:
            return True
        return drbg.below(d) < num
    if num < den and not drbg.below(den) < num:
        return False
    return drbg.below(k) == 0


def _bernoulli_exp_unit(drbg: Drbg, num: int, den: int) -> bool:
    """Bernoulli(exp(-num / den)) for 0 <= num <= den (von Neumann)."""
    if num == 0:
        return True
    k = 1
    while _bernoulli_frac(drbg, num, den, k):
        k += 1
    return bool(k & 1)


def bernoulli_exp(drbg: Drbg, num: int, den: int) -> bool:
    """Bernoulli(exp(-num / den)), num >= 0, den >= 1 (False when den == 0, as C)."""
    if den == 0:
        return False
    if num <= den:
        return _bernoulli_exp_unit(drbg, num, den)
    for _ in range(num // den):
        if not _bernoulli_exp_unit(drbg, 1, 1):
            return False
    return _bernoulli_exp_unit(drbg, num % den, den)


def _dlaplace_rational(drbg: Drbg, t: int, s: int) -> int:
    """Discrete Laplace with scale t / s (restarts exactly where C does)."""
    while True:
        u = drbg.below(t)
        if not _bernoulli_exp_unit(drbg, u, t):
            continue
        v = 0
        v_max = (_U64 - u) // t
        overflow = False
        while _bernoulli_exp_unit(drbg, 1, 1):
            if v == v_max:
                overflow = True
                break
            v += 1
        if overflow:
            continue
        y = (u + t * v) // s
        negative = drbg.below(2) == 1
        if negative and y == 0:
            continue
        if y > _I32_MAX:
            continue
        return -y if negative else y


def dlaplace(drbg: Drbg, t: int) -> int:
    """Discrete Laplace with integer scale t >= 1: P(x) ~ exp(-|x| / t)."""
    if t == 0:
        return 0
    return _dlaplace_rational(drbg, t, 1)


def dgauss(drbg: Drbg, num: int, den: int) -> int:
    """One sample of N_Z(0, num / den); 0 without draws when the variance is out of range."""
    if not dgauss_check(num, den):
        return 0
    n, d = num, den
    if n >= d:
        mu_num, mu_den = isqrt(n // d), 1
    else:
        j = isqrt(d // n)
        if j * j * n != d:
            j += 1
        mu_num, mu_den = 1, j
    gamma_den = 2 * mu_den * mu_den * n
    while True:
        y = _dlaplace_rational(drbg, n * mu_den, d * mu_num)
        jy = mu_den * abs(y)
        w = abs(jy - mu_num)
        if w > _U32_MAX:
            continue
        gamma_num = w * w
        if gamma_num > _U64 // d:
            continue
        if bernoulli_exp(drbg, gamma_num * d, gamma_den):
            return y


def dgauss_samples(drbg: Drbg, num: int, den: int, count: int) -> np.ndarray:
    return np.array([dgauss(drbg, num, den) for _ in range(count)], dtype=np.int64)


def dgauss_variance(zn: int, zd: int, grid_bits: int) -> tuple[int, int]:
    """sigma^2 in grid steps^2 for noise multiplier zn/zd and a grid of 2^grid_bits steps per
    clip bound: ((zn * 2^k) / zd)^2 in lowest terms, as tinyfl_protect_update uses it."""
    from math import gcd

    num = (zn << grid_bits) ** 2
    den = zd * zd
    g = gcd(num, den)
    return num // g, den // g
