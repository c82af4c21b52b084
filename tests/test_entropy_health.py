"""Start-up health tests of the entropy source (firmware/tinyfl_entropy_health.c), in the
spirit of NIST SP 800-90B 4.4: cutoffs recomputed from the standard's formulas, a good source
passes, stuck and low-entropy sources fail, failure is sticky."""
from __future__ import annotations

import ctypes
import math
import os
import re

import pytest

from tinyfl.paths import FIRMWARE_DIR

import ledger_clib

ENTROPY = 16  # STATUS ENTROPY
ALPHA_LOG2 = 20  # false-alarm probability 2^-20 per test
H_BITS = 4  # assumed min-entropy per byte of the hook's output
WINDOW = 512


def _define(name: str) -> int:
    text = (FIRMWARE_DIR / "tinyfl_entropy_health.h").read_text()
    return int(re.search(rf"#define {name} (\d+)u", text).group(1))


def _critbinom(n: int, p: float, target: float) -> int:
    """Smallest c with P(Binomial(n, p) <= c) >= target (the spreadsheet CRITBINOM)."""
    cdf = 0.0
    for c in range(n + 1):
        cdf += math.comb(n, c) * p**c * (1 - p) ** (n - c)
        if cdf >= target:
            return c
    return n


def test_cutoffs_follow_sp800_90b():
    assert _define("TINYFL_ENTROPY_RCT_CUTOFF") == 1 + math.ceil(ALPHA_LOG2 / H_BITS)
    assert _define("TINYFL_ENTROPY_APT_WINDOW") == WINDOW
    assert _define("TINYFL_ENTROPY_APT_CUTOFF") == 1 + _critbinom(WINDOW, 2.0**-H_BITS, 1 - 2.0**-ALPHA_LOG2)


@pytest.fixture(scope="module")
def lib():
    return ledger_clib.load()


def _feed(lib, chunks):
    h = ledger_clib.EntropyHealth()
    lib.tinyfl_entropy_health_init(ctypes.byref(h))
    results = [lib.tinyfl_entropy_health_feed(ctypes.byref(h), bytes(c), len(c)) for c in chunks]
    return results, h


def test_a_good_source_passes(lib):
    results, h = _feed(lib, [os.urandom(64) for _ in range(64)])  # 4 KB, 8 APT windows
    assert results == [0] * 64 and h.samples == 4096 and not h.failed


def test_a_stuck_source_fails_the_repetition_count_test(lib):
    cutoff = _define("TINYFL_ENTROPY_RCT_CUTOFF")
    results, h = _feed(lib, [bytes([0x5A] * (cutoff - 1))])
    assert results == [0]  # one short of the cutoff still passes
    results, h = _feed(lib, [bytes([0x5A] * cutoff)])
    assert results == [ENTROPY] and h.samples == cutoff


def test_a_two_valued_source_fails_the_adaptive_proportion_test(lib):
    # never repeats (RCT passes), but half of every window is the same byte
    results, h = _feed(lib, [bytes([0x00, 0xFF] * 256)])
    assert results == [ENTROPY] and h.rct_run == 1
    assert h.samples == 2 * _define("TINYFL_ENTROPY_APT_CUTOFF") - 1  # failed at the cutoff-th 0x00


def _window(sevens: int) -> bytes:
    """One APT window that starts with 7 and holds `sevens` of them, spread out; no other byte
    comes near the cutoff and no byte repeats."""
    filler = [b for b in range(256) if b != 7]
    window = [filler[i % len(filler)] for i in range(WINDOW)]
    for k in range(sevens):
        window[k * 8] = 7
    return bytes(window)


def test_apt_counts_each_window_from_its_first_byte(lib):
    cutoff = _define("TINYFL_ENTROPY_APT_CUTOFF")
    below = _window(cutoff - 1)
    assert below.count(7) == cutoff - 1
    results, _ = _feed(lib, [below, below, below])  # each window alone stays below the cutoff
    assert results == [0, 0, 0]
    results, h = _feed(lib, [below, _window(cutoff)])
    assert results == [0, ENTROPY] and h.samples == WINDOW + (cutoff - 1) * 8 + 1


def test_failure_is_sticky(lib):
    results, _ = _feed(lib, [bytes([1] * 10), os.urandom(64)])
    assert results == [ENTROPY, ENTROPY]


def test_c_matches_the_device_model(lib):
    """tinyfl.device_model.entropy_health_failure fails at the same byte as the C, on sources
    of every quality from stuck to good."""
    import numpy as np

    from tinyfl.device_model import entropy_health_failure

    rng = np.random.default_rng(8)
    failures = 0
    for values in (1, 2, 3, 4, 8, 12, 16, 24, 256):
        for _ in range(20):
            data = rng.integers(0, values, size=1100).astype(np.uint8).tobytes()
            expected = entropy_health_failure(data)
            results, h = _feed(lib, [data])
            assert (results == [ENTROPY]) == (expected is not None), values
            if expected is not None:
                failures += 1
                assert h.samples == expected + 1
    assert 0 < failures < 9 * 20  # both outcomes exercised
