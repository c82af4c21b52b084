"""A mixed fleet of 16 boards, 4 of them Cortex-M4F images under QEMU (mps2-an386) and 12
native ones (16 QEMU machines are too slow on 2 cores), completes a secure-aggregation round
with dropouts on both kinds: the unmasked sum equals the sum of the survivors' noised inputs
(from the test build's log hook), and the QEMU boards' ledgers report the same two eps as the
native ones. Under CI, missing QEMU tools fail the test (conftest's `qemu` fixture)."""
from __future__ import annotations

import numpy as np
import pytest

from secagg_fleet_support import CONFIG, expected_eps, firmware, logged_input, open_sessions, shards
from tinyfl.emulate import Fleet, launch_fleet
from tinyfl.fleet.secagg_round import SecaggOutcome, SecureRound, check_policies

pytestmark = pytest.mark.qemu

QEMU_IDS = [13, 14, 15, 16]
NATIVE_IDS = list(range(1, 13))
DROPS = {"keys": [], "shares": [2, 14], "masked": [6], "reveal": [15, 9]}  # 5 <= n - n_min = 7


def test_mixed_native_and_qemu_fleet_round(qemu, tmp_path):
    images = {"native": firmware("native"), "qemu": firmware("qemu")}
    data = shards(tmp_path, 16)
    native = launch_fleet("native", 12, images["native"], data[:12], tmp_path / "native",
                          device_ids=NATIVE_IDS)
    try:
        on_qemu = launch_fleet("qemu", 4, images["qemu"], data[12:], tmp_path / "qemu", device_ids=QEMU_IDS)
    except BaseException:
        native.stop()
        raise
    with native, on_qemu:
        fleet = Fleet([*native, *on_qemu])
        boards = {b.device_id: b for b in fleet}
        sessions, hellos, policies = open_sessions(fleet)
        assert hellos[13].firmware_hash == hellos[1].firmware_hash  # the same configuration
        n_min = check_policies(policies, hellos, k=0, n_min=0)

        def between(step: str, live: list[int]) -> None:
            for device_id in DROPS[step]:
                boards[device_id].stop()

        result = SecureRound(sessions, n_min=n_min, step_timeout_s=20.0, rng=np.random.default_rng(3),
                             between=between).run(
            run=1, round_number=1, params=np.linspace(-0.1, 0.1, CONFIG.n_params, dtype=np.float32),
            n_classes=CONFIG.n_classes, n_features=CONFIG.n_features, lr=0.1, local_epochs=2, batch_size=3)
        assert result.ok, result.failure
        assert result.survivors == sorted(set(boards) - {2, 14, 6})
        assert result.outcomes[14][0] in (SecaggOutcome.DROPPED, SecaggOutcome.LINK_DOWN)
        truth = sum(logged_input(boards[d], 1, CONFIG.n_params) for d in result.survivors)
        np.testing.assert_array_equal(result.total, truth)
        central, local = expected_eps(1)
        for d in (13, 16, 1):
            assert result.eps[d] == pytest.approx((central, local), rel=1e-6)
        for s in sessions.values():
            s.close()
