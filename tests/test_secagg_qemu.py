"""The secure-aggregation C built for Cortex-M4F and run under QEMU (mps2-an386) produces the
same keys, derived key, Shamir share, mask words and share ciphertext as the host's
`cryptography`-based reference; and the image's flash/RAM cost is measured."""
from __future__ import annotations

import pytest

from tinyfl.device_model.chacha20 import ChaCha20Drbg
from tinyfl.secagg import kdf, masks, shamir
from tinyfl.secagg.client import Neighbour, ReferenceClient

pytestmark = pytest.mark.qemu


def bench_secagg():
    """bench/secagg.py, loaded by path (bench/ is not on sys.path under a bare `pytest`)."""
    import importlib.util
    import sys

    from tinyfl.paths import REPO_ROOT

    name = "tinyfl_bench_secagg"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, REPO_ROOT / "bench" / "secagg.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def drbg(base: int) -> ChaCha20Drbg:
    return ChaCha20Drbg(bytes((base + i) & 0xFF for i in range(44)))


def expected() -> dict[str, str]:
    a_sk, a_pk = kdf.keypair(drbg(0))
    b_drbg = drbg(100)
    b_sk, b_pk = kdf.keypair(b_drbg)
    key = kdf.agree(kdf.LABEL_MASK, 7, 3, a_sk, a_pk, 9, b_pk)
    share8 = shamir.split(key, 5, [8], b_drbg)[8]
    client = ReferenceClient(3, 7, drbg(50))
    client.begin()
    (cipher,) = client.share([Neighbour(9, b_pk, b_pk)], 1)
    return {"vec_a_pk": a_pk.hex(), "vec_b_pk": b_pk.hex(), "vec_key": key.hex(),
            "vec_share8": share8.hex(), "vec_mask20": masks.expand(key, 20).tobytes().hex(),
            "vec_cipher": cipher.hex()}


def test_cortex_m4_matches_host_reference(qemu):
    secagg = bench_secagg()

    got = secagg.run(bench=False, timeout=120)
    assert got == expected()


def test_flash_and_ram_of_the_secagg_code(arm_toolchain):
    secagg = bench_secagg()
    from tinyfl.emulate.build import firmware_size

    size = firmware_size(secagg.build(bench=False))
    # X25519, BLAKE2b, ChaCha20-Poly1305 and our code must fit a Nano 33 BLE's budget easily
    assert 0 < size["flash"] < 64 * 1024


def test_benchmark_runs_on_target(qemu):
    """`python -m bench secagg` measures real work: every step succeeded on the target and the
    counts scale as the protocol says (share step ~ 2k agreements)."""
    secagg = bench_secagg()

    m = {k: int(v) for k, v in secagg.run(bench=True).items() if not k.startswith("vec_")}
    agree = m["agree"]
    assert 100_000 < agree < 10_000_000
    for k in (8, 16):
        assert 2 * k * agree < m[f"k{k}_share"] < (2 * k + 1) * agree
        assert m[f"k{k}_mask_1000"] > m[f"k{k}_mask_100"]
    assert m["mask_expand_1000"] > 8 * m["mask_expand_100"]  # 63 vs 7 ChaCha20 blocks
