"""Shared by the codegen/kernel tests: generated C on the host vs the tflite-micro interpreter."""
from __future__ import annotations

import functools
from typing import Any

import numpy as np

from tinyfl.codegen import generate
from tinyfl.codegen.host import build_host_model, run_host_model
from tinyfl.codegen.tflm import tflm_outputs


def assert_bit_exact(tflite: bytes, x: np.ndarray, *, tag: str = "model", optimized: bool = False) -> int:
    """Run x through host-compiled generated C and through TFLM; every output bit must match.
    Returns the number of inputs compared. optimized: the fast kernels (portable C on the host)."""
    gen = generate(tflite, name=tag)
    exe = build_host_model(gen, tag=tag, optimized=optimized)
    ours = run_host_model(exe, x, gen.feature_len)
    ref = tflm_outputs(tflite, x).astype(np.float32).reshape(ours.shape)
    same = ours.view(np.uint32) == ref.view(np.uint32)
    if not same.all():
        bad = np.argwhere(~same)[:5]
        detail = ", ".join(f"[{i},{j}] ours {ours[i, j]!r} tflm {ref[i, j]!r}" for i, j in bad)
        raise AssertionError(f"{tag}{' (fast kernels)' if optimized else ''}: {int((~same).sum())} of {same.size} outputs differ: {detail}")
    return len(x)


@functools.lru_cache(maxsize=None)
def reference_artifacts(name: str) -> tuple[Any, Any]:
    """Pretrained + converted reference model, built once per test process."""
    from tinyfl.models import build_reference

    return build_reference(name)


def build_qemu_model_program(gen: Any, *, tag: str, defines: dict | None = None) -> Any:
    """ELF of tests/c/model_qemu_main.c + the generated model + its kernels + the float head,
    for the AN386 board (Cortex-M4F, -O2); cached by content like every board build."""
    from tinyfl.emulate import build_qemu_program
    from tinyfl.paths import FIRMWARE_DIR, REPO_ROOT
    from tinyfl.toolchain import cached_output

    src_dir = cached_output(f"qemu_{tag}_src", [gen.c_source, gen.h_source])
    c_path, _ = gen.write(src_dir)
    main = REPO_ROOT / "tests" / "c" / "model_qemu_main.c"
    sources = [main, c_path, FIRMWARE_DIR / "tinyfl_head.c", *gen.kernel_sources]
    return build_qemu_program(sources, name=f"model_{tag}", include_dirs=[src_dir], defines=defines)


def parse_qemu_model_output(text: str, n: int, feature_len: int, n_classes: int) -> tuple[Any, Any, Any]:
    """(features (n, F) float32, logits (n, K) float32, predictions (n,)) from the program's
    hex lines; exact bits, no decimal round trip."""
    feats = np.zeros((n, feature_len), dtype=np.uint32)
    logits = np.zeros((n, n_classes), dtype=np.uint32)
    preds = np.full(n, -1, dtype=np.int64)
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0] == "F":
            feats[int(parts[1])] = [int(v, 16) for v in parts[2:]]
        elif len(parts) >= 3 and parts[0] == "L":
            preds[int(parts[1])] = int(parts[2])
            logits[int(parts[1])] = [int(v, 16) for v in parts[3:]]
    return feats.view(np.float32), logits.view(np.float32), preds
