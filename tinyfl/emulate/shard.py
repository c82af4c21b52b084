"""A board's sample shard: the labelled sensor windows an emulated board's sensor hook replays.

File layout (little-endian):

    magic b"TFLS" | version u16 | n_samples u16 | input_len u16
    n_samples x ( label u8 | 3 pad bytes | float32[input_len] )

A window is time-major with interleaved channels: window[step * n_channels + channel], i.e. an
array of shape (n_steps, n_channels) flattened in C order. The board returns the samples in
order and wraps around after the last one, so every round finds samples (a real sensor returns
NO_SAMPLES when nothing new was collected).
"""
from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["SHARD_MAGIC", "SHARD_VERSION", "Shard", "read_shard", "write_shard"]

SHARD_MAGIC = b"TFLS"
SHARD_VERSION = 1
_HEADER = struct.Struct("<4sHHH")
_SAMPLE_HEAD = 4  # label + 3 pad bytes keep each window 4-byte aligned relative to its record


@dataclass(frozen=True)
class Shard:
    windows: np.ndarray  # (n_samples, input_len) float32
    labels: np.ndarray  # (n_samples,) uint8

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def input_len(self) -> int:
        return self.windows.shape[1]


def write_shard(path: Path | str, windows: np.ndarray, labels: np.ndarray) -> Path:
    """Write windows of shape (n, input_len) or (n, n_steps, n_channels) and their labels."""
    w = np.asarray(windows, dtype=np.float32)
    w = w.reshape(w.shape[0], -1) if w.ndim > 2 else w
    y = np.asarray(labels)
    if w.ndim != 2 or y.shape != (w.shape[0],):
        raise ValueError(f"windows {np.shape(windows)} and labels {np.shape(labels)} do not match")
    if not 1 <= w.shape[0] <= 0xFFFF or not 1 <= w.shape[1] <= 0xFFFF:
        raise ValueError("a shard holds 1..65535 samples of 1..65535 floats")
    if y.size and (y.min() < 0 or y.max() > 255):
        raise ValueError("labels must fit in a u8")
    if not np.all(np.isfinite(w)):
        raise ValueError("windows must be finite")
    records = np.zeros((w.shape[0], _SAMPLE_HEAD + 4 * w.shape[1]), dtype=np.uint8)
    records[:, 0] = y.astype(np.uint8)
    records[:, _SAMPLE_HEAD:] = w.astype("<f4").view(np.uint8).reshape(w.shape[0], -1)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(_HEADER.pack(SHARD_MAGIC, SHARD_VERSION, w.shape[0], w.shape[1]) + records.tobytes())
    return path


def read_shard(path: Path | str) -> Shard:
    data = Path(path).read_bytes()
    if len(data) < _HEADER.size:
        raise ValueError(f"{path}: too short for a shard header")
    magic, version, n, input_len = _HEADER.unpack_from(data)
    if magic != SHARD_MAGIC or version != SHARD_VERSION:
        raise ValueError(f"{path}: not a version {SHARD_VERSION} sample shard")
    record = _SAMPLE_HEAD + 4 * input_len
    if len(data) != _HEADER.size + n * record:
        raise ValueError(f"{path}: {len(data)} bytes, expected {_HEADER.size + n * record}")
    body = np.frombuffer(data, dtype=np.uint8, offset=_HEADER.size).reshape(n, record)
    labels = body[:, 0].copy()
    windows = body[:, _SAMPLE_HEAD:].copy().view("<f4").astype(np.float32).reshape(n, input_len)
    return Shard(windows=windows, labels=labels)
