"""The one return type of every loader: windows in tinyfl's sensor layout and integer labels."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Dataset:
    """Train/test windows, float32, shape (N, *sample_shape); labels int64 in 0..K-1.

    Time series are TIME-MAJOR with channels interleaved, (N, n_steps, n_channels), the order an
    IMU FIFO delivers them (ax ay az gx gy gz per step), so a device window is x[i].ravel().
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: tuple[str, ...]

    def __post_init__(self) -> None:
        for name in ("x_train", "x_test"):
            x = getattr(self, name)
            if x.dtype != np.float32:
                raise ValueError(f"{name} must be float32, got {x.dtype}")
        if self.x_train.shape[1:] != self.x_test.shape[1:]:
            raise ValueError(
                f"train and test samples differ in shape: {self.x_train.shape[1:]} vs "
                f"{self.x_test.shape[1:]}"
            )
        k = len(self.class_names)
        for xname, yname in (("x_train", "y_train"), ("x_test", "y_test")):
            x, y = getattr(self, xname), getattr(self, yname)
            if y.shape != (x.shape[0],):
                raise ValueError(f"{yname} shape {y.shape} does not match {xname} {x.shape}")
            if y.size and (y.min() < 0 or y.max() >= k):
                raise ValueError(f"{yname} holds labels outside 0..{k - 1}")

    @property
    def sample_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    @property
    def input_len(self) -> int:
        """Floats in one raw window (what the device's backbone seam receives)."""
        return int(np.prod(self.sample_shape))


def encode_labels(train: np.ndarray, test: np.ndarray) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """String (or any) labels -> ints 0..K-1 by sorted class name; test classes must occur in train."""
    names = sorted({str(v) for v in train})
    index = {n: i for i, n in enumerate(names)}
    unknown = sorted({str(v) for v in test} - set(names))
    if unknown:
        raise ValueError(f"test labels not present in train: {unknown}")
    y_train = np.array([index[str(v)] for v in train], dtype=np.int64)
    y_test = np.array([index[str(v)] for v in test], dtype=np.int64)
    return y_train, y_test, tuple(names)
