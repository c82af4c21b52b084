"""The rv32 round benchmark (bench/rv32.py) runs on both QEMU boards and its figures hold what
docs/boards.md says of them: the float head's training is dominated by soft float on rv32imc
(the same code with the F extension needs a small fraction), and the integer work (protect)
costs about the same on both cores."""
from __future__ import annotations

import importlib.util
import sys

from tinyfl.paths import REPO_ROOT


def test_round_phases_on_both_cores(qemu, qemu_rv32):
    spec = importlib.util.spec_from_file_location("tinyfl_bench_rv32", REPO_ROOT / "bench" / "rv32.py")
    bench = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = bench
    spec.loader.exec_module(bench)
    m = bench.measure()
    arm, rv, plain, hard = (m[v[0]] for v in bench.VARIANTS)
    for figures in (arm, rv, plain, hard):
        assert all(figures[p] > 0 for p in bench.PHASES), figures
        assert figures["params"] == arm["params"] and figures["macs"] == arm["macs"]
    assert rv["training"] > 5 * arm["training"]  # soft float vs the M4F's FPU
    assert hard["training"] < 0.2 * rv["training"]  # the same core with F: most of it was soft float
    assert 0.5 < rv["protect"] / arm["protect"] < 2.0  # integer noise sampling: no float to pay for
    assert plain["inference"] > rv["inference"]  # the portable fast kernels still win on rv32
