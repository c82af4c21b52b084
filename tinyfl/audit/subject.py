"""What the audit attacks and trains on when it audits a user's project (tinyfl.project): the
project's training windows on the devices, its held-out windows as the attacker's auxiliary
data, its int8 backbone (the host's bit-exact copy of the generated C) and its pretrained head,
the head its server sends first.

Raw-input inversion needs gradients through the backbone: the int8 C has none, so a project's
audit scores labels and features and says that raw input was not attacked (`RAW_INPUT_NOTE`).
`tinyfl attack --project` inverts through the float Keras backbone when it is the int8 one's
exact source and costs no training: a project with `keras = "model.keras"` and `epochs = 0`
(`float_backbone`). Without a project the audit keeps its reference data, BasicMotions
(`DEFAULT_DATA`).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

__all__ = ["DEFAULT_DATA", "RAW_INPUT_NOTE", "ProjectSubject", "float_backbone", "project_subject"]

DEFAULT_DATA = "BasicMotions (40 training and 40 held-out smartwatch IMU windows, 4 classes)"
RAW_INPUT_NOTE = ("raw input not attacked: the project's backbone is int8 C without gradients to "
                  "invert, and its float Keras model is kept only for keras = ... with epochs = 0")
FLOAT_NOTE = "raw input inverted through the float Keras backbone of model.keras (the int8 backbone's source)"


@dataclass(frozen=True)
class ProjectSubject:
    """A loaded project as the audit uses it."""

    name: str
    path: str  # the project's tinyfl.toml
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: tuple[str, ...]
    backbone: Any  # tinyfl.backbones.Backbone: features (host copy), model_sources, defines
    initial_head: np.ndarray  # the pretrained head (W row-major, then b), float32

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    def describe(self) -> dict[str, Any]:
        steps, channels = self.x_train.shape[1:3]
        return {"project": self.name, "path": self.path,
                "data": (f"project {self.name}: {len(self.y_train)} training and {len(self.y_test)} held-out "
                         f"windows of {steps} steps x {channels} channels, {self.n_classes} classes"),
                "backbone": f"the project's int8 backbone ({self.backbone.n_features} features, host copy)",
                "raw_input": RAW_INPUT_NOTE}


@lru_cache(maxsize=2)
def project_subject(path: str, sets: tuple[str, ...] = ()) -> ProjectSubject:
    """The project at `path` with `sets` overrides, prepared once per process (its model is
    cached in its build folder, so only a first command pays for TensorFlow)."""
    from ..project import load_project, prepare_project

    project = load_project(path, list(sets))
    data, backbone, _config = prepare_project(project)
    return ProjectSubject(project.name, str(project.path), np.asarray(data.x_train, dtype=np.float32),
                          np.asarray(data.y_train, dtype=np.int64), np.asarray(data.x_test, dtype=np.float32),
                          np.asarray(data.y_test, dtype=np.int64), tuple(data.class_names), backbone,
                          np.asarray(backbone.initial_head, dtype=np.float32))


def float_backbone(project: Any) -> tuple[Any | None, str]:
    """(the float Keras backbone, a note) for a project whose int8 backbone was quantized from
    `model.keras` as given (epochs = 0): its gradients drive raw-input inversion. (None, why
    not) for any other project: a trained model is not kept, and retraining would not give
    the same weights."""
    spec = project.model
    if not (spec.keras and spec.epochs == 0):
        return None, RAW_INPUT_NOTE
    from ..models._tf import keras
    from ..models.split import split_head

    model = keras.models.load_model(project.resolve(spec.keras), compile=False)
    return split_head(model)[0], FLOAT_NOTE
