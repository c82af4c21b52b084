"""Accounting with dp-accounting: magnitudes from the literature, monotonicity, the budget
table the firmware embeds, RDP vs PLD."""
from __future__ import annotations

import math
import subprocess
import sys

import pytest

from tinyfl.privacy import (
    effective_noise_multiplier,
    eps_table,
    epsilon,
    epsilon_pld,
    releases_allowed,
)

DELTA = 1e-5


# The literature's figures (PRIVACY_NOTES) are for sensitivity C: the zero_out relation.
def test_one_release_at_z1():
    # analytic Gaussian mechanism: 4.4 (PRIVACY_NOTES); RDP's conversion is a bit looser
    rdp = epsilon(1.0, 1, DELTA, relation="zero_out")
    assert 4.4 < rdp < 5.2
    assert epsilon_pld(1.0, 1, DELTA, relation="zero_out") == pytest.approx(4.4, abs=0.1)


def test_twenty_releases():
    assert epsilon(1.0, 20, DELTA, relation="zero_out") == pytest.approx(30, rel=0.05)
    assert epsilon(5.0, 20, DELTA, relation="zero_out") == pytest.approx(4.2, rel=0.05)


@pytest.mark.parametrize("z,eps", [(0.5, 10.0), (2.0, 2.0), (5.0, 0.73)])
def test_pld_matches_analytic_gaussian(z, eps):
    assert epsilon_pld(z, 1, DELTA, relation="zero_out") == pytest.approx(eps, rel=0.05)


def test_device_claims_use_the_replace_relation():
    # a device's claim covers any two of its datasets: sensitivity 2C, i.e. z / 2 at C
    assert epsilon(1.0, 1, DELTA) == epsilon(0.5, 1, DELTA, relation="zero_out")
    assert eps_table(1.0, DELTA, 1e4, max_releases=2)[2] == epsilon(0.5, 2, DELTA, relation="zero_out")


@pytest.mark.parametrize("z,n", [(1.0, 1), (1.0, 20), (2.0, 10), (0.7, 5)])
def test_rdp_and_pld_agree_roughly(z, n):
    rdp, pld = epsilon(z, n, DELTA), epsilon_pld(z, n, DELTA)
    assert pld <= rdp * 1.01  # PLD is the tighter accountant
    assert pld >= 0.75 * rdp


def test_monotone_in_releases_and_noise():
    for z in (0.5, 1.0, 3.0):
        values = [epsilon(z, n, DELTA) for n in range(0, 40)]
        assert values[0] == 0.0
        assert all(a < b for a, b in zip(values, values[1:]))
    for n in (1, 10):
        by_z = [epsilon(z, n, DELTA) for z in (0.3, 0.5, 1.0, 2.0, 5.0)]
        assert all(a > b for a, b in zip(by_z, by_z[1:]))


def test_eps_table_is_the_budget():
    table = eps_table(1.0, DELTA, 40.0)
    assert table[0] == 0.0
    assert all(a < b for a, b in zip(table, table[1:]))
    allowed = len(table) - 1
    assert table[-1] <= 40.0 < epsilon(1.0, allowed + 1, DELTA)
    assert table == [epsilon(1.0, n, DELTA) for n in range(len(table))]
    assert releases_allowed(1.0, DELTA, 40.0) == allowed
    assert eps_table(1.0, DELTA, 0.0) == [0.0]
    assert len(eps_table(5.0, DELTA, 1e9, max_releases=17)) == 18


def test_eps_table_uses_the_multiplier_the_device_applies():
    z = 1 / math.pi  # the device applies 113/355
    applied = effective_noise_multiplier(z)
    assert applied == 113 / 355
    table = eps_table(z, DELTA, 1e4, max_releases=3)
    assert table[1] == epsilon(applied, 1, DELTA)


def test_no_noise_is_infinite_eps():
    assert epsilon(0.0, 1, DELTA) == math.inf
    assert eps_table(0.0, DELTA, 100.0) == [0.0]


@pytest.mark.parametrize("args", [(-1.0, 1, DELTA), (1.0, -1, DELTA), (1.0, 1, 0.0), (1.0, 1, 1.0),
                                  (float("nan"), 1, DELTA), (float("inf"), 1, DELTA)])
def test_bad_arguments(args):
    with pytest.raises(ValueError):
        epsilon(*args)


def test_import_is_light():
    code = ("import sys, tinyfl.privacy; "
            "assert 'tensorflow' not in sys.modules; assert 'dp_accounting' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_replace_relation_doubles_the_sensitivity():
    assert epsilon(1.0, 3, DELTA, relation="replace") == epsilon(0.5, 3, DELTA, relation="zero_out")
    assert epsilon_pld(2.0, 1, DELTA, relation="replace") == epsilon_pld(1.0, 1, DELTA, relation="zero_out")
    with pytest.raises(ValueError):
        epsilon(1.0, 1, DELTA, relation="swap")
