"""Build firmware images for the emulated boards (native process, QEMU mps2-an386 and rv32 virt).

A board is a folder under boards/ with a board.toml that says which compiler, flags and files it
uses. An image is the whole runtime (firmware/*.c, firmware/generated/*.c), the board's files,
one model and the compile-time configuration header that tinyfl.firmware_config renders. Images
are cached by a hash of everything that goes into them, so building the same image twice costs a
hash of the sources.
"""
from __future__ import annotations

import functools
import hashlib
import json
import os
import subprocess
import tomllib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable, Mapping

from .. import toolchain
from ..firmware_config import HEADER_NAME, FirmwareConfig
from ..paths import BOARDS_DIR, FIRMWARE_DIR, build_dir

__all__ = [
    "BOARDS",
    "BoardSpec",
    "board_spec",
    "build_firmware",
    "build_qemu_program",
    "firmware_size",
    "resolve_board",
]

BOARDS = ("native", "qemu-mps2-an386", "qemu-virt-rv32")
_ALIASES = {"qemu": "qemu-mps2-an386", "qemu-rv32": "qemu-virt-rv32", "riscv": "qemu-virt-rv32"}
# rv32imc, not rv32imc_zicsr: the latter picks a multilib Debian's picolibc does not ship.
RV32IMC = ("-march=rv32imc", "-mabi=ilp32")
_ARCH_FLAGS: dict[str, tuple[str, ...]] = {"host": (), "cortex-m4f": toolchain.CORTEX_M4F, "rv32imc": RV32IMC}
DEFAULT_MODEL_SOURCES = (FIRMWARE_DIR / "tinyfl_model_stats.c",)
_MODEL_PREFIX = "tinyfl_model_"  # exactly one model is linked: never glob these in
_QEMU_BOARD = "qemu-mps2-an386"


@dataclass(frozen=True)
class BoardSpec:
    """A board's build description (boards/<name>/board.toml), paths resolved."""

    name: str
    directory: Path
    compiler: str
    arch_flags: tuple[str, ...]
    cflags: tuple[str, ...]
    support_sources: tuple[Path, ...]
    sources: tuple[Path, ...]
    include_dirs: tuple[Path, ...]  # besides the board folder (qemu-common for the QEMU boards)
    linker_script: Path | None
    ldflags: tuple[str, ...]
    libs: tuple[str, ...]
    output: str
    qemu_machine: str | None

    def link_flags(self) -> list[str]:
        flags = list(self.ldflags)
        if self.linker_script is not None:
            flags += ["-T", str(self.linker_script)]
        return flags


def resolve_board(board: str) -> str:
    """Canonical board name ("qemu" is short for "qemu-mps2-an386", "qemu-rv32" and "riscv" for
    "qemu-virt-rv32")."""
    name = _ALIASES.get(board, board)
    if name not in BOARDS:
        raise ValueError(f"unknown board {board!r}; emulated boards: {', '.join(BOARDS)}")
    return name


def board_spec(board: str) -> BoardSpec:
    name = resolve_board(board)
    directory = BOARDS_DIR / name
    raw = tomllib.loads((directory / "board.toml").read_text())
    script = raw.get("linker_script")

    def paths(key: str) -> tuple[Path, ...]:  # relative to the board folder, may be ../qemu-common/x
        return tuple(Path(os.path.normpath(directory / p)) for p in raw.get(key, ()))

    return BoardSpec(
        name=name,
        directory=directory,
        compiler=raw["compiler"],
        arch_flags=_ARCH_FLAGS[raw["arch"]],
        cflags=tuple(raw.get("cflags", ())),
        support_sources=paths("support_sources"),
        sources=paths("sources"),
        include_dirs=paths("include_dirs"),
        linker_script=directory / script if script else None,
        ldflags=tuple(raw.get("ldflags", ())),
        libs=tuple(raw.get("libs", ())),
        output=raw["output"],
        qemu_machine=raw.get("qemu_machine"),
    )


@functools.lru_cache(maxsize=None)
def _compiler_identity(compiler: str) -> str:
    path = toolchain.find_tool(compiler)
    proc = subprocess.run([path, "--version"], capture_output=True, text=True)
    return f"{path}\n{proc.stdout.splitlines()[0] if proc.stdout else ''}"


def _runtime_sources() -> list[Path]:
    runtime = sorted(p for p in FIRMWARE_DIR.glob("*.c") if not p.name.startswith(_MODEL_PREFIX))
    return runtime + sorted((FIRMWARE_DIR / "generated").glob("*.c"))


def _headers(directories: Iterable[Path]) -> list[Path]:
    found: set[Path] = set()
    for d in directories:
        if d.is_dir():
            found.update(p for p in d.rglob("*") if p.suffix in (".h", ".ld", ".inc") and p.is_file())
    return sorted(found)


def _define_flags(defines: Mapping[str, object]) -> list[str]:
    return [f"-D{k}" if v is None else f"-D{k}={v}" for k, v in sorted(defines.items())]


def _digest(parts: Iterable[str | Path]) -> str:
    h = hashlib.sha256()
    for part in parts:
        if isinstance(part, Path):
            h.update(str(part).encode())
            h.update(b"\0")
            h.update(part.read_bytes())
        else:
            h.update(part.encode())
        h.update(b"\0")
    return h.hexdigest()[:16]


def _write_atomic(path: Path, text: str) -> None:
    """Another process may be compiling against this file right now: never show it half."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _compile(cmd: list[str], output: Path) -> None:
    """Compile to a temporary name and rename: a concurrent build never sees half a file."""
    tmp = output.with_name(f".{output.name}.{os.getpid()}.tmp")
    try:
        proc = subprocess.run([*cmd, "-o", str(tmp)], capture_output=True, text=True)
        if proc.returncode != 0:
            raise toolchain.ToolchainError(f"command failed: {' '.join(cmd)}\n{proc.stdout}{proc.stderr}")
        os.replace(tmp, output)
    finally:
        tmp.unlink(missing_ok=True)


def build_firmware(
    board: str,
    config: FirmwareConfig,
    *,
    test_build: bool = False,
    test_seed: int | None = None,
    defines: dict | None = None,
    model_sources: list[Path] | None = None,
) -> Path:
    """Compile the runtime, the board and one model into an image; returns the executable (native)
    or the ELF (QEMU) in build_dir()/firmware/<board>-<hash>/, reused when nothing changed.

    test_build adds -DTINYFL_TEST_BUILD (the hello then says so); test_seed (test builds only)
    fixes the noise seed with -DTINYFL_TEST_SEED=<n>. model_sources default to the fixed
    statistics extractor (firmware/tinyfl_model_stats.c); their folders are on the include path.
    """
    spec = board_spec(board)
    if test_seed is not None and not test_build:
        raise ValueError("test_seed needs test_build=True (a release image never has a fixed seed)")
    all_defines: dict[str, object] = dict(defines or {})
    if test_build:
        all_defines["TINYFL_TEST_BUILD"] = None
    if test_seed is not None:
        all_defines["TINYFL_TEST_SEED"] = int(test_seed)
    models = [Path(p).resolve() for p in (model_sources or DEFAULT_MODEL_SOURCES)]
    model_dirs = sorted({p.parent for p in models})
    sources = _runtime_sources() + list(spec.support_sources) + list(spec.sources) + models
    header_text = config.render_header()

    flags = [*toolchain.WARNINGS, *spec.arch_flags, *spec.cflags, *_define_flags(all_defines)]
    key = _digest(
        [
            spec.name,
            _compiler_identity(spec.compiler),
            json.dumps(flags),
            json.dumps(spec.link_flags() + list(spec.libs)),
            header_text,
            *sources,
            *_headers([FIRMWARE_DIR, spec.directory, *spec.include_dirs, *model_dirs]),
        ]
    )
    out_dir = build_dir() / "firmware" / f"{spec.name}-{key}"
    output = out_dir / spec.output
    if output.exists():
        return output

    out_dir.mkdir(parents=True, exist_ok=True)
    _write_atomic(out_dir / HEADER_NAME, header_text)
    includes = [out_dir, FIRMWARE_DIR, spec.directory, *spec.include_dirs, *model_dirs]
    cmd = [toolchain.find_tool(spec.compiler), *flags, *(f"-I{d}" for d in includes)]
    cmd += [str(s) for s in sources] + spec.link_flags() + list(spec.libs)
    _write_atomic(
        out_dir / "build.json",
        json.dumps(
            {
                "board": spec.name,
                "config": asdict(config),
                "header": HEADER_NAME,
                "defines": {k: v for k, v in sorted(all_defines.items())},
                "command": cmd,
            },
            indent=2,
        )
    )
    _compile(cmd, output)
    return output


def build_qemu_program(
    sources: Iterable[Path | str],
    *,
    name: str = "program",
    include_dirs: Iterable[Path | str] = (),
    defines: dict | None = None,
    opt: str = "-O2",
    extra_flags: Iterable[str] = (),
    board: str = _QEMU_BOARD,
) -> Path:
    """Link `sources` (which define main()) with a QEMU board's support (start-up, UART0,
    clock, semihosting) into an ELF for run_semihosted(): on-target tests and benchmarks.

    main()'s return value becomes QEMU's exit code. The program may include the board folder's
    headers (AN386: "an386.h"; rv32 virt: "virt_rv32.h"), boards/qemu-common's ("semihost.h",
    the same calls on both) and anything under firmware/. Cached like build_firmware.
    """
    spec = board_spec(board)
    if spec.qemu_machine is None:
        raise ValueError(f"{spec.name} is not a QEMU board")
    srcs = [Path(s).resolve() for s in sources]
    incs = [Path(d).resolve() for d in include_dirs]
    flags = [*toolchain.WARNINGS, *spec.arch_flags, opt, "-g", "-ffunction-sections", "-fdata-sections"]
    flags += [*_define_flags(dict(defines or {})), *extra_flags]
    key = _digest(
        [
            spec.name,
            _compiler_identity(spec.compiler),
            json.dumps(flags),
            json.dumps(spec.link_flags() + list(spec.libs)),
            *spec.support_sources,
            *srcs,
            *_headers([spec.directory, *spec.include_dirs, *incs, *{s.parent for s in srcs}]),
        ]
    )
    output = build_dir() / "firmware" / "programs" / f"{name}-{key}.elf"
    if output.exists():
        return output
    output.parent.mkdir(parents=True, exist_ok=True)
    includes = [spec.directory, *spec.include_dirs, FIRMWARE_DIR, *incs]
    cmd = [toolchain.find_tool(spec.compiler), *flags, *(f"-I{d}" for d in includes)]
    cmd += [str(s) for s in [*spec.support_sources, *srcs]] + spec.link_flags() + list(spec.libs)
    _compile(cmd, output)
    return output


_SIZE_TOOLS = {40: "arm-none-eabi-size", 243: "riscv64-unknown-elf-size"}  # by ELF e_machine


def firmware_size(elf: Path | str) -> dict[str, int]:
    """Flash and RAM of an image, from the target's size tool (arm-none-eabi-size,
    riscv64-unknown-elf-size; the host's size for native ones).

    Keys: text, data, bss (Berkeley format; bss includes the stack), stack (the reserved stack
    section, 0 when none), flash = text + data (the initial values of .data live in flash),
    ram = data + bss.
    """
    elf = Path(elf)
    header = elf.read_bytes()[:20]
    if header[:4] != b"\x7fELF":
        raise ValueError(f"{elf} is not an ELF file")
    machine = int.from_bytes(header[18:20], "little")
    tool = toolchain.find_tool(_SIZE_TOOLS.get(machine, "size"))

    def run(*args: str) -> list[str]:
        proc = subprocess.run([tool, *args, str(elf)], capture_output=True, text=True)
        if proc.returncode != 0:
            raise toolchain.ToolchainError(proc.stderr)
        return proc.stdout.splitlines()

    text, data, bss = (int(v) for v in run("-B")[1].split()[:3])
    stack = 0
    for line in run("-A"):
        fields = line.split()
        if len(fields) >= 2 and fields[0] == ".stack":
            stack = int(fields[1])
    return {"text": text, "data": data, "bss": bss, "stack": stack, "flash": text + data, "ram": data + bss}
