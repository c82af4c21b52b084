"""Instructions of the device's per-round work on Cortex-M4F (QEMU mps2-an386, -icount shift=0).

Counts come from the FPGA counter, which ticks once per 40 instructions under icount, over 200
repetitions of each piece: resolution 0.2 instructions per call.
"""
from __future__ import annotations

from tinyfl.emulate import build_qemu_program, run_semihosted
from tinyfl.paths import FIRMWARE_DIR, REPO_ROOT

SOURCES = ["tinyfl_head.c", "tinyfl_protect.c", "tinyfl_dgauss.c", "tinyfl_drbg.c"]


def measure() -> dict[str, int]:
    elf = build_qemu_program(
        [REPO_ROOT / "bench" / "c" / "train_step_main.c", *(FIRMWARE_DIR / s for s in SOURCES)],
        name="bench-train-step",
    )
    code, out = run_semihosted(elf, icount=True, timeout=300)
    if code != 0:
        raise RuntimeError(f"benchmark failed ({code}):\n{out}")
    return {k: int(v) for k, v in (line.split("=") for line in out.splitlines() if "=" in line)}


def main() -> None:
    m = measure()
    print("Cortex-M4F instructions (QEMU -icount shift=0, arm-none-eabi-gcc -O2), head 4 x 24 (+4 bias):")
    print(f"  one SGD step, batch 5           {m['sgd_step_batch5']:>9,}")
    print(f"  one local epoch, 10 samples     {m['epoch_10_samples']:>9,}")
    print(f"  clip + grid rounding, {m['params']} params {m['clip_round_only']:>9,}")
    print(f"  protect (clip, round, noise)    {m['protect_update']:>9,}  (fixed work: see `python -m bench sampler`)")
    print(f"  one discrete Gaussian draw      {m['dgauss_sample_sigma256']:>9,}  (sigma = 256 grid steps)")


if __name__ == "__main__":
    main()
