"""Backbones a firmware image can be built with, paired with the host's bit-identical copy.

The host needs the same feature extractor as the device to evaluate a head on test data: the
statistics extractor has a float32 Python model; the generated int8 CNN runs on the host as the
very C the device runs (compiled natively), so both sides agree bit for bit.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Callable

import numpy as np

__all__ = ["Backbone", "stats_backbone", "cnn_backbone", "BACKBONES"]

BACKBONES = ("stats", "cnn")


@dataclass
class Backbone:
    name: str
    n_features: int
    model_hash: int
    features: Callable[[np.ndarray], np.ndarray]  # (n, steps, channels) -> (n, n_features)
    model_sources: list[Path] | None = None  # None: firmware/tinyfl_model_stats.c
    initial_head: np.ndarray | None = None  # flat params (W then b), or None for a random head
    note: str = ""
    defines: dict[str, object] = field(default_factory=dict)  # firmware build switches


def stats_backbone(n_channels: int) -> Backbone:
    """Per-channel mean, std, min and max: fixed, not learned (the seam's stand-in)."""
    from .device_model.features import MODEL_HASH, stats_feature_count, stats_features

    return Backbone("stats", stats_feature_count(n_channels), MODEL_HASH, stats_features,
                    note="fixed per-channel statistics (mean, std, min, max)")


def cnn_backbone(dataset: str = "basic_motions", *, progress: Callable[[str], None] | None = None) -> Backbone:
    (progress or (lambda _m: None))(f"pretraining and quantizing the reference {dataset} CNN (TensorFlow)")
    return _cnn_backbone(dataset)


@lru_cache(maxsize=4)
def _cnn_backbone(dataset: str) -> Backbone:
    """The reference 1D CNN pretrained on the host, int8-quantized and generated as C.

    Only the backbone is pretrained knowledge the devices start from; the head they fine-tune
    starts from a small random init so that the federated rounds have something to learn.
    """
    from .codegen import generate
    from .codegen.host import build_host_model, run_host_model
    from .models import build_reference
    from .paths import build_dir

    artifacts, _ = build_reference(dataset)
    generated = generate(artifacts.tflite, name=dataset)
    out_dir = build_dir() / "model" / f"{dataset}-{generated.model_hash:08x}"
    generated.write(out_dir)
    exe = build_host_model(generated)
    feature_len = generated.feature_len

    def features(windows: np.ndarray) -> np.ndarray:
        x = np.asarray(windows, dtype=np.float32).reshape(len(windows), -1)
        return run_host_model(exe, x, feature_len)

    sources = sorted(p for p in out_dir.glob("*.c")) + [Path(p) for p in generated.kernel_sources]
    return Backbone("cnn", feature_len, generated.model_hash, features, model_sources=sources,
                    note=(f"int8 CNN, {generated.macs} MACs, arena {generated.arena_bytes} B, "
                          f"int8 accuracy {artifacts.int8_accuracy:.3f} "
                          f"(float {artifacts.float_accuracy:.3f})"),
                    defines={"TINYFL_KERNELS_OPTIMIZED": 1})
