"""Instructions of one round's device work on rv32imc (the ESP32-C3's ISA, soft float) next to
Cortex-M4F (hardware single-precision float), both under QEMU with -icount shift=0: inference
(the shipped int8 BasicMotions CNN on the round's 10 samples), training (the float head, 5 local
epochs in batches of 5) and protect (clip, grid, discrete Gaussian noise); and flash/RAM of the
firmware image of each board.

The fixed-point estimate: the same program built for rv32imafc (the same RV32 core plus the F
extension, every float add/multiply one instruction) bounds what a fixed-point head could
reach, since an int32 Q-format multiply-accumulate also costs at least one instruction (usually
2-3: mul, mulh, shift). The soft-float overhead of training is rv32imc minus rv32imafc.
"""
from __future__ import annotations

from tinyfl.emulate import build_firmware, build_qemu_program, firmware_size, run_semihosted
from tinyfl.firmware_config import FirmwareConfig
from tinyfl.paths import FIRMWARE_DIR, REPO_ROOT

RUNTIME = ["tinyfl_head.c", "tinyfl_protect.c", "tinyfl_dgauss.c", "tinyfl_drbg.c", "tinyfl_status.c"]
PHASES = ("inference", "training", "protect")
# (label, board, extra compiler flags, kernel defines)
VARIANTS = (
    ("Cortex-M4F", "qemu", (), {"TINYFL_KERNELS_OPTIMIZED": 1}),
    ("rv32imc", "qemu-rv32", (), {"TINYFL_KERNELS_OPTIMIZED": 1}),
    ("rv32imc, plain kernels", "qemu-rv32", (), {}),
    ("rv32imafc (hard float)", "qemu-rv32", ("-march=rv32imafc", "-mabi=ilp32f"), {"TINYFL_KERNELS_OPTIMIZED": 1}),
)


def measure() -> dict[str, dict[str, int]]:
    from tinyfl.backbones import cnn_backbone

    backbone = cnn_backbone("basic_motions")
    model_dirs = sorted({p.parent for p in backbone.model_sources})
    results = {}
    for label, board, flags, defines in VARIANTS:
        elf = build_qemu_program(
            [REPO_ROOT / "bench" / "c" / "round_phases_main.c", *(FIRMWARE_DIR / s for s in RUNTIME),
             *backbone.model_sources],
            name="bench-round-" + "".join(c if c.isalnum() else "-" for c in label.lower()),
            include_dirs=model_dirs,
            defines=defines, extra_flags=flags, board=board,
        )
        code, out = run_semihosted(elf, icount=True, timeout=300)
        if code != 0:
            raise RuntimeError(f"{label}: round benchmark failed ({code}):\n{out}")
        results[label] = {k: int(v) for k, v in (line.split("=") for line in out.splitlines() if "=" in line)}
    return results


def image_sizes() -> dict[str, dict[str, int]]:
    """Flash and RAM of the firmware image (default FirmwareConfig, statistics backbone)."""
    return {board: firmware_size(build_firmware(board, FirmwareConfig())) for board in ("qemu", "qemu-rv32")}


def main() -> None:
    m = measure()
    arm, rv, plain, hard = (m[v[0]] for v in VARIANTS)
    print("Instructions per round (QEMU -icount shift=0, gcc 12.2 -O2), BasicMotions int8 CNN "
          f"({arm['macs']:,} MACs), head 4 x {arm['params'] // 4 - 1} (+4 bias), 10 samples, 5 epochs, batch 5:")
    print(f"  {'phase':<11} {'Cortex-M4F':>11} {'rv32imc':>11} {'ratio':>6} {'rv32imafc':>11}")
    for phase in PHASES:
        print(f"  {phase:<11} {arm[phase]:>11,} {rv[phase]:>11,} {rv[phase] / arm[phase]:>6.2f} {hard[phase]:>11,}")
    total_arm, total_rv = sum(arm[p] for p in PHASES), sum(rv[p] for p in PHASES)
    print(f"  {'round':<11} {total_arm:>11,} {total_rv:>11,} {total_rv / total_arm:>6.2f}")
    print(f"  rv32imc inference with the plain reference kernels: {plain['inference']:,} "
          f"(the portable fast kernels: {rv['inference']:,})")
    soft = rv["training"] - hard["training"]
    print(f"  soft float in training: {soft:,} of {rv['training']:,} instructions "
          f"({soft / rv['training']:.0%}; {soft / total_rv:.0%} of the rv32imc round)")
    print(f"  soft float in inference (quantizing the float window, dequantizing features): "
          f"{rv['inference'] - hard['inference']:,}")
    print(f"  a fixed-point head would save at most {soft:,} instructions per round (measured: the same "
          "code with the F extension; int32 Q-format needs >= 1 instruction per float op)")
    for board, size in image_sizes().items():
        print(f"  image {board:<9}: flash {size['flash']:,} B (text {size['text']:,}), RAM {size['ram']:,} B "
              f"(stack {size['stack']:,})")


if __name__ == "__main__":
    main()
