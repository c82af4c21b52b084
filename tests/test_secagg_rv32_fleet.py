"""A RISC-V board (qemu-virt-rv32, the ESP32-C3's rv32imc, under QEMU) runs secure-aggregation
rounds in a mixed fleet with native boards: the unmasked sum equals the sum of the survivors'
noised inputs (from the test build's log hook) in a round where a native board drops out after
the share step, and the RISC-V board's ledger reports the same two eps as the native ones, round
after round. Under CI, missing RISC-V tools fail the test (conftest's `qemu_rv32` fixture)."""
from __future__ import annotations

import numpy as np
import pytest

from secagg_fleet_support import CONFIG, expected_eps, firmware, logged_input, open_sessions, shards
from test_secagg_hostile import SMALL
from tinyfl.emulate import Fleet, launch_fleet
from tinyfl.fleet.secagg_round import SecaggOutcome, SecureRound, select_cohort

pytestmark = pytest.mark.qemu

RV32_ID = 5
NATIVE_IDS = [1, 2, 3, 4]
DROPPED = 2  # stopped before the mask step of round 2: its mask key is rebuilt from shares


def test_rv32_board_in_a_mixed_secure_fleet(qemu_rv32, tmp_path):
    images = {"native": firmware("native", SMALL), "rv32": firmware("qemu-virt-rv32", SMALL)}
    data = shards(tmp_path, 5)
    native = launch_fleet("native", 4, images["native"], data[:4], tmp_path / "native", device_ids=NATIVE_IDS)
    try:
        rv32 = launch_fleet("qemu-virt-rv32", 1, images["rv32"], data[4:], tmp_path / "rv32", device_ids=[RV32_ID])
    except BaseException:
        native.stop()
        raise
    with native, rv32:
        fleet = Fleet([*native, *rv32])
        boards = {b.device_id: b for b in fleet}
        sessions, hellos, policies = open_sessions(fleet)
        try:
            assert hellos[RV32_ID].firmware_hash == hellos[1].firmware_hash  # the same configuration
            n_min, cohort, left_out = select_cohort(policies, hellos, k=0, n_min=0)
            assert (cohort, left_out) == ([1, 2, 3, 4, 5], {})
            params = np.linspace(-0.1, 0.1, CONFIG.n_params, dtype=np.float32)
            for round_number in (1, 2):
                def between(step: str, live: list[int]) -> None:
                    if round_number == 2 and step == "masked":
                        boards[DROPPED].stop()

                result = SecureRound(sessions, n_min=n_min, step_timeout_s=30.0, rng=np.random.default_rng(round_number),
                                     between=between).run(
                    run=1, round_number=round_number, params=params, n_classes=CONFIG.n_classes,
                    n_features=CONFIG.n_features, lr=0.1, local_epochs=2, batch_size=3)
                assert result.ok, result.failure
                expect = [1, 2, 3, 4, 5] if round_number == 1 else [1, 3, 4, 5]
                assert result.survivors == expect
                truth = sum(logged_input(boards[d], round_number, CONFIG.n_params) for d in result.survivors)
                np.testing.assert_array_equal(result.total, truth)
                eps = expected_eps(round_number, SMALL)
                for d in (RV32_ID, 1):
                    assert result.eps[d] == pytest.approx(eps, rel=1e-6)
            assert result.outcomes[DROPPED][0] in (SecaggOutcome.DROPPED, SecaggOutcome.LINK_DOWN)
        finally:
            for s in sessions.values():
                s.close()
