"""The privacy and learning core builds for Cortex-M4F with the project's warnings, and uses
no double-precision arithmetic there (the FPU is single precision only)."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

import dp_clib
from tinyfl.paths import FIRMWARE_DIR, build_dir
from tinyfl.toolchain import CORTEX_M4F, WARNINGS

SOURCES = [FIRMWARE_DIR / name for name in (*dp_clib.CORE_SOURCES, "tinyfl_model_stats.c")]
SOURCES.append(dp_clib.DRIVER)


@pytest.fixture(scope="module")
def objects(arm_toolchain) -> dict[str, Path]:
    from tinyfl.firmware_config import FirmwareConfig

    out_dir = build_dir() / "dp_cortex_m4"
    FirmwareConfig().write_header(out_dir)
    includes = [f"-I{FIRMWARE_DIR}", f"-I{out_dir}"]
    includes += [f"-I{d}" for d in dp_clib.status_include_dirs()]
    objects = {}
    for src in SOURCES:
        obj = out_dir / (src.stem + ".o")
        cmd = ["arm-none-eabi-gcc", *WARNINGS, *CORTEX_M4F, "-O2", *includes,
               "-c", str(src), "-o", str(obj)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        assert proc.returncode == 0, f"{' '.join(cmd)}\n{proc.stderr}"
        objects[src.name] = obj
    return objects


def test_every_file_compiles(objects):
    assert sorted(objects) == sorted(src.name for src in SOURCES)
    assert all(obj.stat().st_size > 0 for obj in objects.values())


def test_no_double_precision_helpers(objects):
    for name, obj in objects.items():
        undefined = subprocess.run(["arm-none-eabi-nm", "-u", str(obj)], capture_output=True,
                                   text=True, check=True).stdout.split()
        doubles = [s for s in undefined if s.startswith("__aeabi_d") or s in ("exp", "sqrt", "round")]
        assert not doubles, f"{name} uses double precision: {doubles}"
