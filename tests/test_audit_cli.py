"""`tinyfl audit` on the command line: exit 1 on a FAIL verdict (CI gates on it), 0 when every
verdict passes, 2 with one plain line for settings that cannot be audited."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _audit(*args: str, tmp_path: Path) -> subprocess.CompletedProcess:
    tmp_path.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "tinyfl.cli", "audit", "--out", str(tmp_path / "out"), *args],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600)


@pytest.mark.parametrize("args, says", [
    (["--eps-limit", "0"], "eps_limit must be > 0"),
    (["--fleet-size", "0"], "fleet_size must be at least 1"),
    (["--eps-limit", "5"], "eps_limit 5 allows no release at z = 1"),  # one release costs 10.7
    (["--noise", "0"], "noise multiplier must be > 0"),
    (["--parts", "dp,nothing"], "audit parts must be some of"),
    (["--variant", "nothing"], "unknown variant"),
])
def test_settings_that_cannot_be_audited_are_refused_in_one_line(args, says, tmp_path):
    proc = _audit(*args, tmp_path=tmp_path)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("tinyfl audit: ") and says in lines[0], proc.stderr
    assert not (tmp_path / "out").exists()  # refused before any work


def test_a_failing_dp_audit_exits_1_and_nothing_failing_0(tmp_path):
    broken = _audit("--smoke", "--parts", "dp", "--variant", "constant_key", "--format", "json",
                    tmp_path=tmp_path / "broken")
    assert broken.returncode == 1, broken.stderr
    summary = json.loads(broken.stdout)  # stdout stays pure JSON
    assert summary["dp_audit"]["verdict"] == "fail"
    assert summary["failures"] == ["DP audit, device at z = 3: FAIL", "DP audit, device at the configured z = 1: FAIL"]
    assert "tinyfl audit: FAIL" in broken.stderr

    # nothing failed: 0 (the honest DP audit's empty failures are checked on the shared smoke
    # audit in test_audit_report.py; the utility part alone keeps this test short)
    honest = _audit("--smoke", "--parts", "utility", "--format", "json", tmp_path=tmp_path / "honest")
    assert honest.returncode == 0, honest.stderr
    assert json.loads(honest.stdout)["failures"] == []
