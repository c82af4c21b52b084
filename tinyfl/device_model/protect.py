"""Update protection as the device does it (firmware/tinyfl_protect.c), same integers.

1. u = update (float32, after - before), n values.
2. margin = sqrt(n)/2 * g with g = clip / 2^k; target = clip - margin (ARG if <= 0).
3. If ||u|| (float32, left-to-right sum of squares) > target: u *= target / ||u||.
4. q_i = round half away from zero (u_i / g), int32.
5. While sum q_i^2 > 4^k (float error only): move the first largest |q_i| one step to 0.
6. With noise: q_i += discrete Gaussian with variance num/den (lowest terms), i in order;
   then discarded draws until the work budget is spent, then the generator skips to a fixed
   block (tinyfl_protect_work_budget: the time of a protect does not depend on the noise).
"""
from __future__ import annotations

from math import gcd

import numpy as np

from .dgauss import DgaussPlan, Drbg, dgauss_draw, dgauss_plan
from .errors import DeviceModelError

__all__ = ["MAX_GRID_BITS", "WORK_THETA", "WORK_SLACK", "grid_step", "clip_target",
           "clip_and_round", "work_per_draw", "work_budget", "work_done", "protect_update"]

MAX_GRID_BITS = 20
# as firmware/tinyfl_protect.c: the work budget of a protect (docs/privacy.md)
WORK_PER_COMPARISON = 4
WORK_THETA = 1 / 125
_WORK_BASE = 64
_WORK_PER_Q_BIT = 4
_WORK_FRACTIONAL_V = 40
WORK_SLACK = 5546  # ceil(64 ln 2 / WORK_THETA)
_SPARE_BLOCKS = 1


def work_per_draw(plan: DgaussPlan) -> int:
    """The per-draw term of the budget: a bound on log E[exp(theta W)] / theta."""
    lap = plan.laplace
    per = _WORK_BASE + _WORK_PER_Q_BIT * (lap.q - 1).bit_length()
    if lap.v_num != lap.v_den:
        per += _WORK_FRACTIONAL_V
    return per


def work_budget(n: int, plan: DgaussPlan) -> int:
    """Work units (coins + 4 comparisons) one protect of n values spends on draws."""
    return n * work_per_draw(plan) + WORK_SLACK


def work_done(drbg: Drbg, coins0: int, comparisons0: int) -> int:
    return drbg.bit_position() - coins0 + WORK_PER_COMPARISON * (drbg.comparisons - comparisons0)


def grid_step(clip: float, grid_bits: int) -> np.float32:
    return np.float32(clip) / np.float32(1 << grid_bits)


def clip_target(clip: float, grid_bits: int, n: int) -> np.float32:
    """The L2 bound the float update is clipped to, so the rounded one is within 2^k steps."""
    half = np.sqrt(np.float32(n)) * np.float32(0.5)
    return np.float32(clip) - half * grid_step(clip, grid_bits)


def _check(clip: float, grid_bits: int, n: int) -> np.float32:
    c = np.float32(clip)
    if n < 1 or not (c > 0) or not np.isfinite(c) or not 1 <= grid_bits <= MAX_GRID_BITS:
        raise DeviceModelError("ARG", "need n >= 1, finite clip > 0, 1 <= grid_bits <= 20")
    target = clip_target(clip, grid_bits, n)
    if not target > 0:
        raise DeviceModelError("ARG", "rounding margin exceeds the clip bound: raise grid_bits")
    return target


def _round_half_away(x: np.ndarray) -> np.ndarray:
    x64 = x.astype(np.float64)  # x + 0.5 is exact in float64 for any float32 x
    return np.where(x64 >= 0, np.floor(x64 + 0.5), np.ceil(x64 - 0.5)).astype(np.int64)


def _clip_round(update: np.ndarray, clip: float, grid_bits: int,
                target: np.float32) -> tuple[np.ndarray, np.ndarray]:
    u = np.array(update, dtype=np.float32, copy=True).reshape(-1)
    with np.errstate(over="ignore", invalid="ignore"):
        norm = np.sqrt(np.add.accumulate(u * u)[-1])
    if not np.isfinite(norm):
        raise DeviceModelError("VALUE", "update holds NaN/Inf or its norm overflows float32")
    if norm > target:
        u = u * (target / norm)
    g = grid_step(clip, grid_bits)
    q = _round_half_away(u / g)
    limit = 1 << (2 * grid_bits)
    norm2 = int(np.dot(q, q))
    while norm2 > limit:
        i = int(np.argmax(np.abs(q)))
        norm2 -= 2 * abs(int(q[i])) - 1
        q[i] -= 1 if q[i] > 0 else -1
    return u, q


def clip_and_round(update: np.ndarray, clip: float, grid_bits: int) -> tuple[np.ndarray, np.ndarray]:
    """(clipped float32 update, int64 grid integers) like tinyfl_protect_clip_round."""
    u = np.asarray(update, dtype=np.float32).reshape(-1)
    target = _check(clip, grid_bits, u.size)
    return _clip_round(u, clip, grid_bits, target)


def protect_update(update: np.ndarray, clip: float, grid_bits: int,
                   noise_var: tuple[int, int] | None, drbg: Drbg | None) -> tuple[np.ndarray, np.ndarray]:
    """(clipped update, noised integers) like tinyfl_protect_update; noise_var = (num, den)
    of sigma^2 in grid steps^2, or None for a test build without noise."""
    u = np.asarray(update, dtype=np.float32).reshape(-1)
    target = _check(clip, grid_bits, u.size)
    if noise_var is not None:
        num, den = noise_var
        if drbg is None or num <= 0 or den <= 0:
            raise DeviceModelError("ARG", "noise needs a generator and a positive variance")
        common = gcd(num, den)
        num, den = num // common, den // common
        plan = dgauss_plan(num, den)
        if plan is None:
            raise DeviceModelError("ARG", f"variance {num}/{den} outside the sampler's range")
    clipped, q = _clip_round(u, clip, grid_bits, target)
    if noise_var is None:
        return clipped, q
    start, comparisons0 = drbg.bit_position(), drbg.comparisons
    budget = work_budget(len(q), plan)
    noised = np.array([int(v) + dgauss_draw(drbg, plan) for v in q], dtype=np.int64)
    while work_done(drbg, start, comparisons0) < budget:
        dgauss_draw(drbg, plan)
    drbg.discard_to_block((start + budget + 511) // 512 + _SPARE_BLOCKS)
    return clipped, np.clip(noised, -(1 << 31), (1 << 31) - 1)
