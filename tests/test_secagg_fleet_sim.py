"""Secure aggregation at fleet scale (tinyfl.secagg.fleet_sim): the real protocol's sum equals
the plain integer sum of the same devices' updates, the server's record holds only sums and
masked vectors, the audit of what a 100-device secagg fleet's server saw finds every leak at
baseline (exit 0) while it FAILS the broken variants (a server that sees each update; a "sum"
of two noiseless devices), and the per-device eps of each fleet come from the accountants."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from tinyfl.attack import Auxiliary
from tinyfl.attack.aggregate import release_input
from tinyfl.audit.aggregate import AT_BASELINE, audit_record
from tinyfl.secagg.fleet_sim import (FleetSimOptions, digits_fleet_data, paired_accuracy_difference,
                                     same_fleet, simulate_fleet)
from tinyfl.secagg.record import SumReader


@pytest.fixture(scope="module")
def data():
    return digits_fleet_data()


@pytest.fixture(scope="module")
def aux(data):
    return Auxiliary(data.x_test.astype(np.float64), data.y_test, data.x_test)


def _releases(run_dir):
    return list(SumReader(run_dir).releases())


def test_protocol_sum_equals_the_plain_sum_of_the_same_updates(tmp_path, data):
    # no noise on either side, so the two fleets send the same integers: the protocol's
    # unmasked sum (dropouts at every step) must be the plain sum of the survivors' updates
    small = FleetSimOptions(mode="none", devices=14, n_min=10, rounds=2, dropout=0.2)
    plain = simulate_fleet(small, tmp_path / "plain", data)
    masked = simulate_fleet(same_fleet(small, "secagg", z=0.0), tmp_path / "secagg", data)
    assert masked.sums_checked == 2 and plain.cohorts == masked.cohorts == [11, 11]
    updates = _releases(tmp_path / "plain")
    sums = _releases(tmp_path / "secagg")
    assert {r.kind for r in updates} == {"update"} and [r.kind for r in sums] == ["sum", "sum"]
    for s in sums:
        mine = [u for u in updates if u.round == s.round]
        assert sorted(c for u in mine for c in u.cohort) == list(s.cohort)
        assert np.array_equal(s.values, np.sum([u.values for u in mine], axis=0))
    assert masked.accuracy == plain.accuracy  # the same heads, round after round


def test_server_sees_only_sums_and_uniform_masked_vectors(tmp_path, data):
    o = FleetSimOptions(mode="secagg", devices=12, n_min=9, rounds=1, dropout=0.0)
    simulate_fleet(o, tmp_path / "s", data)
    simulate_fleet(same_fleet(o, "none"), tmp_path / "n", data)
    reader = SumReader(tmp_path / "s")
    (only,) = list(reader.releases())
    assert only.is_aggregate and len(only.cohort) == 12
    masked = reader.masked(1)
    updates = {u.cohort[0]: u.values for u in _releases(tmp_path / "n")}
    for device, y in masked.items():
        word = y.astype(np.int64).astype(np.uint32)
        assert not np.array_equal(word.astype(np.int32), updates[device])
        top = (word >> 31).mean()  # a masked word is uniform modulo 2^32; an update is small
        assert 0.4 < top < 0.6, device
        assert np.abs(updates[device]).max() <= 256  # the clip bound, in grid steps


def test_hundred_device_secagg_fleet_audit_at_baseline(tmp_path, data, aux):
    o = FleetSimOptions(mode="secagg", devices=100, n_min=80, rounds=3)
    result = simulate_fleet(o, tmp_path / "run", data)
    assert result.sums_checked == 3 and all(90 <= c <= 100 for c in result.cohorts)
    audit = audit_record(tmp_path / "run", data.x_train, data.y_train, aux)
    assert audit.releases == 3 and audit.targets == sum(result.cohorts)
    assert audit.verdicts == {"label": AT_BASELINE, "features": AT_BASELINE, "raw_input": AT_BASELINE}
    assert audit.exit_code == 0


@pytest.mark.parametrize("broken", ["server sees each update", "sum of two noiseless devices"])
def test_audit_fails_broken_fleets(tmp_path, data, aux, broken):
    if broken == "server sees each update":  # no secure aggregation, no noise: N = 1 per release
        o = FleetSimOptions(mode="none", devices=10, rounds=1, dropout=0.0)
    else:  # the protocol runs, but the sum is of two devices and nobody adds noise
        o = FleetSimOptions(mode="secagg", devices=2, n_min=2, z=0.0, rounds=8, dropout=0.0)
    simulate_fleet(o, tmp_path / "run", data)
    audit = audit_record(tmp_path / "run", data.x_train, data.y_train, aux)
    assert audit.verdicts["label"] == "leaks"
    assert audit.exit_code == 1


def test_each_fleets_eps_per_device(tmp_path, data):
    from tinyfl.privacy.accounting import epsilon
    from tinyfl.privacy.noise import effective_noise_multiplier
    from tinyfl.secagg.budget import local_epsilon

    o = FleetSimOptions(mode="secagg", devices=10, n_min=8, rounds=2, dropout=0.0)
    sec = simulate_fleet(o, tmp_path / "s", data)
    loc = simulate_fleet(same_fleet(o, "local"), tmp_path / "l", data)
    non = simulate_fleet(same_fleet(o, "none"), tmp_path / "n", data)
    assert sec.releases.tolist() == loc.releases.tolist() == [2] * 10
    gaussian = epsilon(effective_noise_multiplier(1.0), 2, o.delta)
    assert loc.eps_central == loc.eps_local == gaussian
    # the sum of n_min shares carries sigma = z C: the Gaussian's eps plus DDGauss's tau term
    assert gaussian <= sec.eps_central <= 1.01 * gaussian
    # each device's own share is sigma^2 / n_min: sqrt(n_min) times less noise locally
    v = sec.noise_var[0] / sec.noise_var[1]
    assert v == pytest.approx((256 * effective_noise_multiplier(1.0)) ** 2 / 8)
    assert sec.eps_local == local_epsilon(2, o.delta, bound=256, local_var=v) > 3 * gaussian
    assert math.isinf(non.eps_central) and math.isinf(non.eps_local)


def test_release_input_of_an_update_is_the_per_device_view(tmp_path, data):
    o = FleetSimOptions(mode="local", devices=3, rounds=1, dropout=0.0)
    simulate_fleet(o, tmp_path / "l", data)
    reader = SumReader(tmp_path / "l")
    rel = next(reader.releases())
    inp = release_input(rel, reader.config, reader.head(1))
    from tinyfl.privacy.noise import effective_noise_multiplier

    assert inp.noise_multiplier == pytest.approx(effective_noise_multiplier(1.0))
    assert inp.grid_step == rel.grid_step and inp.sample_count == o.samples_per_round


def test_paired_difference_is_zero_for_the_same_fleet(tmp_path, data):
    o = FleetSimOptions(mode="none", devices=5, rounds=2, dropout=0.0)
    a = simulate_fleet(o, tmp_path / "a", data)
    b = simulate_fleet(o, tmp_path / "b", data)
    d = paired_accuracy_difference(a, b)
    assert (d.estimate, d.lo, d.hi) == (0.0, 0.0, 0.0)


@pytest.mark.parametrize("line,message", [
    ("not json\n", "not a release"),
    ('{"round": 1, "kind": "avg", "cohort": [1], "grid_step": 0.1, "values": [1]}\n', "kind"),
    ('{"round": 1, "kind": "update", "cohort": [1, 2], "grid_step": 0.1, "values": [1]}\n', "one device"),
    ('{"round": 1, "kind": "sum", "cohort": [1, 2], "grid_step": 0.1, "values": [1.5]}\n', "integers"),
    ('{"round": 0, "kind": "sum", "cohort": [1, 2], "grid_step": 0.1, "values": [1]}\n', "round >= 1"),
    ('{"round": 1, "kind": "sum", "cohort": [], "grid_step": 0.1, "values": [1]}\n', "cohort"),
])
def test_record_rejects_bad_lines_in_one_line(tmp_path, line, message):
    (tmp_path / "releases.jsonl").write_text(line)
    with pytest.raises(ValueError, match=message) as info:
        list(SumReader(tmp_path).releases())
    assert "\n" not in str(info.value)


def test_options_refused_in_one_line():
    for bad in (dict(mode="secagg", devices=10, n_min=11), dict(mode="local", z=0.0),
                dict(mode="x"), dict(samples_per_round=30)):
        with pytest.raises(ValueError):
            FleetSimOptions(**bad).validate()
    assert FleetSimOptions().max_drops == 5
    # never more than N - n_min devices lost, in every mode: the fleets compared lose the same
    assert FleetSimOptions(devices=10, n_min=9, dropout=0.5).max_drops == 1
    assert FleetSimOptions(mode="none", devices=10, n_min=9, dropout=0.5).max_drops == 1


def test_the_docs_table_eps_are_the_accountants():
    """docs/privacy.md "Secure aggregation at fleet scale": the eps quoted per fleet (80
    releases, n_min = 80, 650 parameters) are budget's and dp-accounting's, not typed in."""
    import re
    from pathlib import Path

    from tinyfl.privacy.accounting import epsilon
    from tinyfl.privacy.noise import effective_noise_multiplier
    from tinyfl.secagg.budget import central_epsilon, local_epsilon

    doc = (Path(__file__).resolve().parents[1] / "docs" / "privacy.md").read_text()
    section = doc[doc.index("### Secure aggregation at fleet scale"):]

    def cells(fleet):
        row = re.search(r"^\| " + fleet + r" \|(.*)\|$", section, re.M)
        eps = row.group(1).split("|")[2].strip()
        return [float(x.replace(",", "")) for x in eps.split(" / ")]

    v = (256 * effective_noise_multiplier(1.0)) ** 2 / 80
    central = central_epsilon(80, 1e-5, bound=256, dim=650, n_min=80, local_var=v)
    assert cells("secagg") == [round(central, 1), round(local_epsilon(80, 1e-5, bound=256, local_var=v), 1)]
    gaussian = round(epsilon(effective_noise_multiplier(1.0), 80, 1e-5), 1)
    assert cells("local") == [gaussian, gaussian]


def test_audit_command_exit_codes(tmp_path, data, capsys):
    from tinyfl.audit.aggregate import main

    simulate_fleet(FleetSimOptions(mode="secagg", devices=12, n_min=9, rounds=1), tmp_path / "s", data)
    simulate_fleet(FleetSimOptions(mode="none", devices=8, rounds=1, dropout=0.0), tmp_path / "n", data)
    assert main([str(tmp_path / "s")]) == 0
    assert main([str(tmp_path / "n"), "--format", "json"]) == 1
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["verdicts"]["label"] == "leaks"
    (tmp_path / "s" / "config.json").write_text('{"data": "digits", "dp": {}}')
    assert main([str(tmp_path / "s")]) == 2
    assert main([str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(line.startswith("error: ") for line in err)


def test_audit_scores_without_non_members_when_the_cohort_used_the_whole_pool(tmp_path, data, aux):
    # a pool of 6 images shared by 4 devices of 5 samples each: nobody is left outside the sum
    from dataclasses import replace as dc_replace

    small = dc_replace(data, x_train=data.x_train[:6], y_train=data.y_train[:6])
    o = FleetSimOptions(mode="secagg", devices=4, n_min=3, rounds=1, shard_size=5, dropout=0.0)
    simulate_fleet(o, tmp_path / "run", small)
    audit = audit_record(tmp_path / "run", small.x_train, small.y_train, aux)
    assert audit.targets == 4
    assert all("outside the sum" not in name for s in audit.scores for name in s.baselines)
