"""Instructions of the device's secure aggregation on Cortex-M4F (QEMU mps2-an386, -icount
shift=0, arm-none-eabi-gcc -O2), Monocypher from the pinned pymonocypher sdist; and the flash and
RAM it adds, and the bytes it puts on the wire per device-round."""
from __future__ import annotations

from tinyfl.emulate import build_qemu_program, run_semihosted
from tinyfl.paths import FIRMWARE_DIR, REPO_ROOT
from tinyfl.secagg.client import CIPHER_SIZE, REVEAL_SIZE
from tinyfl.secagg.build import firmware_inputs

MAIN = REPO_ROOT / "bench" / "c" / "secagg_main.c"


def build(bench: bool):
    sources, includes = firmware_inputs()
    sources += [FIRMWARE_DIR / "tinyfl_drbg.c", FIRMWARE_DIR / "tinyfl_dgauss.c"]
    return build_qemu_program([MAIN, *sources], name="secagg-bench" if bench else "secagg-vectors",
                              include_dirs=includes,
                              defines={"TINYFL_SECAGG_BENCH": 1 if bench else 0})


def run(bench: bool, timeout: float = 600) -> dict[str, str]:
    code, out = run_semihosted(build(bench), icount=bench, timeout=timeout)
    if code != 0:
        raise RuntimeError(f"secagg program failed ({code}):\n{out}")
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def code_size(elf) -> dict[str, int]:
    """Flash bytes (code + read-only data) of the secure-aggregation symbols linked into `elf`,
    attributed by their source file through the debug info: firmware/secagg/ and Monocypher."""
    import subprocess

    from tinyfl.toolchain import find_tool

    out = subprocess.run([find_tool("arm-none-eabi-nm"), "-S", "-l", "--defined-only", str(elf)],
                         capture_output=True, text=True, check=True).stdout
    sizes = {"tinyfl_secagg": 0, "monocypher": 0, "ram": 0}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) < 5:
            continue
        size, kind, where = int(parts[1], 16), parts[2], parts[4]
        origin = ("tinyfl_secagg" if "/firmware/secagg/" in where
                  else "monocypher" if "/third_party/monocypher/" in where else None)
        if origin is None:
            continue
        if kind in "bBdD":
            sizes["ram"] += size  # (none expected: all state is the caller's)
        if kind in "tTrRdD":
            sizes[origin] += size
    return sizes


def wire_bytes(k: int, d: int) -> dict[str, int]:
    """Payload bytes one device sends and receives in a round (before framing; phase 2 adds
    the frame and message headers): keys, k shares out and in, d masked words, reveals."""
    sent = 64 + k * CIPHER_SIZE + 4 * d + k * REVEAL_SIZE
    received = k * (2 + 64) + k * CIPHER_SIZE + 2 * k + 2 * k + 4
    return {"sent": sent, "received": received}


def main() -> None:
    m = {k: int(v) for k, v in run(True).items() if not k.startswith("vec_")}
    size = code_size(build(True))
    print("Cortex-M4F instructions per call (QEMU -icount shift=0, -O2, Monocypher 4.0.3):")
    print(f"  X25519 key pair                  {m['keypair']:>12,}")
    print(f"  one agreement (X25519 + BLAKE2b) {m['agree']:>12,}")
    print(f"  one AEAD share (69 B)            {m['aead_one_share']:>12,}")
    print(f"  mask expansion, 100 params       {m['mask_expand_100']:>12,}")
    print(f"  mask expansion, 1000 params      {m['mask_expand_1000']:>12,}")
    print(f"  discrete Gaussian noise, 100     {m['noise_100']:>12,}")
    for k in (8, 16):
        print(f"  k = {k:>2}: Shamir (2 secrets)     {m[f'shamir_k{k}']:>12,}")
        print(f"          begin (2 key pairs)      {m[f'k{k}_begin']:>12,}")
        print(f"          share (2k agreements, Shamir, k AEAD) {m[f'k{k}_share']:>12,}")
        print(f"          mask, 100 params         {m[f'k{k}_mask_100']:>12,}")
        print(f"          mask, 1000 params        {m[f'k{k}_mask_1000']:>12,}")
        print(f"          unmask                   {m[f'k{k}_unmask']:>12,}")
        for d in (100, 1000):
            w = wire_bytes(k, d)
            print(f"          wire payload, {d} params: sent {w['sent']:,} B, received {w['received']:,} B")
    print(f"  state (tinyfl_secagg, RAM)       {m['state_bytes']:>12,} B (caller-owned; k <= 16)")
    print(f"flash added: firmware/secagg {size['tinyfl_secagg']:,} B, Monocypher (the parts linked)"
          f" {size['monocypher']:,} B; static RAM added {size['ram']} B")


if __name__ == "__main__":
    main()
