"""The privacy audit of a tinyfl deployment (what `tinyfl audit` runs).

- DP audit (Jagielski, Ullman, Oprea 2020): the firmware's release mechanism with and without a
  canary, eps lower bounds with Clopper-Pearson intervals next to the claimed eps, plus checks
  of every coordinate's noise and of fresh noise after a reboot and across boards, at the tight
  z and at the configured z; fails the deliberately broken test builds (noise off, reused seed,
  noise before clipping, a clip larger than told, one coordinate without noise, a key constant
  across boots): `run_dp_audit`, `DpAuditConfig`, `BROKEN_VARIANTS`, `check_coordinates`,
  `check_replays`.
- Attack audit: emulated devices with known data at a grid of noise levels, every update
  attacked with tinyfl.attack, a verdict per kind of leak (label, features, raw input):
  `run_leakage_level`, `LeakageConfig`.
- Privacy/utility: FedAvg accuracy at each noise level for a stated fleet size: `utility_curve`.
- `run_audit(AuditConfig) -> AuditReport` (`.to_dict()`: the JSON summary) and
  `render(report, out_dir)`: report.html with figures. docs/audit.md explains how to read it.

Importing this package is light: no TensorFlow, no matplotlib, no scipy until used.
"""
from .canary import Canary, make_canary
from .dp import (
    BROKEN_VARIANTS,
    DeviceAudit,
    DpAudit,
    DpAuditConfig,
    Invariant,
    MechanismAudit,
    audit_device,
    audit_mechanism,
    check_coordinates,
    check_invariants,
    check_replays,
    run_dp_audit,
)
from .leakage import LEAKS, LeakageConfig, LevelResult, MetricScore, level_reconstruction, run_leakage_level
from .render import render
from .report import PARTS, AuditConfig, AuditReport, run_audit
from .stats import Distinguisher, audit_scores, clopper_pearson_upper, eps_from_rates, eps_lower_bound
from .utility import UtilityConfig, UtilityCurve, utility_curve

__all__ = [
    # whole audit
    "AuditConfig",
    "AuditReport",
    "PARTS",
    "run_audit",
    "render",
    # DP audit
    "BROKEN_VARIANTS",
    "DpAuditConfig",
    "DpAudit",
    "MechanismAudit",
    "DeviceAudit",
    "Invariant",
    "run_dp_audit",
    "audit_mechanism",
    "audit_device",
    "check_invariants",
    "check_coordinates",
    "check_replays",
    "Canary",
    "make_canary",
    # statistics
    "Distinguisher",
    "audit_scores",
    "clopper_pearson_upper",
    "eps_from_rates",
    "eps_lower_bound",
    # attack audit
    "LEAKS",
    "LeakageConfig",
    "LevelResult",
    "MetricScore",
    "run_leakage_level",
    "level_reconstruction",
    # utility
    "UtilityConfig",
    "UtilityCurve",
    "utility_curve",
]
