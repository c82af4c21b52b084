"""The host's per-device privacy account of secure-aggregation devices carries both guarantees
(issue 12 hardening): local eps (against any server, the budget's) and central eps (given
n_min honest survivors), each the host's dp-accounting figure next to the device's own report
(its secagg_policy and masked updates, from its ledger). Checked against the device's
bit-exact ledger model and budget.central_epsilon from the image's policy, in `tinyfl serve
--format json` and in the text table; a device whose central report disagrees is flagged."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from secagg_fleet_support import CONFIG, expected_eps, firmware, shards
from test_secagg_aggregator import TOML
from test_secagg_hostile import SMALL
from tinyfl.emulate import launch_fleet
from tinyfl.secagg import budget
from tinyfl.secagg.image import variance

N = 3


def central_host(releases: int) -> float:
    num, den = variance(CONFIG, SMALL)
    return budget.central_epsilon(releases, CONFIG.dp.delta, bound=2 ** CONFIG.dp.grid_bits, dim=CONFIG.n_params,
                                  n_min=SMALL.n_min, local_var=num / den)


def serve(links, run_dir, fleet, *extra):
    env = {**os.environ, "COLUMNS": "300"}
    return subprocess.run([sys.executable, "-m", "tinyfl.cli", "serve", *links, "--fleet", str(fleet),
                           "--run-dir", str(run_dir), "--allow-test-builds", *extra],
                          capture_output=True, text=True, timeout=300, env=env)


def test_serve_reports_central_and_local_eps_of_secure_devices(tmp_path):
    fleet_toml = tmp_path / "secagg.toml"
    fleet_toml.write_text(TOML)
    run_dir = tmp_path / "run"
    with launch_fleet("native", N, firmware("native", SMALL), shards(tmp_path, N), tmp_path / "boards") as fleet:
        links = [a for b in fleet for a in ("--link", b.url)]
        first = serve(links, run_dir, fleet_toml, "--rounds", "2", "--format", "json")
        assert first.returncode == 0, first.stderr
        second = serve(links, run_dir, fleet_toml, "--rounds", "3", "--resume")
        assert second.returncode == 0, second.stderr
    out = json.loads(first.stdout)
    assert not out["eps_disagreements"]
    central_dev, local_dev = expected_eps(2, SMALL)
    for p in out["privacy"]:
        assert p["secure"] and p["n_min"] == SMALL.n_min and p["agrees"], p
        assert p["eps_central_device"] == pytest.approx(central_dev, rel=1e-6)
        assert p["eps_device"] == pytest.approx(local_dev, rel=1e-6)
        assert p["eps_central_host"] == pytest.approx(central_host(2), rel=1e-8)  # delta travels as f32
        assert p["eps_central_host"] == pytest.approx(p["eps_central_device"], rel=1e-3)
        assert p["eps_central_host"] < p["eps_host"]  # the point of secure aggregation
    # the text table after a third round: both figures, host and device, per device
    text = second.stderr  # the console (stdout stays for --format json)
    assert "central eps (host)" in text and "central eps (device)" in text and "local eps (device)" in text
    central3, local3 = expected_eps(3, SMALL)
    rows = [line for line in text.splitlines() if line.strip("│ ").startswith("dev")
            and f"{central3:.3f}" in line]
    assert len(rows) == N, text
    assert all(f"{central_host(3):.3f}" in r and f"{local3:.3f}" in r and "yes" in r for r in rows), rows
    assert f"central eps at most {central_host(3):.1f}" in " ".join(text.split())


def test_a_central_report_the_host_cannot_reproduce_is_flagged(tmp_path):
    """A device (a fake speaking the wire) whose secagg_policy claims a central spend that its
    releases (none) cannot give, or whose noise gives no central guarantee at all: the host's
    account says so, does not agree, and does not fail."""
    from fakes.fake_secagg import FakeSecaggDevice
    from tinyfl.fleet.aggregator import privacy_from_record
    from tinyfl.fleet.device import DeviceSession
    from tinyfl.fleet.record import RunRecorder
    from tinyfl.fleet.secagg_round import hello_and_policy
    from tinyfl.links import open_link

    recorder = RunRecorder(tmp_path / "run")
    fakes = [FakeSecaggDevice(index=1, central_eps_spent=0.0), FakeSecaggDevice(index=2, central_eps_spent=4.5),
             FakeSecaggDevice(index=3, noise=(1, 8), releases_done=2)]
    try:
        for fake in fakes:
            fake.start()
            session = DeviceSession(open_link(fake.url), f"fake{fake.index}", recorder)
            hello_and_policy(session)
            session.close()
    finally:
        for fake in fakes:
            fake.stop()
        recorder.close()
    privacy = {p.device: p for p in privacy_from_record(tmp_path / "run")}
    honest, lying = privacy["fake1"], privacy["fake2"]
    assert honest.secure and honest.agrees and (honest.eps_central_host, honest.eps_central_device) == (0.0, 0.0)
    assert lying.secure and not lying.agrees and lying.eps_central_device == 4.5
    assert lying.note == "host central eps 0 != device central eps 4.5"
    # a variance below 1/4 grid step^2 (Proposition 14's floor): no central figure, not a crash
    hostile = privacy["fake3"]
    assert hostile.eps_central_host == float("inf") and not hostile.agrees
    assert "its policy's noise (1/8 grid steps^2 over n_min 3) gives no central guarantee" in hostile.note
