"""A device whose policy cannot take part is left out of the secure round, with a typed
outcome and a one-line reason, and the round goes on with the others (issue 12 hardening):
the cohort selection on its own (each reason, the re-check after leaving devices out, too few
left), and an Aggregator over honest native boards plus a native board built with another
policy and fake devices speaking the wire with hostile policies."""
from __future__ import annotations

import json

import numpy as np
import pytest

from fakes.fake_device import FakeDevice
from fakes.fake_secagg import FakeSecaggDevice
from secagg_fleet_support import CONFIG, firmware, shards
from test_secagg_aggregator import TOML
from test_secagg_hostile import SMALL
from tinyfl.emulate import launch_fleet
from tinyfl.fleet.aggregator import Aggregator
from tinyfl.fleet.config import parse_fleet_config
from tinyfl.fleet.device import DeviceSession
from tinyfl.fleet.secagg_round import PolicyError, select_cohort
from tinyfl.links import open_link
from tinyfl.secagg.image import SecaggImage
from tinyfl.wire import Hello, SecaggPolicy


def hello(i: int, flags: int = 0x08) -> Hello:
    return Hello(device_id=i, firmware_hash=0, model_hash=0, n_classes=3, n_features=8, clip=1.0,
                 noise_multiplier=0.5, grid_bits=8, delta=1e-5, eps_limit=50.0, eps_spent=0.0,
                 releases_done=0, releases_max=9, flags=flags, max_chunk=64, last_run=0,
                 last_round=0, refusals=[])


def policy(i: int, n_min: int = 3, n_max: int = 16, k_max: int = 16) -> SecaggPolicy:
    return SecaggPolicy(device_id=i, n_min=n_min, n_max=n_max, k_max=k_max, noise_num=1, noise_den=1,
                        local_multiplier=0.5, central_eps_spent=0.0, local_eps_spent=0.0)


IDS = range(1, 7)


@pytest.mark.parametrize("odd, reason", [
    (policy(6, k_max=4), "5 neighbours, it accepts 4"),
    (policy(6, n_max=5), "cohort 6 above its n_max 5"),
    (policy(6, n_min=7), "cohort 6 below its n_min 7"),
    (policy(6, n_min=65535), "cohort 6 below its n_min 65535"),
    (None, "secure aggregation is not compiled in"),
])
def test_a_misfit_is_left_out_and_the_rest_go_on(odd, reason):
    policies = {i: policy(i) for i in IDS if i != 6}
    if odd is not None:
        policies[6] = odd
    need, cohort, left_out = select_cohort(policies, {i: hello(i) for i in IDS}, k=0, n_min=0)
    assert (need, cohort, left_out) == (3, [1, 2, 3, 4, 5], {6: reason})


def test_ids_outside_secagg_range_and_unflagged_hellos_are_left_out():
    hellos = {**{i: hello(i) for i in IDS}, 70000: hello(70000), 7: hello(7, flags=0)}
    policies = {i: policy(i) for i in (*IDS, 70000, 7)}
    need, cohort, left_out = select_cohort(policies, hellos, k=0, n_min=4)
    assert (need, cohort) == (4, list(IDS))
    assert left_out == {70000: "id 70000 is not a secure-aggregation id (1..65535)",
                        7: "secure aggregation is not compiled in"}


def test_leaving_out_rechecks_the_others():
    # 4 cannot take a cohort of 6 (n_max 5); without it the cohort of 5 is below 3's n_min 6
    policies = {**{i: policy(i) for i in IDS}, 3: policy(3, n_min=6), 4: policy(4, n_max=5)}
    need, cohort, left_out = select_cohort(policies, {i: hello(i) for i in IDS}, k=0, n_min=0)
    assert (need, cohort) == (3, [1, 2, 5, 6])
    assert left_out == {4: "cohort 6 above its n_max 5", 3: "cohort 5 below its n_min 6"}
    # two devices that take at most 5: once the tighter has left, the other fits
    policies = {**{i: policy(i) for i in IDS}, 2: policy(2, k_max=4), 5: policy(5, n_max=5)}
    need, cohort, left_out = select_cohort(policies, {i: hello(i) for i in IDS}, k=0, n_min=0)
    assert (cohort, left_out) == ([1, 3, 4, 5, 6], {2: "5 neighbours, it accepts 4"})
    # the survivors' own n_min sets the round's
    policies = {**{i: policy(i) for i in IDS}, 1: policy(1, n_min=5), 6: policy(6, k_max=2)}
    assert select_cohort(policies, {i: hello(i) for i in IDS}, k=0, n_min=0)[:2] == (5, [1, 2, 3, 4, 5])


def test_too_few_left_fails_the_round_in_one_line():
    policies = {1: policy(1), 2: policy(2), 3: policy(3, k_max=1)}
    # 3 leaves (k_max 1), then the cohort of 2 is below everyone's n_min 3
    with pytest.raises(PolicyError, match=r"^0 devices can take part \(3 left out: 3: 2 neighbours, it accepts 1; "
                                          r"1: cohort 2 below its n_min 3; 2: cohort 2 below its n_min 3\), "
                                          r"the round needs n_min = 2$"):
        select_cohort(policies, {i: hello(i) for i in (1, 2, 3)}, k=0, n_min=0)
    with pytest.raises(PolicyError, match=r"^3 devices can take part, the round needs n_min = 4$"):
        select_cohort({i: policy(i) for i in (1, 2, 3)}, {i: hello(i) for i in (1, 2, 3)}, k=0, n_min=4)
    with pytest.raises(PolicyError, match="the round needs n_min = 2"):
        select_cohort({}, {}, k=0, n_min=0)


OTHER_POLICY = SecaggImage(n_min=3, n_max=4, k_max=8, local_multiplier=0.5)  # a cohort of 4 at most


def test_aggregator_leaves_out_misfits_and_runs_with_the_rest(tmp_path):
    """4 honest native boards (SMALL), a native board built with n_max = 4, and fakes speaking
    the wire: an id above 65535, a hostile n_min of 65535, one claiming board 2's id, a plain
    image and a noise share above the fleet's z. Every round completes with the 4 honest boards;
    the others are left out (or refused at admission), each with a one-line reason in the
    report and the record."""
    config = parse_fleet_config(TOML)
    like_boards = dict(n_classes=CONFIG.n_classes, n_features=CONFIG.n_features, eps_limit=CONFIG.dp.eps_limit)
    fakes = [FakeSecaggDevice(index=1, device_id=70000, **like_boards),
             FakeSecaggDevice(index=2, device_id=40, policy_n_min=65535, **like_boards),
             FakeSecaggDevice(index=3, device_id=2, **like_boards),
             FakeDevice(index=4, **like_boards),  # a plain image: no secure aggregation
             FakeSecaggDevice(index=5, noise_multiplier=2.0, **like_boards)]  # a share above the fleet's z
    boards_shards = shards(tmp_path, 5)
    with launch_fleet("native", 4, firmware("native", SMALL), boards_shards[:4], tmp_path / "boards") as honest, \
            launch_fleet("native", 1, firmware("native", OTHER_POLICY), boards_shards[4:], tmp_path / "boards",
                         device_ids=[5]) as other:
        for fake in fakes:
            fake.start()
        urls = [(f"dev{b.device_id}", b.url) for b in [*honest, *other]]
        urls += [(f"fake{f.index}", f.url) for f in fakes]
        sessions = [DeviceSession(open_link(url), name) for name, url in urls]
        try:
            summary = Aggregator(config, sessions, tmp_path / "run", allow_test_builds=True).run()
        finally:
            for s in sessions:
                s.close()
            for fake in fakes:
                fake.stop()
    assert summary.rounds_completed == 2 and not summary.failure
    for report in summary.rounds:
        assert sorted(report.accepted) == ["dev1", "dev2", "dev3", "dev4"]
        assert not report.head_kept
        assert {d: report.outcomes[d] for d in ("dev5", "fake1", "fake2", "fake3")} == dict.fromkeys(
            ("dev5", "fake1", "fake2", "fake3"), "left_out")
        assert report.details["fake1"] == "id 70000 is not a secure-aggregation id (1..65535)"
        assert report.details["fake2"] == "cohort 6 below its n_min 65535"
        assert report.details["fake3"] == "device id 2 is already dev2's"
        assert report.details["dev5"] == "cohort 5 above its n_max 4"
        # refused at admission (as a plain fleet refuses a DP configuration), one line each
        assert (report.outcomes["fake4"], report.outcomes["fake5"]) == ("refused", "refused")
        assert report.details["fake4"] == "secure aggregation is not compiled in (the fleet has [secagg])"
        assert report.details["fake5"] == "its noise share 2 exceeds the fleet's z 1"
    events = [json.loads(line) for line in (tmp_path / "run" / "events.jsonl").read_text().splitlines()]
    assert [r["ok"] for r in events if r["kind"] == "secagg_round_result"] == [True, True]
    left = {(e["round"], e["device"]) for e in events if e["kind"] == "left_out"}
    assert left == {(r, d) for r in (1, 2) for d in ("dev5", "fake1", "fake2", "fake3")}
    assert not summary.eps_disagreements, summary.eps_disagreements
    assert {p.device: p.releases_device for p in summary.privacy if p.device.startswith("dev")} == {
        "dev1": 2, "dev2": 2, "dev3": 2, "dev4": 2, "dev5": 0}
    # the heads recomputed from the record alone (the left-out devices were sent nothing)
    from tinyfl.fleet.record import load_head, round_dir
    from tinyfl.fleet.secagg_record import recompute_secure_globals

    recomputed = recompute_secure_globals(tmp_path / "run")
    assert sorted(recomputed) == [1, 2]
    for r in (1, 2):
        assert np.array_equal(recomputed[r], load_head(round_dir(tmp_path / "run", r) / "result.npz").params)
