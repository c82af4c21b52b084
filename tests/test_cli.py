"""The CLI is a thin face: check it wires the library together and keeps --format json pure."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from fakes.fake_device import FakeDevice
from fakes.harness import running
from tinyfl.demo import DemoOptions, prepare, split_shards
from tinyfl.fleet import RunReader
from tinyfl.wire._wire_gen import HelloFlag
from tinyfl.emulate import build_firmware, launch_fleet, write_shard

TINYFL = [sys.executable, "-m", "tinyfl.cli"]
FAKE_DP = ["--run-config", "dp.eps_limit=1000.0"]  # the fakes' budget; the rest is the default


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
        # the same run folder resumes when asked: asking for 2 rounds runs only round 2
        second = _run(["serve", *links, "--rounds", "2", "--run-dir", run_dir, "--resume",
                       "--format", "json"])
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


def _serve_fakes(fakes, run_dir: Path, *extra: str) -> subprocess.CompletedProcess:
    links = [a for fake in fakes for a in ("--link", fake.url)]
    return _run(["serve", *links, *FAKE_DP, "--run-config", "fleet.deadline_s=1.0",
                 "--run-dir", str(run_dir), "--format", "json", *extra], timeout=120)


def test_serve_resumes_only_when_asked_and_keeps_the_run(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    with running(FakeDevice(0), FakeDevice(1)) as fakes:
        first = _serve_fakes(fakes, run_dir, "--rounds", "1")
        assert first.returncode == 0, first.stderr
        run = RunReader(run_dir).state["run"]
        again = _serve_fakes(fakes, run_dir, "--rounds", "2")
        assert again.returncode == 2 and again.stdout == ""
        assert "already holds a run: pass --resume" in again.stderr
        assert len(again.stderr.strip().splitlines()) == 1
        resumed = _serve_fakes(fakes, run_dir, "--rounds", "2", "--resume")
        assert resumed.returncode == 0, resumed.stderr
        assert json.loads(resumed.stdout)["resumed_at"] == 2
        assert RunReader(run_dir).state["run"] == run
        assert [(f.last_run, f.last_round) for f in fakes] == [(run, 2)] * 2
        missing = _serve_fakes(fakes, tmp_path / "nothing", "--resume")
        assert missing.returncode == 2 and "holds no run to resume" in missing.stderr


def test_serve_exits_non_zero_when_nothing_was_trained(tmp_path: Path) -> None:
    with running(FakeDevice(0, mode="no_samples"), FakeDevice(1, mode="no_samples")) as fakes:
        proc = _serve_fakes(fakes, tmp_path / "run", "--rounds", "2")
    assert proc.returncode == 1
    assert "run failed: no update was accepted in any of 2 round(s)" in proc.stderr
    out = json.loads(proc.stdout)  # the summary still comes out, with the reason
    assert "NO_SAMPLES" in out["failure"]
    assert [d["refusals"] for d in out["devices"]] == [{"NO_SAMPLES": 2}] * 2


def test_serve_refuses_test_builds_unless_allowed(tmp_path: Path) -> None:
    with running(FakeDevice(0, flags=int(HelloFlag.TEST_BUILD))) as fakes:
        strict = _serve_fakes(fakes, tmp_path / "strict", "--rounds", "1")
        allowed = _serve_fakes(fakes, tmp_path / "allowed", "--rounds", "1", "--allow-test-builds")
    assert strict.returncode == 1 and len(strict.stderr.strip().splitlines()) == 1
    assert "no admissible device" in strict.stderr and "--allow-test-builds" in strict.stderr
    assert allowed.returncode == 0, allowed.stderr


def test_demo_with_a_zero_clip_fails_at_once(tmp_path: Path) -> None:
    proc = _run(["demo", "--board", "native", "--backbone", "stats", "--clip", "0",
                 "--run-dir", str(tmp_path / "run")], timeout=60)
    assert proc.returncode == 2
    assert "dp.clip: must be a positive number" in proc.stderr
    assert not (tmp_path / "run").exists()


def test_errors_quoting_brackets_are_printed_as_given(tmp_path: Path) -> None:
    """A user's path or a TOML section name in an error is text, not rich markup: "[/]" once
    raised a MarkupError (a traceback), and "[[devices]]" was printed as "[]"."""
    odd = tmp_path / "a[/]b"
    odd.mkdir(parents=True)
    missing = _run(["serve", "--fleet", str(odd / "fleet.toml")])
    assert missing.returncode == 2, missing.stderr
    assert "Traceback" not in missing.stderr and "MarkupError" not in missing.stderr
    assert "a[/]b" in missing.stderr.replace("\n", "")
    emulated = Path(__file__).resolve().parents[1] / "host" / "fleets" / "emulated-secagg.toml"
    gateway = _run(["flower", "gateway", "--fleet", str(emulated), "--name", "g",
                    "--superlink", "127.0.0.1:1"])
    assert gateway.returncode == 2, gateway.stderr
    assert "[[devices]]" in gateway.stderr
