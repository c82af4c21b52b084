"""The statistics of the DP audit and the ctypes build of the firmware's protection code."""
from __future__ import annotations

import math

import numpy as np
import pytest

from tinyfl.audit import audit_scores, clopper_pearson_upper, eps_from_rates, eps_lower_bound, make_canary
from tinyfl.audit.mechanism import mechanism_library
from tinyfl.device_model import clip_and_round
from tinyfl.privacy import noise_variance


def test_clopper_pearson_matches_closed_forms():
    # no errors in n trials: the bound solves (1 - p)^n = alpha
    for n, alpha in ((10, 0.05), (384, 0.0125), (10_000, 0.01)):
        assert clopper_pearson_upper(0, n, alpha) == pytest.approx(1 - alpha ** (1 / n), rel=1e-9)
    # all errors: 1; one error in two: the Beta(2, 1) quantile, 1 - p^2 = alpha
    assert clopper_pearson_upper(5, 5, 0.05) == 1.0
    assert clopper_pearson_upper(1, 2, 0.05) == pytest.approx(math.sqrt(0.95), rel=1e-9)
    # an upper bound: above the observed rate, shrinking towards it with more trials
    wide, narrow = clopper_pearson_upper(10, 100, 0.05), clopper_pearson_upper(100, 1000, 0.05)
    assert wide > narrow > 0.1


def test_eps_from_rates_is_the_hypothesis_testing_bound():
    delta = 1e-5
    assert eps_from_rates(0.01, 0.5, delta) == pytest.approx(math.log((0.5 - delta) / 0.01))
    assert eps_from_rates(0.5, 0.01, delta) == pytest.approx(math.log((0.5 - delta) / 0.01))
    assert eps_from_rates(0.5, 0.5, delta) == 0.0  # a coin flip rules nothing out
    assert eps_from_rates(0.9, 0.9, delta) == 0.0


def test_perfect_separation_gives_the_bound_of_its_trial_count():
    pos, neg = np.full(400, 1.0), np.full(400, -1.0)
    d = audit_scores("t", pos, neg, delta=1e-5, alpha=0.05, rng=np.random.default_rng(0))
    assert d.false_pos == d.false_neg == 0 and d.positives == d.negatives == 300
    u = 1 - 0.025 ** (1 / 300)
    assert d.eps_lower_bound == pytest.approx(math.log((1 - 1e-5 - u) / u), rel=1e-9)


def _gaussian_eps(mu: float, delta: float) -> float:
    """eps(delta) of the Gaussian mechanism with sensitivity / sigma = mu (Balle and Wang 2018)."""
    from scipy.optimize import brentq
    from scipy.stats import norm

    def excess(eps: float) -> float:
        return norm.cdf(-eps / mu + mu / 2) - math.exp(eps) * norm.cdf(-eps / mu - mu / 2) - delta

    return brentq(excess, 0.0, 100.0)


def test_gaussian_scores_never_exceed_the_true_eps():
    mu, delta = 0.8, 1e-5
    true_eps = _gaussian_eps(mu, delta)
    rng = np.random.default_rng(3)
    bounds = []
    for _ in range(20):
        d = audit_scores("t", rng.normal(mu, 1, 20_000), rng.normal(0, 1, 20_000), delta=delta, alpha=0.05,
                         rng=rng)
        bounds.append(d.eps_lower_bound)
    assert max(bounds) < true_eps
    assert np.median(bounds) > 0.3 * true_eps  # and the test is not vacuous


def test_eps_lower_bound_reports_its_rates():
    eps, fpr_u, fnr_u = eps_lower_bound(3, 1000, 500, 1000, delta=1e-5, alpha=0.05)
    assert fpr_u > 0.003 and fnr_u > 0.5
    assert eps == pytest.approx(math.log((1 - 1e-5 - fnr_u) / fpr_u))


def test_mechanism_library_is_the_device_mechanism():
    canary = make_canary(4, 6, 100, clip=1.0, grid_bits=8)
    lib = mechanism_library()
    rng = np.random.default_rng(0)
    for update in (rng.normal(0, 0.02, 100), rng.normal(0, 3.0, 100), np.zeros(100)):
        clean = lib.releases(update.astype(np.float32), 3, clip=1.0, grid_bits=8, noise_var=None)
        _, expected = clip_and_round(update.astype(np.float32), 1.0, 8)
        assert (clean == expected).all()
    num, den = noise_variance(3.0, 8)
    ints = lib.releases(np.zeros(100, np.float32), 2000, clip=1.0, grid_bits=8, noise_var=(num, den))
    var = ints.astype(np.float64).var()
    assert var == pytest.approx(num / den, rel=0.02)  # 200,000 draws: sd of the ratio 0.3%
    assert abs(ints.mean()) < 5 * math.sqrt(num / den / ints.size)
    assert not (ints[0] == ints[1]).all()  # fresh noise every release
    assert canary.distance_steps > 2 * 250  # the canary's two updates: 2 (C - margin) apart


def test_two_generators_draw_different_noise():
    a = mechanism_library().releases(np.zeros(8, np.float32), 4, clip=1.0, grid_bits=8, noise_var=(65536, 1))
    b = mechanism_library().releases(np.zeros(8, np.float32), 4, clip=1.0, grid_bits=8, noise_var=(65536, 1))
    assert not np.array_equal(a, b)  # keyed from os.urandom, like a device from its TRNG
