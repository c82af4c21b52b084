"""What the host admits: devices whose hello matches the operator's DP configuration, updates
that this configuration can produce, heads the wire can carry.

A device decides its own clip bound, grid and noise, and only reports them. The host therefore
checks the report against the fleet's [dp] section (the operator's), and checks every update
against what a device built with that configuration can send: one hostile or misconfigured
board must not be able to steer the average (or make the head unsendable for everyone).
"""
from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np

from ..firmware_config import DpConfig
from ..wire._wire_gen import HelloFlag
from ..wire.spec import MESSAGE_BY_NAME

__all__ = [
    "NORM_TAIL_T",
    "grid_step",
    "head_problem",
    "hello_problem",
    "update_norm_bound",
    "update_values_problem",
]

# A float32 field travels rounded: compare the operator's value with this relative slack.
REL_TOL = 1e-6
# t with exp(-t^2 / 2) = 2^-40: the chance that honest noise breaks the norm bound below.
NORM_TAIL_T = math.sqrt(2.0 * 40.0 * math.log(2.0))
_PARAMS_FIELD = next(f for f in MESSAGE_BY_NAME["global_model"].fields if f.name == "params")
HEAD_MAX_ABS = float(_PARAMS_FIELD.max)  # the wire refuses a global head value beyond this


def _effective_z(dp: DpConfig) -> float:
    return _effective_z_of(float(dp.noise_multiplier))


@functools.lru_cache(maxsize=32)
def _effective_z_of(noise_multiplier: float) -> float:
    # exact arithmetic (Fractions) in there: once per configuration, not once per update
    from ..privacy.noise import effective_noise_multiplier

    return effective_noise_multiplier(noise_multiplier)


def grid_step(dp: DpConfig) -> float:
    """C / 2^k as the device computes it (float32 clip, exact power-of-two division)."""
    return float(np.float32(dp.clip)) / float(1 << dp.grid_bits)


def update_norm_bound(dp: DpConfig, n_params: int) -> float:
    """Largest L2 norm of an update's integers that a device built with `dp` sends, except with
    probability below 2^-40.

    An update is q + n: q the clipped update on the grid, n discrete Gaussian noise.
    - ||q|| <= 2^k exactly: the firmware clips to C minus the rounding margin and then trims
      the largest coordinate until the integer norm is at most 2^k (tinyfl_protect.c).
    - n has d independent coordinates N_Z(0, s^2), s = z 2^k. Each is s-subgaussian (Canonne,
      Kamath, Steinke 2020), so E exp(l n_i^2) <= E_g E exp(sqrt(2l) g n_i) <= (1 - 2 l s^2)^-1/2
      with g standard normal: ||n||^2 / s^2 is dominated in MGF by a chi-square with d degrees
      of freedom, and the Chernoff bound of Laurent and Massart holds for it:
      P(||n||^2 >= s^2 (d + 2 sqrt(d x) + 2x)) <= e^-x. As d + 2 sqrt(dx) + 2x <=
      (sqrt(d) + sqrt(2x))^2, P(||n|| >= s (sqrt(d) + t)) <= exp(-t^2 / 2) with t = sqrt(2x).
      t = sqrt(80 ln 2) ~ 7.45 makes that 2^-40.
    So ||q + n|| <= 2^k + s (sqrt(d) + t) but for a 2^-40 chance per honest update.
    """
    sigma = _effective_z(dp) * float(1 << dp.grid_bits)
    return float(1 << dp.grid_bits) + sigma * (math.sqrt(n_params) + NORM_TAIL_T)


def _differs(reported: float, expected: float) -> bool:
    return not math.isclose(float(reported), float(expected), rel_tol=REL_TOL, abs_tol=0.0)


def hello_problem(hello: Any, dp: DpConfig, *, allow_test_builds: bool = False) -> str:
    """Why the host refuses the device that sent `hello` ("" if it is admitted)."""
    flags = int(hello.flags)
    if flags & HelloFlag.ENTROPY_FAILED:
        return "its entropy health tests failed: it cannot release (ENTROPY_FAILED)"
    if flags & HelloFlag.LEDGER_LOCKED:
        return "its privacy ledger is locked (corrupt or unreadable): it cannot release"
    if flags & HelloFlag.TEST_BUILD and not allow_test_builds:
        return ("a test build (fixed seed or a broken mechanism: not private); "
                "pass --allow-test-builds to use it")
    wrong = []
    for name, expected in (("clip", dp.clip), ("noise_multiplier", _effective_z(dp)),
                           ("delta", dp.delta), ("eps_limit", dp.eps_limit)):
        if _differs(getattr(hello, name), expected):
            wrong.append(f"{name} {float(getattr(hello, name)):.6g} (fleet: {expected:.6g})")
    if int(hello.grid_bits) != dp.grid_bits:
        wrong.append(f"grid_bits {int(hello.grid_bits)} (fleet: {dp.grid_bits})")
    if wrong:
        return "DP configuration differs from the fleet's: " + ", ".join(wrong)
    return ""


def update_values_problem(values: np.ndarray, step: float, dp: DpConfig) -> str:
    """Why an update's grid step or integers are out of what `dp` produces ("" if fine)."""
    expected = grid_step(dp)
    if _differs(step, expected):
        return f"grid_step {float(step):.6g}, the fleet's is {expected:.6g}"
    v = np.asarray(values, dtype=np.float64)
    norm = float(np.sqrt(np.dot(v, v)))
    bound = update_norm_bound(dp, v.size)
    if not norm <= bound:
        return f"integer norm {norm:.6g} above {bound:.6g}, what clip + noise can produce"
    return ""


def head_problem(params: np.ndarray) -> str:
    """Why a head cannot go out as a global_model ("" if it can)."""
    p = np.asarray(params, dtype=np.float32)
    if not np.all(np.isfinite(p)):
        return "the head has NaN or infinite values"
    largest = float(np.max(np.abs(p))) if p.size else 0.0
    if largest > HEAD_MAX_ABS:
        return f"a head value of magnitude {largest:.6g} exceeds the wire's {HEAD_MAX_ABS:g}"
    return ""
