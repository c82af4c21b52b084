"""A project's data, loaded and checked: windows of the declared shape, finite values, at least
two classes, every class present in the training windows. Needs numpy only."""
from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..data import Dataset, load_csv, load_npz
from ..data.dataset import encode_labels
from .config import Project, ProjectError

__all__ = ["load_project_data", "load_callable"]


def load_callable(project: Project, key: str, ref: str) -> Callable[..., Any]:
    """The function `ref` ("file.py:name", relative to the project) names."""
    file, _, name = ref.partition(":")
    path = project.resolve(file)
    spec = importlib.util.spec_from_file_location(f"tinyfl_project_{path.stem}", path)
    if spec is None or spec.loader is None:
        raise ProjectError(f"{key}: cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # noqa: BLE001 - the user's file: report it in one line
        raise ProjectError(f"{key}: importing {path.name} failed: {type(exc).__name__}: {exc}") from exc
    func = getattr(module, name, None)
    if not callable(func):
        raise ProjectError(f"{key}: {path.name} has no function {name!r}")
    return func


def load_project_data(project: Project) -> Dataset:
    spec = project.data
    try:
        if spec.npz:
            ds = load_npz(project.resolve(spec.npz), test_fraction=spec.test_fraction)
        elif spec.csv:
            ds = load_csv(project.resolve(spec.csv),
                          project.resolve(spec.csv_test) if spec.csv_test else None,
                          sample_shape=spec.window, test_fraction=spec.test_fraction)
        else:
            ds = _from_loader(project)
    except ProjectError:
        raise
    except (ValueError, OSError, KeyError) as exc:
        raise ProjectError(f"data: {exc}") from exc
    return check_dataset(project, ds)


def _from_loader(project: Project) -> Dataset:
    func = load_callable(project, "data.loader", project.data.loader)
    try:
        out = func()
    except Exception as exc:  # noqa: BLE001 - the user's loader: one line
        raise ProjectError(f"data.loader: {type(exc).__name__}: {exc}") from exc
    if isinstance(out, Dataset):
        return out
    if not (isinstance(out, tuple) and len(out) == 4):
        raise ProjectError("data.loader: must return (x_train, y_train, x_test, y_test) or a Dataset")
    x_train, y_train, x_test, y_test = (np.asarray(a) for a in out)
    if np.issubdtype(y_train.dtype, np.integer) and np.issubdtype(y_test.dtype, np.integer):
        k = int(max(y_train.max(initial=0), y_test.max(initial=0))) + 1
        names = tuple(str(i) for i in range(k))
        yi_train, yi_test = y_train.astype(np.int64), y_test.astype(np.int64)
    else:
        yi_train, yi_test, names = encode_labels(y_train, y_test)
    return Dataset(np.ascontiguousarray(x_train, dtype=np.float32), yi_train,
                   np.ascontiguousarray(x_test, dtype=np.float32), yi_test, names)


def check_dataset(project: Project, ds: Dataset) -> Dataset:
    steps, channels = project.window
    shaped = []
    for name in ("x_train", "x_test"):
        x = getattr(ds, name)
        if x.shape[1:] not in ((steps, channels), (steps * channels,)) and not (
                channels == 1 and x.shape[1:] == (steps,)):
            raise ProjectError(f"data: {name} samples have shape {tuple(x.shape[1:])}, "
                               f"data.window says [{steps}, {channels}]")
        bad = int(np.count_nonzero(~np.isfinite(x)))
        if bad:
            raise ProjectError(f"data: {name} holds {bad} NaN or infinite values")
        if len(x) == 0:
            raise ProjectError(f"data: {name} is empty")
        shaped.append(np.ascontiguousarray(x.reshape(len(x), steps, channels)))
    names = ds.class_names
    if project.data.class_names:
        if len(project.data.class_names) < len(names):
            raise ProjectError(f"data.class_names names {len(project.data.class_names)} classes, "
                               f"the labels use {len(names)}")
        names = tuple(project.data.class_names)
    present = np.unique(ds.y_train)
    if len(names) < 2 or len(present) < 2:
        raise ProjectError(f"data: the training windows hold {len(present)} class(es); "
                           "a classifier needs at least 2")
    if len(names) > 64:
        raise ProjectError(f"data: {len(names)} classes; a device head holds at most 64")
    missing = sorted(set(range(len(names))) - set(int(v) for v in present))
    if missing:
        raise ProjectError(f"data: class(es) {', '.join(names[i] for i in missing)} have no "
                           "training windows")
    return Dataset(shaped[0], ds.y_train, shaped[1], ds.y_test, names)
