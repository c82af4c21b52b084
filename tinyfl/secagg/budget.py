"""Noise split, modulus bit budget and accounting of secure aggregation with distributed
discrete Gaussian noise (Kairouz, Liu, Steinke, ICML 2021: DDGauss).

Every device adds N_Z(0, v) with v = max(sigma^2 / n_min, sigma_local^2) grid steps^2, so the
sum over at least n_min honest devices carries variance >= sigma^2 (the central guarantee) and
each masked input, should the masks ever be removed for one device alone, still carries v
(the local floor). Sums of discrete Gaussians are not discrete Gaussians; Proposition 14 of
the paper bounds the extra Renyi divergence with tau, which `central_rdp` adds.
"""
from __future__ import annotations

import math
from fractions import Fraction
from math import isqrt
from typing import Sequence

__all__ = ["TAIL_SIGMAS", "bits_needed", "central_epsilon", "central_rdp", "device_variance",
           "local_epsilon"]

TAIL_SIGMAS = 14  # as in tinyfl_secagg_config_check: P(|N(0, s^2)| > 14 s) < 2^-140


def device_variance(sigma2: Fraction, n_min: int, local2: Fraction = Fraction(0)) -> tuple[int, int]:
    """Per-device variance (num, den) in lowest terms: max(sigma^2 / n_min, sigma_local^2)."""
    if n_min < 2 or sigma2 <= 0 or local2 < 0:
        raise ValueError("need n_min >= 2, sigma^2 > 0 and sigma_local^2 >= 0")
    v = max(Fraction(sigma2) / n_min, Fraction(local2))
    return v.numerator, v.denominator


def bits_needed(n_max: int, bound: int, noise: tuple[int, int]) -> int:
    """Bits of a two's-complement word that holds the sum of n_max inputs of |x_i| <= bound plus
    TAIL_SIGMAS standard deviations of the summed noise; the same integer arithmetic as the
    device's check, which requires it to be <= 32 (the modulus 2^32)."""
    num, den = noise
    summed_std = isqrt(-(-num * n_max // den)) + 1
    worst = n_max * bound + TAIL_SIGMAS * summed_std
    return worst.bit_length() + 1


def central_rdp(orders: Sequence[float], *, l2: float, l1: float, dim: int, n: int,
                local_var: float) -> list[float]:
    """RDP at each order of the sum of n devices' N_Z(0, local_var) noise for one release with
    L2 / L1 sensitivities l2, l1 (grid steps): DDGauss Proposition 14 (local_var >= 1/4)."""
    if local_var < 0.25 or n < 1:
        raise ValueError("Proposition 14 needs sigma >= 1/2 and n >= 1")
    tau = 10 * sum(math.exp(-2 * math.pi ** 2 * local_var * k / (k + 1)) for k in range(1, n))
    s = math.sqrt(n * local_var)
    a2, a1 = l2 / s, l1 / s
    return [min(a / 2 * a2 ** 2 + tau * dim,
                a / 2 * (a2 ** 2 + 2 * a1 * tau + tau ** 2 * dim),
                a / 2 * (a2 + math.sqrt(dim) * tau) ** 2) for a in orders]


def central_epsilon(releases: int, delta: float, *, bound: int, dim: int, n_min: int,
                    local_var: float) -> float:
    """eps of `releases` secure-aggregation releases of dim coordinates, given at least n_min
    honest devices; replace-one relation as the device ledger: L2 sensitivity 2 * bound grid
    steps (bound = 2^grid_bits), L1 <= sqrt(dim) * L2."""
    from dp_accounting.rdp.rdp_privacy_accountant import compute_epsilon

    from ..privacy.ledger import RDP_ORDERS

    l2 = 2.0 * bound
    rdp = central_rdp(RDP_ORDERS, l2=l2, l1=math.sqrt(dim) * l2, dim=dim, n=n_min,
                      local_var=local_var)
    return float(compute_epsilon(RDP_ORDERS, [releases * r for r in rdp], delta)[0])


def local_epsilon(releases: int, delta: float, *, bound: int, local_var: float) -> float:
    """eps a device keeps against a server that could remove its masks (e.g. by sybils): its
    own noise alone, a discrete Gaussian of variance local_var (accounted as the Gaussian,
    which bounds it: Canonne, Kamath, Steinke 2020)."""
    from ..privacy.accounting import epsilon

    return epsilon(math.sqrt(local_var) / bound, releases, delta)  # z = sigma / C, replace


def ledger_curves(*, sigma2: Fraction, n_min: int, local2: Fraction, bound: int, dim: int,
                  delta: float, eps_limit: float):
    """(central, local) RdpCurve of one secure-aggregation release in the device ledger's fixed
    point (tinyfl.privacy.ledger): what an image with secure aggregation would compile in so its
    ledger accounts both guarantees (phase 2 wires them into the device). Each per-order value is
    rounded up; local is the Gaussian of the device's own variance, central is Proposition 14
    over n_min devices."""
    from ..privacy import ledger

    num, den = device_variance(sigma2, n_min, local2)
    v = num / den
    base = ledger.curve_for(math.sqrt(v) / bound, delta, eps_limit, exact=True)  # local: z = sd / C
    l2 = 2.0 * bound
    central = central_rdp(ledger.RDP_ORDERS, l2=l2, l1=math.sqrt(dim) * l2, dim=dim, n=n_min,
                          local_var=v)
    per = tuple(min(max(math.ceil(r * ledger.UNIT), 1), ledger.UNBOUNDED) for r in central)
    return ledger.RdpCurve(per, base.eps_offset, base.kl_zero_below, base.limit), base
