"""The canary of the DP audit: two local datasets of one device whose updates are as far apart
as the replace relation allows (2C after clipping), and the global head that makes them so.

The server chooses the head, the learning rate and the schedule, and the auditor chooses the
device's data, so the audit takes the worst case: rows 0 and 1 of W identical (the device's
softmax gives classes 0 and 1 exactly one half each), the other classes pushed down by their
bias. One sample (h, y) then updates the head by lr * (onehot(y) - p) (x) [h, 1]: label 0 and
label 1 give exactly opposite updates. A canary window of large amplitude makes both updates
far longer than C, so every correct device clips them to C - margin, opposite each other,
while a device that clips to more than it says (or adds its noise before clipping) shows it.

World D (with the canary) holds the window labelled 0, world D' the same window labelled 1.
Each round the device trains on one sample; the shard alternates a reference sample (the
window labelled 0, identical in both worlds) and the canary sample, so consecutive releases
form a pair whose difference cancels any noise a broken device repeats.

The head passes the device's crafted-head guard (no zero row, |b| <= 20, |w| <= 100).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..device_model import clip_and_round, head_train, stats_features

__all__ = ["Canary", "make_canary"]

SUPPRESSED_BIAS = -19.0  # classes 2.. get probability e^-19 / 2: nothing at float32 scale
ROW_WEIGHT = 0.01


@dataclass(frozen=True)
class Canary:
    head: np.ndarray  # global head sent every round (float32, W row-major then b)
    n_classes: int
    n_features: int
    window: np.ndarray  # (n_steps, n_channels) float32, the canary's sensor window
    label_in: int  # its label in world D
    label_out: int  # its label in world D' (the replaced sample)
    reference_label: int  # the reference sample: the same window with this label
    lr: float
    clip: float
    grid_bits: int
    clean_in: np.ndarray  # integers an honest noise-free device sends for the canary in D
    clean_out: np.ndarray  # the same in D'
    direction: np.ndarray  # unit vector along clean_in - clean_out (the test's projection)

    @property
    def distance_steps(self) -> float:
        """|clean_in - clean_out| in grid steps (at most 2^(k+1): sensitivity 2C)."""
        return float(np.linalg.norm(self.clean_in - self.clean_out))

    def shard(self, world_in: bool) -> tuple[np.ndarray, np.ndarray]:
        """(windows, labels) a board replays in order: reference, canary, reference, ..."""
        label = self.label_in if world_in else self.label_out
        windows = np.stack([self.window, self.window])
        return windows, np.array([self.reference_label, label], dtype=np.uint8)

    def score(self, values: np.ndarray) -> np.ndarray:
        """Projection of release(s) on the canary direction, in units of C."""
        v = np.asarray(values, dtype=np.float64)
        return v @ self.direction / float(1 << self.grid_bits)


def make_canary(n_classes: int, n_channels: int, n_steps: int, *, clip: float, grid_bits: int,
                amplitude: float = 1e4, lr: float = 1.0, seed: int = 0) -> Canary:
    """The canary for a stats-backbone head of n_classes x (4 n_channels + 1)."""
    if n_classes < 2:
        raise ValueError("the canary needs at least two classes")
    n_features = 4 * n_channels
    w = np.full((n_classes, n_features), ROW_WEIGHT, dtype=np.float32)
    b = np.zeros(n_classes, dtype=np.float32)
    b[2:] = SUPPRESSED_BIAS
    head = np.concatenate([w.reshape(-1), b]).astype(np.float32)
    window = (np.random.default_rng(seed).standard_normal((n_steps, n_channels)) * amplitude).astype(np.float32)
    h = stats_features(window[None])

    def clean(label: int) -> np.ndarray:
        trained = head_train(head, h, np.array([label]), n_classes=n_classes, n_features=n_features,
                             lr=lr, epochs=1, batch=1)
        _, q = clip_and_round(trained - head, clip, grid_bits)
        return q

    clean_in, clean_out = clean(0), clean(1)
    diff = (clean_in - clean_out).astype(np.float64)
    return Canary(head, n_classes, n_features, window, 0, 1, 0, float(lr), float(clip),
                  int(grid_bits), clean_in, clean_out, diff / np.linalg.norm(diff))
