"""The noise on Cortex-M4F (QEMU mps2-an386, -icount shift=0): instructions per discrete
Gaussian draw and per protect, and how much the time of a protect varies with its seed and
with the size of the noise it drew, for the current sampler and, built from git, the sampler
before issue 7 (`BASELINE_REV`) beside it.

`python -m bench sampler`
"""
from __future__ import annotations

import math
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from tinyfl.emulate import build_qemu_program, run_semihosted
from tinyfl.paths import FIRMWARE_DIR, REPO_ROOT

# the last commit with the word-per-coin sampler (one u64 per Bernoulli, 64-bit divisions)
BASELINE_REV = "761300b"
SAMPLER_FILES = ("tinyfl_dgauss.c", "tinyfl_dgauss.h", "tinyfl_drbg.c", "tinyfl_drbg.h",
                 "tinyfl_protect.c", "tinyfl_protect.h")
MAIN = REPO_ROOT / "bench" / "c" / "sampler_main.c"
DRAW_LABELS = ("sigma 256 (z = 1, k = 8)", "sigma 94.7 (z = 37/100, k = 8)", "sigma 3",
               "sigma 4096")


def _parse(out: str) -> dict[str, int]:
    return {k: int(v) for k, v in (line.split("=", 1) for line in out.splitlines() if "=" in line)}


def measure(source_dir: Path | None = None, name: str = "bench-sampler") -> dict:
    """Figures of the sampler in `source_dir` (the firmware files above; None: firmware/)."""
    if source_dir is None:
        sources = [MAIN, *(FIRMWARE_DIR / f for f in SAMPLER_FILES if f.endswith(".c"))]
    else:
        # the benchmark main sits beside the old headers so that its includes find them first
        shutil.copy(MAIN, source_dir / MAIN.name)
        sources = [source_dir / MAIN.name, *(source_dir / f for f in SAMPLER_FILES if f.endswith(".c"))]
    elf = build_qemu_program(sources, name=name)
    code, out = run_semihosted(elf, icount=True, timeout=600)
    if code != 0:
        raise RuntimeError(f"sampler benchmark failed ({code}):\n{out}")
    kv = _parse(out)
    seeds = sorted(int(k.split(".")[1]) for k in kv if k.startswith("protect_instr."))
    if any(kv[f"protect_status.{s}"] != 0 for s in seeds):
        raise RuntimeError("a protect call failed in the benchmark")
    instr = np.array([kv[f"protect_instr.{s}"] for s in seeds], dtype=np.float64)
    noise_sq = np.array([kv[f"protect_noise_sq.{s}"] for s in seeds], dtype=np.float64)
    noise_abs = np.array([kv[f"protect_noise_abs.{s}"] for s in seeds], dtype=np.float64)
    draws = [kv[f"draw_x10.{i}"] / 10 for i in range(len(DRAW_LABELS))]
    buckets = [(kv[f"bucket_count.{b}"], kv[f"bucket_instr_x10.{b}"] / 10) for b in range(5)]
    return {"draws": draws, "buckets": buckets, "clip_round": kv["protect_clip_round"], "instr": instr, "noise_sq": noise_sq, "noise_abs": noise_abs,
            "params": kv["protect_params"]}


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return 0.0
    return float(np.corrcoef(a, b)[0, 1])


def baseline_sources(rev: str = BASELINE_REV) -> Path | None:
    """The sampler files at `rev` in a temporary folder, or None without git history."""
    root = Path(tempfile.mkdtemp(prefix="tinyfl-sampler-base-"))
    for name in SAMPLER_FILES:
        proc = subprocess.run(["git", "-C", str(REPO_ROOT), "show", f"{rev}:firmware/{name}"],
                              capture_output=True)
        if proc.returncode != 0:
            return None
        (root / name).write_bytes(proc.stdout)
    return root


def summary(m: dict) -> dict[str, float]:
    instr = m["instr"]
    return {
        "protect_mean": float(instr.mean()),
        "protect_min": float(instr.min()),
        "protect_max": float(instr.max()),
        "protect_spread": float(instr.max() - instr.min()),
        "protect_sd": float(instr.std()),
        "corr_noise_sq": _correlation(instr, m["noise_sq"]),
        "corr_noise_abs": _correlation(instr, m["noise_abs"]),
    }


def main() -> None:
    new = measure()
    base_dir = baseline_sources()
    old = measure(base_dir, name="bench-sampler-base") if base_dir else None
    print("Cortex-M4F instructions (QEMU -icount shift=0, arm-none-eabi-gcc -O2). One draw: the"
          " sampler alone, mean of 2000 (now: from a prepared plan; before: protect with noise"
          " minus protect without). Protect: everything, padding included.")
    head = f"  {'':40}{'now':>11}"
    if old:
        head += f"{'before (' + BASELINE_REV + ')':>20}{'ratio':>8}"
    print(head)
    for i, label in enumerate(DRAW_LABELS):
        line = f"  one draw, {label:30}{new['draws'][i]:>11,.1f}"
        if old:
            line += f"{old['draws'][i]:>20,.1f}{old['draws'][i] / new['draws'][i]:>8.1f}"
        print(line)
    print("  one draw at sigma 256, timed alone (before: tinyfl_dgauss, with its setup), by |noise|:")
    print(f"    {'':20}{'now':>22}{'before':>18}")
    for b, label in enumerate(("below 1 sigma", "1-2 sigma", "2-3 sigma", "3-4 sigma", "4 sigma and above")):
        count, instr = new["buckets"][b]
        line = f"    {label:20}{count:>7} draws{instr:>11,.1f}"
        if old:
            old_count, old_instr = old["buckets"][b]
            line += f"{old_count:>7} draws{old_instr:>11,.1f}"
        print(line)
    sn, so = summary(new), summary(old) if old else None
    n = len(new["instr"])
    rows = [("protect, mean", "protect_mean", ",.0f"), ("protect, min", "protect_min", ",.0f"),
            ("protect, max", "protect_max", ",.0f"), ("protect, max - min", "protect_spread", ",.0f"),
            ("protect, standard deviation", "protect_sd", ",.1f"),
            ("corr(instructions, sum noise^2)", "corr_noise_sq", "+.3f"),
            ("corr(instructions, sum |noise|)", "corr_noise_abs", "+.3f")]
    print(f"  protect: {new['params']} params, sigma 256, {n} seeds (|corr| > "
          f"{2 / math.sqrt(n):.2f} is significant at about 2 sd):")
    for label, key, fmt in rows:
        line = f"    {label:38}{format(sn[key], fmt):>11}"
        if so:
            line += f"{format(so[key], fmt):>20}"
            if key == "protect_mean":
                line += f"{so[key] / sn[key]:>8.1f}"
        print(line)
    real = new["clip_round"] + new["params"] * new["draws"][0]
    print(f"    {'of which clip, round, the real draws':38}{real:>11,.0f}   (the rest is padding)")


if __name__ == "__main__":
    main()
