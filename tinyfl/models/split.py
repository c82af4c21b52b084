"""Split a classifier at its penultimate layer: frozen backbone + float dense head."""
from __future__ import annotations

from typing import Any

import numpy as np

from ._tf import keras
from .head import HeadParams


def split_head(model: Any) -> tuple[Any, HeadParams]:
    """(backbone, head) where the head is the model's last layer, a Dense on logits."""
    last = model.layers[-1]
    if not isinstance(last, keras.layers.Dense):
        raise ValueError(f"the last layer must be Dense (the head), got {type(last).__name__}")
    activation = getattr(last.activation, "__name__", str(last.activation))
    if activation not in ("linear", "softmax"):
        raise ValueError(f"the head must output logits (linear or softmax), not {activation}")
    kernel, bias = (np.asarray(v, dtype=np.float32) for v in last.get_weights())
    features = last.input
    if len(features.shape) != 2:
        raise ValueError(f"the head's input must be a flat feature vector, got {features.shape}")
    backbone = keras.Model(model.inputs, features, name=f"{model.name}_backbone")
    head = HeadParams(weights=np.ascontiguousarray(kernel.T), bias=bias)
    return backbone, head
