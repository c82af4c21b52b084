"""Code generation: an int8 .tflite backbone -> C that plugs into the firmware's backbone seam.

No TensorFlow import here: the flatbuffer is read with the schema module of `tflite-micro`.
"""
from .generate import (
    GENERATOR_FORMAT,
    GeneratedModel,
    StepInfo,
    UnsupportedModelError,
    generate,
    generate_to,
)
from .ops import SUPPORTED_OPS
from .planner import Buffer, Plan, plan_memory
from .report import BuildReport, build_report
from .tflite_reader import Model, ModelFormatError, Operator, Tensor, read_tflite

__all__ = [
    "GENERATOR_FORMAT",
    "SUPPORTED_OPS",
    "Buffer",
    "BuildReport",
    "GeneratedModel",
    "Model",
    "ModelFormatError",
    "Operator",
    "Plan",
    "StepInfo",
    "Tensor",
    "UnsupportedModelError",
    "build_report",
    "generate",
    "generate_to",
    "plan_memory",
    "read_tflite",
]
