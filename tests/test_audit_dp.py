"""The DP audit on a correct device: the canary is the worst case of the replace relation, and
whole firmware images pass (eps_LB <= claim, invariants hold). The tight mechanism audit runs in
test_audit_report.py's shared smoke audit."""
from __future__ import annotations

import numpy as np
import pytest

from tinyfl.audit import DpAuditConfig, audit_device, check_invariants, make_canary
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
def test_correct_firmware_passes_on_the_emulated_cortex_m4():
    audit = audit_device(DpAuditConfig(board="qemu", mechanism_trials=0, board_trials=64))
    assert audit.board == "qemu" and audit.boards_started == 2
    assert audit.passed, audit.to_dict()
