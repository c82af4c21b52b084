"""The fast kernels (TINYFL_KERNELS_OPTIMIZED) against the reference kernels, bit for bit.

On the emulated Cortex-M4F (QEMU mps2-an386), with the DSP instructions: the six anchor layers of
PERF_NOTES (constant shapes, as generated models specialize them) with fresh random weights,
biases, requantization and inputs, and random layers of any shape (strides, padding, dilation,
depth multipliers, activations, multipliers the short requantization cannot take). On the host,
the same program with portable C in place of the DSP instructions. Random generated models go
through both kernel paths in test_kernels_ops.py; the BasicMotions model in test_codegen_qemu.py.
"""
from __future__ import annotations

import subprocess

import numpy as np
import pytest

from tinyfl.codegen import quant
from tinyfl.codegen.host import status_include_dirs
from tinyfl.paths import FIRMWARE_DIR, REPO_ROOT
from tinyfl.toolchain import cached_output, compile_host

ANCHOR = REPO_ROOT / "bench" / "c" / "kernels_anchor.c"
KERNEL_SOURCES = [FIRMWARE_DIR / "kernels" / f for f in
                  ("tinyfl_conv_2d_s8.c", "tinyfl_depthwise_conv_2d_s8.c", "tinyfl_fully_connected_s8.c",
                   "tinyfl_add_s8.c", "tinyfl_quantize_f32_s8.c", "tinyfl_avg_pool_2d_s8.c",
                   "tinyfl_max_pool_2d_s8.c")]
HEADERS = sorted((FIRMWARE_DIR / "kernels").glob("*.h"))
INT32_MIN = -(1 << 31)


@pytest.fixture(scope="module")
def anchor_elf(qemu):
    from tinyfl.emulate import build_qemu_program

    return build_qemu_program([ANCHOR, *KERNEL_SOURCES], name="kernels-anchor")


@pytest.fixture(scope="module")
def anchor_host():
    exe = cached_output("kernels_anchor_host", [ANCHOR, *KERNEL_SOURCES, *HEADERS])
    if not exe.exists():
        compile_host([ANCHOR, *KERNEL_SOURCES], exe, include_dirs=status_include_dirs(),
                     defines={"TINYFL_BENCH_HOST": None})
    return exe


def _run_host(exe, *args: str) -> str:
    proc = subprocess.run([str(exe), *args], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


@pytest.mark.parametrize("seed", [1, 2])
def test_anchor_layers_bit_exact_on_cortex_m4(anchor_elf, seed) -> None:
    from tinyfl.emulate import run_semihosted

    code, out = run_semihosted(anchor_elf, ["check", "4", str(seed)], timeout=120)
    assert code == 0, out
    assert "PASS check 24" in out


def test_random_layers_bit_exact_on_cortex_m4(anchor_elf) -> None:
    from tinyfl.emulate import run_semihosted

    code, out = run_semihosted(anchor_elf, ["random", "1500", "9"], timeout=120)
    assert code == 0, out
    assert "PASS random 1500 " in out
    # Convolutions with input channels a multiple of 4 and fully connected layers with inputs a
    # multiple of 4 also ran through the pre-widened-weight kernels (tinyfl_*_fast_wide).
    assert int(out.split("PASS random 1500 wide ")[1].split()[0]) >= 80, out


def test_fast_kernels_beat_cmsis_nn_on_the_anchor_layers(anchor_elf) -> None:
    """Instruction counts are deterministic under -icount: a regression guard, not a timing.
    The bound is CMSIS-NN -O2 (PERF_NOTES.md), the goal the fast kernels were written to beat."""
    import importlib.util
    import sys

    spec = importlib.util.spec_from_file_location("tinyfl_bench_kernels", REPO_ROOT / "bench" / "kernels.py")
    bench = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = bench  # dataclasses look their module up while the file executes
    spec.loader.exec_module(bench)
    figures = bench.measure_anchors()
    assert [f.name for f in figures] == list(bench.CMSIS_NN)
    for f in figures:
        assert f.fast_per_mac < bench.CMSIS_NN[f.name][1], (f.name, f.fast_per_mac)
        assert f.fast_per_mac < 0.5 * f.plain_per_mac, (f.name, f.fast_per_mac, f.plain_per_mac)


def test_fast_kernels_portable_c_on_the_host(anchor_host) -> None:
    assert "PASS check 30" in _run_host(anchor_host, "check", "5", "3")
    out = _run_host(anchor_host, "random", "20000", "4")
    assert "PASS random 20000 " in out
    assert int(out.split("wide ")[1].split()[0]) >= 1200, out


def test_widened_weights_layout_matches_the_c_kernels() -> None:
    """quant.widen_weights (the generator) writes what tinyfl_fast_widen_weights (the C side,
    used by the random-layer checks) writes: w0 w2 w1 w3 per run of four, as int16."""
    rows = np.arange(-8, 16, dtype=np.int8).reshape(2, 12)
    wide = quant.widen_weights(rows)
    assert wide.dtype == np.int16
    assert wide[:8].tolist() == [-8, -6, -7, -5, -4, -2, -3, -1]
    assert sorted(wide.tolist()) == sorted(rows.reshape(-1).tolist())
    with pytest.raises(ValueError, match="multiple of 4"):
        quant.widen_weights(np.zeros((2, 6), dtype=np.int8))


def _mbqm(x: int, m: int, shift: int) -> int:
    """gemmlowp/TFLM double rounding with Python integers (no left shift here)."""
    ab = x * m
    nudge = (1 << 30) if ab >= 0 else 1 - (1 << 30)
    q = abs(ab + nudge) >> 31
    high = q if ab + nudge >= 0 else -q
    right = -shift
    mask = (1 << right) - 1
    threshold = (mask >> 1) + (1 if high < 0 else 0)
    return (high >> right) + (1 if (high & mask) > threshold else 0)


def test_short_requantization_is_exact() -> None:
    src = REPO_ROOT / "tests" / "c" / "requant_short_driver.c"
    exe = cached_output("requant_short", [src, FIRMWARE_DIR / "kernels" / "tinyfl_requant.h"])
    if not exe.exists():
        compile_host([src], exe, include_dirs=status_include_dirs())
    rng = np.random.default_rng(5)
    cases = [(INT32_MIN, (1 << 31) - 1, -2), ((1 << 31) - 1, (1 << 31) - 1, -31), (-1, (1 << 30) + 1, -2),
             (-1, 1 << 30, -5), (5, (1 << 31) - 1, -1), (7, 3 << 29, 0), (9, 3 << 29, -32)]
    for _ in range(20000):
        m = int(rng.integers((1 << 30) + 1, 1 << 31))
        s = int(rng.integers(-31, -1))
        kind = rng.integers(0, 3)
        x = (int(rng.integers(-50, 51)) if kind == 0 else int(rng.integers(-(1 << 24), 1 << 24)) if kind == 1
             else int(rng.integers(INT32_MIN, (1 << 31) - 1)))
        cases.append((x, m, s))
    data = np.array(cases, dtype=np.int64).astype(np.int32)
    proc = subprocess.run([str(exe)], input=data.tobytes(), capture_output=True, check=True)
    got = np.frombuffer(proc.stdout, dtype=np.int32).reshape(-1, 2)
    for (x, m, s), (ok, value) in zip(cases, got):
        assert ok == quant.requant_short_ok([m], [s]), (m, s)
        if ok:
            assert value == _mbqm(x, m, s), (x, m, s)


def test_add_table_of_the_generator_equals_the_c_kernels() -> None:
    """The fast ADD's lookup table, as the generator writes it (quant.add_table, Python
    integers), equals tinyfl_add_s8_table (the C reference rescaling) for PrepareAdd parameters
    of random scales, and at the extremes of the offsets."""
    src = REPO_ROOT / "tests" / "c" / "add_table_driver.c"
    exe = cached_output("add_table", [src, *HEADERS])
    if not exe.exists():
        compile_host([src], exe, include_dirs=status_include_dirs())
    rng = np.random.default_rng(8)
    records, expected = [], []
    for k in range(300):
        s1, s2, so = (float(v) for v in rng.uniform(0.001, 0.5, 3))
        params = quant.add_params(s1, s2, so)
        off1, off2 = (128, -127) if k == 0 else (int(rng.integers(-127, 129)), int(rng.integers(-127, 129)))
        records.append([off1, off2, 0, params["left_shift"], params["input1_multiplier"], params["input1_shift"],
                        params["input2_multiplier"], params["input2_shift"], params["output_multiplier"],
                        params["output_shift"], -128, 127])
        expected.append(quant.add_table(off1, off2, params))
    data = np.array(records, dtype=np.int64).astype(np.int32)
    proc = subprocess.run([str(exe)], input=data.tobytes(), capture_output=True, check=True)
    got = np.frombuffer(proc.stdout, dtype=np.int32).reshape(len(records), 512)
    assert (got == np.array(expected, dtype=np.int64)).all()
