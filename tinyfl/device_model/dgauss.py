"""Exact discrete Gaussian sampler, draw for draw the same as firmware/tinyfl_dgauss.c.

Canonne, Kamath, Steinke (NeurIPS 2020), Algorithms 1-3, in integer arithmetic, fed one coin at
a time from the generator's bit stream. Rules that fix the order of draws (so C and Python
return the same integers):
- Bernoulli(p) with p = 0 or p = 1 draws nothing;
- Bernoulli(a / b) compares a uniform real, bit by bit, with the binary expansion of a / b and
  stops at the first differing bit (or when the expansion ends: then the uniform is larger);
  Bernoulli(a / (b k)) with b k past 2^64 - 1 is Bernoulli(a / b) then Bernoulli(1 / k);
- uniform below n: the fewest bits that hold n - 1 (low 32 first), redrawn until below n;
- the sign of a discrete Laplace is one bit, 1 meaning negative.

The discrete Laplace proposal has the rational scale sigma^2 / mu with mu = floor(sigma)
(sigma >= 1) or 1 / ceil(1 / sigma) (sigma < 1), so the rejection exponent
(|Y| - mu)^2 / (2 sigma^2) has a small denominator; both fractions are kept in lowest terms,
so the draws depend on the value of sigma^2 only. See docs/privacy.md.
"""
from __future__ import annotations

from dataclasses import dataclass
from math import gcd, isqrt
from typing import Protocol

import numpy as np

__all__ = [
    "MAX_NUM",
    "MAX_DEN",
    "MAX_SIGMA2",
    "Drbg",
    "DgaussPlan",
    "dgauss_check",
    "dgauss_plan",
    "dgauss_draw",
    "bernoulli_exp",
    "dlaplace",
    "dgauss",
    "dgauss_samples",
    "dgauss_uniform",
    "dgauss_variance",
]

MAX_NUM = 1 << 48
MAX_DEN = 1 << 48
MAX_SIGMA2 = 1 << 40  # sigma <= 2^20 keeps every sample inside int32
_U64 = (1 << 64) - 1
_I32_MAX = (1 << 31) - 1
_U32_MAX = (1 << 32) - 1


class Drbg(Protocol):
    def bit(self) -> int: ...

    def bits(self, k: int) -> int: ...

    def bit_position(self) -> int: ...

    def discard_to_block(self, block: int) -> None: ...

    comparisons: int


def dgauss_check(num: int, den: int) -> bool:
    """True when sigma^2 = num / den is inside the range the sampler supports (as C)."""
    if num < 1 or den < 1 or num > MAX_NUM or den > MAX_DEN:
        return False
    if den > 64 * num:
        return False
    return num <= MAX_SIGMA2 * den  # sigma^2 <= 2^40


def _bern_frac(drbg: Drbg, a: int, b: int) -> bool:
    """Bernoulli(a / b): the uniform's bits against the binary expansion of a / b."""
    if a == 0:
        return False
    if a >= b:
        return True
    r = a
    bit = drbg.bit
    drbg.comparisons += 1
    while True:
        r <<= 1
        digit = 1 if r >= b else 0
        if digit:
            r -= b
        if bit() != digit:
            return digit == 1
        if r == 0:
            return False


def _bern_frac_k(drbg: Drbg, a: int, b: int, k: int) -> bool:
    """Bernoulli(a / (b k))."""
    if b * k <= _U64:
        return _bern_frac(drbg, a, b * k)
    if not _bern_frac(drbg, a, b):
        return False
    return _bern_frac(drbg, 1, k)


def _bern_exp_unit(drbg: Drbg, a: int, b: int) -> bool:
    """Bernoulli(exp(-a / b)) for 0 <= a <= b (von Neumann)."""
    if a == 0:
        return True
    k = 1
    while _bern_frac_k(drbg, a, b, k):
        k += 1
    return bool(k & 1)


def bernoulli_exp(drbg: Drbg, num: int, den: int) -> bool:
    """Bernoulli(exp(-num / den)), num >= 0, den >= 1 (False when den == 0, as C)."""
    if den == 0:
        return False
    while num > den:
        if not _bern_exp_unit(drbg, 1, 1):
            return False
        num -= den
    return _bern_exp_unit(drbg, num, den)


def _uniform_bits(drbg: Drbg, bound: int, nbits: int) -> int:
    while True:
        if nbits <= 32:
            v = drbg.bits(nbits)
        else:
            v = drbg.bits(32)
            v |= drbg.bits(nbits - 32) << 32
        if v < bound:
            return v


def dgauss_uniform(drbg: Drbg, bound: int) -> int:
    """Uniform in [0, bound) as tinyfl_dgauss_uniform (0 without draws when bound <= 1)."""
    if bound <= 1:
        return 0
    return _uniform_bits(drbg, bound, (bound - 1).bit_length())


@dataclass(frozen=True)
class _Laplace:
    """Discrete Laplace of scale t / s (lowest terms) drawn as U + q V (tinyfl_dlaplace_prepare)."""

    t: int
    s: int
    q: int
    v_num: int
    v_den: int

    @classmethod
    def of(cls, t: int, s: int) -> "_Laplace":
        g = gcd(t, s)
        t, s = t // g, s // g
        q = max(1, t // s)
        vn, vd = q * s, t
        g = gcd(vn, vd)
        return cls(t, s, q, vn // g, vd // g)


def _dlaplace_plan(drbg: Drbg, lap: _Laplace) -> int:
    """|Y| = U + q V, U in [0, q) weighted exp(-U s / t), V geometric of ratio exp(-q s / t)."""
    q = lap.q
    q_bits = (q - 1).bit_length()
    while True:
        y = _uniform_bits(drbg, q, q_bits) if q > 1 else 0
        if not bernoulli_exp(drbg, y * lap.s, lap.t):
            continue
        while y <= _I32_MAX and bernoulli_exp(drbg, lap.v_num, lap.v_den):
            y += q
        if y > _I32_MAX:
            continue
        if drbg.bit() == 1:
            if y == 0:
                continue
            return -y
        return y


def dlaplace(drbg: Drbg, t: int) -> int:
    """Discrete Laplace with integer scale t >= 1: P(x) ~ exp(-|x| / t)."""
    if t == 0:
        return 0
    return _dlaplace_plan(drbg, _Laplace.of(t, 1))


@dataclass(frozen=True)
class DgaussPlan:
    """What tinyfl_dgauss_prepare derives from sigma^2 = num / den."""

    laplace: _Laplace
    mu_num: int
    mu_den: int
    gamma_mul: int
    gamma_den: int


def dgauss_plan(num: int, den: int) -> DgaussPlan | None:
    """The plan of tinyfl_dgauss_prepare, or None when the variance is out of range."""
    if not dgauss_check(num, den):
        return None
    n, d = num, den
    if n >= d:
        mu_num, mu_den = isqrt(n // d), 1
    else:
        j = isqrt(d // n)
        if j * j * n != d:
            j += 1
        mu_num, mu_den = 1, j
    laplace = _Laplace.of(n * mu_den, d * mu_num)
    gm, gd = d, 2 * mu_den * mu_den * n
    g = gcd(gm, gd)
    return DgaussPlan(laplace, mu_num, mu_den, gm // g, gd // g)


def dgauss_draw(drbg: Drbg, plan: DgaussPlan) -> int:
    """One sample for a prepared plan, as tinyfl_dgauss_draw."""
    w2_max = _U64 // plan.gamma_mul
    while True:
        y = _dlaplace_plan(drbg, plan.laplace)
        jy = plan.mu_den * abs(y)
        w = abs(jy - plan.mu_num)
        if w > _U32_MAX:
            continue
        if w * w > w2_max:
            continue
        if bernoulli_exp(drbg, w * w * plan.gamma_mul, plan.gamma_den):
            return y


def dgauss(drbg: Drbg, num: int, den: int) -> int:
    """One sample of N_Z(0, num / den); 0 without draws when the variance is out of range."""
    plan = dgauss_plan(num, den)
    if plan is None:
        return 0
    return dgauss_draw(drbg, plan)


def dgauss_samples(drbg: Drbg, num: int, den: int, count: int) -> np.ndarray:
    plan = dgauss_plan(num, den)
    if plan is None:
        return np.zeros(count, dtype=np.int64)
    return np.array([dgauss_draw(drbg, plan) for _ in range(count)], dtype=np.int64)


def dgauss_variance(zn: int, zd: int, grid_bits: int) -> tuple[int, int]:
    """sigma^2 in grid steps^2 for noise multiplier zn/zd and a grid of 2^grid_bits steps per
    clip bound: ((zn * 2^k) / zd)^2 in lowest terms, as tinyfl_protect_update uses it."""
    num = (zn << grid_bits) ** 2
    den = zd * zd
    g = gcd(num, den)
    return num // g, den // g
