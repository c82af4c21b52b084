"""The ledger stores the privacy loss itself (RDP at fixed orders, fixed point): its Python
model against dp-accounting (agreement for one configuration, correct composition across a
reflash, never under-reporting) and the C arithmetic (firmware/tinyfl_rdp.c) against the model."""
from __future__ import annotations

import ctypes
import math
import re

import numpy as np
import pytest

from tinyfl.firmware_config import DpConfig, FirmwareConfig
from tinyfl.paths import FIRMWARE_DIR
from tinyfl.privacy import epsilon, epsilon_composed, releases_allowed
from tinyfl.privacy.ledger import (
    LEDGER_SIZE,
    RDP_ORDERS,
    UNBOUNDED,
    UNIT,
    Ledger,
    curve_for,
    decode_record,
    encode_record,
    eps_float,
    eps_units,
    releases_left,
)

import ledger_clib

DELTA = 1e-5
FLT_MAX = float(np.finfo(np.float32).max)


def _history_eps(history, delta=DELTA, limit=1e4):
    """What a device reports after releases from several images: [(z, n), ...]."""
    ledger = Ledger()
    for z, n in history:
        curve = curve_for(z, delta, limit)
        for _ in range(n):
            ledger.charge(curve, 1, ledger.releases_done + 1)
    return ledger


def test_orders_are_dp_accountings_defaults():
    from dp_accounting.rdp import rdp_privacy_accountant

    assert list(RDP_ORDERS) == pytest.approx(list(rdp_privacy_accountant.DEFAULT_RDP_ORDERS), abs=0)
    h = open(FIRMWARE_DIR / "tinyfl_rdp.h").read()
    assert int(re.search(r"#define TINYFL_RDP_ORDERS (\d+)", h).group(1)) == len(RDP_ORDERS)
    h = open(FIRMWARE_DIR / "tinyfl_ledger.h").read()
    assert "(28 + 4 * TINYFL_RDP_ORDERS)" in h and LEDGER_SIZE == 28 + 4 * len(RDP_ORDERS)


@pytest.mark.parametrize("z", [0.7, 1.0, 2.0, 5.0])
def test_single_config_device_agrees_with_the_host_and_never_under_reports(z):
    curve = curve_for(z, DELTA, 1e4)
    ledger = Ledger()
    for n in range(1, 41):
        ledger.charge(curve, 1, n)
        host = epsilon(z, n, DELTA)
        device = ledger.eps(curve)
        # each release and the conversion term are rounded up by < 1 unit, then float32 up
        assert host <= device <= host + (n + 1) / UNIT + 2e-7 * host, (n, host, device)


@pytest.mark.parametrize("z,limit", [(1.0, 20.0), (1.0, 50.0), (2.0, 10.0), (5.0, 3.0), (0.9, 100.0)])
def test_releases_max_of_a_fresh_device_is_the_hosts_budget(z, limit):
    config = FirmwareConfig(dp=DpConfig(noise_multiplier=z, eps_limit=limit))
    assert config.releases_allowed() == releases_allowed(z, DELTA, limit)


def test_reflash_to_another_noise_composes_with_what_was_spent():
    """Issue 7: 3 releases at z = 1, then a z = 4 image. The old count-based ledger made the new
    image report 4.0 (its own table at n = 3); the truth is the RDP composition, 21.4 and up."""
    ledger = _history_eps([(1.0, 3)])
    z4 = curve_for(4.0, DELTA, 1e4)
    before = epsilon_composed([(1.0, 3)], DELTA)
    assert ledger.eps(z4) == pytest.approx(before, rel=1e-5) and ledger.eps(z4) >= before
    assert before == pytest.approx(21.44, abs=0.01) and epsilon(4.0, 3, DELTA) < 4.1
    ledger.charge(z4, 2, 1)
    after = epsilon_composed([(1.0, 3), (4.0, 1)], DELTA)
    assert ledger.eps(z4) == pytest.approx(after, rel=1e-5) and ledger.eps(z4) >= after
    assert after > before


def test_reflash_never_lowers_what_is_reported_nor_raises_what_is_left():
    rng = np.random.default_rng(3)
    zs = [0.5, 1.0, 2.0, 4.0, 8.0]
    limit = 60.0
    ledger, reported = Ledger(), 0.0
    for _ in range(40):
        curve = curve_for(float(rng.choice(zs)), DELTA, limit)  # a reflash
        eps_now = ledger.eps(curve)
        assert eps_now >= reported  # what is reported never drops
        left = releases_left(ledger.rdp, curve, 1000)
        if left == 0:
            continue
        ledger.charge(curve, 1, ledger.releases_done + 1)
        reported = ledger.eps(curve)
        assert reported <= limit + 1e-9  # a release is allowed only when it fits
    assert reported > 0.9 * limit  # the budget was really used up


def test_clip_grid_and_head_do_not_change_what_a_release_costs():
    """The RDP is in units of the sensitivity 2C whatever C is: only z (and delta, for the
    conversion) enter the curve, so a reflash that changes the rest composes exactly."""
    base = FirmwareConfig(dp=DpConfig(noise_multiplier=1.5))
    for other in (FirmwareConfig(dp=DpConfig(noise_multiplier=1.5, clip=7.0, grid_bits=12)),
                  FirmwareConfig(n_classes=9, n_features=40, dp=DpConfig(noise_multiplier=1.5, clip=0.1))):
        assert other.rdp_curve() == base.rdp_curve()
    assert FirmwareConfig(dp=DpConfig(noise_multiplier=3.0)).rdp_curve().per_release < base.rdp_curve().per_release


def test_no_noise_is_unbounded():
    curve = curve_for(0.0, DELTA, 10.0)
    assert set(curve.per_release) == {UNBOUNDED}
    ledger = _history_eps([(1.0, 2)])
    ledger.charge(curve, 1, 3)
    assert eps_units(ledger.rdp, curve) is None and ledger.eps(curve) == FLT_MAX
    assert ledger.eps(curve_for(5.0, DELTA, 10.0)) == FLT_MAX  # every later image reports it
    assert math.isinf(epsilon_composed([(1.0, 2), (0.0, 1)], DELTA))


def test_saturation_and_fresh_ledger():
    curve = curve_for(1.0, DELTA, 20.0)
    assert Ledger().eps(curve) == 0.0
    ledger = Ledger(rdp=[UNBOUNDED - 1] * len(RDP_ORDERS))
    ledger.charge(curve, 1, 1)
    assert set(ledger.rdp) == {UNBOUNDED}


def test_record_round_trip_and_rejects():
    ledger = _history_eps([(1.0, 2), (3.0, 1)])
    ledger.boot_count, ledger.last_run, ledger.last_round, ledger.config_id = 4, 9, 0xFFFFFFFF, 0x1234
    record = encode_record(ledger)
    assert len(record) == LEDGER_SIZE and decode_record(record) == ledger
    for bad in (record[:-1], encode_record(ledger, version=2), record[:30] + b"\x00" + record[31:]):
        with pytest.raises(ValueError):
            decode_record(bad)


# --- C == Python -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def clib():
    return ledger_clib.load()


def _c_curve(curve, *, no_noise=False):
    per = (ctypes.c_uint32 * len(RDP_ORDERS))(*curve.per_release)
    off = (ctypes.c_int32 * len(RDP_ORDERS))(*curve.eps_offset)
    c = ledger_clib.RdpCurve(None if no_noise else ctypes.cast(per, ctypes.POINTER(ctypes.c_uint32)),
                             ctypes.cast(off, ctypes.POINTER(ctypes.c_int32)), curve.kl_zero_below, curve.limit)
    return c, (per, off)


def _c_eps(v):
    return None if v == 2**63 - 1 else v


@pytest.mark.parametrize("z,delta,limit", [(1.0, 1e-5, 20.0), (4.0, 1e-6, 5.0), (0.6, 1e-3, 200.0),
                                           (0.0, 1e-5, 20.0), (3.0, 0.3, 2.0)])
def test_c_arithmetic_matches_the_model(clib, z, delta, limit):
    curve = curve_for(z, delta, limit)
    c_curve, _keep = _c_curve(curve, no_noise=z == 0)
    rng = np.random.default_rng(int(z * 10))
    starts = [[0] * len(RDP_ORDERS), list(curve_for(1.0, delta, 1).per_release)]
    for _ in range(30):
        rdp = rng.integers(0, 2**32, size=len(RDP_ORDERS), dtype=np.uint64)
        rdp[rng.random(len(RDP_ORDERS)) < 0.2] = UNBOUNDED
        rdp[rng.random(len(RDP_ORDERS)) < 0.3] //= 2**20  # small values: the conversion matters
        starts.append([int(v) for v in rdp])
    for rdp in starts:
        arr = (ctypes.c_uint32 * len(RDP_ORDERS))(*rdp)
        for extra in (0, 1, 7, 1000):
            assert _c_eps(clib.tinyfl_rdp_eps(arr, ctypes.byref(c_curve), extra)) == \
                eps_units(rdp, curve, None if z == 0 else curve.per_release, extra)
        for cap in (0, 1, 65535):
            assert clib.tinyfl_rdp_releases_left(arr, ctypes.byref(c_curve), cap) == releases_left(rdp, curve, cap)
        clib.tinyfl_rdp_charge(arr, ctypes.byref(c_curve), 3)
        model = Ledger(rdp=list(rdp))
        for _ in range(3):
            model.charge(curve, 1, 1)
        assert list(arr) == model.rdp


def test_c_eps_float_rounds_up_like_the_model(clib):
    rng = np.random.default_rng(1)
    for units in [0, 1, 65535, 65536, 2**40 + 1, *rng.integers(0, 2**45, 200).tolist(), 2**63 - 1]:
        c = clib.tinyfl_rdp_eps_float(units)
        py = eps_float(None if units == 2**63 - 1 else units)
        assert np.float32(c) == np.float32(py), units
        if units != 2**63 - 1:
            assert float(np.float32(c)) >= units / UNIT
