"""The device's local training and clipping in float64, with its gradient w.r.t. the features.

Same schedule as tinyfl.device_model.head_train (E epochs, mini-batches of B in stored order,
last one short, params -= lr/|batch| * sum of per-sample gradients) and the same clipping as
tinyfl_protect. The reverse pass is written out by hand (one step's backward per forward step)
so the noise-aware attacks can fit features with L-BFGS without an autodiff framework.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Trace", "train_forward", "train_backward", "clip_forward", "clip_backward",
           "simulate_delta", "per_sample_coefficients"]


@dataclass
class Trace:
    weights: list[np.ndarray]  # W_t before step t
    probs: list[np.ndarray]  # softmax of the batch at step t
    residuals: list[np.ndarray]  # p - onehot(y) of the batch at step t
    batches: list[slice]
    lr: float
    delta: np.ndarray  # (K*(F+1),) after - before


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def train_forward(params: np.ndarray, h: np.ndarray, y: np.ndarray, n_classes: int, n_features: int,
                  lr: float, epochs: int, batch: int) -> Trace:
    k, f = n_classes, n_features
    p0 = np.asarray(params, dtype=np.float64)
    w = p0[: k * f].reshape(k, f).copy()
    b = p0[k * f:].copy()
    h = np.asarray(h, dtype=np.float64).reshape(-1, f)
    onehot = np.eye(k)[np.asarray(y, dtype=np.int64)]
    trace = Trace([], [], [], [], float(lr), np.empty(0))
    n = len(h)
    for _ in range(epochs):
        for start in range(0, n, batch):
            s = slice(start, min(n, start + batch))
            m = s.stop - s.start
            p = _softmax(h[s] @ w.T + b)
            d = p - onehot[s]
            trace.weights.append(w.copy())
            trace.probs.append(p)
            trace.residuals.append(d)
            trace.batches.append(s)
            w -= (lr / m) * (d.T @ h[s])
            b -= (lr / m) * d.sum(axis=0)
    trace.delta = np.concatenate([(w - p0[: k * f].reshape(k, f)).ravel(), b - p0[k * f:]])
    return trace


def train_backward(trace: Trace, h: np.ndarray, g_delta: np.ndarray, n_classes: int,
                   n_features: int) -> np.ndarray:
    """d(loss)/d(h) given d(loss)/d(delta), by reverse pass over the recorded steps."""
    k, f = n_classes, n_features
    h = np.asarray(h, dtype=np.float64).reshape(-1, f)
    gw = np.array(g_delta[: k * f], dtype=np.float64).reshape(k, f)  # d loss / d W_{t+1}
    gb = np.array(g_delta[k * f:], dtype=np.float64)
    gh = np.zeros_like(h)
    lr = trace.lr
    for w, p, d, s in zip(reversed(trace.weights), reversed(trace.probs), reversed(trace.residuals),
                          reversed(trace.batches)):
        m = s.stop - s.start
        hs = h[s]
        # step: W' = W - lr/m D^T H, b' = b - lr/m D^T 1, D = softmax(H W^T + b) - Y
        gh[s] -= (lr / m) * (d @ gw)
        g_d = -(lr / m) * (hs @ gw.T + gb)
        g_z = p * (g_d - np.sum(g_d * p, axis=1, keepdims=True))
        gh[s] += g_z @ w
        gw = gw + g_z.T @ hs
        gb = gb + g_z.sum(axis=0)
    return gh


def clip_forward(delta: np.ndarray, target: float) -> tuple[np.ndarray, float]:
    """(clipped, norm): scaled to `target` when its norm exceeds it, as the device does."""
    norm = float(np.sqrt(np.dot(delta, delta)))
    if norm > target:
        return delta * (target / norm), norm
    return delta, norm


def clip_backward(delta: np.ndarray, norm: float, target: float, g_u: np.ndarray) -> np.ndarray:
    if norm <= target:
        return g_u
    return (target / norm) * (g_u - delta * (np.dot(delta, g_u) / norm ** 2))


def simulate_delta(params: np.ndarray, h: np.ndarray, y: np.ndarray, n_classes: int, n_features: int,
                   lr: float, epochs: int, batch: int) -> np.ndarray:
    return train_forward(params, h, y, n_classes, n_features, lr, epochs, batch).delta


def per_sample_coefficients(params: np.ndarray, h: np.ndarray, y: np.ndarray, n_classes: int,
                            n_features: int, lr: float, epochs: int, batch: int) -> np.ndarray:
    """(n, K): A with delta_W = A^T H and delta_b = A^T 1 exactly for these features, i.e.
    A[i] = -sum over the steps that used sample i of lr/|batch| * (p_i - onehot(y_i))."""
    trace = train_forward(params, h, y, n_classes, n_features, lr, epochs, batch)
    onehot = np.eye(n_classes)[np.asarray(y, dtype=np.int64)]
    a = np.zeros((len(onehot), n_classes))
    for d, s in zip(trace.residuals, trace.batches):
        a[s] -= (trace.lr / (s.stop - s.start)) * d
    return a
