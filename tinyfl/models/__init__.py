"""Reference models and the Keras -> int8 backbone + float head pipeline.

TensorFlow is imported lazily (only by the functions that build, train or convert models), so
importing this package stays cheap.
"""
from __future__ import annotations

from typing import Any

from .pipeline import REFERENCE_MODELS, Artifacts, build_from_model, build_reference, int8_features
from .head import HeadParams

__all__ = [
    "REFERENCE_MODELS",
    "Artifacts",
    "HeadParams",
    "basic_motions_cnn",
    "build_from_model",
    "build_reference",
    "convert_int8",
    "digits_cnn",
    "int8_features",
    "split_head",
]


def __getattr__(name: str) -> Any:
    if name in ("basic_motions_cnn", "digits_cnn"):
        from . import reference

        return getattr(reference, name)
    if name == "convert_int8":
        from .convert import convert_int8

        return convert_int8
    if name == "split_head":
        from .split import split_head

        return split_head
    raise AttributeError(name)
