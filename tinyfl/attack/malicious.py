"""A malicious server: heads crafted to make inversion easy, and the attacks that use them.

A sample's contribution to row c of the update is -lr/m (p_c - onehot(y)_c) [h, 1]. A row that
only ONE sample contributes to gives that sample's features exactly: h = dW_c / db_c. An honest
head mixes every sample into every row (all p_c > 0); a crafted head controls p:
- "zero": W = 0, b = 0: p uniform, so for E = 1 and one batch the bias update gives exact label
  counts in closed form (and class sums of features when a class is absent). Refused by the
  device's guard (all-zero rows).
- "tiny": weights of about 1e-5, zero bias: the same effect, and it PASSES the firmware's guard
  (rows only need a norm >= 1e-6).
- "bias_boost": tiny weights and a huge bias on one sink class: p = onehot(sink) for every
  sample through all E steps, so row y (y != sink) holds exactly the class-y samples: a class
  with one sample in the batch is recovered exactly. Refused by the guard (|b| > 20).
- "bias_boost_guarded": the same with the bias at the guard's limit (20): passes the guard,
  saturation slightly weaker.
- "trap": large random rows (|w| well under the guard's 100) route each sample to one class
  (p nearly one-hot at a feature-dependent class): rows then hold few samples each. Passes.
The device refuses crafted heads by firmware/tinyfl_guard.c; `guard_check` mirrors it with the
default limits of firmware/tinyfl_config.h. Any noise (z >= 0.01) hides exact recovery anyway.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .threat import AttackInput

__all__ = ["GUARD_LIMITS", "CRAFTED_KINDS", "CraftedHead", "guard_check", "craft_head",
           "recover_rows", "counts_zero_head", "exact_recovery"]

# defaults of TINYFL_GUARD_MAX_ABS_BIAS, _MAX_ABS_WEIGHT, _MIN_ROW_NORM (firmware/tinyfl_config.h)
GUARD_LIMITS = {"max_abs_bias": 20.0, "max_abs_weight": 100.0, "min_row_norm": 1e-6}
CRAFTED_KINDS = ("zero", "tiny", "bias_boost", "bias_boost_guarded", "trap")


def guard_check(params: np.ndarray, n_classes: int, n_features: int, *,
                max_abs_bias: float = GUARD_LIMITS["max_abs_bias"],
                max_abs_weight: float = GUARD_LIMITS["max_abs_weight"],
                min_row_norm: float = GUARD_LIMITS["min_row_norm"]) -> str | None:
    """Why the device's guard refuses this head ("weight", "zero_row", "bias"), or None if it
    passes; same order of checks and float32 arithmetic as tinyfl_guard_global_head."""
    p = np.asarray(params, dtype=np.float32)
    w = p[: n_classes * n_features].reshape(n_classes, n_features)
    for row in w:
        if not np.all(np.abs(row) <= np.float32(max_abs_weight)):
            return "weight"
        norm2 = np.float32(0.0)
        for v in row:
            norm2 = np.float32(norm2 + v * v)
        if not norm2 >= np.float32(min_row_norm) * np.float32(min_row_norm):
            return "zero_row"
    if not np.all(np.abs(p[n_classes * n_features:]) <= np.float32(max_abs_bias)):
        return "bias"
    return None


@dataclass(frozen=True)
class CraftedHead:
    kind: str
    params: np.ndarray  # float32, W row-major then b
    n_classes: int
    n_features: int
    sink: int | None = None  # the class every sample is pushed to (bias boosts)
    note: str = ""

    @property
    def guard_reason(self) -> str | None:
        return guard_check(self.params, self.n_classes, self.n_features)

    @property
    def passes_guard(self) -> bool:
        return self.guard_reason is None

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "sink": self.sink, "passes_guard": self.passes_guard,
                "guard_reason": self.guard_reason, "note": self.note}


def craft_head(kind: str, n_classes: int, n_features: int, *, seed: int = 0, sink: int = 0,
               feature_scale: float = 1.0) -> CraftedHead:
    """A crafted global head. feature_scale: typical feature norm (trap rows are scaled so the
    logit gaps are large for features of that size)."""
    rng = np.random.default_rng(seed)
    k, f = n_classes, n_features
    w = np.zeros((k, f))
    b = np.zeros(k)
    note = ""
    if kind == "zero":
        note = "uniform predictions; exact counts for E = 1, one batch"
    elif kind == "tiny":
        w = rng.uniform(-1e-5, 1e-5, size=(k, f))
        note = "numerically the zero head, rows just above the guard's minimum norm"
    elif kind in ("bias_boost", "bias_boost_guarded"):
        w = rng.uniform(-1e-5, 1e-5, size=(k, f))
        b[sink] = 1e3 if kind == "bias_boost" else GUARD_LIMITS["max_abs_bias"]
        note = f"every sample predicted as class {sink}: other rows hold one class each"
    elif kind == "trap":
        directions = rng.normal(size=(k, f))
        directions /= np.linalg.norm(directions, axis=1, keepdims=True)
        gain = min(50.0 / max(feature_scale, 1e-6), 0.5 * GUARD_LIMITS["max_abs_weight"])
        w = gain * directions
        note = "random large rows: each sample routed to one class"
    else:
        raise ValueError(f"unknown crafted head {kind!r}; choose from {', '.join(CRAFTED_KINDS)}")
    params = np.concatenate([w.ravel(), b]).astype(np.float32)
    return CraftedHead(kind, params, k, f, sink if kind.startswith("bias_boost") else None, note)


def recover_rows(inp: AttackInput, *, min_bias: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(rows, features): h_c = dW_c / db_c for every row whose bias update stands out of the
    noise and rounding (|db_c| > min_bias, default 4 noise standard deviations + 2 grid steps).
    Exact for a row that one sample alone contributed to."""
    db = inp.d_bias
    if min_bias is None:
        min_bias = 4.0 * inp.noise_std + 2.0 * inp.grid_step
    rows = np.flatnonzero(np.abs(db) > min_bias)
    return rows, inp.d_weights[rows] / db[rows, None]


def exact_recovery(candidates: np.ndarray, truth: np.ndarray, *, threshold: float = 0.999) -> np.ndarray:
    """Per true sample: is some candidate within cosine `threshold` of it (exactly recovered)?"""
    from .metrics import cosine

    truth = np.asarray(truth, dtype=np.float64).reshape(len(truth), -1)
    if len(candidates) == 0:
        return np.zeros(len(truth), dtype=bool)
    cands = np.asarray(candidates, dtype=np.float64).reshape(len(candidates), -1)
    sims = cosine(np.repeat(truth, len(cands), axis=0), np.tile(cands, (len(truth), 1)))
    return sims.reshape(len(truth), len(cands)).max(axis=1) >= threshold


def counts_zero_head(inp: AttackInput) -> np.ndarray:
    """Label counts from a uniform-prediction head (zero or tiny), E = 1, one batch:
    db = -s (lr/n)(n/K - counts) with s <= 1 the clipping factor. Unclipped (the received norm
    is below the clip bound: s = 1) the counts are exact. Clipped, only counts - n/K up to a
    common scale are known: among the scales that make every count an integer, the largest
    (the most balanced counts) is returned."""
    from .labels import round_counts

    n, k = inp.sample_count, inp.n_classes
    v = inp.d_bias * n / inp.lr  # = s (counts - n/K)
    if float(np.linalg.norm(inp.update)) < 0.999 * inp.clip_target and inp.noise_multiplier == 0:
        return round_counts(v + n / k, n)
    tolerance = 0.05 * k
    best: tuple[float, np.ndarray] | None = None
    for c in range(k):
        for m in range(n + 1):
            if abs(m - n / k) < 1e-12:
                continue
            s = v[c] / (m - n / k)
            if not 0 < s <= 1.0 + 1e-6:
                continue
            raw = v / s + n / k
            counts = np.rint(raw).astype(np.int64)
            if counts.sum() != n or np.any(counts < 0) or float(np.sum((raw - counts) ** 2)) > tolerance:
                continue
            if best is None or s > best[0]:
                best = (s, counts)
    return best[1] if best is not None else round_counts(v + n / k, n)
