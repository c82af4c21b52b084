"""The time of a protect does not depend on the noise it draws: fixed generator work per call,
padding draws driven by a work meter that C and Python keep identically, a work budget whose
Chernoff constants cover the estimated law of a draw's work, and on Cortex-M4 (QEMU) a protect
time that hardly varies across seeds and does not follow the size of the noise."""
from __future__ import annotations

import math
import sys

import numpy as np
import pytest

import dp_clib
from dp_work_mgf import draw_work_mgf
from tinyfl.device_model import ChaCha20Drbg, dgauss_variance, protect_update
from tinyfl.device_model.dgauss import dgauss_plan
from tinyfl.device_model.protect import (
    WORK_SLACK,
    WORK_THETA,
    work_budget,
    work_per_draw,
)
from tinyfl.paths import REPO_ROOT

WORK_PER_COMPARISON = 4  # tinyfl_protect.c: work units = coins + 4 x comparisons


@pytest.fixture(scope="module")
def lib() -> dp_clib.CoreLib:
    return dp_clib.CoreLib(dp_clib.build_core_library())


def seed_for(*parts: int) -> bytes:
    return np.random.default_rng(list(parts)).integers(0, 256, 44, dtype=np.uint8).tobytes()


# sigma^2 in grid steps^2 over the range the device uses: small sigma (V ratio not exp(-1)),
# integer sigma, z = 37/100 and z = 113/355 (fractional V ratio), sigma 2^20 (the largest)
SIGMAS = [(1, 4), (1, 1), (9, 1), (65536, 1), (5607424, 625), dgauss_variance(113, 355, 8),
          (1 << 24, 1), (1 << 40, 1)]


@pytest.mark.parametrize("num,den", SIGMAS, ids=lambda v: str(v))
def test_work_budget_same_in_c_and_python(lib, num, den):
    plan = dgauss_plan(num, den)
    for n in (1, 100, 1040):
        assert lib.work_budget(num, den, n) == work_budget(n, plan)


def test_slack_gives_two_to_the_minus_64():
    assert WORK_SLACK == math.ceil(64 * math.log(2) / WORK_THETA)


@pytest.mark.parametrize("num,den", SIGMAS, ids=lambda v: str(v))
def test_per_draw_work_bound_covers_the_estimated_mgf(lib, num, den):
    """Chernoff: P(work of n draws > n m + slack) <= exp(n log E[e^{theta W}] - theta (n m +
    slack)) <= 2^-64 when log E[e^{theta W}] / theta <= m. E[e^{theta W}] estimated on 10^6
    draws of the C sampler."""
    _, coins, comparisons = lib.dgauss_work(lib.drbg(seed_for(num % 1000, den % 1000)), num, den,
                                            1_000_000)
    work = coins.astype(np.float64) + WORK_PER_COMPARISON * comparisons.astype(np.float64)
    log_mgf = math.log(np.mean(np.exp(WORK_THETA * work)))
    bound = work_per_draw(dgauss_plan(num, den))
    assert log_mgf / WORK_THETA <= bound, (log_mgf / WORK_THETA, bound)
    # the tail that dominates the estimate is seen often enough to be estimated at all
    assert np.mean(work > 2 * work.mean()) > 1e-3


# sigma small enough for the exact sums (dp_work_mgf runs over every proposal value)
COMPUTED = [(1, 64), (1, 4), (1, 1), (2, 1), (9, 1), (1024, 1), (65536, 1), (5607424, 625),
            dgauss_variance(113, 355, 8), dgauss_variance(37, 100, 6)]


@pytest.mark.parametrize("num,den", COMPUTED, ids=lambda v: str(v))
def test_per_draw_work_bound_covers_the_computed_mgf(num, den):
    """The same Chernoff condition with E[e^{theta W}] computed from the sampler's structure
    (an upper bound, not a sample): for these sigmas the 2^-64 is a bound."""
    plan = dgauss_plan(num, den)
    assert math.log(draw_work_mgf(plan, WORK_THETA)) / WORK_THETA <= work_per_draw(plan)


@pytest.mark.parametrize("num,den", [(1, 4), (9, 1), (65536, 1), (5607424, 625)],
                         ids=lambda v: str(v))
def test_computed_mean_work_matches_the_c_sampler(lib, num, den):
    """The structure the computation follows is the sampler's: its mean work (the derivative
    at theta = 0) agrees with 300,000 draws of the C sampler."""
    theta = 1e-7
    mean = (draw_work_mgf(dgauss_plan(num, den), theta) - 1) / theta
    _, coins, comparisons = lib.dgauss_work(lib.drbg(seed_for(num % 999, 5)), num, den, 300_000)
    work = coins.astype(np.float64) + WORK_PER_COMPARISON * comparisons.astype(np.float64)
    assert abs(mean - work.mean()) < 4 * work.std() / math.sqrt(work.size), (mean, work.mean())


CONFIGS = [(100, 8, 1.0, (1, 1)), (260, 8, 1.0, (37, 100)), (40, 4, 1.0, (1, 2))]


@pytest.mark.parametrize("n,k,clip,z", CONFIGS)
def test_protect_does_the_same_generator_work_whatever_the_noise(lib, n, k, clip, z):
    """Same blocks computed by every protect, for every seed (the noise differs), and the budget
    of work units is spent: without the padding the count follows the noise drawn."""
    var = dgauss_variance(*z, k)
    plan = dgauss_plan(*var)
    budget = work_budget(n, plan)
    u = np.random.default_rng(n).normal(0, 0.01, n).astype(np.float32)
    blocks = set()
    for s in range(40):
        state = lib.drbg(seed_for(n, s))
        for _ in range(2):  # a second protect on the same generator starts on a fresh block
            before = lib.blocks_made(state)
            coins0, comparisons0 = lib.bit_position(state), lib.comparisons(state)
            rc, _, _ = lib.protect(state, u, clip, k, var)
            assert rc == dp_clib.STATUS_OK
            assert lib.bit_position(state) % 512 == 0
            blocks.add(lib.blocks_made(state) - before)
    # coins0 is 0 on a fresh generator and a block boundary after a protect: the same count
    assert blocks == {-(-budget // 512) + 1}


@pytest.mark.parametrize("n,k,clip,z", CONFIGS)
def test_c_and_python_consecutive_protects_identical(lib, n, k, clip, z):
    """The padding consumes the generator identically in C and in the model: the next
    protect on the same generator still agrees."""
    var = dgauss_variance(*z, k)
    seed = seed_for(n, k, 99)
    state, drbg = lib.drbg(seed), ChaCha20Drbg(seed)
    rng = np.random.default_rng(k)
    for _ in range(3):
        u = rng.normal(0, 0.05, n).astype(np.float32)
        rc, _, c_out = lib.protect(state, u, clip, k, var)
        assert rc == dp_clib.STATUS_OK
        _, py_out = protect_update(u, clip, k, var, drbg)
        assert np.array_equal(c_out.astype(np.int64), py_out)
        assert lib.bit_position(state) == drbg.bit_position()
        assert lib.comparisons(state) == drbg.comparisons


def test_protect_time_on_cortex_m4_does_not_follow_the_noise(qemu):
    """QEMU -icount: instructions of one protect (100 values, sigma 256) for 256 seeds. Without
    the padding they vary by about 6% (sd / mean) and grow with the noise drawn."""
    sys.path.insert(0, str(REPO_ROOT))
    from bench.sampler import measure, summary

    m = measure()
    s = summary(m)
    assert s["protect_sd"] < 0.02 * s["protect_mean"], s
    limit = 4 / math.sqrt(len(m["instr"]))  # 4 standard errors of a correlation near 0
    assert abs(s["corr_noise_sq"]) < limit and abs(s["corr_noise_abs"]) < limit, s
