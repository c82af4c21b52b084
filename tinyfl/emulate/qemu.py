"""Run programs on the emulated boards with semihosting: the Cortex-M4F (QEMU `-M mps2-an386`)
and the rv32imc (QEMU `-M virt -bios none`); the ELF's machine field says which.

Semihosting gives the program its command line, host files and its exit code; UART0 is the
program's output. `-icount shift=0` ties the clock to executed instructions (one per ns), so the
AN386's 25 MHz FPGA counter ticks once per 40 instructions and the virt board's 10 MHz mtime
once per 100 (its minstret counts every one): exact, repeatable counts.
"""
from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

__all__ = [
    "QEMU",
    "QEMU_MACHINE",
    "QEMU_TARGETS",
    "QemuTarget",
    "QemuTimeout",
    "qemu_command",
    "qemu_target",
    "run_semihosted",
    "semihosting_config",
]

QEMU = "qemu-system-arm"
QEMU_MACHINE = "mps2-an386"
ICOUNT = ("-icount", "shift=0")


@dataclass(frozen=True)
class QemuTarget:
    """The emulator and machine options that run an ELF of one architecture."""

    board: str  # the board folder under boards/
    emulator: str
    machine: tuple[str, ...]
    debian_package: str


# by ELF e_machine: 40 = ARM, 243 = RISC-V
QEMU_TARGETS = {
    40: QemuTarget("qemu-mps2-an386", QEMU, ("-M", QEMU_MACHINE), "qemu-system-arm"),
    # -bios none: no OpenSBI, the image runs in machine mode from 0x80000000 like on a bare MCU
    243: QemuTarget("qemu-virt-rv32", "qemu-system-riscv32", ("-M", "virt", "-bios", "none"), "qemu-system-misc"),
}


def qemu_target(elf: Path | str) -> QemuTarget:
    """The QEMU target that runs `elf` (a 32-bit little-endian ARM or RISC-V executable)."""
    with open(elf, "rb") as f:
        header = f.read(20)
    if len(header) < 20 or header[:4] != b"\x7fELF":
        raise ValueError(f"{elf} is not an ELF file")
    if header[4] != 1:  # ELFCLASS32: qemu-system-riscv32 cannot run an rv64 image
        raise ValueError(f"{elf} is not a 32-bit ELF file")
    if header[5] != 1:  # ELFDATA2LSB
        raise ValueError(f"{elf} is not a little-endian ELF file")
    machine = int.from_bytes(header[18:20], "little")
    if machine not in QEMU_TARGETS:
        raise ValueError(f"{elf}: no emulated board for ELF machine {machine}")
    return QEMU_TARGETS[machine]


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
    """Command line for one emulated board (AN386 or rv32 virt, from the ELF) running `elf` with
    semihosting arguments `args` (argv[0] is the ELF's name). `serial` are the QEMU options that
    connect UART0."""
    elf = Path(elf).resolve()
    target = qemu_target(elf)
    qemu = shutil.which(target.emulator)
    if qemu is None:
        raise FileNotFoundError(
            f"{target.emulator} not found on PATH (Debian: apt-get install {target.debian_package})")
    cmd = [qemu, *target.machine, "-nographic", "-monitor", "none", "-kernel", str(elf), *serial]
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
