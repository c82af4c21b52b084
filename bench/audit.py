"""Audit throughput: DP-audit releases per second (the firmware mechanism through ctypes, and
whole native boards over the wire), attack seconds per update, and the smoke audit end to end.
"""
from __future__ import annotations

import tempfile
import time

import numpy as np


def measure(smoke: bool = True) -> dict[str, float]:
    from tinyfl.audit import AuditConfig, DpAuditConfig, make_canary, run_audit
    from tinyfl.audit.boards import audit_firmware, collect_board_releases
    from tinyfl.audit.leakage import LeakageConfig, run_leakage_level
    from tinyfl.audit.mechanism import mechanism_library
    from tinyfl.privacy import noise_variance

    out: dict[str, float] = {}
    canary = make_canary(4, 6, 100, clip=1.0, grid_bits=8)
    lib = mechanism_library()
    t0 = time.perf_counter()
    lib.releases(np.full(100, 0.1, np.float32), 20_000, clip=1.0, grid_bits=8, noise_var=noise_variance(3.0, 8))
    out["mechanism_releases_per_s"] = 20_000 / (time.perf_counter() - t0)

    cfg = DpAuditConfig()
    firmware, fw_config = audit_firmware("native", canary, n_channels=6, n_steps=100,
                                         noise_multiplier=cfg.noise_multiplier, delta=cfg.delta)
    t0 = time.perf_counter()
    got = collect_board_releases("native", firmware, fw_config, canary, 256)
    out["native_board_releases_per_s"] = 2 * 2 * len(got.world_in) / (time.perf_counter() - t0)

    with tempfile.TemporaryDirectory() as tmp:
        for z in (0.0, 1.0):
            level = run_leakage_level(LeakageConfig(rounds=3), z, f"{tmp}/z{z:g}")
            out[f"attack_s_per_update_z{z:g}"] = level.seconds["attack"] / level.n_updates
            out[f"record_s_per_level_z{z:g}"] = level.seconds["record"]
    if smoke:
        t0 = time.perf_counter()
        run_audit(AuditConfig.smoke())
        out["smoke_audit_s"] = time.perf_counter() - t0
    return out


def main() -> None:
    for key, value in measure().items():
        print(f"{key:32s} {value:12.2f}")


if __name__ == "__main__":
    main()
