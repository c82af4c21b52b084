"""The DP audit on a correct device: the canary is the worst case of the replace relation, and
whole firmware images pass (eps_LB <= claim, invariants hold). The tight mechanism audit runs in
test_audit_report.py's shared smoke audit."""
from __future__ import annotations

import numpy as np
import pytest

from tinyfl.audit import DpAuditConfig, audit_device, check_invariants, make_canary
from tinyfl.audit.dp import COORDINATE_ALPHA, check_coordinates, check_replays
from tinyfl.audit.mechanism import mechanism_library
from tinyfl.device_model import head_train, stats_features
from tinyfl.privacy import epsilon, epsilon_pld


def test_canary_updates_are_opposite_and_clipped():
    canary = make_canary(4, 6, 100, clip=1.0, grid_bits=8)
    h = stats_features(canary.window[None])
    updates = [head_train(canary.head, h, np.array([y]), n_classes=4, n_features=24, lr=canary.lr, epochs=1,
                          batch=1) - canary.head for y in (canary.label_in, canary.label_out)]
    cos = updates[0] @ updates[1] / (np.linalg.norm(updates[0]) * np.linalg.norm(updates[1]))
    assert cos < -0.999999  # exactly opposite: the replace relation's worst case
    assert np.linalg.norm(updates[0]) > 1000.0  # far beyond C: every honest device clips it
    margin = np.sqrt(100) / 2  # grid steps the device keeps free for rounding
    assert np.linalg.norm(canary.clean_in) <= 256 and np.linalg.norm(canary.clean_in) >= 256 - margin - 1
    assert np.allclose(canary.clean_in, -canary.clean_out, atol=1)
    # the head passes the device's crafted-head guard
    w, b = canary.head[:96].reshape(4, 24), canary.head[96:]
    assert np.all(np.linalg.norm(w, axis=1) > 1e-6) and np.all(np.abs(b) <= 20) and np.all(np.abs(w) <= 100)


def test_correct_firmware_passes_the_device_audit():
    config = DpAuditConfig(mechanism_trials=0, board_trials=512)
    audit = audit_device(config)
    assert not audit.test_build  # a release build: nothing test-only compiled in
    assert audit.claim_rdp == pytest.approx(epsilon(3.0, 1, 1e-5))
    assert audit.claim_pld == pytest.approx(epsilon_pld(3.0, 1, 1e-5))
    assert audit.eps_lower_bound <= audit.claim_rdp
    assert audit.invariants_pass, [i.detail for i in audit.invariants if not i.passed]
    assert audit.passed
    ratio = next(i for i in audit.invariants if i.name == "noise variance").value
    assert abs(ratio - 1) < 0.02  # the promised (z 2^k)^2, measured on 102,400 noise draws
    names = {i.name for i in audit.invariants}
    assert {"noise variance of every coordinate", "noise distribution of every coordinate",
            "fresh noise after a reboot", "independent noise across boards"} <= names


def _sampler_noise(z: float, draws: int, seed: int) -> tuple[np.ndarray, float]:
    """Noise from the firmware's own sampler (ctypes build), keyed reproducibly for the test."""
    from tinyfl.privacy import noise_variance

    num, den = noise_variance(z, 8)
    lib = mechanism_library(seed=bytes([seed]) * 44)
    ints = lib.releases(np.zeros(100, np.float32), draws, clip=1.0, grid_bits=8, noise_var=(num, den))
    return ints.astype(np.int64), num / den


@pytest.mark.parametrize("z", [1.0, 3.0])
def test_per_coordinate_checks_never_fail_the_true_sampler_and_are_calibrated(z):
    """No false FAIL on the exact discrete Gaussian (the device's sampler), and the tests are
    not vacuous: at a per-test level of 5% about 5% of coordinates are rejected."""
    from scipy.stats import chi2, kstwo

    from tinyfl.audit.dp import _ks_discrete

    var_p, ks_p = [], []
    for rep in range(20):
        noise, var = _sampler_noise(z, 1024, rep + 1)
        assert all(i.passed for i in check_coordinates(noise, var)), rep
        ratio = (noise.astype(float) ** 2).sum(axis=0) / var
        var_p.append(2 * np.minimum(chi2.cdf(ratio, 1024), chi2.sf(ratio, 1024)))
        ks_p.append(kstwo.sf(_ks_discrete(noise, np.sqrt(var)), 1024))
    var_rate, ks_rate = np.mean(np.concatenate(var_p) < 0.05), np.mean(np.concatenate(ks_p) < 0.05)
    assert 0.035 <= var_rate <= 0.065, var_rate  # 2000 coordinates: sd of the rate 0.005
    assert 0.025 <= ks_rate <= 0.065, ks_rate  # conservative for a discrete law, never liberal


def test_per_coordinate_checks_catch_one_coordinate():
    noise, var = _sampler_noise(1.0, 1024, 50)
    clean = check_coordinates(noise, var)
    assert all(i.passed for i in clean)
    unnoised = noise.copy()
    unnoised[:, 96] = 0  # one bias sent without noise: the total variance barely moves (-1%)
    assert {i.name: i.passed for i in check_coordinates(unnoised, var)} == {
        "noise variance of every coordinate": False, "noise distribution of every coordinate": False}
    low = noise.copy()
    low[:, 7] = np.round(low[:, 7] * 0.7)  # half the variance in one coordinate
    assert not check_coordinates(low, var)[0].passed
    shifted = noise.copy()
    shifted[:, 3] += int(0.3 * np.sqrt(var))  # one coordinate off its clean value by 0.3 sigma
    assert [i.passed for i in check_coordinates(shifted, var)] == [True, False]
    assert COORDINATE_ALPHA <= 1e-6


def test_replay_checks_catch_a_key_repeated_across_boots_or_boards():
    noise, _ = _sampler_noise(1.0, 48, 60)
    first, second, other = noise[:16] + 5, noise[16:32] + 5, noise[32:] + 5
    assert all(i.passed for i in check_replays(first, second, other))
    assert [i.passed for i in check_replays(first, first.copy(), other)] == [False, True]
    assert [i.passed for i in check_replays(first, second, first.copy())] == [True, False]
    silent = np.full_like(first, 5)  # no noise at all: nothing fresh to correlate
    assert not any(i.passed for i in check_replays(silent, silent, silent))


def test_invariants_catch_a_mean_beyond_the_clip_bound():
    rng = np.random.default_rng(0)
    sigma = 768.0
    clean = np.zeros(100)
    clean[0] = 600  # 2.3 C: more than any honest device sends
    pairs = lambda: np.stack([clean + rng.normal(0, sigma, (400, 100)) for _ in range(2)], axis=1)  # noqa: E731
    names = {i.name: i.passed for i in check_invariants(pairs(), pairs(), noise_var=sigma ** 2, grid_bits=8)}
    assert names == {"noise variance": True, "clean norm within the clip bound": False,
                     "fresh noise in consecutive releases": True}
    clean[0] = 250  # within C: all hold
    names = {i.name: i.passed for i in check_invariants(pairs(), pairs(), noise_var=sigma ** 2, grid_bits=8)}
    assert all(names.values())


@pytest.mark.qemu
def test_correct_firmware_passes_on_the_emulated_cortex_m4(qemu):
    audit = audit_device(DpAuditConfig(board="qemu", mechanism_trials=0, board_trials=64))
    assert audit.board == "qemu" and audit.boards_started == 2
    assert audit.passed, audit.to_dict()
