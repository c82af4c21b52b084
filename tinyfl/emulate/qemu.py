"""Run programs on the emulated Cortex-M4F board (QEMU `-M mps2-an386`) with semihosting.

Semihosting gives the program its command line, host files and its exit code; UART0 is the
program's output. `-icount shift=0` ties the clock to executed instructions (one per ns), so the
board's 25 MHz FPGA counter ticks once per 40 instructions: exact, repeatable counts.
"""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Sequence

__all__ = [
    "QEMU",
    "QEMU_MACHINE",
    "QemuTimeout",
    "qemu_command",
    "run_semihosted",
    "semihosting_config",
]

QEMU = "qemu-system-arm"
QEMU_MACHINE = "mps2-an386"
ICOUNT = ("-icount", "shift=0")


class QemuTimeout(TimeoutError):
    """The program did not exit in time; `output` holds what it printed until then."""

    def __init__(self, message: str, output: str):
        super().__init__(message)
        self.output = output


def _option_value(text: str) -> str:
    if any(c.isspace() for c in text):
        # QEMU joins the arg= values with spaces: the program could not tell them apart.
        raise ValueError(f"semihosting arguments cannot contain whitespace: {text!r}")
    return text.replace(",", ",,")  # QEMU's escape for a comma inside an option value


def semihosting_config(args: Sequence[str], *, chardev: str | None = None) -> str:
    """The -semihosting-config value: host file access (target=native) and the command line
    (argv[0] first). chardev routes the semihosting console (otherwise QEMU's stderr)."""
    parts = ["enable=on", "target=native"]
    if chardev is not None:
        parts.append(f"chardev={chardev}")
    parts += [f"arg={_option_value(str(a))}" for a in args]
    return ",".join(parts)


def qemu_command(
    elf: Path | str,
    serial: Sequence[str],
    args: Sequence[str] = (),
    *,
    icount: bool = False,
    console_chardev: str | None = None,
) -> list[str]:
    """Command line for one emulated AN386 running `elf` with semihosting arguments `args`
    (argv[0] is the ELF's name). `serial` are the QEMU options that connect UART0."""
    qemu = shutil.which(QEMU)
    if qemu is None:
        raise FileNotFoundError(f"{QEMU} not found on PATH (Debian: apt-get install qemu-system-arm)")
    elf = Path(elf).resolve()
    cmd = [qemu, "-M", QEMU_MACHINE, "-nographic", "-monitor", "none", "-kernel", str(elf), *serial]
    if icount:
        cmd += ICOUNT
    cmd += ["-semihosting-config", semihosting_config([elf.name, *args], chardev=console_chardev)]
    return cmd


def run_semihosted(
    elf: Path | str, args: Sequence[str] = (), *, icount: bool = False, timeout: float = 60
) -> tuple[int, str]:
    """Run an on-target program to its end; returns (exit code, output).

    The output is UART0 followed in order by anything the program wrote to the semihosting
    console (e.g. the fault handler's message). A program that has not exited after `timeout`
    seconds is killed and QemuTimeout is raised.
    """
    serial = ["-chardev", "stdio,id=con,mux=on", "-serial", "chardev:con"]
    cmd = qemu_command(elf, serial, args, icount=icount, console_chardev="con")
    try:
        proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        out = (exc.stdout or b"").decode(errors="replace")
        raise QemuTimeout(f"{Path(elf).name} did not exit within {timeout} s", out) from None
    out = proc.stdout.decode(errors="replace")
    if proc.stderr:
        out += proc.stderr.decode(errors="replace")
    return proc.returncode, out
