"""The one place tinyfl imports TensorFlow (quietly, and only when a model is built)."""
from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # keep C++ logs (even tf.data notices) off the console

import tensorflow as tf  # noqa: E402

keras = tf.keras

__all__ = ["tf", "keras"]
