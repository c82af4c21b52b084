"""Compile C for the host (tests, the native board) and for Cortex-M4F (QEMU, real boards).

One place holds the warning flags, so the runtime is held to the same standard everywhere:
C99 with -Wall -Wextra -Werror and the float-promotion warnings that matter on an FPU that only
does single precision.
"""
from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path
from typing import Iterable, Sequence

from .paths import FIRMWARE_DIR, build_dir

WARNINGS = ("-std=c99", "-Wall", "-Wextra", "-Werror", "-Wdouble-promotion", "-Wshadow")
CORTEX_M4F = ("-mthumb", "-mcpu=cortex-m4", "-mfpu=fpv4-sp-d16", "-mfloat-abi=hard")


class ToolchainError(RuntimeError):
    """A compiler is missing or a compilation failed (the message holds its output)."""


def find_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise ToolchainError(f"{name} not found on PATH (run scripts/bootstrap.sh to install it)")
    return path


def _run(cmd: Sequence[str]) -> None:
    proc = subprocess.run(list(cmd), capture_output=True, text=True)
    if proc.returncode != 0:
        raise ToolchainError(f"command failed: {' '.join(cmd)}\n{proc.stdout}{proc.stderr}")


def compile_host(
    sources: Iterable[Path | str],
    output: Path | str,
    *,
    include_dirs: Iterable[Path | str] = (),
    defines: dict[str, str | int | None] | None = None,
    shared: bool = False,
    opt: str = "-O2",
    extra_flags: Iterable[str] = (),
    libs: Iterable[str] = ("-lm",),
) -> Path:
    """Compile `sources` with the host cc into an executable (or a shared library)."""
    cc = find_tool("cc")
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    cmd = [cc, *WARNINGS, opt, "-g", f"-I{FIRMWARE_DIR}"]
    cmd += [f"-I{d}" for d in include_dirs]
    for key, value in (defines or {}).items():
        cmd.append(f"-D{key}" if value is None else f"-D{key}={value}")
    if shared:
        cmd += ["-shared", "-fPIC"]
    cmd += list(extra_flags)
    cmd += [str(s) for s in sources]
    cmd += ["-o", str(output), *libs]
    _run(cmd)
    return output


def cached_output(tag: str, key_parts: Iterable[str | bytes | Path], suffix: str = "") -> Path:
    """A build-folder path that changes whenever any source or flag in key_parts changes."""
    digest = hashlib.sha256()
    for part in key_parts:
        if isinstance(part, Path):
            digest.update(part.read_bytes())
        elif isinstance(part, str):
            digest.update(part.encode())
        else:
            digest.update(part)
    return build_dir() / "cache" / f"{tag}-{digest.hexdigest()[:16]}{suffix}"


def firmware_sources(names: Iterable[str]) -> list[Path]:
    return [FIRMWARE_DIR / n for n in names]
