"""8x8 handwritten digits from scikit-learn (bundled, no network): small images for the visual
attack reports."""
from __future__ import annotations

import numpy as np

from .dataset import Dataset


def load_digits(*, flat: bool = False, test_fraction: float = 0.25, seed: int = 0) -> Dataset:
    """Pixels scaled to [0, 1]; (N, 8, 8, 1) images, or (N, 64) with flat=True.

    The split is stratified-by-shuffle with a fixed seed, so it is the same on every machine.
    """
    from sklearn.datasets import load_digits as _sk_load_digits

    bunch = _sk_load_digits()
    x = (bunch.images.astype(np.float32) / np.float32(16.0))
    y = bunch.target.astype(np.int64)
    rng = np.random.default_rng(seed)
    test_idx: list[int] = []
    train_idx: list[int] = []
    for label in range(10):
        idx = np.flatnonzero(y == label)
        rng.shuffle(idx)
        n_test = int(round(len(idx) * test_fraction))
        test_idx.extend(idx[:n_test].tolist())
        train_idx.extend(idx[n_test:].tolist())
    train = np.sort(np.array(train_idx))
    test = np.sort(np.array(test_idx))
    shape = (-1, 64) if flat else (-1, 8, 8, 1)
    return Dataset(
        x_train=np.ascontiguousarray(x[train].reshape(shape)),
        y_train=y[train],
        x_test=np.ascontiguousarray(x[test].reshape(shape)),
        y_test=y[test],
        class_names=tuple(str(d) for d in range(10)),
    )
