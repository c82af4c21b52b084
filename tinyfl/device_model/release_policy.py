"""What a device answers to a global model, as tinyfl_device.c decides it (after the message
decoded and its shape matched): a resend of the last release, a refusal, or a new release
charged to the ledger. And the entropy health tests it runs at boot.

The ledger arithmetic itself is tinyfl.privacy.ledger; this module keeps the order of checks
and what survives a reboot (the ledger) or not (the resend cache, the entropy verdict).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..privacy.ledger import MAX_RELEASES, Ledger, RdpCurve, releases_left

__all__ = ["DeviceState", "decide", "apply", "entropy_health_failure", "RCT_CUTOFF", "APT_CUTOFF", "APT_WINDOW"]

RCT_CUTOFF = 6  # firmware/tinyfl_entropy_health.h
APT_CUTOFF = 62
APT_WINDOW = 512


@dataclass
class DeviceState:
    curve: RdpCurve
    ledger: Ledger = field(default_factory=Ledger)
    locked: bool = False
    entropy_ok: bool = True
    no_noise: bool = False  # a TINYFL_TEST_NO_NOISE image: the budget is not enforced
    cache: tuple[int, int, int] | None = None  # (run, round, nonce) of this boot's last release

    def reboot(self) -> None:
        self.cache = None
        self.ledger.boot_count += 1


def decide(state: DeviceState, run: int, round_: int, nonce: int) -> str:
    """"resend", "release", or the STATUS name of the refusal ("ROUND", "ENTROPY", "BUDGET")."""
    if state.cache == (run, round_, nonce):
        return "resend"
    last = (state.ledger.last_run, state.ledger.last_round)
    if (run, round_) <= last:
        return "ROUND"
    if not state.entropy_ok:
        return "ENTROPY"
    if state.locked or state.ledger.releases_done >= MAX_RELEASES:
        return "BUDGET"
    if not state.no_noise and releases_left(state.ledger.rdp, state.curve, 1) < 1:
        return "BUDGET"
    return "release"


def apply(state: DeviceState, run: int, round_: int, nonce: int) -> str:
    """decide(), then the state change the device makes (a release is charged and cached)."""
    decision = decide(state, run, round_, nonce)
    if decision == "release":
        state.ledger.charge(state.curve, run, round_)
        state.cache = (run, round_, nonce)
    return decision


def entropy_health_failure(data: bytes, rct_cutoff: int = RCT_CUTOFF, apt_cutoff: int = APT_CUTOFF,
                           window: int = APT_WINDOW) -> int | None:
    """Index of the byte at which the repetition count or adaptive proportion test fails, or
    None when `data` passes both (tinyfl_entropy_health_feed over the same bytes)."""
    run, last = 0, None
    seen = count = 0
    first = None
    for i, b in enumerate(data):
        run = run + 1 if (i > 0 and b == last) else 1
        last = b
        if seen == 0:
            first, count = b, 1
        elif b == first:
            count += 1
        seen += 1
        if run >= rct_cutoff or count >= apt_cutoff:
            return i
        if seen == window:
            seen = 0
    return None
