"""Guesses that need no update at all: what an attack must beat before it "leaks" anything.

Given only a label (the recovered one, or the true one for an oracle comparison), a server with
auxiliary data can already guess the class mean or a random sample of that class; with no label,
the global mean. An attack that does no better than these learned nothing from the update
beyond the label. Under heavy noise the recovered label is often wrong and the attack's own
estimate hedges between classes: `label_mixture_baseline` (class means weighted by the label
posterior) is the guess that uses ALL the label information and nothing else.
"""
from __future__ import annotations

import numpy as np

from .threat import Auxiliary

__all__ = ["class_mean_baseline", "global_mean_baseline", "random_same_class_baseline",
           "majority_label_baseline", "label_mixture_baseline"]


def _values(aux: Auxiliary, use: str) -> np.ndarray:
    if use == "features":
        return np.asarray(aux.features, dtype=np.float64)
    if use == "inputs":
        if aux.inputs is None:
            raise ValueError("the auxiliary data holds no raw inputs")
        return np.asarray(aux.inputs, dtype=np.float64)
    raise ValueError(f"use must be 'features' or 'inputs', not {use!r}")


def class_mean_baseline(labels: np.ndarray, aux: Auxiliary, *, use: str = "features") -> np.ndarray:
    """The auxiliary mean of each label's class (the global mean for a class aux lacks)."""
    x = _values(aux, use)
    y = np.asarray(aux.labels)
    out = []
    for label in np.asarray(labels).reshape(-1):
        members = x[y == label]
        out.append(members.mean(axis=0) if len(members) else x.mean(axis=0))
    return np.stack(out) if out else np.empty((0,) + x.shape[1:])


def global_mean_baseline(n: int, aux: Auxiliary, *, use: str = "features") -> np.ndarray:
    x = _values(aux, use)
    return np.repeat(x.mean(axis=0, keepdims=True), n, axis=0)


def random_same_class_baseline(labels: np.ndarray, aux: Auxiliary, *, use: str = "features",
                               seed: int = 0) -> np.ndarray:
    """A random auxiliary sample of each label's class."""
    x = _values(aux, use)
    y = np.asarray(aux.labels)
    rng = np.random.default_rng(seed)
    out = []
    for label in np.asarray(labels).reshape(-1):
        idx = np.flatnonzero(y == label)
        out.append(x[rng.choice(idx)] if len(idx) else x[rng.integers(len(x))])
    return np.stack(out) if out else np.empty((0,) + x.shape[1:])


def majority_label_baseline(n: int, aux: Auxiliary | None, n_classes: int) -> np.ndarray:
    """Always guess the most frequent auxiliary class (class 0 without auxiliary data)."""
    if aux is None or len(aux.labels) == 0:
        return np.zeros(n, dtype=np.int64)
    counts = np.bincount(np.asarray(aux.labels, dtype=np.int64), minlength=n_classes)
    return np.full(n, int(np.argmax(counts)), dtype=np.int64)


def label_mixture_baseline(log_posteriors: np.ndarray, aux: Auxiliary, *, use: str = "features") -> np.ndarray:
    """sum_c P(c | update) * class mean c, one row per (n, K) log-posterior row."""
    lp = np.atleast_2d(np.asarray(log_posteriors, dtype=np.float64))
    w = np.exp(lp - lp.max(axis=1, keepdims=True))
    w /= w.sum(axis=1, keepdims=True)
    means = class_mean_baseline(np.arange(lp.shape[1]), aux, use=use)
    return np.tensordot(w, means, axes=(1, 0))
