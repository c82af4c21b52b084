"""E[exp(theta W)] for the work W of one discrete Gaussian draw (W = coins + 4 x comparisons,
the meter of tinyfl_protect.c), computed from the sampler's structure for a given plan rather
than sampled, as an upper bound: every truncation adds a bound on what it leaves out.

The sampler (tinyfl/device_model/dgauss.py) is a composition of pieces whose work and outcome
have exact generating functions in z = exp(theta):
- a comparison Bernoulli(a/b), 0 < a < b: 4 units plus G coins, G the first binary digit where
  the coin differs from a/b (probability 1/2 each, the outcome is that digit), or where the
  expansion ends (outcome 0);
- von Neumann Bernoulli(exp(-a/b)): comparisons Bernoulli(a/(b k)), k = 1, 2, ... up to the
  first failure K; outcome K odd;
- uniform below q: attempts of q_bits coins, accepted with probability q / 2^q_bits, the value
  uniform and independent of the number of attempts;
- the Laplace and Gaussian loops, each a renewal: GF(accept) / (1 - GF(restart)).
Used by tests/test_dp_constant_time.py for sigma up to 256 grid steps (the sums run over every
proposal value that matters; sigma 4096 already takes a minute).
"""
from __future__ import annotations

import math

import numpy as np

from tinyfl.device_model.dgauss import DgaussPlan

UNITS_PER_COMPARISON = 4
DIGITS = 72  # digits of a / b looked at; the rest is bounded
K_MAX = 40  # von Neumann steps looked at; the rest is bounded
_U64 = (1 << 64) - 1


def _comparison(a: np.ndarray, b: np.ndarray, z: float) -> tuple[np.ndarray, np.ndarray]:
    """(E[z^W; 1], E[z^W; 0]) of Bernoulli(a/b) for arrays 0 <= a, 1 <= b (uint64); a = 0 and
    a >= b draw nothing."""
    a = a.astype(np.uint64)
    b = b.astype(np.uint64)
    f1 = np.zeros(a.shape)
    f0 = np.zeros(a.shape)
    certain1 = a >= b
    certain0 = a == 0
    alive = ~(certain1 | certain0)
    r = a.copy()
    w = 1.0
    with np.errstate(over="ignore"):
        for _ in range(DIGITS):
            w *= z / 2
            digit = r >= b - r
            r = np.where(digit, r - (b - r), r + r)
            f1 += np.where(alive & digit, w, 0.0)  # the coin is 0 under a 1: below
            f0 += np.where(alive & ~digit, w, 0.0)  # the coin is 1 over a 0: above
            ended = alive & (r == 0)  # the coin matched and a/b has no digits left
            f0 += np.where(ended, w, 0.0)
            alive &= r != 0
            if not alive.any():
                break
    tail = w * (z / 2) / (1 - z / 2)  # every longer comparison, counted for both outcomes
    f1 += np.where(alive, tail, 0.0)
    f0 += np.where(alive, tail, 0.0)
    scale = z ** UNITS_PER_COMPARISON
    f1 = np.where(certain1, 1.0, np.where(certain0, 0.0, f1 * scale))
    f0 = np.where(certain0, 1.0, np.where(certain1, 0.0, f0 * scale))
    return f1, f0


def _loop_bound(step_mgf: float, continue_prob: float) -> float:
    """E[z^L] for L a sum of steps that each continue with probability <= c and have
    E[z^step] <= m given the past: (1 - c) / (1 - c - (m - 1))."""
    eps = step_mgf - 1
    if eps >= 1 - continue_prob:
        raise ValueError("theta too large for the loop bound")
    return (1 - continue_prob) / (1 - continue_prob - eps)


def _comparison_max(z: float) -> float:
    return z ** UNITS_PER_COMPARISON * (z / 2) / (1 - z / 2)  # E[z^W] of any comparison


def _von_neumann(a: np.ndarray, b: np.ndarray, z: float) -> tuple[np.ndarray, np.ndarray]:
    """(E[z^W; 1], E[z^W; 0]) of Bernoulli(exp(-a/b)), 0 <= a <= b, b * K_MAX < 2^64."""
    a = np.asarray(a, dtype=np.uint64)
    b = np.asarray(b, dtype=np.uint64)
    if int(b.max(initial=1)) > _U64 // K_MAX:
        raise ValueError("denominator too large for this analysis")
    steps = [_comparison(a, b * np.uint64(k), z) for k in range(1, K_MAX + 1)]
    # beyond K_MAX: each step continues with probability <= 1 / (K_MAX + 1)
    rest = _loop_bound(_comparison_max(z), 1 / (K_MAX + 1))
    odd = np.full(a.shape, rest)
    even = np.full(a.shape, rest)
    for k in range(K_MAX, 0, -1):
        f1, f0 = steps[k - 1]
        odd, even = f0 * (k % 2 == 1) + f1 * odd, f0 * (k % 2 == 0) + f1 * even
    zero = a == 0
    return np.where(zero, 1.0, odd), np.where(zero, 0.0, even)


def _bernoulli_exp(g: np.ndarray, d: int, z: float, one: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """Bernoulli(exp(-g/d)) for arrays g >= 0: Bernoulli(exp(-1)) while g > d, then the rest."""
    g = np.asarray(g, dtype=np.uint64)
    peel = np.where(g > 0, (g - np.uint64(1)) // np.uint64(d), 0).astype(np.uint64)
    rest = g - peel * np.uint64(d)
    r1, r0 = _von_neumann(rest, np.full(g.shape, d, dtype=np.uint64), z)
    a1, b1 = one
    m = peel.astype(np.float64)
    p = a1 ** m
    return p * r1, b1 * (1 - p) / (1 - a1) + p * r0


def draw_work_mgf(plan: DgaussPlan, theta: float, mass_cut: float = 1e-30) -> float:
    """An upper bound on E[exp(theta W)] for one draw of `plan` (tinyfl_dgauss_draw)."""
    z = math.exp(theta)
    lap = plan.laplace
    q = lap.q
    q_bits = (q - 1).bit_length()
    one = tuple(float(v[0]) for v in _von_neumann(np.array([1]), np.array([1]), z))
    # U: uniform below q, accepted with Bernoulli(exp(-u s / t))
    accept_prob = q / 2 ** q_bits
    uniform = accept_prob * z ** q_bits / (1 - (1 - accept_prob) * z ** q_bits) if q > 1 else 1.0
    u = np.arange(q, dtype=np.uint64)
    au, bu = _von_neumann(u * np.uint64(lap.s), np.full(q, lap.t, dtype=np.uint64), z)
    restart_u = uniform / q * bu.sum()
    if restart_u >= 1:
        raise ValueError("theta too large")
    h = uniform / q * au / (1 - restart_u)  # E[z^W; U accepted = u]
    # V: Bernoulli(exp(-v)) successes before the first failure
    if lap.v_num <= lap.v_den:
        av, bv = (float(x[0]) for x in _von_neumann(np.array([lap.v_num]), np.array([lap.v_den]), z))
    else:
        av, bv = (float(x[0]) for x in _bernoulli_exp(np.array([lap.v_num]), lap.v_den, z, one))
    if av >= 1:
        raise ValueError("theta too large")
    v_max = max(1, math.ceil(math.log(mass_cut) / math.log(av)))
    restart_lap = h[0] * bv * z / 2  # sign -, y = 0
    w2_max = _U64 // plan.gamma_mul
    # every proposal y = u + q v, v < v_max, at once (both signs of y > 0 in one weight)
    vs = np.arange(v_max)
    y = (u[None, :] + np.uint64(q) * vs[:, None].astype(np.uint64)).reshape(-1)
    lap_y = (h[None, :] * (av ** vs)[:, None] * bv * z / (1 - restart_lap)).reshape(-1)
    lap_y[0] /= 2  # y = 0: only the + sign
    w = np.abs(plan.mu_den * y.astype(np.int64) - plan.mu_num).astype(np.uint64)
    with np.errstate(over="ignore"):
        ok = (w <= (1 << 32) - 1) & (w * w <= np.uint64(w2_max))
        g = np.where(ok, w * w * np.uint64(plan.gamma_mul), np.uint64(0))
    c1, c0 = _bernoulli_exp(g, plan.gamma_den, z, one)
    accept = float((lap_y * np.where(ok, c1, 0.0)).sum())
    reject = float((lap_y * np.where(ok, c0, 1.0)).sum())
    # proposals with V >= v_max (both signs): GF <= sum_u h_u av^v_max / (1 - av) bv z, each
    # followed by an acceptance test: peeling (steps continue w.p. e^-1) and one von Neumann
    tail = float(h.sum()) * av ** v_max / (1 - av) * bv * z / (1 - restart_lap)
    test_bound = _loop_bound(float(sum(one)), math.exp(-1)) * _von_neumann_bound(z)
    accept += tail * test_bound
    reject += tail * test_bound
    if reject >= 1:
        raise ValueError("theta too large")
    return accept / (1 - reject)


def _von_neumann_bound(z: float) -> float:
    """A bound on E[z^W] of any Bernoulli(exp(-x)), 0 <= x <= 1: step k continues with
    probability <= 1/k (and step 1 always)."""
    m = _comparison_max(z)
    rest = _loop_bound(m, 1 / (K_MAX + 1))
    for k in range(K_MAX, 1, -1):
        rest = (1 - 1 / k) + (1 / k + (m - 1)) * rest
    return m * rest
