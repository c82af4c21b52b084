"""Instructions per MAC of the int8 kernels on Cortex-M4F (QEMU mps2-an386, -icount shift=0),
on the six anchor layers of /work/shared/PERF_NOTES.md, beside Arm CMSIS-NN's figures measured
the same way; and instructions per inference of the BasicMotions backbone.

Counting: under -icount shift=0 the AN386's 25 MHz FPGA counter ticks once per 40 executed
instructions. Each layer is called `reps` times (about 2 million MACs in all) between two counter
reads, and the same loop around an empty function is subtracted, so the figure is the kernel
call alone, to within 40 / reps instructions per call (< 0.001 instructions per MAC).
"""
from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from tinyfl.emulate import build_qemu_program, run_semihosted
from tinyfl.paths import FIRMWARE_DIR, REPO_ROOT

TICK = 40  # instructions per FPGA counter tick under -icount shift=0
KERNELS = FIRMWARE_DIR / "kernels"
ANCHOR_SOURCES = [
    REPO_ROOT / "bench" / "c" / "kernels_anchor.c",
    KERNELS / "tinyfl_conv_2d_s8.c",
    KERNELS / "tinyfl_depthwise_conv_2d_s8.c",
    KERNELS / "tinyfl_fully_connected_s8.c",
    KERNELS / "tinyfl_add_s8.c",
    KERNELS / "tinyfl_quantize_f32_s8.c",
    KERNELS / "tinyfl_avg_pool_2d_s8.c",
    KERNELS / "tinyfl_max_pool_2d_s8.c",
]

# PERF_NOTES.md: CMSIS-NN -O2, CMSIS-NN -Os, a plain-C TFLM-style reference at -O2.
CMSIS_NN = {
    "a_conv_1x5_c6": ("a. conv 1x100x6 -> 16 x 1x5, s1, valid", 4.12, 5.35, 12.03),
    "b_conv_1x5_s2_c16": ("b. conv 1x50x16 -> 16 x 1x5, s2, valid", 2.68, 3.62, 8.25),
    "c_conv_3x3_same_c8": ("c. conv 20x20x8 -> 16 x 3x3, s1, same", 2.87, 3.88, 9.48),
    "d_depthwise_3x3_same_c16": ("d. depthwise 3x3 on 20x20x16, same", 8.33, 10.29, 30.70),
    "e1_fc_64_32": ("e1. fully connected 64 -> 32", 2.71, 3.67, 7.98),
    "e2_fc_32_10": ("e2. fully connected 32 -> 10", 3.80, 4.71, 8.96),
}


@dataclass(frozen=True)
class LayerFigures:
    name: str
    macs: int
    plain_instructions: float  # per call
    fast_instructions: float
    plain_code_bytes: int  # the reference kernel function
    fast_code_bytes: int  # the layer's specialized fast kernel

    @property
    def plain_per_mac(self) -> float:
        return self.plain_instructions / self.macs

    @property
    def fast_per_mac(self) -> float:
        return self.fast_instructions / self.macs


def anchor_elf() -> Path:
    return build_qemu_program(ANCHOR_SOURCES, name="kernels-anchor")


def _symbol_sizes(elf: Path) -> dict[str, int]:
    out = subprocess.run(["arm-none-eabi-nm", "-S", str(elf)], capture_output=True, text=True, check=True)
    sizes = {}
    for line in out.stdout.splitlines():
        parts = line.split()
        if len(parts) == 4 and parts[2] in "tT":
            sizes[parts[3]] = int(parts[1], 16)
    return sizes


_PLAIN_KERNEL = {"a": "tinyfl_conv_2d_s8", "b": "tinyfl_conv_2d_s8", "c": "tinyfl_conv_2d_s8",
                 "d": "tinyfl_depthwise_conv_2d_s8", "e1": "tinyfl_fully_connected_s8",
                 "e2": "tinyfl_fully_connected_s8"}


def measure_anchors() -> list[LayerFigures]:
    elf = anchor_elf()
    code, out = run_semihosted(elf, ["bench"], icount=True, timeout=600)
    if code != 0 or "PASS bench" not in out:
        raise RuntimeError(f"kernel benchmark failed ({code}):\n{out}")
    sizes = _symbol_sizes(elf)
    figures = []
    for line in out.splitlines():
        parts = line.split()
        if not parts or parts[0] != "BENCH":
            continue
        name = parts[1]
        macs, reps, plain, fast, empty = (int(v) for v in parts[2:7])
        prefix = name.split("_")[0]
        figures.append(LayerFigures(
            name=name,
            macs=macs,
            plain_instructions=(plain - empty) * TICK / reps,
            fast_instructions=(fast - empty) * TICK / reps,
            plain_code_bytes=sizes.get(_PLAIN_KERNEL[prefix], 0),
            fast_code_bytes=sizes.get(f"{prefix}_fast", 0),
        ))
    return figures


def measure_basic_motions(n_windows: int = 8) -> dict[str, float] | None:
    """Instructions per inference of the reference BasicMotions backbone (whole extract():
    quantize, convolutions, pooling, mean, dequantize), plain and optimized kernels.
    None when TensorFlow is not installed (the model is pretrained here)."""
    try:
        import numpy as np

        from tinyfl.codegen import generate
        from tinyfl.data import load_basic_motions
        from tinyfl.models import build_reference
        from tinyfl.paths import build_dir
        from tinyfl.toolchain import cached_output
    except ImportError:
        return None
    try:
        artifacts, _ = build_reference("basic_motions")
    except ImportError:
        return None
    gen = generate(artifacts.tflite, name="basic_motions")
    ds = load_basic_motions()
    directory = build_dir() / "bench"
    directory.mkdir(parents=True, exist_ok=True)
    windows = directory / "basic_motions_windows.f32"
    head = directory / "basic_motions_head.f32"
    windows.write_bytes(np.ascontiguousarray(ds.x_test[:n_windows], dtype=np.float32).tobytes())
    head.write_bytes(artifacts.head.flat().tobytes())
    src_dir = cached_output("bench_bm_src", [gen.c_source, gen.h_source])
    c_path, _ = gen.write(src_dir)
    main = REPO_ROOT / "tests" / "c" / "model_qemu_main.c"
    result: dict[str, float] = {"macs": float(gen.macs)}
    for label, defines in (("plain", None), ("optimized", {"TINYFL_KERNELS_OPTIMIZED": 1})):
        elf = build_qemu_program([main, c_path, FIRMWARE_DIR / "tinyfl_head.c", *gen.kernel_sources],
                                 name=f"bench-bm-{label}", include_dirs=[src_dir], defines=defines)
        code, out = run_semihosted(elf, [str(windows), str(n_windows), str(head)], icount=True, timeout=300)
        last = [line for line in out.splitlines() if line.startswith("PASS model")]
        if code != 0 or not last:
            raise RuntimeError(f"model benchmark failed ({code}):\n{out[-2000:]}")
        ticks = int(last[-1].split("ticks")[1])
        result[label] = ticks * TICK / n_windows
    return result


def main() -> None:
    figures = measure_anchors()
    print("Int8 kernels on Cortex-M4F, instructions per MAC (QEMU mps2-an386, -icount shift=0;")
    print("arm-none-eabi-gcc 12.2 -O2 -mcpu=cortex-m4 -mfpu=fpv4-sp-d16 -mfloat-abi=hard).")
    print("CMSIS-NN and 'notes plain' columns: /work/shared/PERF_NOTES.md, measured the same way.")
    header = (f"{'layer':<40} {'MACs':>8} {'tinyfl plain':>12} {'tinyfl fast':>11} {'CMSIS-NN O2':>11} "
              f"{'CMSIS-NN Os':>11} {'notes plain':>11} {'fast/CMSIS':>10} {'code plain/fast':>16}")
    print(header)
    print("-" * len(header))
    for f in figures:
        label, cmsis_o2, cmsis_os, notes_plain = CMSIS_NN[f.name]
        print(f"{label:<40} {f.macs:>8,} {f.plain_per_mac:>12.2f} {f.fast_per_mac:>11.2f} {cmsis_o2:>11.2f} "
              f"{cmsis_os:>11.2f} {notes_plain:>11.2f} {f.fast_per_mac / cmsis_o2:>10.2f} "
              f"{f.plain_code_bytes:>7} / {f.fast_code_bytes:<6}")
    print("Instructions per call (fast): " + ", ".join(f"{f.name.split('_')[0]} {f.fast_instructions:,.0f}"
                                                      for f in figures))
    bm = measure_basic_motions()
    if bm is None:
        print("BasicMotions backbone: skipped (needs TensorFlow to pretrain the reference model)")
        return
    print(f"BasicMotions backbone ({int(bm['macs']):,} MACs), instructions per inference: "
          f"plain {bm['plain']:,.0f} ({bm['plain'] / bm['macs']:.2f}/MAC), "
          f"optimized {bm['optimized']:,.0f} ({bm['optimized'] / bm['macs']:.2f}/MAC)")


if __name__ == "__main__":
    main()
