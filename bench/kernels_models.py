"""Whole-model instructions per inference on Cortex-M4F (QEMU mps2-an386, -icount shift=0): the
four MLPerf Tiny backbones at full size and the BasicMotions backbone, reference ("plain") and
fast kernels, per step and in total, beside TFLM + CMSIS-NN measured the same way.

The backbones are built in Keras (tinyfl.models.mlperf_tiny) with fixed seeds (never
downloaded), with trained-looking BatchNorm statistics, converted to full int8 with float input
and output and cut before the last Dense, as in /work/shared/PERF_NOTES.md; conversions are
cached in build/cache. Each figure is
the whole extract() (quantize, every op, dequantize, clearing the arena) averaged over the
windows; the plain and fast builds must give the same feature bits.

    python -m bench.kernels_models [--model NAME] [--windows N] [--no-profile] [--per-layer]
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tinyfl.models import mlperf_tiny
from tinyfl.paths import REPO_ROOT

TICK = 40  # instructions per FPGA counter tick under -icount shift=0
MAIN = REPO_ROOT / "bench" / "c" / "model_profile_main.c"

# PERF_NOTES.md "Whole models": tflite-micro 90b983c + the CMSIS-NN it pins, gcc 12.2 -O2,
# Cortex-M4F hard float, instructions per Invoke() including QUANTIZE/DEQUANTIZE, measured under
# the same QEMU board; plus the tinyfl fast figures quoted in issue 13 (before this work).
TFLM_CMSIS_NN = {"kws_ds_cnn": 7.71e6, "anomaly_autoencoder": 0.439e6, "resnet8": 29.96e6,
                 "vww_mobilenet_v1": 25.12e6}
ISSUE_13_FAST = {"kws_ds_cnn": 6.66e6, "anomaly_autoencoder": 0.347e6, "resnet8": 25.95e6,
                 "vww_mobilenet_v1": 20.05e6}
TARGET_RATIO = 0.7


# The backbones and their seeded, cached conversion: one definition with the codegen tests'
# small classifiers (tinyfl.models.mlperf_tiny).
BACKBONES = mlperf_tiny.BACKBONES
backbone_tflite = mlperf_tiny.backbone_tflite


def bench_windows(shape: tuple[int, ...], n: int) -> np.ndarray:
    rng = np.random.default_rng(5)
    return rng.normal(0.0, 1.0, (n, *shape)).astype(np.float32)


@dataclass
class ModelFigures:
    name: str
    macs: int
    weight_bytes: int
    wide_weight_bytes: int  # flash the pre-widened weights add (TINYFL_KERNELS_WIDE_WEIGHTS)
    add_table_bytes: int  # flash of the fast ADD's tables
    instructions: dict[str, float] = field(default_factory=dict)  # build -> per inference
    steps: dict[str, list[tuple[str, str, int, float]]] = field(default_factory=dict)  # build -> (op, layer, macs, instr)
    hashes: dict[str, int] = field(default_factory=dict)


BUILDS = {
    "plain": {},
    "fast": {"TINYFL_KERNELS_OPTIMIZED": 1},
    "fast_int8_weights": {"TINYFL_KERNELS_OPTIMIZED": 1, "TINYFL_KERNELS_WIDE_WEIGHTS": 0},
}


def _run(gen, tag: str, defines: dict, windows_file: Path, n: int, profile: bool) -> tuple[float, int, dict[int, float]]:
    from tinyfl.emulate import build_qemu_program, run_semihosted
    from tinyfl.toolchain import cached_output

    src_dir = cached_output(f"bench_models_{tag}_src", [gen.c_source, gen.h_source])
    c_path, _ = gen.write(src_dir)
    d = dict(defines)
    if profile:
        d["TINYFL_MODEL_PROFILE"] = 1
    elf = build_qemu_program([MAIN, c_path, *gen.kernel_sources], name=f"bench-model-{tag}",
                             include_dirs=[src_dir], defines=d)
    code, out = run_semihosted(elf, [str(windows_file), str(n)], icount=True, timeout=900)
    last = [line.split() for line in out.splitlines() if line.startswith("PASS profile")]
    if code != 0 or not last:
        raise RuntimeError(f"{tag}: model benchmark failed ({code}):\n{out[-2000:]}")
    steps = {int(p[1]): int(p[2]) * TICK / n for p in (line.split() for line in out.splitlines())
             if len(p) == 3 and p[0] == "STEP"}
    return int(last[-1][4]) * TICK / n, int(last[-1][6]), steps


def measure(name: str, tflite: bytes, shape: tuple[int, ...], *, n_windows: int = 2,
            profile: bool = True, builds: dict | None = None) -> ModelFigures:
    from tinyfl.codegen import generate
    from tinyfl.paths import build_dir

    gen = generate(tflite, name=name)
    directory = build_dir() / "bench"
    directory.mkdir(parents=True, exist_ok=True)
    windows_file = directory / f"{name}_windows.f32"
    windows_file.write_bytes(bench_windows(shape, n_windows).tobytes())
    fig = ModelFigures(name, gen.macs, gen.weight_bytes, gen.wide_weight_bytes, gen.add_table_bytes)
    for label, defines in (builds or BUILDS).items():
        total, digest, _ = _run(gen, f"{name}-{label}", defines, windows_file, n_windows, False)
        fig.instructions[label] = total
        fig.hashes[label] = digest
        if profile and label != "fast_int8_weights":
            _, _, steps = _run(gen, f"{name}-{label}-prof", defines, windows_file, n_windows, True)
            fig.steps[label] = [(s.op, s.layer, s.macs, steps.get(k, 0.0)) for k, s in enumerate(gen.steps)]
    if len(set(fig.hashes.values())) != 1:
        raise RuntimeError(f"{name}: builds give different features: {fig.hashes}")
    return fig


def basic_motions_tflite() -> tuple[bytes, tuple[int, ...]] | None:
    try:
        from tinyfl.models import build_reference

        artifacts, _ = build_reference("basic_motions")
    except ImportError:
        return None
    from tinyfl.codegen import read_tflite

    model = read_tflite(artifacts.tflite)
    return artifacts.tflite, tuple(model.tensors[model.inputs[0]].shape[1:])


def _by_op(steps: list[tuple[str, str, int, float]]) -> dict[str, tuple[int, float]]:
    out: dict[str, tuple[int, float]] = {}
    for op, _, macs, instr in steps:
        m, i = out.get(op, (0, 0.0))
        out[op] = (m + macs, i + instr)
    return out


def print_figures(fig: ModelFigures, *, per_layer: bool = False) -> None:
    print(f"\n{fig.name}: {fig.macs:,} MACs, {fig.weight_bytes:,} bytes of constants; the fast build "
          f"adds {fig.wide_weight_bytes:,} bytes of pre-widened weights (none with "
          f"TINYFL_KERNELS_WIDE_WEIGHTS=0) and {fig.add_table_bytes:,} bytes of ADD tables")
    for label, total in fig.instructions.items():
        print(f"  {label:<6} {total / 1e6:8.3f} M instructions per inference ({total / fig.macs:.2f} per MAC)")
    for label, steps in fig.steps.items():
        total = fig.instructions[label]
        print(f"  {label} by op: " + ", ".join(
            f"{op} {instr / 1e6:.3f}M ({100 * instr / total:.0f}%"
            + (f", {instr / macs:.2f}/MAC)" if macs else ")")
            for op, (macs, instr) in sorted(_by_op(steps).items(), key=lambda kv: -kv[1][1])))
        if per_layer:
            for op, layer, macs, instr in steps:
                per = f"{instr / macs:6.2f}/MAC" if macs else ""
                print(f"    {op:<18} {instr:12,.0f} {per:>11}  {layer[:60]}")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m bench kernels_models")
    ap.add_argument("--model", action="append", choices=[*BACKBONES, "basic_motions"])
    ap.add_argument("--windows", type=int, default=2)
    ap.add_argument("--no-profile", action="store_true")
    ap.add_argument("--per-layer", action="store_true")
    args = ap.parse_args(argv if argv is not None else [])
    names = args.model or [*BACKBONES, "basic_motions"]
    print("Whole-model instructions per inference on Cortex-M4F (QEMU mps2-an386, -icount shift=0,")
    print("arm-none-eabi-gcc 12.2 -O2 -mcpu=cortex-m4 -mfpu=fpv4-sp-d16 -mfloat-abi=hard).")
    rows = []
    for name in names:
        if name == "basic_motions":
            bm = basic_motions_tflite()
            if bm is None:
                print("\nbasic_motions: skipped (needs TensorFlow)")
                continue
            tflite, shape = bm
        else:
            from tinyfl.codegen import read_tflite

            tflite = backbone_tflite(name)
            model = read_tflite(tflite)
            shape = tuple(model.tensors[model.inputs[0]].shape[1:])
        fig = measure(name, tflite, shape, n_windows=args.windows, profile=not args.no_profile)
        print_figures(fig, per_layer=args.per_layer)
        rows.append(fig)
    print("\nInstructions per inference; TFLM + CMSIS-NN and 'issue 13' quoted (PERF_NOTES.md, issue 13);")
    print("'int8 weights' = fast kernels with TINYFL_KERNELS_WIDE_WEIGHTS=0 (no extra flash).")
    print("| backbone | MACs | plain | fast, issue 13 | fast | fast, int8 weights | TFLM + CMSIS-NN "
          "| fast / TFLM | extra flash of fast |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for fig in rows:
        tflm = TFLM_CMSIS_NN.get(fig.name)
        before = ISSUE_13_FAST.get(fig.name)
        ratio = f"{fig.instructions['fast'] / tflm:.3f}" if tflm else "-"
        tflm_text = f"{tflm / 1e6:.3f}M" if tflm else "-"
        before_text = f"{before / 1e6:.3f}M" if before else "-"
        print(f"| {fig.name} | {fig.macs:,} | {fig.instructions['plain'] / 1e6:.3f}M | {before_text} | "
              f"{fig.instructions['fast'] / 1e6:.3f}M | {fig.instructions['fast_int8_weights'] / 1e6:.3f}M | "
              f"{tflm_text} | {ratio} | {fig.wide_weight_bytes + fig.add_table_bytes:,} B |")


if __name__ == "__main__":
    main(sys.argv[1:])
