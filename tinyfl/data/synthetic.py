"""Synthetic sensor windows for unit tests only (never for reported results)."""
from __future__ import annotations

import numpy as np

from .dataset import Dataset


def make_synthetic_windows(
    *,
    n_train: int = 64,
    n_test: int = 32,
    n_steps: int = 32,
    n_channels: int = 3,
    n_classes: int = 3,
    noise: float = 0.3,
    seed: int = 0,
) -> Dataset:
    """Each class is a sine of its own frequency on every channel (with per-channel phase) plus
    Gaussian noise; (N, n_steps, n_channels) time-major float32, learnable in a few epochs."""
    rng = np.random.default_rng(seed)

    def draw(n: int) -> tuple[np.ndarray, np.ndarray]:
        y = rng.integers(0, n_classes, size=n)
        t = np.arange(n_steps, dtype=np.float64)[None, :, None]
        freq = (1.0 + y.astype(np.float64))[:, None, None] * (2.0 * np.pi / n_steps)
        phase = rng.uniform(0.0, 2.0 * np.pi, size=(n, 1, n_channels))
        x = np.sin(freq * t + phase) + noise * rng.standard_normal((n, n_steps, n_channels))
        return x.astype(np.float32), y.astype(np.int64)

    x_train, y_train = draw(n_train)
    x_test, y_test = draw(n_test)
    return Dataset(x_train, y_train, x_test, y_test, tuple(f"class{i}" for i in range(n_classes)))
