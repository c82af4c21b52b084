"""Datasets in tinyfl's sensor layout: float32 windows (N, n_steps, n_channels), time-major."""
from .basicmotions import load_basic_motions
from .dataset import Dataset, encode_labels
from .digits import load_digits
from .synthetic import make_synthetic_windows
from .user import load_csv, load_npz

__all__ = [
    "Dataset",
    "encode_labels",
    "load_basic_motions",
    "load_csv",
    "load_digits",
    "load_npz",
    "make_synthetic_windows",
]
