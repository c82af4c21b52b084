"""The fixed statistics extractor of firmware/tinyfl_features_stats.c, same float32 results.

Window layout: (n_steps, n_channels), time-major with channels interleaved, as an IMU FIFO
delivers it. Features for channel c: [4c] mean, [4c+1] population std, [4c+2] min, [4c+3] max.
"""
from __future__ import annotations

import zlib

import numpy as np

__all__ = ["MODEL_HASH", "stats_feature_count", "stats_features"]

MODEL_HASH = zlib.crc32(b"tinyfl_features_stats")  # what the device reports as model_hash


def stats_feature_count(n_channels: int) -> int:
    return 4 * n_channels


def stats_features(windows: np.ndarray) -> np.ndarray:
    """(n, n_steps, n_channels) or (n_steps, n_channels) -> (n, 4 * n_channels) float32."""
    x = np.asarray(windows, dtype=np.float32)
    if x.ndim == 2:
        x = x[None]
    if x.ndim != 3 or x.shape[1] < 1 or x.shape[2] < 1:
        raise ValueError("windows must be (n, n_steps, n_channels)")
    n_steps = np.float32(x.shape[1])
    # left-to-right sums over time, as the C loops
    mean = np.add.accumulate(x, axis=1)[:, -1, :] / n_steps
    d = x - mean[:, None, :]
    std = np.sqrt(np.add.accumulate(d * d, axis=1)[:, -1, :] / n_steps)
    out = np.stack([mean, std, x.min(axis=1), x.max(axis=1)], axis=2)
    return out.reshape(x.shape[0], -1).astype(np.float32)
