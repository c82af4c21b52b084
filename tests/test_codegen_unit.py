"""Codegen pieces on their own: TFLM multiplier arithmetic, requantization edge cases in C,
the memory planner, identifiers, clear errors, and Cortex-M4F compilation of generated C."""
from __future__ import annotations

import subprocess

import numpy as np
import pytest

from tinyfl.codegen import Buffer, UnsupportedModelError, plan_memory
from tinyfl.codegen import quant
from tinyfl.codegen.cwriter import IdentifierError, check_identifier, float_literal
from tinyfl.codegen.host import status_include_dirs
from tinyfl.codegen.planner import check_plan
from tinyfl.paths import FIRMWARE_DIR, REPO_ROOT
from tinyfl.toolchain import CORTEX_M4F, WARNINGS, cached_output, compile_host

INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1


def test_quantize_multiplier_matches_tflm_definition() -> None:
    assert quant.quantize_multiplier(0.5) == (1 << 30, 0)
    assert quant.quantize_multiplier(1.0) == (1 << 30, 1)
    assert quant.quantize_multiplier(0.75) == (3 << 29, 0)
    assert quant.quantize_multiplier(0.0) == (0, 0)
    assert quant.quantize_multiplier(2.0**-40) == (0, 0)  # flushed below 2^-31
    # Rounding to 2^31 renormalises: just below 1.0 -> (2^30, 1).
    assert quant.quantize_multiplier(1.0 - 2.0**-40) == (1 << 30, 1)
    rng = np.random.default_rng(0)
    for real in rng.uniform(1e-6, 4.0, 200):
        m, s = quant.quantize_multiplier(float(real))
        assert (1 << 30) <= m < (1 << 31)
        assert abs(m * 2.0 ** (s - 31) - real) <= 2.0 ** (s - 31)


def test_round_half_away_from_zero() -> None:
    assert [quant.round_half_away(v) for v in (0.5, 1.5, 2.5, -0.5, -2.5, 2.4999)] == [1, 2, 3, -1, -3, 2]


def _mbqm_reference(x: int, m: int, shift: int) -> int:
    """gemmlowp double rounding with Python integers (no overflow)."""
    left, right = max(shift, 0), max(-shift, 0)
    a = (x << left) & 0xFFFFFFFF
    a = a - (1 << 32) if a >= (1 << 31) else a
    if a == INT32_MIN and m == INT32_MIN:
        high = INT32_MAX
    else:
        ab = a * m
        nudge = (1 << 30) if ab >= 0 else 1 - (1 << 30)
        q = abs(ab + nudge) >> 31
        high = q if ab + nudge >= 0 else -q
    mask = (1 << right) - 1
    remainder = high & mask
    threshold = (mask >> 1) + (1 if high < 0 else 0)
    return (high >> right) + (1 if remainder > threshold else 0)


def test_requantization_edge_cases_in_c() -> None:
    src = REPO_ROOT / "tests" / "c" / "requant_driver.c"
    exe = cached_output("requant", [src, FIRMWARE_DIR / "kernels" / "tinyfl_requant.h"])
    if not exe.exists():
        compile_host([src], exe, include_dirs=status_include_dirs())
    rng = np.random.default_rng(7)
    cases = [(INT32_MIN, INT32_MIN, 0), (INT32_MAX, INT32_MAX, 0), (INT32_MIN, INT32_MAX, -31),
             (-1, 1 << 30, -1), (1, 1 << 30, -1), (-3, 1 << 30, -1), (0, 123, 5), (5, (1 << 31) - 1, 3)]
    for _ in range(3000):
        x = int(rng.integers(-(1 << 20), 1 << 20)) if rng.random() < 0.7 else int(rng.integers(INT32_MIN, INT32_MAX))
        m = int(rng.integers(1 << 30, 1 << 31))
        s = int(rng.integers(-31, 1)) if rng.random() < 0.8 else int(rng.integers(1, 8))
        if s > 0 and abs(x) > (1 << (30 - s)):
            x >>= s  # keep x * 2^shift inside int32, as TFLM's callers do
        cases.append((x, m, s))
    data = np.array(cases, dtype=np.int32)
    proc = subprocess.run([str(exe)], input=data.tobytes(), capture_output=True, check=True)
    got = np.frombuffer(proc.stdout, dtype=np.int32)
    want = np.array([_mbqm_reference(*c) for c in cases], dtype=np.int64)
    np.testing.assert_array_equal(got.astype(np.int64), want)


def test_planner_never_overlaps_live_buffers_and_reuses_dead_ones() -> None:
    chain = [Buffer(i, 100 + i, i, i + 1) for i in range(6)]  # each read by the next step only
    plan = plan_memory(chain)
    check_plan(chain, plan)
    assert plan.arena_bytes <= 2 * 108  # two live at a time
    rng = np.random.default_rng(3)
    for _ in range(50):
        bufs = []
        for i in range(12):
            first = int(rng.integers(0, 10))
            bufs.append(Buffer(i, int(rng.integers(1, 300)), first, first + int(rng.integers(0, 4))))
        plan = plan_memory(bufs)
        check_plan(bufs, plan)
        assert all(off % 4 == 0 for off in plan.offsets.values())
        peak = max(sum(b.size for b in bufs if b.first <= t <= b.last) for t in range(14))
        assert plan.arena_bytes >= peak


def test_identifiers_are_checked() -> None:
    assert check_identifier("tinyfl_op3_filter") == "tinyfl_op3_filter"
    for bad in ("tinyfl op", "3tinyfl", "int", "weights", "tinyfl_" + "x" * 60, "__tinyfl"):
        with pytest.raises(IdentifierError):
            check_identifier(bad)


def test_float_literals_round_trip() -> None:
    for v in (0.1, 1.0, 2.458363e-01, 1e-30, 123456.78):
        text = float_literal(v)
        assert text.endswith("f") and np.float32(float(text[:-1])) == np.float32(v)


def test_unsupported_op_names_op_and_layer() -> None:
    pytest.importorskip("tensorflow")
    from tinyfl.codegen import generate
    from tinyfl.models import convert_int8
    from tinyfl.models._tf import keras

    inp = keras.Input((6,))
    out = keras.layers.Dense(4, activation="tanh", name="squash")(inp)
    tflite = convert_int8(keras.Model(inp, out), np.random.default_rng(0).normal(size=(16, 6)))
    with pytest.raises(UnsupportedModelError, match=r"op #\d+ TANH \(layer '[^']*squash"):
        generate(tflite)


def test_generated_model_refuses_firmware_dir() -> None:
    from tinyfl.codegen.generate import GeneratedModel

    gen = GeneratedModel("", "", 0, 0, 0, 1, 1, 0, ())
    with pytest.raises(ValueError, match="firmware"):
        gen.write(FIRMWARE_DIR / "generated")


def test_generated_c_and_kernels_build_for_cortex_m4(arm_toolchain, tmp_path) -> None:
    pytest.importorskip("tensorflow")
    from codegen_helpers import reference_artifacts
    from tinyfl.codegen import generate

    gen = generate(reference_artifacts("basic_motions")[0].tflite)
    c_path, _ = gen.write(tmp_path)
    kernels = sorted((FIRMWARE_DIR / "kernels").glob("*.c"))
    objs = []
    for src in [c_path, *kernels]:
        obj = tmp_path / (src.stem + ".o")
        cmd = ["arm-none-eabi-gcc", *WARNINGS, *CORTEX_M4F, "-O2", "-ffunction-sections",
               f"-I{FIRMWARE_DIR}", f"-I{tmp_path}",
               *[f"-I{d}" for d in status_include_dirs()], "-c", str(src), "-o", str(obj)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
        objs.append(obj)
    size = subprocess.run(["arm-none-eabi-size", *map(str, objs)], capture_output=True, text=True, check=True)
    model_line = next(l for l in size.stdout.splitlines() if "tinyfl_model_gen.o" in l)
    text, data, bss = (int(v) for v in model_line.split()[:3])
    assert text >= gen.weight_bytes  # weights are const: flash, not RAM
    assert bss >= gen.arena_bytes and data == 0
