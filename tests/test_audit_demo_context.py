"""The demo's summary puts the eps it spent in context: what it bounds, what it leaves open,
and what the audit measured at that noise (read from an audit report, never typed in)."""
from __future__ import annotations

import json
from types import SimpleNamespace

from tinyfl.demo import privacy_context
from tinyfl.firmware_config import FirmwareConfig
from tinyfl.privacy import epsilon


def _result(releases: int = 6):
    eps = epsilon(1.0, releases, 1e-5)
    privacy = [SimpleNamespace(releases_before=0, releases_host=releases, eps_host=eps)]
    return SimpleNamespace(config=FirmwareConfig(), summary=SimpleNamespace(privacy=privacy))


def test_the_demo_eps_is_put_in_context(tmp_path):
    lines = privacy_context(_result(), tmp_path / "missing.json")
    text = " ".join(lines)
    assert "eps 34.1 after 6 release(s) (RDP, replace relation" in text  # the demo's 6 rounds at z = 1
    assert "e^34.1 = 6.6e+14" in text and "each release eps 10.7" in text
    assert "eps_limit 50, 10 releases" in text
    assert "Not protected by eps" in text and "how many samples" in text
    assert "run `tinyfl audit --noise 1`" in lines[-1]


def test_the_audit_found_is_quoted_from_its_report_at_the_same_noise(tmp_path):
    report = {"config": {"dp": {"noise_multiplier": 1.0}, "samples_per_round": 1},
              "verdicts": {"label": "leaks", "features": "protected", "raw_input": "protected"},
              "dp_audit": {"verdict": "pass"}}
    path = tmp_path / "report.json"
    path.write_text(json.dumps(report))
    last = privacy_context(_result(), path)[-1]
    assert "label leaks, features protected, raw input protected; DP audit pass" in last
    report["config"]["dp"]["noise_multiplier"] = 3.0  # another noise level: not this demo's
    path.write_text(json.dumps(report))
    assert "run `tinyfl audit --noise 1`" in privacy_context(_result(), path)[-1]
    path.write_text("{not json")  # a broken file is not an error, just no audit
    assert "run `tinyfl audit --noise 1`" in privacy_context(_result(), path)[-1]
