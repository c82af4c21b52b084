"""Statistics of an empirical DP audit: Clopper-Pearson bounds and the eps lower bound of a
distinguishing test (Jagielski, Ullman, Oprea, NeurIPS 2020).

A test sees one output and guesses "with the canary" (world D) or "without" (world D'). Its
false positive rate FPR (guessing D in world D') and false negative rate FNR (guessing D' in
world D) satisfy, for any (eps, delta)-DP mechanism, FPR + e^eps FNR >= 1 - delta and
FNR + e^eps FPR >= 1 - delta. With upper confidence bounds FPR_U, FNR_U that hold together
with probability 1 - alpha:

    eps_LB = max(ln((1 - delta - FNR_U) / FPR_U), ln((1 - delta - FPR_U) / FNR_U))

is below the true eps with probability at least 1 - alpha. The test (a threshold on a score)
is chosen on one part of the trials and evaluated on the rest, so choosing it does not bias
the bound.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

__all__ = [
    "Distinguisher",
    "clopper_pearson_upper",
    "eps_from_rates",
    "eps_lower_bound",
    "best_threshold",
    "audit_scores",
]


def clopper_pearson_upper(errors, trials, alpha: float):
    """One-sided upper bound on a binomial rate at confidence 1 - alpha (exact, conservative).
    Vectorized over errors/trials."""
    from scipy.stats import beta

    k = np.asarray(errors, dtype=float)
    n = np.asarray(trials, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        upper = beta.ppf(1.0 - alpha, k + 1.0, np.maximum(n - k, 1e-300))
    upper = np.where(k >= n, 1.0, upper)
    return upper if upper.ndim else float(upper)


def eps_from_rates(fpr, fnr, delta: float):
    """The largest eps the two rates rule out (0 when they rule out nothing). Vectorized."""
    fpr = np.asarray(fpr, dtype=float)
    fnr = np.asarray(fnr, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        a = np.log(np.maximum(1.0 - delta - fnr, 0.0) / fpr)
        b = np.log(np.maximum(1.0 - delta - fpr, 0.0) / fnr)
    eps = np.nan_to_num(np.maximum(a, b), nan=0.0, neginf=0.0, posinf=np.inf)
    eps = np.maximum(eps, 0.0)
    return eps if eps.ndim else float(eps)


def eps_lower_bound(false_pos: int, negatives: int, false_neg: int, positives: int, *,
                    delta: float, alpha: float) -> tuple[float, float, float]:
    """(eps_LB, FPR_U, FNR_U): both rates bounded at alpha / 2 each, so the pair holds with
    probability 1 - alpha."""
    fpr_u = clopper_pearson_upper(false_pos, negatives, alpha / 2)
    fnr_u = clopper_pearson_upper(false_neg, positives, alpha / 2)
    return float(eps_from_rates(fpr_u, fnr_u, delta)), float(fpr_u), float(fnr_u)


def _candidates(pos: np.ndarray, neg: np.ndarray, max_candidates: int) -> np.ndarray:
    """Midpoints between neighbouring observed scores (so a threshold never sits on a point
    mass), thinned to quantiles, plus -inf and +inf."""
    pooled = np.unique(np.concatenate([pos, neg]))
    if pooled.size > max_candidates:
        pooled = np.unique(np.quantile(pooled, np.linspace(0.0, 1.0, max_candidates)))
    mids = (pooled[:-1] + pooled[1:]) / 2 if pooled.size > 1 else pooled
    return np.concatenate([[-np.inf], mids, [np.inf]])


def _empirical_rates(pos: np.ndarray, neg: np.ndarray, thresholds: np.ndarray):
    """(FPR, FNR) of "guess D when score >= t" for every t."""
    fnr = np.searchsorted(np.sort(pos), thresholds, side="left") / len(pos)
    fpr = 1.0 - np.searchsorted(np.sort(neg), thresholds, side="left") / len(neg)
    return fpr, fnr


def _gaussian_rates(pos: np.ndarray, neg: np.ndarray, thresholds: np.ndarray):
    """The same rates from a normal fit of each world: smooth tails where few trials fall."""
    from scipy.stats import norm

    scale = max(float(np.ptp(np.concatenate([pos, neg]))), 1.0) * 1e-12
    fpr = norm.sf((thresholds - neg.mean()) / max(float(neg.std()), scale))
    fnr = norm.cdf((thresholds - pos.mean()) / max(float(pos.std()), scale))
    return fpr, fnr


def best_threshold(pos: np.ndarray, neg: np.ndarray, *, eval_positives: int, eval_negatives: int,
                   delta: float, alpha: float, max_candidates: int = 4000) -> tuple[float, float]:
    """(threshold, predicted eps_LB) for held-out sets of the given sizes, chosen on these
    scores. The predicted rates at each threshold are the larger of the empirical rate and a
    normal fit's tail (the empirical tail alone makes the choice chase a handful of extreme
    trials); only the held-out evaluation makes a bound."""
    pos = np.asarray(pos, dtype=float)
    neg = np.asarray(neg, dtype=float)
    thresholds = _candidates(pos, neg, max_candidates)
    fpr_e, fnr_e = _empirical_rates(pos, neg, thresholds)
    fpr_g, fnr_g = _gaussian_rates(pos, neg, thresholds)
    fpr, fnr = np.maximum(fpr_e, fpr_g), np.maximum(fnr_e, fnr_g)
    fpr_u = clopper_pearson_upper(fpr * eval_negatives, np.full(fpr.shape, eval_negatives), alpha / 2)
    fnr_u = clopper_pearson_upper(fnr * eval_positives, np.full(fnr.shape, eval_positives), alpha / 2)
    eps = eps_from_rates(fpr_u, fnr_u, delta)
    i = int(np.argmax(eps))
    return float(thresholds[i]), float(eps[i])


@dataclass(frozen=True)
class Distinguisher:
    """One distinguishing test, evaluated on held-out trials."""

    name: str
    threshold: float  # guess "with the canary" when score >= threshold
    positives: int  # held-out trials with the canary
    negatives: int  # held-out trials without it
    false_pos: int
    false_neg: int
    fpr_upper: float
    fnr_upper: float
    eps_lower_bound: float
    alpha: float
    delta: float

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["threshold"] = self.threshold if math.isfinite(self.threshold) else None
        return out


def audit_scores(name: str, pos: np.ndarray, neg: np.ndarray, *, delta: float, alpha: float,
                 rng: np.random.Generator, select_fraction: float = 0.25) -> Distinguisher:
    """Choose the threshold on a random `select_fraction` of each world's trials, bound eps
    on the rest (at confidence 1 - alpha)."""
    pos = np.asarray(pos, dtype=float)
    neg = np.asarray(neg, dtype=float)
    if len(pos) < 8 or len(neg) < 8:
        raise ValueError("an audit needs at least 8 trials per world")
    if not 0 < select_fraction < 1:
        raise ValueError("select_fraction must be in (0, 1)")
    p_perm, n_perm = rng.permutation(len(pos)), rng.permutation(len(neg))
    p_cut, n_cut = max(2, int(len(pos) * select_fraction)), max(2, int(len(neg) * select_fraction))
    p_sel, p_eval = pos[p_perm[:p_cut]], pos[p_perm[p_cut:]]
    n_sel, n_eval = neg[n_perm[:n_cut]], neg[n_perm[n_cut:]]
    threshold, _ = best_threshold(p_sel, n_sel, eval_positives=len(p_eval),
                                  eval_negatives=len(n_eval), delta=delta, alpha=alpha)
    false_neg = int(np.sum(p_eval < threshold))
    false_pos = int(np.sum(n_eval >= threshold))
    eps, fpr_u, fnr_u = eps_lower_bound(false_pos, len(n_eval), false_neg, len(p_eval),
                                        delta=delta, alpha=alpha)
    return Distinguisher(name, threshold, len(p_eval), len(n_eval), false_pos, false_neg,
                         fpr_u, fnr_u, eps, alpha, delta)
