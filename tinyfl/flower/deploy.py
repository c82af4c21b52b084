"""Starting the Flower processes of a deployment on this machine (loopback only): a SuperLink,
one SuperNode per gateway (next to the gateway's BoardServer), and `flwr run` of the tinyfl app
in host/flower. What `tinyfl flower serve|gateway` and the tests use.

Flower's SuperLink starts helper processes of its own (flower-superexec, flwr-serverapp),
detached from it: stopping a deployment ends every process below the ones started here, each
by its id.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Mapping

from ..paths import HOST_DIR
from .gateway import BoardServer

__all__ = ["APP_DIR", "Deployment", "FlowerError", "flwr_env", "run_config_arg"]

APP_DIR = HOST_DIR / "flower"
START_TIMEOUT_S = 30.0


class FlowerError(RuntimeError):
    """A Flower process could not be started or the run failed."""


def _bin(name: str) -> str:
    """A Flower executable next to this Python (the venv), else on PATH."""
    here = Path(sys.executable).parent / name
    found = str(here) if here.exists() else shutil.which(name)
    if not found:
        raise FlowerError(f"{name} not found: pip install 'tinyfl[flower]'")
    return found


def flwr_env(flwr_home: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["FLWR_HOME"] = str(flwr_home)
    env["FLWR_DISABLE_UPDATE_CHECK"] = "1"
    # the SuperLink starts flower-superexec and flwr-serverapp by name
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    return env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_config_arg(config: Mapping[str, Any]) -> str:
    """--run-config "k=v k2=v2", values as TOML (strings quoted)."""
    parts = []
    for key, value in config.items():
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, (int, float)):
            text = repr(value)
        else:
            text = json.dumps(str(value))
        parts.append(f"{key}={text}")
    return " ".join(parts)


def _stat(pid: int) -> tuple[int, int] | None:
    """(parent pid, start time) of a process, None when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[1]), int(fields[19])
    except (OSError, ValueError, IndexError):
        return None


def _descendants(pids: list[int]) -> dict[int, int]:
    """pids and every process below them (Linux /proc): pid -> start time."""
    stats = {int(e): st for e in os.listdir("/proc") if e.isdigit()
             if (st := _stat(int(e))) is not None}
    found = {pid: stats[pid][1] for pid in pids if pid in stats}
    frontier = set(found)
    while frontier:
        frontier = {pid for pid, (parent, _) in stats.items()
                    if parent in frontier and pid not in found}
        found.update({pid: stats[pid][1] for pid in frontier})
    return found


class Deployment:
    """A SuperLink on 127.0.0.1 and SuperNodes for gateways, all stopped by close()."""

    def __init__(self, workdir: Path, *, port: int | None = None) -> None:
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.flwr_home = self.workdir / "flwr-home"
        self.flwr_home.mkdir(exist_ok=True)
        (self.flwr_home / "config.toml").write_text(
            '[superlink]\ndefault = "tinyfl"\n\n[superlink.tinyfl]\n'
            f'address = "127.0.0.1:{self.port}"\ninsecure = true\n')
        self.env = flwr_env(self.flwr_home)
        self._procs: list[subprocess.Popen] = []
        self._servers: list[BoardServer] = []

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _spawn(self, cmd: list[str], log: str) -> subprocess.Popen:
        out = open(self.workdir / log, "ab")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen(cmd, env=self.env, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)
        out.close()
        self._procs.append(proc)
        return proc

    def start_superlink(self) -> None:
        proc = self._spawn([_bin("flower-superlink"), "--insecure", "--host", "127.0.0.1",
                            "--port", str(self.port),
                            "--disable-runtime-dependency-installation",
                            "--database", str(self.workdir / "superlink.db")], "superlink.log")
        until = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < until:
            if proc.poll() is not None:
                raise FlowerError(f"flower-superlink exited ({proc.returncode}): see "
                                  f"{self.workdir / 'superlink.log'}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.2)
        raise FlowerError(f"flower-superlink did not listen on {self.address} within "
                          f"{START_TIMEOUT_S:g} s")

    def start_gateway(self, server: BoardServer, superlink: str | None = None) -> None:
        """A SuperNode whose ClientApp calls reach `server` (already started)."""
        self._servers.append(server)
        name = server.boards.name
        self._spawn([_bin("flower-supernode"), "--insecure", "--superlink",
                     superlink or self.address, "--port", str(free_port()),
                     "--node-config", f'tinyfl-gateway="{server.address}"'],
                    f"supernode-{name}.log")

    def run(self, run_config: Mapping[str, Any], *, timeout: float = 600.0,
            app_dir: Path = APP_DIR, stream_to: Any = None) -> str:
        """flwr run of the tinyfl app with `run_config`; its output. Raises FlowerError."""
        cmd = [_bin("flwr"), "run", str(app_dir), "tinyfl", "--stream",
               "--run-config", run_config_arg(run_config)]
        proc = subprocess.Popen(cmd, env=self.env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, stdin=subprocess.DEVNULL)
        self._procs.append(proc)
        lines: list[str] = []
        until = time.monotonic() + timeout
        assert proc.stdout is not None
        for line in proc.stdout:  # the run's log, streamed until the run ends
            lines.append(line)
            if stream_to is not None:
                stream_to(line.rstrip("\n"))
            if time.monotonic() > until:
                break
        try:
            proc.wait(timeout=max(1.0, until - time.monotonic()))
        except subprocess.TimeoutExpired:
            raise FlowerError(f"flwr run did not finish within {timeout:g} s") from None
        output = "".join(lines)
        if proc.returncode != 0 or "ServerApp raised an exception" in output:
            tail = [ln for ln in output.splitlines() if ln.strip()][-3:]
            raise FlowerError(f"flwr run failed ({proc.returncode}): " + " | ".join(tail))
        return output

    def close(self) -> None:
        pids = _descendants([p.pid for p in self._procs if p.poll() is None])
        for pid in sorted(pids, reverse=True):
            try:
                os.kill(pid, signal.SIGTERM)
            except OSError:
                pass
        for proc in self._procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        for pid, started in pids.items():  # helpers that outlived their parent's SIGTERM
            stat = _stat(pid)
            if stat is not None and stat[1] == started:  # the same process, not a reused id
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
        for server in self._servers:
            server.close()

    def __enter__(self) -> Deployment:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
