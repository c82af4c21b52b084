"""User data from .npz or CSV files.

.npz: arrays `x_train`, `y_train`, `x_test`, `y_test` (optional `class_names`), or just `x`, `y`
which are then split with a fixed seed. x is (N, *sample_shape) in tinyfl's layout (time-major
for sensor windows).

CSV: one sample per row, the label in the first column, then the sample's values flattened in
tinyfl's layout (for a window: step 0's channels, step 1's channels, ...). A header row is
skipped when its first value cell is not a number. `sample_shape` gives the shape of one sample.
"""
from __future__ import annotations

import csv
from pathlib import Path
from typing import Sequence

import numpy as np

from .dataset import Dataset, encode_labels


def load_npz(path: Path | str, *, test_fraction: float = 0.25, seed: int = 0) -> Dataset:
    with np.load(Path(path), allow_pickle=False) as data:
        keys = set(data.files)
        if {"x_train", "y_train", "x_test", "y_test"} <= keys:
            x_train, y_train = data["x_train"], data["y_train"]
            x_test, y_test = data["x_test"], data["y_test"]
        elif {"x", "y"} <= keys:
            x_train, y_train, x_test, y_test = _split(data["x"], data["y"], test_fraction, seed)
        else:
            raise ValueError(
                f"{path}: expected arrays x_train/y_train/x_test/y_test or x/y, found {sorted(keys)}"
            )
        names = tuple(str(n) for n in data["class_names"]) if "class_names" in keys else None
    return _build(x_train, y_train, x_test, y_test, names)


def load_csv(
    train_path: Path | str,
    test_path: Path | str | None = None,
    *,
    sample_shape: Sequence[int],
    test_fraction: float = 0.25,
    seed: int = 0,
) -> Dataset:
    """Without test_path the rows of train_path are split with a fixed seed."""
    x, y = _read_csv(Path(train_path), tuple(sample_shape))
    if test_path is None:
        x_train, y_train, x_test, y_test = _split(x, y, test_fraction, seed)
    else:
        x_train, y_train = x, y
        x_test, y_test = _read_csv(Path(test_path), tuple(sample_shape))
    return _build(x_train, y_train, x_test, y_test, None)


def _read_csv(path: Path, sample_shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    n_values = int(np.prod(sample_shape))
    labels: list[str] = []
    rows: list[list[float]] = []
    with path.open(newline="") as fh:
        for line_no, row in enumerate(csv.reader(fh), start=1):
            if not row or all(not c.strip() for c in row):
                continue
            if line_no == 1 and not _is_number(row[1] if len(row) > 1 else ""):
                continue  # header
            if len(row) != n_values + 1:
                raise ValueError(
                    f"{path}:{line_no}: expected a label and {n_values} values, got {len(row)} cells"
                )
            labels.append(row[0].strip())
            rows.append([float(c) for c in row[1:]])
    if not rows:
        raise ValueError(f"{path}: no samples")
    x = np.asarray(rows, dtype=np.float32).reshape((-1, *sample_shape))
    return x, np.asarray(labels)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _split(
    x: np.ndarray, y: np.ndarray, test_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    if not 0.0 < test_fraction < 1.0:
        raise ValueError("test_fraction must be in (0, 1)")
    order = np.random.default_rng(seed).permutation(len(x))
    n_test = max(1, int(round(len(x) * test_fraction)))
    test, train = np.sort(order[:n_test]), np.sort(order[n_test:])
    return x[train], y[train], x[test], y[test]


def _build(
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_test: np.ndarray,
    y_test: np.ndarray,
    names: tuple[str, ...] | None,
) -> Dataset:
    for name, x in (("training", x_train), ("test", x_test)):
        bad = int(np.count_nonzero(~np.isfinite(np.asarray(x, dtype=np.float64))))
        if bad:
            raise ValueError(f"the {name} samples hold {bad} NaN or infinite values")
    if len(np.unique(np.asarray(y_train))) < 2:
        raise ValueError("the training samples hold fewer than 2 classes: a classifier needs at least 2")
    if names is not None:
        # Labels are already indices into the given class names.
        yi_train = np.asarray(y_train, dtype=np.int64)
        yi_test = np.asarray(y_test, dtype=np.int64)
    elif np.issubdtype(np.asarray(y_train).dtype, np.integer) and np.issubdtype(
        np.asarray(y_test).dtype, np.integer
    ):
        k = int(max(np.max(y_train), np.max(y_test))) + 1
        yi_train = np.asarray(y_train, dtype=np.int64)
        yi_test = np.asarray(y_test, dtype=np.int64)
        names = tuple(str(i) for i in range(k))
    else:
        yi_train, yi_test, names = encode_labels(np.asarray(y_train), np.asarray(y_test))
    return Dataset(
        x_train=np.ascontiguousarray(x_train, dtype=np.float32),
        y_train=yi_train,
        x_test=np.ascontiguousarray(x_test, dtype=np.float32),
        y_test=yi_test,
        class_names=names,
    )
