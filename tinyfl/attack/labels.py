"""Label attacks on a head update.

For one sample, the bias gradient is p - onehot(y): negative only at the true class (iDLG,
Zhao et al. 2020). The update the device sends is after - sent = -lr * (sum of gradients), so
the true class is its one POSITIVE bias entry, for any number of local steps.

Under noise the bias alone (K numbers) drowns; the weight rows carry the same sign times the
feature vector, so projecting each row on the expected feature (a matched filter) gathers the
signal of all F + 1 coordinates. For batches, label counts come from the bias update (LLG,
Wainakh et al. PETS 2022) or, better, from a non-negative least-squares fit of the whole update
on per-class signatures simulated from auxiliary data.
"""
from __future__ import annotations

import numpy as np

from ._optim import nnls, single_threaded_blas
from .threat import AttackInput, Auxiliary

__all__ = ["label_sign", "label_matched_filter", "label_posterior", "label_counts_bias",
           "label_counts_nnls", "labels_from_counts", "class_signatures", "round_counts",
           "linearize", "gaussian_loglik"]


def label_sign(inp: AttackInput) -> int:
    """iDLG's sign rule (exact for one sample without noise, any E): argmax of the bias update."""
    return int(np.argmax(inp.d_bias))


def label_matched_filter(inp: AttackInput, mu: np.ndarray | None = None) -> int:
    """argmax over classes of dW_c . mu + db_c, mu = mean auxiliary feature (PRIVACY_NOTES):
    row c of the update is (a_c h, a_c) with a_c > 0 only for the true class."""
    if mu is None:
        if inp.aux is None:
            raise ValueError("the matched filter needs mu or auxiliary data")
        mu = np.asarray(inp.aux.features, dtype=np.float64).mean(axis=0)
    return int(np.argmax(inp.d_weights @ np.asarray(mu, dtype=np.float64) + inp.d_bias))


def linearize(inp: AttackInput, h0: np.ndarray, labels: np.ndarray | int) -> tuple[np.ndarray, np.ndarray]:
    """(u0, J): the clipped update the device would send for features h0 (n, F) with these
    labels, and its Jacobian w.r.t. h0 (P x n*F) by central differences."""
    from ._local import clip_forward, simulate_delta

    h0 = np.asarray(h0, dtype=np.float64).reshape(-1, inp.n_features)
    y = np.atleast_1d(np.asarray(labels, dtype=np.int64))

    def sent(h: np.ndarray) -> np.ndarray:
        delta = simulate_delta(inp.params, h, y, inp.n_classes, inp.n_features, inp.lr,
                               inp.epochs, inp.batch)
        return clip_forward(delta, inp.clip_target)[0]

    flat = h0.ravel()
    eps = 1e-4 * (np.abs(flat) + 1e-2)
    jac = np.empty((inp.n_params, flat.size))
    for j in range(flat.size):
        e = np.zeros_like(flat)
        e[j] = eps[j]
        jac[:, j] = (sent((flat + e).reshape(h0.shape)) - sent((flat - e).reshape(h0.shape))) / (2 * eps[j])
    return sent(h0), jac


def gaussian_loglik(r: np.ndarray, jac: np.ndarray, cov_h: np.ndarray, var: float) -> float:
    """log N(r; 0, J Sigma J^T + var I) via the Woodbury identity (F x F work, not P x P)."""
    p = r.size
    prec_h = np.linalg.inv(cov_h)
    m = prec_h + jac.T @ jac / var
    jr = jac.T @ r / var
    quad = float(r @ r) / var - float(jr @ np.linalg.solve(m, jr))
    logdet = p * np.log(var) + np.linalg.slogdet(m)[1] + np.linalg.slogdet(cov_h)[1]
    return -0.5 * (quad + logdet + p * np.log(2 * np.pi))


@single_threaded_blas
def label_posterior(inp: AttackInput, aux: Auxiliary | None = None) -> np.ndarray:
    """log P(label | update) for one sample, normalized: for each class c the update is
    modelled as Gaussian by linearizing the device (E steps + clipping) around the class mean,
    u ~ N(u(mu_c), J Sigma_c J^T + s^2 I) with Sigma_c the class covariance of the auxiliary
    features and s^2 the noise + rounding variance; times the class frequency."""
    aux = aux if aux is not None else inp.aux
    if aux is None:
        raise ValueError("the label posterior needs auxiliary data")
    st = aux.stats(inp.n_classes)
    u = inp.update
    out = np.empty(inp.n_classes)
    for c in range(inp.n_classes):
        u0, jac = linearize(inp, st.means[c], c)
        out[c] = gaussian_loglik(u - u0, jac, st.covariances[c], inp.residual_var) + np.log(st.priors[c])
    return out - np.logaddexp.reduce(out)


def _independent_updates(params: np.ndarray, h: np.ndarray, y: np.ndarray, n_classes: int,
                         n_features: int, lr: float, epochs: int) -> np.ndarray:
    """(N, K*(F+1)): each sample trained alone for `epochs` steps of lr, all at once."""
    k, f = n_classes, n_features
    p0 = np.asarray(params, dtype=np.float64)
    w = np.broadcast_to(p0[: k * f].reshape(1, k, f), (len(h), k, f)).copy()
    b = np.broadcast_to(p0[k * f:], (len(h), k)).copy()
    onehot = np.eye(k)[y]
    for _ in range(epochs):
        z = np.einsum("nkf,nf->nk", w, h) + b
        p = np.exp(z - z.max(axis=1, keepdims=True))
        d = p / p.sum(axis=1, keepdims=True) - onehot
        w -= lr * d[:, :, None] * h[:, None, :]
        b -= lr * d
    dw = w - p0[: k * f].reshape(1, k, f)
    return np.concatenate([dw.reshape(len(h), -1), b - p0[k * f:]], axis=1)


def class_signatures(inp: AttackInput, aux: Auxiliary | None = None) -> np.ndarray:
    """(K*(F+1), K): column c = the expected unclipped contribution of one class-c sample to
    the update, from auxiliary samples of class c each trained alone with the device's
    settings (lr / batch length, E steps): exact for one sample, first order in the
    interactions between samples of a batch. Cached per head and settings."""
    aux = aux if aux is not None else inp.aux
    if aux is None:
        raise ValueError("class signatures need auxiliary data")
    m = min(inp.batch, inp.sample_count)
    key = ("signatures", np.asarray(inp.params, dtype=np.float32).tobytes(), inp.lr, inp.epochs, m)
    cached = aux._cache.get(key)
    if cached is not None:
        return cached
    h = np.asarray(aux.features, dtype=np.float64)
    y = np.asarray(aux.labels, dtype=np.int64)
    per_sample = _independent_updates(inp.params, h, y, inp.n_classes, inp.n_features,
                                      inp.lr / m, inp.epochs)
    sig = np.zeros((inp.n_params, inp.n_classes))
    for c in range(inp.n_classes):
        if np.any(y == c):
            sig[:, c] = per_sample[y == c].mean(axis=0)
    aux._cache[key] = sig
    return sig


def round_counts(raw: np.ndarray, total: int) -> np.ndarray:
    """Non-negative integers summing to `total`, closest to `raw` (largest remainder)."""
    x = np.maximum(np.asarray(raw, dtype=np.float64), 0.0)
    if x.sum() <= 0:
        x = np.ones_like(x)
    x = x * (total / x.sum())
    counts = np.floor(x).astype(np.int64)
    for i in np.argsort(-(x - counts), kind="stable")[: total - int(counts.sum())]:
        counts[i] += 1
    return counts


@single_threaded_blas
def label_counts_nnls(inp: AttackInput, aux: Auxiliary | None = None, *,
                      return_raw: bool = False) -> np.ndarray:
    """Label counts from the whole update: x >= 0 minimizing |u - S x| over the class
    signatures S, then scaled to sum to the sample count (the scale absorbs the unknown
    clipping factor) and rounded."""
    sig = class_signatures(inp, aux)
    x = nnls(sig, inp.update)
    return x if return_raw else round_counts(x, inp.sample_count)


@single_threaded_blas
def label_counts_bias(inp: AttackInput, aux: Auxiliary | None = None) -> np.ndarray:
    """Counts from the bias update alone (LLG-style). Without clipping, for each sample
    db = -(lr E / m)(p_bar - onehot(y)) summed, so counts = n p_bar + db m / (lr E); here with
    the class-conditional expected bias contributions from auxiliary data (the bias rows of the
    class signatures, exact for E = 1) and the clipping factor predicted from the signatures'
    norm. Without auxiliary data, p_bar comes from the head at the analytic feature estimate."""
    n, k = inp.sample_count, inp.n_classes
    db = inp.d_bias
    aux = aux if aux is not None else inp.aux
    if aux is None:
        from .features import analytic_feature

        h = analytic_feature(inp)
        z = inp.weights @ h + inp.bias
        p_bar = np.exp(z - z.max())
        p_bar /= p_bar.sum()
        m = min(inp.batch, n)
        scale = inp.lr * inp.epochs / m
        return round_counts(n * p_bar + db / scale, n)
    sig = class_signatures(inp, aux)
    bias_sig = sig[inp.n_classes * inp.n_features:]  # (K, K)
    counts = np.full(k, n / k)
    for _ in range(4):
        norm = float(np.linalg.norm(sig @ counts))
        shrink = min(1.0, inp.clip_target / norm) if norm > 0 else 1.0
        # bias rows sum to zero, so add the constraint sum(counts) = n as one more equation
        system = np.vstack([shrink * bias_sig, np.ones((1, k))])
        rhs = np.concatenate([db, [n]])
        counts = np.linalg.lstsq(system, rhs, rcond=None)[0]
        counts = np.maximum(counts, 0.0)
    return round_counts(counts, n)


def labels_from_counts(counts: np.ndarray) -> np.ndarray:
    """The label multiset as a sorted array: [0, 0, 2, ...]."""
    return np.repeat(np.arange(len(counts)), np.asarray(counts, dtype=np.int64))
