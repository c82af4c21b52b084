"""The device's dense head in numpy float32, same operations in the same order as
firmware/tinyfl_head.c (results agree to float rounding of expf).

Parameters are flat: W row-major [n_classes][n_features], then b[n_classes].
Training: for each epoch, for batch start 0, B, 2B, ... (stored order, last batch may be
short): g = sum over the batch, sample by sample, of (softmax(W h + b) - onehot(y)) (x) h and
of the same for b; then params -= (lr / batch_len) * g.
Per sample: logit_c = b_c + W_c0 h_0 + W_c1 h_1 + ... (left to right); softmax subtracts the
max, sums exp left to right, divides each exp by the sum.
"""
from __future__ import annotations

import numpy as np

from .errors import DeviceModelError

__all__ = ["param_count", "head_logits", "head_predict", "head_train"]


def param_count(n_classes: int, n_features: int) -> int:
    return n_classes * (n_features + 1)


def _split(params: np.ndarray, n_classes: int, n_features: int) -> tuple[np.ndarray, np.ndarray]:
    params = np.asarray(params, dtype=np.float32)
    if params.shape != (param_count(n_classes, n_features),):
        raise DeviceModelError("ARG", f"params must have {param_count(n_classes, n_features)} values")
    w = params[: n_classes * n_features].reshape(n_classes, n_features)
    return w, params[n_classes * n_features:]


def _logits(w: np.ndarray, b: np.ndarray, h: np.ndarray) -> np.ndarray:
    """(n, C) logits with the C code's left-to-right sums: b first, then each feature."""
    terms = w[None, :, :] * h[:, None, :]  # float32 products, rounded like C's
    start = np.broadcast_to(b[None, :, None], (h.shape[0], b.shape[0], 1))
    return np.add.accumulate(np.concatenate([start, terms], axis=2), axis=2)[:, :, -1]


def head_logits(params: np.ndarray, n_classes: int, n_features: int,
                features: np.ndarray) -> np.ndarray:
    w, b = _split(params, n_classes, n_features)
    h = np.asarray(features, dtype=np.float32).reshape(-1, n_features)
    return _logits(w, b, h)


def head_predict(params: np.ndarray, n_classes: int, n_features: int,
                 features: np.ndarray) -> np.ndarray:
    """argmax of the logits (first index on ties, as C)."""
    return np.argmax(head_logits(params, n_classes, n_features, features), axis=1)


def _softmax_minus_onehot(z: np.ndarray, labels: np.ndarray) -> np.ndarray:
    e = np.exp(z - np.max(z, axis=1, keepdims=True))
    total = np.add.accumulate(e, axis=1)[:, -1:]
    d = e / total
    d[np.arange(len(labels)), labels] -= np.float32(1.0)
    return d


def head_train(params: np.ndarray, features: np.ndarray, labels: np.ndarray, *, n_classes: int,
               n_features: int, lr: float, epochs: int, batch: int) -> np.ndarray:
    """Returns the trained parameters (a new float32 array), like tinyfl_head_train."""
    if n_classes < 1 or n_features < 1 or batch < 1:
        raise DeviceModelError("ARG", "n_classes, n_features and batch must be >= 1")
    lr32 = np.float32(lr)
    if not np.isfinite(lr32) or lr32 < 0:
        raise DeviceModelError("ARG", "lr must be finite and >= 0")
    out = np.array(params, dtype=np.float32, copy=True)
    w, b = _split(out, n_classes, n_features)  # views into out
    h_all = np.asarray(features, dtype=np.float32).reshape(-1, n_features)
    y_all = np.asarray(labels).astype(np.int64).reshape(-1)
    if h_all.shape[0] != y_all.shape[0]:
        raise DeviceModelError("ARG", "features and labels differ in count")
    if np.any(y_all < 0) or np.any(y_all >= n_classes):
        raise DeviceModelError("VALUE", "label outside 0..n_classes-1")
    n = y_all.shape[0]
    for _ in range(epochs):
        for start in range(0, n, batch):
            h = h_all[start:start + batch]
            y = y_all[start:start + batch]
            d = _softmax_minus_onehot(_logits(w, b, h), y)
            # sample-by-sample sums from 0.0f, as C accumulates into zeroed scratch
            grad_w = np.add.accumulate(d[:, :, None] * h[:, None, :], axis=0)[-1]
            grad_b = np.add.accumulate(d, axis=0)[-1]
            scale = lr32 / np.float32(h.shape[0])
            w -= scale * grad_w
            b -= scale * grad_b
    return out
