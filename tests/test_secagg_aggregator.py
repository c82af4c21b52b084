"""The aggregator's secure-aggregation mode ([secagg] in the fleet TOML) over native boards:
rounds complete through the ordinary Aggregator.run, the record holds every frame and the
round's outcomes, the head moves by the unmasked mean, and the host's accounting of the
record agrees with each device's ledger (local guarantee). Also the [secagg] section's
checks, and a plain fleet refused in secure mode."""
from __future__ import annotations

import json

import numpy as np
import pytest

from secagg_fleet_support import CONFIG, firmware, shards
from test_secagg_hostile import SMALL
from tinyfl.emulate import build_firmware, launch_fleet
from tinyfl.fleet.aggregator import Aggregator
from tinyfl.fleet.config import ConfigError, parse_fleet_config
from tinyfl.fleet.device import DeviceSession, SessionError
from tinyfl.links import open_link
from tinyfl.wire import (GlobalModel, SecaggKeys, SecaggMaskedUpdate, SecaggMaskRequest, SecaggNeighbours,
                         SecaggReveal, SecaggShareForYou, SecaggShares, SecaggUnmaskRequest, decode_frames)
from test_secagg_qemu import bench_secagg

TOML = """
[fleet]
rounds = 2
lr = 0.1
local_epochs = 2
batch_size = 3
[dp]
clip = 1.0
noise_multiplier = 1.0
grid_bits = 8
delta = 1e-5
eps_limit = 500.0
[secagg]
step_timeout_s = 5.0
"""


def run_fleet(image, tmp_path, n: int):
    config = parse_fleet_config(TOML)
    with launch_fleet("native", n, image, shards(tmp_path, n), tmp_path / "boards") as fleet:
        sessions = [DeviceSession(open_link(b.url), f"dev{b.device_id}") for b in fleet]
        try:
            return Aggregator(config, sessions, tmp_path / "run", allow_test_builds=True).run()
        finally:
            for s in sessions:
                s.close()


def test_aggregator_runs_secure_rounds(tmp_path):
    summary = run_fleet(firmware("native", SMALL), tmp_path, 5)
    assert summary.rounds_completed == 2 and not summary.failure
    for report in summary.rounds:
        assert sorted(report.accepted) == [f"dev{i}" for i in range(1, 6)]
        assert set(report.outcomes.values()) == {"ok"}
    start = np.load(tmp_path / "run" / "rounds" / "0001" / "global.npz")
    end = np.load(tmp_path / "run" / "rounds" / "0002" / "result.npz")
    assert not np.array_equal(start["params"], end["params"])
    assert not summary.eps_disagreements, summary.eps_disagreements
    assert all(p.releases_device == 2 for p in summary.privacy)
    events = [json.loads(line) for line in (tmp_path / "run" / "events.jsonl").read_text().splitlines()]
    results = [e for e in events if e["kind"] == "secagg_round_result"]
    assert [r["ok"] for r in results] == [True, True]
    # the bytes of a round on the link are what bench/secagg.py says (k = 4, 3 x 8 head, chunk 64)
    framed = bench_secagg().framed_bytes(4, (CONFIG.n_classes, CONFIG.n_features), chunk=64)
    assert round_bytes(tmp_path / "run", "dev3", 1) == framed


SECURE_TYPES = {m.TYPE_ID for m in (GlobalModel, SecaggKeys, SecaggNeighbours, SecaggShares, SecaggShareForYou,
                                    SecaggMaskRequest, SecaggMaskedUpdate, SecaggUnmaskRequest, SecaggReveal)}


def round_bytes(run_dir, device: str, round_number: int) -> dict[str, int]:
    """Bytes of the round's protocol messages for one device, as recorded (hellos excluded)."""
    streams = {"tx": b"", "rx": b""}
    for line in (run_dir / "frames.jsonl").read_text().splitlines():
        frame = json.loads(line)
        if frame["device"] == device and frame["round"] == round_number:
            streams[frame["dir"]] += bytes.fromhex(frame["hex"])
    count = {d: sum(len(b"".join(r.raw_frames)) for r in decode_frames(data) if r.type_id in SECURE_TYPES)
             for d, data in streams.items()}
    return {"host_to_device": count["tx"], "device_to_host": count["rx"]}


def test_plain_boards_are_refused_in_secure_mode(tmp_path):
    image = build_firmware("native", CONFIG, test_build=True, test_seed=3)
    with pytest.raises(SessionError, match="secure aggregation is not compiled in"):
        run_fleet(image, tmp_path, 3)


@pytest.mark.parametrize("section, message", [
    ("k = 3", "secagg.k"), ("k = 34", "secagg.k"), ("n_min = 1", "secagg.n_min"),
    ("step_timeout_s = 0", "secagg.step_timeout_s"), ("graph = 1", "unknown key"),
])
def test_secagg_section_is_checked(section, message):
    with pytest.raises(ConfigError, match=message):
        parse_fleet_config(f"[secagg]\n{section}\n")


def test_privacy_doc_quotes_the_bench_wire_figures():
    from tinyfl.paths import REPO_ROOT

    doc = (REPO_ROOT / "docs" / "privacy.md").read_text()
    bench = bench_secagg()
    for d in (100, 1000):
        for k in (8, 16):
            f = bench.framed_bytes(k, d)
            assert f"| {d:,} | {k} | {f['device_to_host']:,} B | {f['host_to_device']:,} B |" in doc, (d, k)
        p = bench.plain_framed_bytes(d)
        assert f"{p['device_to_host']:,} B, {p['host_to_device']:,} B |" in doc, d


def test_privacy_doc_quotes_the_image_cost(arm_toolchain):
    """The flash and RAM the switch adds to the default an386 image, as measured by the bench."""
    from tinyfl.paths import REPO_ROOT

    doc = " ".join((REPO_ROOT / "docs" / "privacy.md").read_text().split())
    cost = bench_secagg().image_cost()
    plain, secure = cost["plain"], cost["secagg"]
    assert (f"flash {plain['flash']:,} -> {secure['flash']:,} B (+{secure['flash'] - plain['flash']:,}:"
            in doc)
    assert f"RAM {plain['ram']:,} -> {secure['ram']:,} B (+{secure['ram'] - plain['ram']:,}:" in doc
    assert f"{plain['flash']:,} B flash and {plain['ram']:,} B RAM before and after" in doc


def test_check_policies_refuses_a_cohort_a_device_would_refuse():
    from tinyfl.fleet.secagg_round import PolicyError, check_policies, threshold_for
    from tinyfl.wire import Hello, SecaggPolicy

    def hello(i: int, flags: int = 0x08) -> Hello:
        return Hello(device_id=i, firmware_hash=0, model_hash=0, n_classes=3, n_features=8, clip=1.0,
                     noise_multiplier=0.5, grid_bits=8, delta=1e-5, eps_limit=50.0, eps_spent=0.0,
                     releases_done=0, releases_max=9, flags=flags, max_chunk=64, last_run=0,
                     last_round=0, refusals=[])

    def policy(i: int, n_min: int = 3, n_max: int = 16, k_max: int = 16) -> SecaggPolicy:
        return SecaggPolicy(device_id=i, n_min=n_min, n_max=n_max, k_max=k_max, noise_num=1, noise_den=1,
                            local_multiplier=0.5, central_eps_spent=0.0, local_eps_spent=0.0)

    ids = range(1, 6)
    hellos = {i: hello(i) for i in ids}
    assert check_policies({i: policy(i) for i in ids}, hellos, k=0, n_min=0) == 3
    assert check_policies({i: policy(i) for i in ids}, hellos, k=0, n_min=4) == 4  # the host's floor
    cases = [
        ({**{i: policy(i) for i in ids}, 2: policy(2, n_min=6)}, hellos, "needs n_min = 6"),
        ({**{i: policy(i) for i in ids}, 3: policy(3, k_max=3)}, hellos, "4 neighbours, it accepts 3"),
        ({**{i: policy(i) for i in ids}, 4: policy(4, n_max=4)}, hellos, "above its n_max"),
        ({i: policy(i) for i in ids}, {**hellos, 5: hello(5, flags=0)}, "not compiled in"),
        ({i: policy(i) for i in ids if i != 1}, hellos, "device 1: secure aggregation is not compiled in"),
    ]
    for policies, hs, message in cases:
        with pytest.raises(PolicyError, match=message):
            check_policies(policies, hs, k=0, n_min=0)
    assert [threshold_for(d) for d in (1, 2, 3, 15, 16)] == [1, 2, 2, 8, 9]
