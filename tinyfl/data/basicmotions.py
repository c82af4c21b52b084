"""BasicMotions: smartwatch accelerometer + gyroscope windows, 4 activities.

The data ships inside the `aeon` wheel (install extra), so loading never touches the network.
"""
from __future__ import annotations

import numpy as np

from .dataset import Dataset, encode_labels

N_STEPS = 100
N_CHANNELS = 6


def load_basic_motions() -> Dataset:
    """40 train + 40 test windows, (N, 100, 6) time-major; classes sorted by name
    (badminton, running, standing, walking)."""
    try:
        from aeon.datasets import load_basic_motions as _aeon_load
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ImportError(
            "BasicMotions needs the `aeon` package (pip install 'tinyfl[data]')"
        ) from exc
    x_train, y_train = _aeon_load(split="train")
    x_test, y_test = _aeon_load(split="test")
    yi_train, yi_test, names = encode_labels(y_train, y_test)
    return Dataset(
        x_train=_time_major(x_train),
        y_train=yi_train,
        x_test=_time_major(x_test),
        y_test=yi_test,
        class_names=names,
    )


def _time_major(x: np.ndarray) -> np.ndarray:
    """aeon gives (N, channels, steps); the device FIFO gives steps of interleaved channels."""
    if x.ndim != 3 or x.shape[1:] != (N_CHANNELS, N_STEPS):
        raise ValueError(f"unexpected BasicMotions shape {x.shape}")
    return np.ascontiguousarray(np.transpose(x, (0, 2, 1)), dtype=np.float32)
