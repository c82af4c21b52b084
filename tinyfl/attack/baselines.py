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
           "majority_label_baseline", "label_mixture_baseline", "spread_counts_baseline", "label_count_baselines"]


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


def spread_counts_baseline(n: int, n_classes: int, prior: np.ndarray | None = None) -> np.ndarray:
    """Label counts guessed from the sample count alone: the device's n samples spread over the
    classes in proportion to `prior` (evenly without one), rounded to integers summing to n
    (largest remainder; ties to the more likely class, then the lower index). For a batch this
    is far stronger than the majority class: 10 samples of 4 balanced classes spread 3/3/2/2
    share 8 or more labels with most true batches, a single class about 3."""
    p = np.full(n_classes, 1.0 / n_classes) if prior is None else np.asarray(prior, dtype=np.float64)
    if p.shape != (n_classes,) or not np.all(p >= 0) or p.sum() <= 0:
        raise ValueError("prior must be n_classes non-negative weights, not all zero")
    raw = n * p / p.sum()
    counts = np.floor(raw).astype(np.int64)
    order = sorted(range(n_classes), key=lambda c: (-(raw[c] - counts[c]), -p[c], c))
    for c in order[: n - int(counts.sum())]:
        counts[c] += 1
    return counts


def label_count_baselines(n: int, n_classes: int, aux: Auxiliary | None) -> dict[str, np.ndarray]:
    """Every label-count guess a server can make for an update of n samples without looking at
    it, from what it has (the announced sample count, public labelled data): the majority class
    for all n, the count spread evenly, and the count spread by the public label prior (what
    the server can say about a device's labels before it sees an update). A label attack leaks
    only what beats the strongest of these."""
    out = {"majority class (auxiliary data)":
           np.bincount(majority_label_baseline(n, aux, n_classes), minlength=n_classes),
           "sample count spread evenly over the classes": spread_counts_baseline(n, n_classes)}
    if aux is not None and len(aux.labels):
        prior = np.bincount(np.asarray(aux.labels, dtype=np.int64), minlength=n_classes)[:n_classes]
        out["sample count spread by the label prior (auxiliary data)"] = spread_counts_baseline(n, n_classes, prior)
    return out


def label_mixture_baseline(log_posteriors: np.ndarray, aux: Auxiliary, *, use: str = "features") -> np.ndarray:
    """sum_c P(c | update) * class mean c, one row per (n, K) log-posterior row."""
    lp = np.atleast_2d(np.asarray(log_posteriors, dtype=np.float64))
    w = np.exp(lp - lp.max(axis=1, keepdims=True))
    w /= w.sum(axis=1, keepdims=True)
    means = class_mean_baseline(np.arange(lp.shape[1]), aux, use=use)
    return np.tensordot(w, means, axes=(1, 0))
