"""Build and run a generated model on the host (tests, the native board, `tinyfl build`).

The driver (tests/c/model_driver.c style, embedded here) reads float32 windows on stdin and
writes float32 feature vectors on stdout, going through tinyfl_model_backbone() exactly as the
firmware does.
"""
from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np

from ..paths import FIRMWARE_DIR, build_dir
from ..toolchain import cached_output, compile_host
from .generate import GeneratedModel

DRIVER_C = """\
/* Host driver for a generated backbone: float32 windows on stdin -> features on stdout. */
#include <stdio.h>
#include <stdlib.h>

#include "tinyfl_model.h"
#include "tinyfl_model_gen.h"

int main(int argc, char **argv)
{
    tinyfl_backbone bb;
    float window[TINYFL_MODEL_INPUT_LEN];
    float features[TINYFL_MODEL_FEATURE_LEN];
    long n = argc > 1 ? strtol(argv[1], NULL, 10) : 0;
    tinyfl_model_backbone(&bb);
    if (bb.input_len != TINYFL_MODEL_INPUT_LEN || bb.feature_len != TINYFL_MODEL_FEATURE_LEN) {
        return 3;
    }
    for (long i = 0; i < n; ++i) {
        if (fread(window, sizeof(float), TINYFL_MODEL_INPUT_LEN, stdin) != TINYFL_MODEL_INPUT_LEN) {
            return 4;
        }
        if (bb.extract(&bb, window, features) != TINYFL_OK) {
            return 5;
        }
        if (fwrite(features, sizeof(float), TINYFL_MODEL_FEATURE_LEN, stdout) != TINYFL_MODEL_FEATURE_LEN) {
            return 6;
        }
    }
    return 0;
}
"""


def status_include_dirs() -> list[Path]:
    """Include dirs that make "tinyfl_status.h" resolvable.

    firmware/generated/tinyfl_wire_gen.h is generated from tinyfl/wire/spec.py by the wire
    helper; until it exists, a minimal stand-in (the status enum only) is written to the build
    folder so the kernels can be compiled and tested on their own.
    """
    if (FIRMWARE_DIR / "generated" / "tinyfl_wire_gen.h").exists():
        return []
    from ..wire.spec import STATUS

    root = build_dir() / "standin"
    header = root / "generated" / "tinyfl_wire_gen.h"
    lines = ["/* stand-in for the wire helper's generated header: status enum only */",
             "#ifndef TINYFL_WIRE_GEN_H", "#define TINYFL_WIRE_GEN_H", "typedef enum {"]
    for name, code, _ in STATUS:
        lines.append(f"    TINYFL_{'OK' if name == 'OK' else 'E_' + name} = {code},")
    lines += [f"    TINYFL_STATUS_COUNT = {len(STATUS)}", "} tinyfl_status;", "#endif", ""]
    text = "\n".join(lines)
    header.parent.mkdir(parents=True, exist_ok=True)
    if not header.exists() or header.read_text() != text:
        header.write_text(text)
    return [root]


def _status_header_text() -> str:
    real = FIRMWARE_DIR / "generated" / "tinyfl_wire_gen.h"
    return real.read_text() if real.exists() else "standin"


def build_host_model(
    gen: GeneratedModel, *, tag: str = "model", opt: str = "-O2", optimized: bool = False,
    wide_weights: bool = True,
) -> Path:
    """Compile the generated model + its kernels + the stdin/stdout driver; cached by content.
    optimized builds the fast kernels (TINYFL_KERNELS_OPTIMIZED; portable C on the host);
    wide_weights=False builds them on the int8 weights (TINYFL_KERNELS_WIDE_WEIGHTS=0)."""
    defines = {"TINYFL_KERNELS_OPTIMIZED": 1} if optimized else {}
    if optimized and not wide_weights:
        defines["TINYFL_KERNELS_WIDE_WEIGHTS"] = 0
    key = [gen.c_source, gen.h_source, DRIVER_C, opt, repr(sorted(defines.items()))]
    key += list(gen.kernel_sources) + sorted((FIRMWARE_DIR / "kernels").glob("*.h"))
    key.append(_status_header_text())
    exe = cached_output(tag, key)
    if exe.exists():
        return exe
    src_dir = exe.with_name(exe.name + "-src")
    src_dir.mkdir(parents=True, exist_ok=True)
    c_path, _ = gen.write(src_dir)
    driver = src_dir / "driver.c"
    driver.write_text(DRIVER_C)
    compile_host(
        [c_path, driver, *gen.kernel_sources],
        exe,
        include_dirs=[src_dir, *status_include_dirs()],
        defines=defines,
        opt=opt,
    )
    return exe


def run_host_model(exe: Path, windows: np.ndarray, feature_len: int) -> np.ndarray:
    """Features for each window (windows: (N, ...) float32 in tinyfl's layout)."""
    x = np.ascontiguousarray(windows, dtype=np.float32).reshape(len(windows), -1)
    proc = subprocess.run(
        [str(exe), str(len(x))], input=x.tobytes(), capture_output=True, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{exe.name} exited with {proc.returncode}: {proc.stderr.decode()}")
    out = np.frombuffer(proc.stdout, dtype=np.float32)
    return out.reshape(len(x), feature_len)
