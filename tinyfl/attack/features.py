"""Feature attacks: recover the penultimate features h the device trained on.

- Analytic (Geiping et al. 2020, "any input to a fully-connected layer is recoverable"): for one
  sample, every local step adds a multiple of [h, 1] to each row, so the update is exactly
  rank one, dW = db h^T, and h = dW^T db / |db|^2 (least squares over all rows), any E.
- Least squares with auxiliary data (batches, several steps): given labels, the update is
  dW = A^T H where A (n x K) holds each sample's summed step coefficients; A is computed by
  simulating the device from class-mean features, then H solves a ridge problem whose prior is
  the per-class Gaussian of the auxiliary features; a few fixed-point rounds refine A.
- Likelihood (noise-aware): the MAP estimate of H under the exact forward model the server
  knows: E local steps of mini-batch SGD, clipping, then Gaussian noise z C per coordinate, with
  the per-class Gaussian prior; L-BFGS-B with the hand-written gradient of tinyfl.attack._local.
  For one sample with unknown label, every label hypothesis is fitted and the best posterior
  (objective + log det of the class covariance - log class prior) wins.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ._local import clip_backward, clip_forward, per_sample_coefficients, train_backward, train_forward
from ._optim import minimize
from .labels import class_signatures, label_counts_nnls, label_sign, labels_from_counts
from .threat import AttackInput, Auxiliary

__all__ = ["FeatureEstimate", "analytic_feature", "features_analytic", "features_least_squares",
           "features_likelihood"]


@dataclass
class FeatureEstimate:
    features: np.ndarray  # (n, F), one row per sample (order not identifiable for batches)
    labels: np.ndarray  # (n,) the labels the estimate assumes
    method: str
    seconds: float
    objective: float | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, "labels": self.labels.tolist(),
                "features": np.round(self.features, 6).tolist(), "seconds": self.seconds,
                "objective": self.objective, **self.details}


def analytic_feature(inp: AttackInput) -> np.ndarray:
    """h = dW^T db / |db|^2: exact for one sample without noise."""
    db = inp.d_bias
    denom = float(db @ db)
    if denom == 0.0:
        return np.zeros(inp.n_features)
    return inp.d_weights.T @ db / denom


def features_analytic(inp: AttackInput) -> FeatureEstimate:
    """Closed form, no auxiliary data. For a batch every sample gets the same rank-one estimate
    (the update's dominant feature direction): only the one-sample case is exact."""
    t0 = time.perf_counter()
    h = analytic_feature(inp)
    label = label_sign(inp)
    n = inp.sample_count
    return FeatureEstimate(np.tile(h, (n, 1)), np.full(n, label), "analytic",
                           time.perf_counter() - t0)


def _labels_for(inp: AttackInput, aux: Auxiliary | None) -> np.ndarray:
    if aux is None:
        return np.full(inp.sample_count, label_sign(inp))
    return labels_from_counts(label_counts_nnls(inp, aux))


def _prior(aux: Auxiliary | None, labels: np.ndarray, n_classes: int, n_features: int
           ) -> tuple[np.ndarray, np.ndarray]:
    """(means (n, F), precisions (n, F, F)) for each sample's class; a weak prior without aux."""
    if aux is None:
        return np.zeros((len(labels), n_features)), np.tile(1e-8 * np.eye(n_features), (len(labels), 1, 1))
    st = aux.stats(n_classes)
    return st.means[labels], st.precisions[labels]


def features_least_squares(inp: AttackInput, aux: Auxiliary | None = None,
                           labels: np.ndarray | None = None, *, rounds: int = 3) -> FeatureEstimate:
    """Ridge least squares dW ~ s A^T H with the class-mean prior (see module doc)."""
    t0 = time.perf_counter()
    aux = aux if aux is not None else inp.aux
    y = np.asarray(labels if labels is not None else _labels_for(inp, aux), dtype=np.int64)
    n, k, f = len(y), inp.n_classes, inp.n_features
    means, precs = _prior(aux, y, k, f)
    h = means.copy() if aux is not None else np.tile(analytic_feature(inp), (n, 1))
    dw = inp.d_weights
    var = inp.residual_var
    for _ in range(rounds):
        a = per_sample_coefficients(inp.params, h, y, k, f, inp.lr, inp.epochs, inp.batch)
        pred = np.concatenate([(a.T @ h).ravel(), a.sum(axis=0)])
        _, norm = clip_forward(pred, inp.clip_target)
        s = min(1.0, inp.clip_target / norm) if norm > 0 else 1.0
        # vec(H) row-major: data Gram s^2 (A A^T) (x) I_F, prior block-diagonal precisions
        gram = np.kron(s * s * (a @ a.T), np.eye(f)) / var
        for i in range(n):
            gram[i * f:(i + 1) * f, i * f:(i + 1) * f] += precs[i]
        rhs = (s * (a @ dw)).ravel() / var + np.einsum("nij,nj->ni", precs, means).ravel()
        h = np.linalg.lstsq(gram, rhs, rcond=None)[0].reshape(n, f)
    return FeatureEstimate(h, y, "least_squares", time.perf_counter() - t0)


class _Objective:
    """Negative log posterior of H (up to constants) and its gradient."""

    def __init__(self, inp: AttackInput, y: np.ndarray, means: np.ndarray, precs: np.ndarray) -> None:
        self.inp, self.y, self.means, self.precs = inp, y, means, precs
        self.observed = inp.update
        self.var = inp.residual_var
        self.shape = (len(y), inp.n_features)

    def __call__(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        inp = self.inp
        h = x.reshape(self.shape)
        trace = train_forward(inp.params, h, self.y, inp.n_classes, inp.n_features, inp.lr,
                              inp.epochs, inp.batch)
        u, norm = clip_forward(trace.delta, inp.clip_target)
        r = u - self.observed
        diff = h - self.means
        pd = np.einsum("nij,nj->ni", self.precs, diff)
        value = 0.5 * float(r @ r) / self.var + 0.5 * float(np.sum(diff * pd))
        g_delta = clip_backward(trace.delta, norm, inp.clip_target, r / self.var)
        grad = train_backward(trace, h, g_delta, inp.n_classes, inp.n_features) + pd
        return value, grad.ravel()


def _fit(inp: AttackInput, aux: Auxiliary | None, y: np.ndarray, starts: list[np.ndarray],
         max_iter: int) -> tuple[np.ndarray, float]:
    k, f = inp.n_classes, inp.n_features
    means, precs = _prior(aux, y, k, f)
    objective = _Objective(inp, y, means, precs)
    lower = None
    if aux is not None:
        # coordinates never negative in the auxiliary data (ReLU outputs, std) stay >= 0
        lo = np.where(aux.stats(k).lower >= 0, 0.0, -np.inf)
        lower = np.tile(lo, len(y))
    best: tuple[np.ndarray, float] | None = None
    for start in starts:
        x0 = start.ravel() if lower is None else np.maximum(start.ravel(), lower)
        x, value = minimize(objective, x0, lower=lower, max_iter=max_iter)
        if best is None or value < best[1]:
            best = (x.reshape(len(y), f), value)
    assert best is not None
    return best


def features_likelihood(inp: AttackInput, aux: Auxiliary | None = None,
                        labels: np.ndarray | None = None, *, hypotheses: int | None = None,
                        max_iter: int = 200) -> FeatureEstimate:
    """MAP features (and, for one sample, the label) under the device's exact forward model.

    labels: known labels (n,); else one sample: the `hypotheses` most likely classes by the
    NNLS signature fit (default all) are each fitted; a batch: labels from NNLS counts.
    """
    t0 = time.perf_counter()
    aux = aux if aux is not None else inp.aux
    n, k = inp.sample_count, inp.n_classes
    if aux is None:
        raise ValueError("the likelihood attack needs auxiliary data (its prior)")
    st = aux.stats(k)
    details: dict[str, Any] = {}
    if labels is not None or n > 1:
        y = np.asarray(labels if labels is not None else _labels_for(inp, aux), dtype=np.int64)
        ls = features_least_squares(inp, aux, y)
        starts = [st.means[y], ls.features]
        if n == 1:
            starts.append(analytic_feature(inp)[None])
        h, value = _fit(inp, aux, y, starts, max_iter)
        return FeatureEstimate(h, y, "likelihood", time.perf_counter() - t0, value, details)
    # one sample, label unknown: fit each plausible class, pick the best posterior
    sig = class_signatures(inp, aux)
    fit_scores = np.array([_signature_residual(sig[:, c], inp) for c in range(k)])
    order = np.argsort(fit_scores)[: hypotheses or k]
    analytic = analytic_feature(inp)[None]
    results = []
    for c in order:
        y = np.array([c])
        h, value = _fit(inp, aux, y, [st.means[y], analytic], max_iter)
        score = value + 0.5 * st.logdets[c] - np.log(st.priors[c])
        results.append((score, c, h, value))
    results.sort(key=lambda item: item[0])
    score, c, h, value = results[0]
    details["label_scores"] = {int(ci): float(sc) for sc, ci, _, _ in results}
    return FeatureEstimate(h, np.array([c]), "likelihood", time.perf_counter() - t0, value, details)


def _signature_residual(sig: np.ndarray, inp: AttackInput) -> float:
    """Residual of the best non-negative multiple of one class signature (ranks hypotheses)."""
    u = inp.update
    denom = float(sig @ sig)
    scale = max(0.0, float(sig @ u) / denom) if denom > 0 else 0.0
    r = u - scale * sig
    return float(r @ r)
