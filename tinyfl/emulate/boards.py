"""Launch emulated boards and fleets of them: native processes, QEMU mps2-an386 (Cortex-M4F) or
QEMU virt (rv32imc) machines.

Every board serves the wire protocol on a TCP port of 127.0.0.1; the host connects with
pyserial's `socket://127.0.0.1:PORT` URL (board.url), exactly as it would open a real serial
port. A board boots when the first host connects (QEMU starts its CPU only then), so that host
receives the boot hello; a host that connects later asks with hello_request.

Every process started here is killed when its board or fleet stops, when the interpreter exits,
and (Linux) when the process that started it dies.
"""
from __future__ import annotations

import atexit
import ctypes
import os
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Iterator, Sequence

from .build import board_spec, resolve_board
from .qemu import qemu_command, qemu_target

__all__ = ["BoardError", "EmulatedBoard", "Fleet", "NativeBoard", "QemuBoard", "launch_fleet"]

START_TIMEOUT = 10.0
_PORT_RETRIES = 5
_PR_SET_PDEATHSIG = 1

_live: set[subprocess.Popen] = set()  # every board process not yet stopped


class BoardError(RuntimeError):
    """A board failed to start (the message ends with the tail of its log)."""


def _kill_leftovers() -> None:
    for proc in list(_live):
        if proc.poll() is None:
            proc.kill()
            proc.wait()


atexit.register(_kill_leftovers)


def _die_with_parent() -> None:  # runs in the child between fork and exec
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        pass


def _preexec():
    # PDEATHSIG fires when the *thread* that forked exits: only safe from the main thread.
    return _die_with_parent if threading.current_thread() is threading.main_thread() else None


def free_port() -> int:
    """A TCP port of 127.0.0.1 that was free a moment ago (the caller retries on a collision)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class EmulatedBoard:
    """One emulated board: its firmware, identity, storage (ledger) file and sample shard."""

    kind = "board"

    def __init__(
        self,
        firmware: Path | str,
        *,
        device_id: int,
        shard: Path | str,
        storage: Path | str,
        log: Path | str | None = None,
    ):
        self.firmware = Path(firmware).resolve()
        self.device_id = int(device_id)
        self.shard = Path(shard).resolve()
        self.storage = Path(storage).resolve()
        self.log_path = Path(log).resolve() if log else self.storage.with_suffix(".log")
        self.port: int | None = None
        self._proc: subprocess.Popen | None = None

    # -- state -------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        """pyserial URL of the board's link."""
        if self.port is None:
            raise BoardError(f"{self} is not started")
        return f"socket://127.0.0.1:{self.port}"

    @property
    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def returncode(self) -> int | None:
        """Exit code once the process ended (negative: killed by that signal); None while alive."""
        return None if self._proc is None else self._proc.poll()

    @property
    def pid(self) -> int | None:
        return None if self._proc is None else self._proc.pid

    def log_text(self, offset: int = 0) -> str:
        """The board's log (process stderr, QEMU's messages, the semihosting console) from
        byte `offset` on."""
        try:
            with open(self.log_path, "rb") as f:
                f.seek(offset)
                return f.read().decode(errors="replace")
        except FileNotFoundError:
            return ""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(device_id={self.device_id}, port={self.port})"

    # -- life cycle --------------------------------------------------------------------------
    def start(self, timeout: float = START_TIMEOUT) -> "EmulatedBoard":
        """Starts the process and returns once its port accepts a host (on the port of the
        previous run, if any, so a restarted board keeps its URL when it can)."""
        if self.alive:
            raise BoardError(f"{self} is already running")
        self.storage.parent.mkdir(parents=True, exist_ok=True)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        wanted = self.port
        last_error: BoardError | None = None
        for _ in range(_PORT_RETRIES):
            try:
                self.port = self._launch(wanted, timeout)
                return self
            except _PortTaken as exc:
                last_error = BoardError(str(exc))
                wanted = None
            except BaseException:  # e.g. Ctrl-C while waiting: leave no process behind
                self.stop()
                raise
        raise last_error or BoardError(f"{self} could not find a free port")

    def stop(self) -> None:
        """Kills the process, like pulling the plug (the ledger is durable before any send)."""
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.kill()
        if proc is not None:
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:  # pragma: no cover - a kill that did not land
                pass
            for stream in (proc.stdout, proc.stderr):
                if stream is not None:
                    stream.close()
            _live.discard(proc)

    def restart(self, timeout: float = START_TIMEOUT) -> "EmulatedBoard":
        """Stop, then start again with the same storage (a reboot); read .url again after."""
        self.stop()
        return self.start(timeout)

    def __enter__(self) -> "EmulatedBoard":
        if not self.alive:
            self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- per board ---------------------------------------------------------------------------
    def _launch(self, port: int | None, timeout: float) -> int:
        raise NotImplementedError

    def _spawn(self, cmd: list[str], stdout) -> subprocess.Popen:
        with open(self.log_path, "ab") as log:
            log.write(f"--- start {' '.join(cmd)}\n".encode())
            log.flush()
            self._proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=stdout,
                stderr=log,
                preexec_fn=_preexec(),
                start_new_session=True,  # a Ctrl-C in a terminal goes to the host only
            )
        _live.add(self._proc)
        return self._proc

    def _failed(self, what: str) -> BoardError:
        self.stop()
        tail = "\n".join(self.log_text().splitlines()[-15:])
        return BoardError(f"{self}: {what}\n--- {self.log_path}:\n{tail}")


class _PortTaken(Exception):
    pass


class NativeBoard(EmulatedBoard):
    """The firmware as a Linux process (boards/native)."""

    kind = "native"

    def _launch(self, port: int | None, timeout: float) -> int:
        cmd = [
            str(self.firmware),
            "--port", str(port or 0),
            "--shard", str(self.shard),
            "--storage", str(self.storage),
            "--device-id", str(self.device_id),
        ]
        proc = self._spawn(cmd, subprocess.PIPE)
        assert proc.stdout is not None
        os.set_blocking(proc.stdout.fileno(), False)
        deadline = time.monotonic() + timeout
        line = b""
        while time.monotonic() < deadline:
            chunk = proc.stdout.read() or b""
            line += chunk
            if b"\n" in line:
                words = line.split(b"\n", 1)[0].split()
                if len(words) == 2 and words[0] == b"TINYFL_LISTENING":
                    return int(words[1])
                raise self._failed(f"unexpected first line {line!r}")
            if proc.poll() is not None:
                if port and "cannot listen" in self.log_text():
                    self.stop()
                    raise _PortTaken(f"port {port} taken")
                raise self._failed(f"exited with {proc.returncode} before listening")
            time.sleep(0.005)
        raise self._failed(f"not listening after {timeout} s")


class QemuBoard(EmulatedBoard):
    """The firmware on an emulated board under QEMU: Cortex-M4F (mps2-an386) or rv32imc (virt),
    whichever the ELF is built for. UART0 is a TCP server with wait=on: the CPU starts when the
    first host connects, so the boot hello reaches it."""

    @property
    def kind(self) -> str:  # type: ignore[override]
        """The board the firmware was built for (qemu-mps2-an386 or qemu-virt-rv32)."""
        return qemu_target(self.firmware).board

    def __init__(self, *args, icount: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.icount = icount
        for path in (self.shard, self.storage):
            if any(c.isspace() for c in str(path)):
                raise ValueError(f"QEMU semihosting arguments cannot contain whitespace: {path}")

    def _launch(self, port: int | None, timeout: float) -> int:
        port = port or free_port()
        serial = ["-serial", f"tcp:127.0.0.1:{port},server=on,wait=on,nodelay=on"]
        args = ["--shard", str(self.shard), "--storage", str(self.storage), "--device-id", str(self.device_id)]
        start_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        proc = self._spawn(qemu_command(self.firmware, serial, args, icount=self.icount), subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.log_text(start_offset)
            # QEMU says so on stderr once the server socket listens (and the CPU waits for it).
            if "waiting for connection" in text:
                return port
            if proc.poll() is not None:
                if "Address already in use" in text or "Failed to bind" in text:
                    self.stop()
                    raise _PortTaken(f"port {port} taken")
                raise self._failed(f"QEMU exited with {proc.returncode} before listening")
            time.sleep(0.005)
        raise self._failed(f"QEMU not listening after {timeout} s")


class Fleet:
    """Boards started together; stops all of them on exit from its `with` block (also on an
    exception). Iterable and indexable like a list of boards."""

    def __init__(self, boards: Sequence[EmulatedBoard]):
        self.boards = list(boards)

    @property
    def urls(self) -> list[str]:
        return [b.url for b in self.boards]

    @property
    def device_ids(self) -> list[int]:
        return [b.device_id for b in self.boards]

    def __len__(self) -> int:
        return len(self.boards)

    def __iter__(self) -> Iterator[EmulatedBoard]:
        return iter(self.boards)

    def __getitem__(self, index: int) -> EmulatedBoard:
        return self.boards[index]

    def stop(self) -> None:
        for board in self.boards:
            board.stop()

    def __enter__(self) -> "Fleet":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def launch_fleet(
    board: str,
    n: int,
    firmware: Path,
    shards: list[Path],
    workdir: Path,
    *,
    device_ids: Sequence[int] | None = None,
    icount: bool = False,
) -> Fleet:
    """Start n boards of one kind ("native", "qemu-mps2-an386"/"qemu" or
    "qemu-virt-rv32"/"qemu-rv32") running `firmware`,
    board i replaying shards[i]; each keeps its ledger and log in workdir/device-<id>/.
    Device ids default to 1..n. If any board fails to start, the ones already started are
    stopped before the error propagates."""
    name = resolve_board(board)
    if len(shards) != n:
        raise ValueError(f"{n} boards need {n} shards, got {len(shards)}")
    ids = list(device_ids) if device_ids is not None else list(range(1, n + 1))
    if len(ids) != n or len(set(ids)) != n:
        raise ValueError("device_ids must be n distinct ids")
    if board_spec(name).qemu_machine is None and icount:
        raise ValueError("icount applies to QEMU boards only")
    workdir = Path(workdir)
    boards: list[EmulatedBoard] = []
    try:
        for device_id, shard in zip(ids, shards):
            folder = workdir / f"device-{device_id}"
            common = dict(device_id=device_id, shard=shard, storage=folder / "ledger.bin", log=folder / "board.log")
            b = QemuBoard(firmware, icount=icount, **common) if name != "native" else NativeBoard(firmware, **common)
            boards.append(b)
            b.start()
    except BaseException:
        for b in boards:
            b.stop()
        raise
    return Fleet(boards)
