"""Shared by the codegen/kernel tests: generated C on the host vs the tflite-micro interpreter."""
from __future__ import annotations

import functools
from typing import Any

import numpy as np

from tinyfl.codegen import generate
from tinyfl.codegen.host import build_host_model, run_host_model
from tinyfl.codegen.tflm import tflm_outputs


def assert_bit_exact(tflite: bytes, x: np.ndarray, *, tag: str = "model") -> int:
    """Run x through host-compiled generated C and through TFLM; every output bit must match.
    Returns the number of inputs compared."""
    gen = generate(tflite, name=tag)
    exe = build_host_model(gen, tag=tag)
    ours = run_host_model(exe, x, gen.feature_len)
    ref = tflm_outputs(tflite, x).astype(np.float32).reshape(ours.shape)
    same = ours.view(np.uint32) == ref.view(np.uint32)
    if not same.all():
        bad = np.argwhere(~same)[:5]
        detail = ", ".join(f"[{i},{j}] ours {ours[i, j]!r} tflm {ref[i, j]!r}" for i, j in bad)
        raise AssertionError(f"{tag}: {int((~same).sum())} of {same.size} outputs differ: {detail}")
    return len(x)


@functools.lru_cache(maxsize=None)
def reference_artifacts(name: str) -> tuple[Any, Any]:
    """Pretrained + converted reference model, built once per test process."""
    from tinyfl.models import build_reference

    return build_reference(name)
