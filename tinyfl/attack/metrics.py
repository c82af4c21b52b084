"""Scores for attacks, with confidence intervals, and the attack-vs-baseline verdict.

Per-sample scores are plain arrays (one value per recovered sample); `summarize` gives the mean
with a bootstrap interval (Clopper-Pearson for hit/miss scores); `compare` bootstraps the PAIRED
difference attack - baseline and says the attack beats the baseline only when the whole
interval lies on the better side. Raw cosine of ReLU features is high even for a blind guess
(all coordinates >= 0), so features are also scored by the cosine after subtracting the global
mean of the auxiliary features (`centered_cosine`).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

__all__ = ["Interval", "Verdict", "bootstrap_ci", "clopper_pearson", "summarize", "compare",
           "cosine", "centered_cosine", "standardized_mse", "mse", "psnr", "pearson", "phase_aligned_correlation",
           "ssim", "count_overlap", "match_rows"]


@dataclass(frozen=True)
class Interval:
    estimate: float
    lo: float
    hi: float
    n: int
    method: str = "bootstrap"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def __str__(self) -> str:
        return f"{self.estimate:.3f} [{self.lo:.3f}, {self.hi:.3f}]"


@dataclass(frozen=True)
class Verdict:
    beats: bool  # the attack is better than the baseline beyond the interval
    attack: Interval
    baseline: Interval
    difference: Interval  # attack - baseline (paired when both score the same samples)
    higher_is_better: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {"beats": self.beats, "attack": self.attack.to_dict(),
                "baseline": self.baseline.to_dict(), "difference": self.difference.to_dict(),
                "higher_is_better": self.higher_is_better}

    def __str__(self) -> str:
        word = "beats" if self.beats else "does not beat"
        return f"attack {self.attack} {word} baseline {self.baseline} (difference {self.difference})"


def _finite(values: Any) -> np.ndarray:
    v = np.asarray(values, dtype=np.float64).ravel()
    return v[np.isfinite(v)]


def bootstrap_ci(values: Any, *, alpha: float = 0.05, n_boot: int = 2000, seed: int = 0) -> Interval:
    """Mean and percentile bootstrap interval (non-finite values, e.g. PSNR of a perfect
    match, are dropped)."""
    v = _finite(values)
    if v.size == 0:
        return Interval(float("nan"), float("nan"), float("nan"), 0)
    rng = np.random.default_rng(seed)
    means = v[rng.integers(0, v.size, size=(n_boot, v.size))].mean(axis=1)
    lo, hi = np.quantile(means, [alpha / 2, 1 - alpha / 2])
    return Interval(float(v.mean()), float(lo), float(hi), int(v.size))


def clopper_pearson(successes: int, trials: int, *, alpha: float = 0.05) -> Interval:
    """Exact binomial interval for a rate, from the beta quantiles (scipy): also for tens of
    thousands of trials, where summing binomial terms overflows a float."""
    from scipy.stats import beta

    if trials <= 0:
        return Interval(float("nan"), 0.0, 1.0, 0, "clopper-pearson")
    n, k = int(trials), int(successes)
    lo = 0.0 if k == 0 else float(beta.ppf(alpha / 2, k, n - k + 1))
    hi = 1.0 if k == n else float(beta.ppf(1 - alpha / 2, k + 1, n - k))
    return Interval(k / n, lo, hi, n, "clopper-pearson")


def summarize(values: Any, *, alpha: float = 0.05, seed: int = 0) -> Interval:
    """Clopper-Pearson for booleans (hit rates), bootstrap of the mean otherwise."""
    arr = np.asarray(values)
    if arr.dtype == bool:
        return clopper_pearson(int(arr.sum()), int(arr.size), alpha=alpha)
    return bootstrap_ci(arr, alpha=alpha, seed=seed)


def compare(attack_scores: Any, baseline_scores: Any, *, higher_is_better: bool = True,
            alpha: float = 0.05, n_boot: int = 2000, seed: int = 0) -> Verdict:
    """Does the attack beat the baseline beyond the (1 - alpha) interval of the difference?

    Same-length score arrays are taken as paired (the same samples); else both are resampled
    independently."""
    a = np.asarray(attack_scores, dtype=np.float64).ravel()
    b = np.asarray(baseline_scores, dtype=np.float64).ravel()
    rng = np.random.default_rng(seed)
    if a.size == b.size:
        keep = np.isfinite(a) & np.isfinite(b)
        a, b = a[keep], b[keep]
        d = a - b
        if d.size == 0:
            diff = Interval(float("nan"), float("nan"), float("nan"), 0)
        else:
            boot = d[rng.integers(0, d.size, size=(n_boot, d.size))].mean(axis=1)
            lo, hi = np.quantile(boot, [alpha / 2, 1 - alpha / 2])
            diff = Interval(float(d.mean()), float(lo), float(hi), int(d.size), "paired bootstrap")
    else:
        a, b = _finite(a), _finite(b)
        ba = a[rng.integers(0, a.size, size=(n_boot, a.size))].mean(axis=1)
        bb = b[rng.integers(0, b.size, size=(n_boot, b.size))].mean(axis=1)
        lo, hi = np.quantile(ba - bb, [alpha / 2, 1 - alpha / 2])
        diff = Interval(float(a.mean() - b.mean()), float(lo), float(hi), int(min(a.size, b.size)))
    beats = bool(diff.lo > 0) if higher_is_better else bool(diff.hi < 0)
    sa = summarize(np.asarray(attack_scores), alpha=alpha, seed=seed)
    sb = summarize(np.asarray(baseline_scores), alpha=alpha, seed=seed)
    return Verdict(beats, sa, sb, diff, higher_is_better)


def _rows(x: Any) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64)
    return a.reshape(a.shape[0], -1) if a.ndim > 1 else a.reshape(1, -1)


def cosine(estimate: Any, truth: Any) -> np.ndarray:
    """Per-row cosine similarity."""
    a, b = _rows(estimate), _rows(truth)
    num = np.sum(a * b, axis=1)
    den = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    return np.where(den > 0, num / np.where(den > 0, den, 1.0), 0.0)


def centered_cosine(estimate: Any, truth: Any, center: Any) -> np.ndarray:
    """Cosine after subtracting `center` (the global mean of the auxiliary features)."""
    c = np.asarray(center, dtype=np.float64).ravel()
    return cosine(_rows(estimate) - c, _rows(truth) - c)


def standardized_mse(estimate: Any, truth: Any, scale: Any) -> np.ndarray:
    """Mean squared error per sample after dividing each coordinate by `scale` (the auxiliary
    features' standard deviation): no coordinate dominates by its units. Complements the
    centered cosine, which credits an estimate near 0 whenever the truth lies opposite the
    global mean (BasicMotions' "standing" statistics)."""
    s = np.asarray(scale, dtype=np.float64).ravel()
    s = np.where(s > 0, s, 1.0)
    return np.mean(((_rows(estimate) - _rows(truth)) / s) ** 2, axis=1)


def mse(estimate: Any, truth: Any) -> np.ndarray:
    return np.mean((_rows(estimate) - _rows(truth)) ** 2, axis=1)


def psnr(estimate: Any, truth: Any, data_range: float | None = None) -> np.ndarray:
    """10 log10(range^2 / MSE) per sample; range = data_range (1 for images in [0, 1]) or the
    true sample's own max - min (sensor windows have no fixed range)."""
    t = _rows(truth)
    rng = np.ptp(t, axis=1) if data_range is None else np.full(len(t), float(data_range))
    err = mse(estimate, truth)
    with np.errstate(divide="ignore"):
        return 10.0 * np.log10(rng ** 2 / err)


def pearson(estimate: Any, truth: Any) -> np.ndarray:
    a, b = _rows(estimate), _rows(truth)
    return cosine(a - a.mean(axis=1, keepdims=True), b - b.mean(axis=1, keepdims=True))


def phase_aligned_correlation(estimate: Any, truth: Any) -> np.ndarray:
    """Max over circular time shifts of the Pearson correlation of (n, steps, channels)
    windows, the same shift for all channels: a backbone with global pooling cannot reveal
    when a pattern happened, only its shape."""
    a = np.asarray(estimate, dtype=np.float64)
    b = np.asarray(truth, dtype=np.float64)
    if a.ndim == 2:
        a, b = a[None], b[None]
    best = np.full(len(a), -np.inf)
    for shift in range(a.shape[1]):
        best = np.maximum(best, pearson(np.roll(a, shift, axis=1), b))
    return best


def _gaussian_window(size: int, sigma: float = 1.5) -> np.ndarray:
    r = np.arange(size) - (size - 1) / 2
    g = np.exp(-0.5 * (r / sigma) ** 2)
    w = np.outer(g, g)
    return w / w.sum()


def ssim(estimate: Any, truth: Any, data_range: float = 1.0, *, window: int = 7) -> np.ndarray:
    """Structural similarity (Wang et al. 2004) per image: Gaussian window (sigma 1.5, size 7
    or the largest odd size that fits), means over the valid positions; images (n, H, W) or
    (n, H, W, channels), channels averaged."""
    a = np.asarray(estimate, dtype=np.float64)
    b = np.asarray(truth, dtype=np.float64)
    if a.ndim == 2:
        a, b = a[None], b[None]
    if a.ndim == 3:
        a, b = a[..., None], b[..., None]
    size = min(window, a.shape[1] - (1 - a.shape[1] % 2), a.shape[2] - (1 - a.shape[2] % 2))
    w = _gaussian_window(size)
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2

    def local(x: np.ndarray) -> np.ndarray:
        view = np.lib.stride_tricks.sliding_window_view(x, (size, size), axis=(1, 2))
        return np.einsum("nhwcij,ij->nhwc", view, w)

    mu_a, mu_b = local(a), local(b)
    var_a = local(a * a) - mu_a ** 2
    var_b = local(b * b) - mu_b ** 2
    cov = local(a * b) - mu_a * mu_b
    s = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a ** 2 + mu_b ** 2 + c1) * (var_a + var_b + c2))
    return s.reshape(len(a), -1).mean(axis=1)


def count_overlap(estimated_counts: Any, true_counts: Any) -> float:
    """Fraction of a batch's labels recovered: sum_c min(estimated_c, true_c) / n."""
    e = np.asarray(estimated_counts, dtype=np.int64)
    t = np.asarray(true_counts, dtype=np.int64)
    n = int(t.sum())
    return float(np.minimum(e, t).sum()) / n if n else float("nan")


def match_rows(estimate: Any, truth: Any) -> np.ndarray:
    """Order of the estimate's rows that best matches the truth's rows (max total cosine):
    a batch's samples are recovered as a set, with no order."""
    a, b = _rows(estimate), _rows(truth)
    if len(a) == 1:
        return np.zeros(1, dtype=np.int64)
    sim = np.nan_to_num(cosine(np.repeat(a, len(b), axis=0), np.tile(b, (len(a), 1))).reshape(len(a), len(b)))
    try:
        from scipy.optimize import linear_sum_assignment

        rows, cols = linear_sum_assignment(-sim)
        order = np.empty(len(b), dtype=np.int64)
        order[cols] = rows
        return order
    except ImportError:  # pragma: no cover - greedy without scipy
        order = np.full(len(b), -1, dtype=np.int64)
        used: set[int] = set()
        for flat in np.argsort(-sim, axis=None):
            i, j = divmod(int(flat), len(b))
            if i not in used and order[j] < 0:
                order[j] = i
                used.add(i)
        return order

