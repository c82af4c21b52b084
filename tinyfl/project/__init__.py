"""A user's own project: their model, data, privacy parameters and fleet in one TOML file.

    from tinyfl.project import load_project, prepare_project
    project = load_project("tinyfl.toml", ["dp.noise_multiplier=2"])   # validated, no TensorFlow
    data, backbone, firmware_config = prepare_project(project)         # trains/quantizes once, cached
"""
from __future__ import annotations

from typing import Any, Callable

from .config import PROJECT_FILE, DataSpec, ModelSpec, Project, ProjectError, check_budget, load_project
from .scaffold import init_project

__all__ = ["PROJECT_FILE", "DataSpec", "ModelSpec", "Project", "ProjectError", "check_budget",
           "advise", "demo_options", "init_project", "load_project", "prepare_project", "project_parts"]


def prepare_project(project: Project, say: Callable[[str], None] = lambda _m: None) -> tuple[Any, Any, Any]:
    """(Dataset, Backbone, FirmwareConfig) for the project: its data checked, its model split
    into the int8 backbone (generated C) and the pretrained head the run starts from."""
    data, _artifacts, backbone, config = project_parts(project, say)
    return data, backbone, config


def project_parts(project: Project, say: Callable[[str], None] = lambda _m: None) -> tuple[Any, Any, Any, Any]:
    """(Dataset, Artifacts, Backbone, FirmwareConfig): prepare_project plus the model artefacts."""
    from ..firmware_config import FirmwareConfig
    from .data import load_project_data
    from .model import project_artifacts, project_backbone

    data = load_project_data(project)
    artifacts = project_artifacts(project, data, say)
    backbone = project_backbone(project, artifacts, say)
    steps, channels = project.window
    config = FirmwareConfig(n_classes=len(data.class_names), n_features=backbone.n_features,
                            input_channels=channels, input_steps=steps,
                            samples_per_round=project.samples_per_round, dp=project.dp)
    return data, artifacts, backbone, config


def demo_options(project: Project, **overrides: Any) -> Any:
    """tinyfl.demo.DemoOptions for the project's [emulate], [fleet] and [dp] (overrides win)."""
    from ..demo import DemoOptions

    fleet, emulate = project.fleet.fleet, project.fleet.emulate
    values: dict[str, Any] = dict(
        rounds=fleet.rounds, lr=fleet.lr, local_epochs=fleet.local_epochs,
        batch_size=fleet.batch_size, deadline_s=fleet.deadline_s,
        samples_per_round=project.samples_per_round, dp=project.dp, project=project)
    if emulate is not None:
        values.update(board=emulate.board, n=emulate.n, seed=emulate.seed)
    values.update({k: v for k, v in overrides.items() if v is not None})
    return DemoOptions(**values)


def advise(project: Project, data: Any, backbone: Any, config: Any, *, devices: int, rounds: int,
           lr: float, local_epochs: int, batch_size: int, server_lr: float = 1.0) -> Any:
    """The pre-run utility estimate (tinyfl.project.advice) on the project's own features."""
    from .advice import estimate_utility

    return estimate_utility(
        backbone.features(data.x_train), data.y_train, backbone.features(data.x_test), data.y_test,
        backbone.initial_head, n_classes=config.n_classes, devices=devices, rounds=rounds,
        samples_per_round=config.samples_per_round, lr=lr, local_epochs=local_epochs,
        batch_size=batch_size, server_lr=server_lr, clip=config.dp.clip,
        grid_bits=config.dp.grid_bits, noise_multiplier=config.dp.noise_multiplier)
