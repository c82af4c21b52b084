"""tinyfl devices / flash / capture: the real-board commands fail in one line where they cannot work."""
from __future__ import annotations

import json
import subprocess
import sys


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tinyfl.cli", *args], capture_output=True, text=True,
                          timeout=120)


def test_devices_lists_serial_ports_as_json():
    out = _cli("devices", "--format", "json")
    assert out.returncode == 0, out.stderr
    ports = json.loads(out.stdout)
    assert isinstance(ports, list) and all(p["kind"] == "serial" and p["link"] for p in ports)


def test_flash_needs_a_platformio_project(tmp_path):
    out = _cli("flash", str(tmp_path))
    assert out.returncode == 2
    assert "no platformio.ini" in out.stderr and "Traceback" not in out.stderr


def test_capture_reports_a_dead_port_and_an_unknown_label(tmp_path):
    out = _cli("capture", "--port", str(tmp_path / "no-such-port"), "--label", "0")
    assert out.returncode == 1 and "capture:" in out.stderr and "Traceback" not in out.stderr
    out = _cli("capture", "--port", str(tmp_path / "no-such-port"), "--label", "walking")
    assert out.returncode == 2 and "unknown label" in out.stderr


def test_demo_refuses_a_budget_that_allows_no_release_before_building():
    out = _cli("demo", "--eps-limit", "5", "--board", "native", "-n", "1", "--backbone", "stats")
    assert out.returncode == 2 and "one update costs eps 10.7" in out.stderr and "Traceback" not in out.stderr
