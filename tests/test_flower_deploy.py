"""A loopback Flower deployment: one SuperLink, two SuperNodes (gateways) each owning two native
boards, two rounds of the tinyfl ServerApp. The final head must equal, bit for bit, what
`tinyfl serve` computes from the same boards (fresh, same test seed), and every device's eps
as the host accounts it must equal what the device itself reports."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tinyfl.demo import DemoOptions, prepare, split_shards
from tinyfl.emulate import build_firmware, launch_fleet, write_shard
from tinyfl.fleet import RunReader, privacy_from_record, recompute_globals
from tinyfl.links import open_link

TINYFL = [sys.executable, "-m", "tinyfl.cli"]
TEST_SEED = 4242
ROUNDS = 2
# Flower's nodes poll every 3 s and start a process per message: an exchange takes ~10 s, so a
# round's deadline covers several, and a resend waits for longer than one exchange
OVERRIDES = [f"fleet.rounds={ROUNDS}", "fleet.deadline_s=60", "fleet.resends=1",
             "fleet.resend_after_s=45", "fleet.lr=0.05", "fleet.local_epochs=2",
             "fleet.batch_size=4"]


def _require_flower() -> None:
    try:
        import flwr  # noqa: F401
    except ImportError:
        if os.environ.get("CI"):
            pytest.fail("CI requires flwr (pip install 'tinyfl[flower]')")
        pytest.skip("flwr is not installed")


@pytest.fixture(scope="module")
def boards_setup(tmp_path_factory):
    options = DemoOptions(board="native", n=4, backbone="stats", samples_per_round=8)
    data, _, config = prepare(options, lambda _m: None)
    firmware = build_firmware("native", config, test_build=True, test_seed=TEST_SEED)
    folder = tmp_path_factory.mktemp("shards")
    shards = [write_shard(folder / f"s{i}.bin", data.x_train[idx], data.y_train[idx])
              for i, idx in enumerate(split_shards(data.y_train, 4, 0))]
    return config, firmware, shards


def _serve(urls: list[str], run_dir: Path) -> None:
    """`tinyfl serve` itself, on the same boards."""
    cmd = TINYFL + ["serve", "--allow-test-builds",
           "--run-dir", str(run_dir), "--format", "json"]
    for url in urls:
        cmd += ["--link", url]
    for item in OVERRIDES:
        cmd += ["--run-config", item]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]


def _gateway_toml(path: Path, urls: list[str], names: list[str]) -> Path:
    path.write_text("".join(f'[[devices]]\nname = "{n}"\nlink = "{u}"\n' for n, u in zip(names, urls)))
    return path


def test_two_gateways_two_boards_each_match_tinyfl_serve(boards_setup, tmp_path: Path) -> None:
    """Started as a user would: `tinyfl flower gateway` twice, then `tinyfl flower serve`."""
    _require_flower()
    from tinyfl.flower.deploy import free_port

    config, firmware, shards = boards_setup
    with launch_fleet("native", 4, firmware, shards, tmp_path / "serve-boards") as fleet:
        _serve(fleet.urls, tmp_path / "serve")
    serve_head = RunReader(tmp_path / "serve").result_head(ROUNDS).params

    run_dir = tmp_path / "flower"
    superlink = f"127.0.0.1:{free_port()}"
    gateways: list[subprocess.Popen] = []
    with launch_fleet("native", 4, firmware, shards, tmp_path / "flower-boards") as fleet:
        try:
            for g, pair in enumerate(((0, 1), (2, 3)), start=1):
                toml = _gateway_toml(tmp_path / f"gw{g}.toml", [fleet.urls[i] for i in pair],
                                     [f"dev{i + 1}" for i in pair])
                gateways.append(subprocess.Popen(
                    TINYFL + ["flower", "gateway", "--fleet", str(toml), "--name", f"gw{g}",
                              "--superlink", superlink, "--workdir", str(tmp_path / f"gw{g}")],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            cmd = TINYFL + ["flower", "serve", "--start-superlink", "--superlink", superlink,
                            "--gateways", "2", "--run-dir", str(run_dir), "--allow-test-builds",
                            "--window-s", "2", "--format", "json"]
            for item in OVERRIDES:
                cmd += ["--run-config", item]
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=400)
        finally:
            for proc in gateways:
                proc.terminate()  # the gateway stops its SuperNode and closes its links
            for proc in gateways:
                proc.wait(timeout=30)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout)  # stdout is pure JSON
    assert summary == json.loads((run_dir / "summary.json").read_text())
    assert summary["rounds_completed"] == ROUNDS and not summary["failure"]
    reader = RunReader(run_dir)
    names = ["gw1/dev1", "gw1/dev2", "gw2/dev3", "gw2/dev4"]
    assert reader.config["device_order"] == names
    for report in summary["rounds"]:
        assert report["accepted"] == names, report["outcomes"]
    final = reader.result_head(ROUNDS).params
    np.testing.assert_array_equal(final, serve_head)  # bit-exact with tinyfl serve
    np.testing.assert_array_equal(recompute_globals(run_dir)[ROUNDS], final)
    for p in summary["privacy"]:
        assert p["releases_host"] == ROUNDS and p["releases_device"] == ROUNDS, p
        # the host's dp-accounting figure and the device's own ledger report
        assert p["agrees"], p
        assert p["eps_device"] == pytest.approx(p["eps_host"], rel=1e-3)
    serve_eps = {p.device: p.eps_device for p in privacy_from_record(tmp_path / "serve")}
    assert {p["device"].split("/")[-1]: p["eps_device"] for p in summary["privacy"]} == serve_eps
