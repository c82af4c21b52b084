"""A project's model as a firmware needs it: the int8 backbone (.tflite), the pretrained float
head, and the backbone generated as C with its bit-identical host copy.

Artifacts are cached in the project's build folder under a hash of everything they depend on
(model file bytes, data, model settings), so only the first command pays for TensorFlow.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Callable

import numpy as np

from ..backbones import Backbone
from ..data import Dataset
from ..models.head import HeadParams
from .config import Project, ProjectError
from .data import load_callable

__all__ = ["project_artifacts", "project_backbone"]

Say = Callable[[str], None]


def _digest(project: Project, data: Dataset) -> str:
    h = hashlib.sha256()
    spec = project.model
    h.update(json.dumps({"kind": spec.kind, "epochs": spec.epochs, "batch": spec.batch_size,
                         "seed": spec.seed, "window": list(project.window)}).encode())
    for rel in (spec.builder.partition(":")[0], spec.keras, spec.tflite, spec.head):
        if rel:
            path = project.resolve(rel)
            files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
            for f in files:
                h.update(f.read_bytes())
    if spec.builder:
        h.update(spec.builder.encode())
    for a in (data.x_train, data.y_train, data.x_test, data.y_test):
        h.update(np.ascontiguousarray(a).tobytes())
    h.update("\0".join(data.class_names).encode())
    return h.hexdigest()[:16]


def project_artifacts(project: Project, data: Dataset, say: Say = lambda _m: None):
    """The project's Artifacts (tinyfl.models.pipeline), built once and cached."""
    from ..models.pipeline import Artifacts

    cache = project.build_dir / "model" / f"artifacts-{_digest(project, data)}"
    if (cache / "meta.json").exists():
        return Artifacts.load(cache)
    spec = project.model
    if spec.tflite:
        artifacts = _from_tflite(project, data)
    else:
        artifacts = _from_keras(project, data, say)
    artifacts.save(cache)
    return artifacts


def _from_tflite(project: Project, data: Dataset):
    from ..codegen.tflm import tflm_outputs
    from ..models.pipeline import Artifacts

    tflite = project.resolve(project.model.tflite).read_bytes()
    try:
        with np.load(project.resolve(project.model.head), allow_pickle=False) as h:
            head = HeadParams(weights=np.asarray(h["weights"], dtype=np.float32),
                              bias=np.asarray(h["bias"], dtype=np.float32))
    except (KeyError, ValueError, OSError) as exc:
        raise ProjectError(f"model.head: needs arrays 'weights' and 'bias' ({exc})") from exc
    if head.weights.ndim != 2 or head.bias.shape != (head.weights.shape[0],):
        raise ProjectError(f"model.head: weights {head.weights.shape} and bias {head.bias.shape} "
                           "do not form a dense head (classes x features, classes)")
    if head.n_classes != len(data.class_names):
        raise ProjectError(f"model.head has {head.n_classes} classes, the data {len(data.class_names)}")
    feats = tflm_outputs(tflite, data.x_test)
    if feats.shape[1] != head.n_features:
        raise ProjectError(f"model.tflite gives {feats.shape[1]} features, model.head expects "
                           f"{head.n_features}")
    acc = float(np.mean(head.predict(feats) == data.y_test))
    return Artifacts(name=project.name, tflite=tflite, head=head, class_names=data.class_names,
                     sample_shape=data.sample_shape, float_accuracy=float("nan"), int8_accuracy=acc)


def _from_keras(project: Project, data: Dataset, say: Say):
    from ..models.pipeline import build_from_model
    from ..models.train import set_seed

    spec = project.model
    say("loading TensorFlow")
    from ..models._tf import keras

    set_seed(spec.seed)
    if spec.builder:
        build = load_callable(project, "model.builder", spec.builder)
        try:
            model = build(tuple(project.window), len(data.class_names))
        except Exception as exc:  # noqa: BLE001 - the user's code: one line
            raise ProjectError(f"model.builder: {type(exc).__name__}: {exc}") from exc
        if not isinstance(model, keras.Model):
            raise ProjectError(f"model.builder must return a keras.Model, got {type(model).__name__}")
    else:
        try:
            model = keras.models.load_model(project.resolve(spec.keras), compile=False)
        except Exception as exc:  # noqa: BLE001 - a damaged or foreign file: one line
            raise ProjectError(f"model.keras: cannot load {spec.keras}: {exc}") from exc
    out = model.outputs[0].shape
    if out[-1] != len(data.class_names):
        raise ProjectError(f"the model outputs {out[-1]} classes, the data has {len(data.class_names)}")
    if spec.epochs:
        say(f"pretraining {project.name} for {spec.epochs} epochs on {len(data.x_train)} windows")
    try:
        artifacts, _ = build_from_model(model, data, name=project.name, epochs=spec.epochs,
                                        batch_size=spec.batch_size, seed=spec.seed,
                                        train=spec.epochs > 0)
    except ValueError as exc:
        raise ProjectError(f"model: {exc}") from exc
    return artifacts


def project_backbone(project: Project, artifacts, say: Say = lambda _m: None) -> Backbone:
    """The generated backbone C (into the project's build folder) and its host copy."""
    from ..codegen import generate
    from ..codegen.generate import UnsupportedModelError
    from ..codegen.host import build_host_model, run_host_model

    say("generating the backbone's C")
    try:
        generated = generate(artifacts.tflite, name=project.name.replace("-", "_"))
    except UnsupportedModelError as exc:
        raise ProjectError(f"model: {exc}") from exc
    out_dir = project.build_dir / "model" / f"{project.name}-{generated.model_hash:08x}"
    generated.write(out_dir)
    exe = build_host_model(generated)
    feature_len = generated.feature_len
    if feature_len != artifacts.head.n_features:
        raise ProjectError(f"the backbone gives {feature_len} features, the head expects "
                           f"{artifacts.head.n_features}")

    def features(windows: np.ndarray) -> np.ndarray:
        x = np.asarray(windows, dtype=np.float32).reshape(len(windows), -1)
        return run_host_model(exe, x, feature_len)

    sources = sorted(out_dir.glob("*.c")) + [Path(p) for p in generated.kernel_sources]
    return Backbone(project.name, feature_len, generated.model_hash, features, model_sources=sources,
                    initial_head=artifacts.head.flat(),
                    note=(f"int8 backbone, {generated.macs} MACs, arena {generated.arena_bytes} B, "
                          f"int8 accuracy {artifacts.int8_accuracy:.3f}"),
                    defines={"TINYFL_KERNELS_OPTIMIZED": 1})
