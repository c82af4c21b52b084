"""Privacy accounting for device releases, with Google's dp-accounting.

Each release of a device is one Gaussian mechanism with L2 sensitivity 1 (the clip bound C,
exactly 2^k grid steps after rounding) and noise multiplier z (sigma / C). Releases of one
device compose; the RDP accountant composes them (the device's budget table is built with it),
the PLD accountant gives a tighter figure for comparison. The discrete Gaussian's Renyi
divergences are at most the continuous Gaussian's (Canonne, Kamath, Steinke 2020), so
accounting it as a Gaussian is sound.

Neighbouring relation. "replace" (the default, and what every device's budget table uses)
compares the updates of any two local datasets of one device: both have norm <= C, so the
sensitivity is 2C, the Gaussian mechanism with multiplier z / 2. That is the guarantee that
matters when the server sees each device's update on its own (our threat model), and what an
audit with and without a canary sample on a device tests. "zero_out" compares an update with
a zero one (sensitivity C), as DP-FedAvg reports user-level DP for a trusted aggregate; it is
offered for comparison with the literature, never for a device's claim.

The RDP accountant runs at the ledger's fixed orders (tinyfl.privacy.ledger.RDP_ORDERS,
dp-accounting's defaults pinned), so the host's figure and the device's ledger agree.

dp_accounting is imported inside the functions: importing tinyfl.privacy stays fast.
"""
from __future__ import annotations

import math
from functools import lru_cache
from typing import Sequence

from .ledger import RDP_ORDERS
from .noise import effective_noise_multiplier

__all__ = ["epsilon", "epsilon_composed", "epsilon_pld", "eps_table", "releases_allowed"]

MAX_TABLE_RELEASES = 65535  # the wire's releases counters are u16


RELATIONS = {"zero_out": 1.0, "replace": 2.0}  # relation -> sensitivity in units of C
DEFAULT_RELATION = "replace"


def _applied(noise_multiplier: float, relation: str) -> float:
    if relation not in RELATIONS:
        raise ValueError(f"relation must be one of {sorted(RELATIONS)}, got {relation!r}")
    return noise_multiplier / RELATIONS[relation]


def _check(noise_multiplier: float, releases: int, delta: float) -> None:
    if not noise_multiplier >= 0 or math.isinf(noise_multiplier):
        raise ValueError(f"noise multiplier must be finite and >= 0, got {noise_multiplier!r}")
    if releases < 0 or int(releases) != releases:
        raise ValueError(f"releases must be an integer >= 0, got {releases!r}")
    if not 0 < delta < 1:
        raise ValueError(f"delta must be in (0, 1), got {delta!r}")


def _event(noise_multiplier: float, releases: int):
    import dp_accounting

    return dp_accounting.SelfComposedDpEvent(
        dp_accounting.GaussianDpEvent(noise_multiplier), int(releases))


def epsilon(noise_multiplier: float, releases: int, delta: float, *,
            relation: str = DEFAULT_RELATION) -> float:
    """eps after `releases` Gaussian releases of multiplier z at this delta (RDP accountant).
    0 for no release; inf when z == 0 and something was released."""
    _check(noise_multiplier, releases, delta)
    return _epsilon_rdp(_applied(noise_multiplier, relation), int(releases), float(delta))


@lru_cache(maxsize=4096)
def _epsilon_rdp(noise_multiplier: float, releases: int, delta: float) -> float:
    if releases == 0:
        return 0.0
    if noise_multiplier == 0:
        return math.inf
    from dp_accounting import rdp

    accountant = rdp.RdpAccountant(orders=list(RDP_ORDERS))
    accountant.compose(_event(noise_multiplier, releases))
    return float(accountant.get_epsilon(delta))


def epsilon_composed(history: Sequence[tuple[float, int]], delta: float, *,
                     relation: str = DEFAULT_RELATION) -> float:
    """eps of a device whose releases came from several configurations (e.g. a reflash):
    history is [(noise multiplier, releases), ...], composed by the RDP accountant."""
    for z, n in history:
        _check(z, n, delta)
    if sum(int(n) for _, n in history) == 0:
        return 0.0
    if any(z == 0 and n > 0 for z, n in history):
        return math.inf
    from dp_accounting import rdp

    accountant = rdp.RdpAccountant(orders=list(RDP_ORDERS))
    for z, n in history:
        if n:
            accountant.compose(_event(_applied(z, relation), n))
    return float(accountant.get_epsilon(delta))


def epsilon_pld(noise_multiplier: float, releases: int, delta: float, *,
                relation: str = DEFAULT_RELATION, value_discretization_interval: float = 1e-3) -> float:
    """The same with the privacy loss distribution accountant (tighter, slower)."""
    _check(noise_multiplier, releases, delta)
    return _epsilon_pld(_applied(noise_multiplier, relation), int(releases), float(delta),
                        float(value_discretization_interval))


@lru_cache(maxsize=256)
def _epsilon_pld(noise_multiplier: float, releases: int, delta: float,
                 value_discretization_interval: float) -> float:
    if releases == 0:
        return 0.0
    if noise_multiplier == 0:
        return math.inf
    from dp_accounting import pld

    accountant = pld.PLDAccountant(value_discretization_interval=value_discretization_interval)
    accountant.compose(_event(noise_multiplier, releases))
    return float(accountant.get_epsilon(delta))


@lru_cache(maxsize=256)
def _eps_table(z_applied: float, delta: float, eps_limit: float, max_releases: int) -> tuple[float, ...]:
    table = [0.0]
    for n in range(1, max_releases + 1):
        eps = _epsilon_rdp(z_applied, n, delta)
        if eps > eps_limit:
            break
        table.append(eps)
    return tuple(table)


def eps_table(noise_multiplier: float, delta: float, eps_limit: float,
              max_releases: int = 256) -> list[float]:
    """eps after n releases for n = 0, 1, ... up to the last n with eps <= eps_limit, at most
    max_releases: len - 1 is how many releases the budget allows. Uses the multiplier the
    device really applies (the fraction zn/zd of tinyfl.privacy.noise)."""
    if not eps_limit >= 0:
        raise ValueError(f"eps_limit must be >= 0, got {eps_limit!r}")
    if not 0 <= max_releases <= MAX_TABLE_RELEASES:
        raise ValueError(f"max_releases must be in 0..{MAX_TABLE_RELEASES}")
    z = effective_noise_multiplier(noise_multiplier)
    _check(z, 0, delta)
    return list(_eps_table(_applied(z, DEFAULT_RELATION), float(delta), float(eps_limit),
                           int(max_releases)))


def releases_allowed(noise_multiplier: float, delta: float, eps_limit: float,
                     max_releases: int = 256) -> int:
    return len(eps_table(noise_multiplier, delta, eps_limit, max_releases)) - 1
