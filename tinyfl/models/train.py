"""Pretraining on the host: a few deterministic epochs, enough for a useful backbone."""
from __future__ import annotations

from typing import Any

import numpy as np

from ..data import Dataset
from ._tf import keras, tf


def set_seed(seed: int) -> None:
    keras.utils.set_random_seed(seed)
    try:
        tf.config.experimental.enable_op_determinism()
    except Exception:  # pragma: no cover - only fails if called after ops ran on some builds
        pass


def pretrain(
    model: Any,
    data: Dataset,
    *,
    epochs: int = 30,
    batch_size: int = 8,
    learning_rate: float = 3e-3,
    seed: int = 0,
) -> Any:
    """Adam on softmax cross-entropy over logits; returns the same (trained) model."""
    set_seed(seed)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    model.fit(
        data.x_train,
        data.y_train,
        epochs=epochs,
        batch_size=batch_size,
        shuffle=True,
        verbose=0,
    )
    return model


def accuracy(model: Any, x: np.ndarray, y: np.ndarray) -> float:
    logits = model.predict(x, verbose=0, batch_size=256)
    return float(np.mean(np.argmax(logits, axis=1) == y))
