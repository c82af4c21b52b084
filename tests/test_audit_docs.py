"""The privacy figures quoted in docs/privacy.md are dp-accounting's, under the relation each
row names (issue 7: zero-out figures were quoted as if they were the device's)."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from tinyfl.firmware_config import DpConfig
from tinyfl.privacy import epsilon, epsilon_pld
from tinyfl.privacy.accounting import releases_allowed

DOC = (Path(__file__).resolve().parents[1] / "docs" / "privacy.md").read_text()
ROWS = {  # row label in the table -> (accountant, releases, relation)
    "eps, one release, RDP, replace (the device's figure)": (epsilon, 1, "replace"),
    "eps, one release, PLD, replace": (epsilon_pld, 1, "replace"),
    "eps, 20 releases, RDP, replace": (epsilon, 20, "replace"),
    "eps, one release, RDP, zero-out (literature only)": (epsilon, 1, "zero_out"),
    "eps, one release, PLD, zero-out (literature only)": (epsilon_pld, 1, "zero_out"),
    "eps, 20 releases, RDP, zero-out (literature only)": (epsilon, 20, "zero_out"),
}


def _table() -> tuple[list[float], dict[str, list[float]]]:
    header = re.search(r"^\| z \|(.*)\|$", DOC, re.M)
    zs = [float(v) for v in header.group(1).split("|")]
    rows = {}
    for label in ROWS:
        row = re.search(r"^\| " + re.escape(label) + r" \|(.*)\|$", DOC, re.M)
        assert row is not None, label
        rows[label] = [float(v) for v in row.group(1).split("|")]
    return zs, rows


@pytest.mark.parametrize("label", sorted(ROWS))
def test_every_table_figure_is_dp_accountings(label):
    zs, rows = _table()
    accountant, releases, relation = ROWS[label]
    for z, quoted in zip(zs, rows[label]):
        exact = accountant(z, releases, 1e-5, relation=relation)
        assert quoted == pytest.approx(exact, rel=0.006), (label, z, exact)  # three figures


def test_the_quoted_budgets_are_the_devices():
    dp = DpConfig()
    assert (dp.noise_multiplier, dp.delta, dp.eps_limit) == (1.0, 1e-5, 50.0)
    n = releases_allowed(dp.noise_multiplier, dp.delta, dp.eps_limit)
    assert f"eps_limit = 50) the table allows {n} releases under the replace relation" in " ".join(DOC.split())
    assert f"an eps_limit of 40 allows {releases_allowed(1.0, 1e-5, 40.0)}" in DOC
    assert f"(eps {epsilon(1.0, n, 1e-5):.1f} after the tenth)" in " ".join(DOC.split())
    assert "the table allows 30 releases" not in DOC  # the zero-out figure quoted as the device's
