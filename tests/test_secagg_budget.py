"""Secure aggregation's noise split, bit budget and accounting, against dp-accounting and the
device's own check; and Monocypher's pinned, hash-checked extraction working offline."""
from __future__ import annotations

import math
from fractions import Fraction

import pytest

from tinyfl.secagg import budget, third_party


def test_device_variance_splits_sigma_and_keeps_the_floor():
    assert budget.device_variance(Fraction(65536), 8) == (8192, 1)
    assert budget.device_variance(Fraction(65536), 8, Fraction(10000)) == (10000, 1)
    with pytest.raises(ValueError):
        budget.device_variance(Fraction(1), 1)


def test_bits_needed_grows_with_the_cohort():
    noise = budget.device_variance(Fraction(65536), 10)
    small = budget.bits_needed(100, 256, noise)
    big = budget.bits_needed(100_000, 256, noise)
    assert small < big
    # 100 devices x 256 = 25,600 plus 14 sd (sd = 256 * sqrt(10)) -> 36,934: 16 bits + sign
    assert small == 17


def test_central_rdp_tends_to_the_gaussian():
    """With a large local sigma tau vanishes: the sum is the Gaussian of variance n * v."""
    import dp_accounting
    from dp_accounting import rdp

    from tinyfl.privacy.ledger import RDP_ORDERS

    v, n, l2 = 4096.0 ** 2 / 10, 10, 512.0
    ours = budget.central_rdp(RDP_ORDERS, l2=l2, l1=l2 * 8, dim=64, n=n, local_var=v)
    acc = rdp.RdpAccountant(orders=list(RDP_ORDERS))
    acc.compose(dp_accounting.GaussianDpEvent(math.sqrt(n * v) / l2))
    for got, want in zip(ours, acc._rdp):
        assert got == pytest.approx(want, rel=1e-9)


def test_central_rdp_pays_for_small_local_noise():
    """At sigma ~ 1 grid step per device tau is large and the bound is much worse."""
    rdp_small = budget.central_rdp([2.0], l2=2.0, l1=2.0, dim=100, n=100, local_var=0.3)[0]
    rdp_gauss = 2.0 / 2 * 2.0 ** 2 / (100 * 0.3)
    assert rdp_small > 2 * rdp_gauss


def test_central_eps_is_smaller_than_local_eps():
    v = budget.device_variance(Fraction(256 ** 2), 10)
    local_var = v[0] / v[1]
    central = budget.central_epsilon(1, 1e-5, bound=256, dim=100, n_min=10, local_var=local_var)
    local = budget.local_epsilon(1, 1e-5, bound=256, local_var=local_var)
    from tinyfl.privacy.accounting import epsilon

    assert central == pytest.approx(epsilon(1.0, 1, 1e-5), rel=1e-6)  # z = 1 centrally
    assert local > 2 * central


def test_monocypher_is_restored_offline_when_tampered(tmp_path, monkeypatch):
    folder = third_party.ensure_monocypher()  # needs the pinned sdist (downloaded once)
    sdist = folder.parent / "downloads" / third_party.SDIST
    assert sdist.is_file()
    monkeypatch.setenv("TINYFL_BUILD_DIR", str(tmp_path))
    (tmp_path / "third_party" / "downloads").mkdir(parents=True)
    (tmp_path / "third_party" / "downloads" / third_party.SDIST).write_bytes(sdist.read_bytes())
    # no network: pip must not be called
    monkeypatch.setattr(third_party.subprocess, "run", lambda *a, **k: pytest.fail("downloaded"))
    fresh = third_party.ensure_monocypher()
    assert fresh == tmp_path / "third_party" / "monocypher"
    (fresh / "monocypher.c").write_text("/* tampered */")
    assert third_party.ensure_monocypher() == fresh
    assert "Monocypher version 4.0.3" in (fresh / "monocypher.c").read_text()


def test_a_wrong_sdist_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("TINYFL_BUILD_DIR", str(tmp_path))
    downloads = tmp_path / "third_party" / "downloads"
    downloads.mkdir(parents=True)

    def fake_pip(cmd, **kwargs):  # the index served other bytes
        (downloads / third_party.SDIST).write_bytes(b"not the pinned archive")

        class Done:
            returncode, stdout, stderr = 0, "", ""
        return Done()

    monkeypatch.setattr(third_party.subprocess, "run", fake_pip)
    with pytest.raises(third_party.ThirdPartyError, match="sha256"):
        third_party.ensure_monocypher()
    assert not (downloads / third_party.SDIST).exists()


def test_ledger_curves_give_the_accountants_eps():
    """The fixed-point curves a secure-aggregation image would compile in: one release read
    back through the ledger's own eps conversion matches the float accounting (central and
    local), and the central curve is the cheaper one."""
    from tinyfl.privacy import ledger

    central, local = budget.ledger_curves(sigma2=Fraction(256 ** 2), n_min=10,
                                          local2=Fraction(128 ** 2), bound=256, dim=100,
                                          delta=1e-5, eps_limit=50.0)
    fresh = [0] * len(ledger.RDP_ORDERS)
    c_eps = ledger.eps_units(fresh, central, central.per_release, 1) / ledger.UNIT
    l_eps = ledger.eps_units(fresh, local, local.per_release, 1) / ledger.UNIT
    assert c_eps == pytest.approx(budget.central_epsilon(1, 1e-5, bound=256, dim=100, n_min=10,
                                                         local_var=16384.0), abs=1e-3)
    assert l_eps == pytest.approx(budget.local_epsilon(1, 1e-5, bound=256, local_var=16384.0),
                                  abs=1e-3)
    assert all(c <= l for c, l in zip(central.per_release, local.per_release))
