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
  For one sample with unknown label, the few most likely labels (the device model linearized
  around each class mean) are each fitted and the highest Laplace evidence wins; the Laplace
  posterior also gives each feature's standard deviation (used to weigh raw-input inversion).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ._local import clip_backward, clip_forward, per_sample_coefficients, train_backward, train_forward
from ._optim import minimize, single_threaded_blas
from .labels import (label_counts_nnls, label_matched_filter, label_posterior, label_sign,
                     labels_from_counts, linearize)
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
                "objective": self.objective,
                **{k: (np.round(v, 6).tolist() if isinstance(v, np.ndarray) else v)
                   for k, v in self.details.items()}}


def analytic_feature(inp: AttackInput) -> np.ndarray:
    """h = dW^T db / |db|^2, exact for one sample without noise. Computed as the leading right
    singular vector of dW (its direction: every row is a multiple of h) scaled by the bias
    projection: the same value at z = 0, but the direction then does not suffer from the bias
    entries' rounding, which are |h| times smaller than the weights'."""
    dw, db = inp.d_weights, inp.d_bias
    denom = float(db @ db)
    if denom == 0.0 or not np.any(dw):
        return np.zeros(inp.n_features)
    direction = np.linalg.svd(dw, full_matrices=False)[2][0]
    projected = dw.T @ db / denom
    return direction * float(direction @ projected)


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


@single_threaded_blas
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
    best = (_posterior_objective(inp, h, y, means, precs), h)
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
        # the linearization can overshoot (a confident sample's coefficients are ~0): keep the
        # best point under the exact model
        value = _posterior_objective(inp, h, y, means, precs)
        if value < best[0]:
            best = (value, h)
    h = best[1]
    return FeatureEstimate(h, y, "least_squares", time.perf_counter() - t0)


def _posterior_objective(inp: AttackInput, h: np.ndarray, y: np.ndarray, means: np.ndarray,
                         precs: np.ndarray) -> float:
    return _Objective(inp, y, means, precs)(np.asarray(h, dtype=np.float64).ravel())[0]


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


def _laplace(inp: AttackInput, aux: Auxiliary, y: np.ndarray, h: np.ndarray, value: float
             ) -> tuple[float, np.ndarray]:
    """(log evidence of the labels y, posterior std of h (n, F)) by the Laplace approximation
    with the Gauss-Newton Hessian J^T J / s^2 + prior precision at the MAP point."""
    st = aux.stats(inp.n_classes)
    _, jac = linearize(inp, h, y)
    f = inp.n_features
    hess = jac.T @ jac / inp.residual_var
    for i, c in enumerate(y):
        hess[i * f:(i + 1) * f, i * f:(i + 1) * f] += st.precisions[c]
    sign, logdet = np.linalg.slogdet(hess)
    cov = np.linalg.inv(hess)
    std = np.sqrt(np.maximum(np.diag(cov), 0.0)).reshape(len(y), f)
    evidence = (-value - 0.5 * logdet - 0.5 * float(np.sum(st.logdets[y]))
                + float(np.sum(np.log(st.priors[y]))))
    return evidence, std


@single_threaded_blas
def features_likelihood(inp: AttackInput, aux: Auxiliary | None = None,
                        labels: np.ndarray | None = None, *, candidates: int = 3,
                        max_iter: int = 200) -> FeatureEstimate:
    """MAP features (and, for one sample, the label) under the device's exact forward model,
    with their posterior standard deviations (Laplace) in details["std"].

    labels: known labels (n,). Else, one sample: the `candidates` best labels of the
    linearized posterior (label_posterior) plus the sign-rule and matched-filter labels are
    each fitted and the one with the highest Laplace evidence wins; a batch: labels from NNLS
    counts.
    """
    t0 = time.perf_counter()
    aux = aux if aux is not None else inp.aux
    n = inp.sample_count
    if aux is None:
        raise ValueError("the likelihood attack needs auxiliary data (its prior)")
    st = aux.stats(inp.n_classes)
    details: dict[str, Any] = {}
    if labels is not None or n > 1:
        y = np.asarray(labels if labels is not None else _labels_for(inp, aux), dtype=np.int64).reshape(-1)
        hypotheses = [y]
    else:
        log_post = label_posterior(inp, aux)
        ranked = [int(c) for c in np.argsort(-log_post)[:candidates]]
        for extra in (label_sign(inp), label_matched_filter(inp, st.global_mean)):
            if extra not in ranked:
                ranked.append(extra)
        hypotheses = [np.array([c]) for c in ranked]
    best = None
    evidences = {}
    for y in hypotheses:
        starts = [features_least_squares(inp, aux, y).features]
        starts.append(analytic_feature(inp)[None] if n == 1 else st.means[y])
        h, value = _fit(inp, aux, y, starts, max_iter)
        evidence, std = _laplace(inp, aux, y, h, value)
        if n == 1:
            evidences[int(y[0])] = round(evidence, 3)
        if best is None or evidence > best[0]:
            best = (evidence, y, h, value, std)
    assert best is not None
    evidence, y, h, value, std = best
    details["std"] = std
    if evidences:
        details["label_log_evidence"] = evidences
    return FeatureEstimate(h, y, "likelihood", time.perf_counter() - t0, value, details)
