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
    """Payload bytes one device sends and receives in a round (before framing): keys, k shares
    out and in, d masked words, reveals."""
    sent = 64 + k * CIPHER_SIZE + 4 * d + k * REVEAL_SIZE
    received = k * (2 + 64) + k * CIPHER_SIZE + 2 * k + 2 * k + 4
    return {"sent": sent, "received": received}


HEADS = {100: (4, 24), 1000: (10, 99)}  # (classes, features) with classes * (features + 1) = d


def round_messages(k: int, n_classes: int, n_features: int):
    """(host -> device, device -> host) messages of one device's secure round with k live
    neighbours and no dropout, with stand-in contents (the framed size does not depend on
    them: a frame of at most 254 bytes takes exactly 2 bytes of COBS and delimiter)."""
    import struct

    import numpy as np

    from tinyfl.wire import (GlobalModel, SecaggKeys, SecaggMaskedUpdate, SecaggMaskRequest,
                             SecaggNeighbours, SecaggReveal, SecaggShareForYou, SecaggShares,
                             SecaggUnmaskRequest)

    d = n_classes * (n_features + 1)
    ids = list(range(2, k + 2))
    to_device = [
        GlobalModel(run=1, round=1, nonce=1, lr=0.1, local_epochs=1, batch_size=1, n_classes=n_classes,
                    n_features=n_features, params=np.zeros(d, np.float32)),
        SecaggNeighbours(run=1, round=1, t=k // 2 + 1, neighbours=[struct.pack("<H", i) + bytes(64) for i in ids]),
        *[SecaggShareForYou(run=1, round=1, sender=i, cipher=bytes(CIPHER_SIZE)) for i in ids],
        SecaggMaskRequest(run=1, round=1, cohort=k + 1, alive=ids),
        SecaggUnmaskRequest(run=1, round=1, cohort=k + 1, survived=ids),
    ]
    to_host = [
        SecaggKeys(run=1, round=1, c_pk=bytes(32), s_pk=bytes(32)),
        SecaggShares(run=1, round=1, ciphers=[bytes(CIPHER_SIZE)] * k),
        SecaggMaskedUpdate(run=1, round=1, nonce=1, sample_count=1, grid_step=1.0, central_eps_spent=0.0,
                           local_eps_spent=0.0, releases_done=1, n_classes=n_classes, n_features=n_features,
                           values=np.zeros(d, np.int64)),
        SecaggReveal(run=1, round=1, records=[bytes(REVEAL_SIZE)] * k),
    ]
    return to_device, to_host


def framed_bytes(k: int, d: int | tuple[int, int], chunk: int = 240) -> dict[str, int]:
    """Bytes on the link (frames: header, CRC, COBS, delimiters) of one device's secure round,
    both directions, both sides chunking at `chunk`."""
    from tinyfl.wire import encode_message

    n_classes, n_features = HEADS[d] if isinstance(d, int) else d
    to_device, to_host = round_messages(k, n_classes, n_features)
    down = sum(len(encode_message(m, 1, chunk)) for m in to_device)
    up = sum(len(encode_message(m, 1, chunk)) for m in to_host)
    return {"host_to_device": down, "device_to_host": up}


def plain_framed_bytes(d: int, chunk: int = 240, varint_bytes: int = 2) -> dict[str, int]:
    """The same for a plain round (global_model, then an update whose integers take
    `varint_bytes` each: 2 for |v| < 8192 grid steps), for comparison."""
    from tinyfl.wire import MIN_CHUNK, spec

    n_classes, n_features = HEADS[d]
    down, _ = round_messages(2, n_classes, n_features)
    from tinyfl.wire import encode_message

    head = len(encode_message(down[0], 1, chunk))
    payload = 4 + 4 + 8 + 2 + 4 + 4 + 2 + 2 + 2 + 2 + varint_bytes * d
    frames = max(1, -(-payload // chunk))
    assert chunk >= MIN_CHUNK
    return {"host_to_device": head,
            "device_to_host": payload + frames * (spec.HEADER_SIZE + spec.CRC_SIZE + 2)}


def image_cost() -> dict[str, dict[str, int]]:
    """Flash and RAM of the default an386 image (tinyfl.firmware_config defaults) without and
    with TINYFL_SECAGG (k_max = 16), from arm-none-eabi-size."""
    from tinyfl.emulate.build import build_firmware, firmware_size
    from tinyfl.firmware_config import FirmwareConfig
    from tinyfl.secagg.image import SecaggImage, build_secagg_firmware

    config = FirmwareConfig()
    plain = firmware_size(build_firmware("qemu", config))
    secure = firmware_size(build_secagg_firmware("qemu", config, SecaggImage(n_min=10, n_max=1000, k_max=16,
                                                                              local_multiplier=0.5)))
    return {"plain": plain, "secagg": secure}


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
            f = framed_bytes(k, d)
            print(f"          wire payload, {d} params: sent {w['sent']:,} B, received {w['received']:,} B;"
                  f" framed (chunk 240): device->host {f['device_to_host']:,} B,"
                  f" host->device {f['host_to_device']:,} B")
    print(f"  state (tinyfl_secagg, RAM)       {m['state_bytes']:>12,} B (caller-owned; k <= 16)")
    print(f"flash added: firmware/secagg {size['tinyfl_secagg']:,} B, Monocypher (the parts linked)"
          f" {size['monocypher']:,} B; static RAM added {size['ram']} B")
    for d in (100, 1000):
        p = plain_framed_bytes(d)
        print(f"plain round, {d} params (2-byte varints): device->host {p['device_to_host']:,} B,"
              f" host->device {p['host_to_device']:,} B")
    cost = image_cost()
    plain, secure = cost["plain"], cost["secagg"]
    print(f"default an386 image: flash {plain['flash']:,} -> {secure['flash']:,} B "
          f"(+{secure['flash'] - plain['flash']:,}), RAM {plain['ram']:,} -> {secure['ram']:,} B "
          f"(+{secure['ram'] - plain['ram']:,}; the device context, stack reserve unchanged)")


if __name__ == "__main__":
    main()
