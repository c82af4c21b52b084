"""The C wire runtime on its own: unit checks (tests/c/wire_unit_main.c, under sanitizers) and
a build for Cortex-M4F with the project's warning flags."""
from __future__ import annotations

import os
import subprocess

from tinyfl.paths import FIRMWARE_DIR, build_dir
from tinyfl.toolchain import CORTEX_M4F, WARNINGS, find_tool
from wire_support import SANITIZER_ENV, TESTS_DIR, WIRE_C_SOURCES, build


def test_c_unit_checks_pass():
    binary = build(TESTS_DIR / "c" / "wire_unit_main.c", "wire_unit_main")
    proc = subprocess.run([str(binary)], capture_output=True, text=True,
                          env={**os.environ, **SANITIZER_ENV}, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.startswith("PASS ") and int(proc.stdout.split()[1]) >= 60
    assert "runtime error" not in proc.stderr


def test_wire_sources_build_for_cortex_m4(arm_toolchain, tmp_path):
    """The runtime and both drivers compile for Cortex-M4F at -O0 and -Os with -Werror."""
    gcc = find_tool("arm-none-eabi-gcc")
    sources = [*WIRE_C_SOURCES, TESTS_DIR / "c" / "wire_vectors_main.c",
               TESTS_DIR / "c" / "wire_unit_main.c"]
    objects = []
    for opt in ("-O0", "-Os"):
        for source in sources:
            obj = tmp_path / f"{source.stem}{opt}.o"
            proc = subprocess.run([gcc, *WARNINGS, *CORTEX_M4F, opt, f"-I{FIRMWARE_DIR}", "-c",
                                   str(source), "-o", str(obj)], capture_output=True, text=True)
            assert proc.returncode == 0, proc.stderr
            objects.append(obj)
    size = subprocess.run([find_tool("arm-none-eabi-size"), *map(str, objects[:5])],
                          capture_output=True, text=True)
    assert size.returncode == 0
    (build_dir() / "wire_size_cortex_m4_O0.txt").write_text(size.stdout)


def test_spec_version_guard_stops_a_stale_file(tmp_path):
    """A hand-written file that expects another spec version does not compile."""
    source = tmp_path / "stale.c"
    source.write_text("#define TINYFL_WIRE_EXPECTED_SPEC_VERSION 999\n"
                      "#include \"tinyfl_frame.h\"\nint tinyfl_stale_unused;\n")
    proc = subprocess.run([find_tool("cc"), *WARNINGS, f"-I{FIRMWARE_DIR}", "-c", str(source),
                           "-o", str(tmp_path / "stale.o")], capture_output=True, text=True)
    assert proc.returncode != 0 and "another wire spec version" in proc.stderr
    source.write_text(source.read_text().replace("999", "TINYFL_WIRE_SPEC_VERSION"))
    proc = subprocess.run([find_tool("cc"), *WARNINGS, f"-I{FIRMWARE_DIR}", "-c", str(source),
                           "-o", str(tmp_path / "stale.o")], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
