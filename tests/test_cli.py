"""The CLI is a thin face: check it wires the library together and keeps --format json pure."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tinyfl.demo import DemoOptions, prepare, split_shards
from tinyfl.emulate import build_firmware, launch_fleet, write_shard

TINYFL = [sys.executable, "-m", "tinyfl.cli"]


def _run(args: list[str], timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(TINYFL + args, capture_output=True, text=True, timeout=timeout)


def test_demo_json_stdout_is_pure_json(tmp_path: Path) -> None:
    proc = _run(["demo", "--board", "native", "--backbone", "stats", "-n", "2", "--rounds", "2", "--run-dir",
                 str(tmp_path / "run"), "--format", "json"])
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["rounds_completed"] == 2
    assert 0.0 <= out["accuracy_after"] <= 1.0
    assert all(p["agrees"] for p in out["privacy"])
    assert "round 2" in proc.stderr  # progress went to stderr


def test_serve_drives_boards_over_links_and_resumes(tmp_path: Path) -> None:
    options = DemoOptions(board="native", n=2, backbone="stats")
    data, _, config = prepare(options, lambda _m: None)
    firmware = build_firmware("native", config)
    shards = [write_shard(tmp_path / f"s{i}.bin", data.x_train[idx], data.y_train[idx])
              for i, idx in enumerate(split_shards(data.y_train, 2, 0))]
    with launch_fleet("native", 2, firmware, shards, tmp_path / "boards") as fleet:
        links = [a for url in fleet.urls for a in ("--link", url)]
        run_dir = str(tmp_path / "run")
        first = _run(["serve", *links, "--rounds", "1", "--run-dir", run_dir, "--format", "json"])
        assert first.returncode == 0, first.stderr
        assert json.loads(first.stdout)["rounds_completed"] == 1
        # the same run folder resumes: asking for 2 rounds runs only round 2
        second = _run(["serve", *links, "--rounds", "2", "--run-dir", run_dir, "--format", "json"])
        assert second.returncode == 0, second.stderr
        summary = json.loads(second.stdout)
        assert summary["resumed_at"] == 2 and summary["rounds_completed"] == 2


def test_serve_reports_a_bad_link_clearly(tmp_path: Path) -> None:
    proc = _run(["serve", "--link", str(tmp_path / "no-such-tty"), "--run-dir", str(tmp_path / "r")])
    assert proc.returncode == 2
    assert "cannot open a device link" in proc.stderr


def test_emulate_prints_links_as_json(tmp_path: Path) -> None:
    proc = _run(["emulate", "--board", "native", "--backbone", "stats", "-n", "2", "--duration", "0.5",
                 "--workdir", str(tmp_path), "--format", "json"])
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert len(out["links"]) == 2 and all(u.startswith("socket://127.0.0.1:") for u in out["links"])


def test_build_reports_model_figures_as_json() -> None:
    proc = _run(["build", "--model", "basic_motions", "--board", "qemu", "--format", "json"])
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["arena_ratio"] < 0.7  # our static plan against TFLM's interpreter arena
    assert report["macs"] > 0
