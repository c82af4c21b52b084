"""The float dense head exported from a Keras classifier (no TensorFlow needed)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class HeadParams:
    """The dense head z = W h + b; W is [n_classes][n_features] row-major, float32."""

    weights: np.ndarray  # (n_classes, n_features)
    bias: np.ndarray  # (n_classes,)

    @property
    def n_classes(self) -> int:
        return int(self.weights.shape[0])

    @property
    def n_features(self) -> int:
        return int(self.weights.shape[1])

    def flat(self) -> np.ndarray:
        """W row-major then b: the order of the wire's `params` and of tinyfl_head.params."""
        return np.concatenate([self.weights.reshape(-1), self.bias]).astype(np.float32)

    def logits(self, features: np.ndarray) -> np.ndarray:
        return features.astype(np.float32) @ self.weights.T + self.bias

    def predict(self, features: np.ndarray) -> np.ndarray:
        return np.argmax(self.logits(features), axis=1)
