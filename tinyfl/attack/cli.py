"""`tinyfl attack RUN_DIR`: attack a recorded run from its record alone.

Register on the main typer app with `register(app)` (tinyfl/cli.py).

Usage errors (a folder that is not a run, auxiliary data without a backbone to compute its
features, a project whose head does not fit the run) are one line and exit 2, checked before
TensorFlow or a compiler starts.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, List, Optional

import numpy as np
import typer

__all__ = ["attack", "register", "load_aux", "AUX_NAMES"]

AUX_NAMES = ("none", "basicmotions", "digits")


class UsageError(ValueError):
    """A command line that cannot be attacked: one line, exit 2."""


def _check_aux_spec(spec: str) -> None:
    if spec in AUX_NAMES or (spec.endswith(".npz") and Path(spec).is_file()):
        return
    raise UsageError(f"--aux must be none, basicmotions, digits or an .npz file with x and y, not {spec!r}")


def load_aux(spec: str) -> tuple[np.ndarray, np.ndarray] | None:
    """Auxiliary data by name: none, basicmotions or digits (the held-out split, never a
    device's own data), or an .npz file with arrays x and y."""
    if spec == "none":
        return None
    if spec == "basicmotions":
        from ..data import load_basic_motions

        d = load_basic_motions()
        return d.x_test, d.y_test
    if spec == "digits":
        from ..data import load_digits

        d = load_digits()
        return d.x_test, d.y_test
    path = Path(spec)
    if path.suffix == ".npz" and path.exists():
        try:
            with np.load(path, allow_pickle=False) as data:
                return data["x"].astype(np.float32), data["y"].astype(np.int64)
        except (KeyError, ValueError, OSError) as exc:
            raise UsageError(f"--aux {spec}: needs arrays x and y ({exc})") from exc
    raise typer.BadParameter(f"aux must be none, basicmotions, digits or an .npz file with x and y, not {spec!r}")


def check_run(run_dir: Path, *, truth: bool) -> dict[str, Any]:
    """The run's config.json when `run_dir` holds a recorded run (and, for --truth, the shards
    of its emulated boards); UsageError otherwise."""
    if not run_dir.is_dir():
        raise UsageError(f"{run_dir}: no such folder (give a run tinyfl demo or serve recorded)")
    if not (run_dir / "frames.jsonl").is_file() or not (run_dir / "config.json").is_file():
        raise UsageError(f"{run_dir} is not a recorded run (no frames.jsonl and config.json): give a folder "
                         "tinyfl demo or serve recorded")
    try:
        config = json.loads((run_dir / "config.json").read_text())
    except (OSError, ValueError) as exc:
        raise UsageError(f"{run_dir}/config.json is damaged: {exc}") from exc
    if not isinstance(config, dict):
        raise UsageError(f"{run_dir}/config.json is not a run's configuration")
    if truth and not any((run_dir / "boards").glob("shard-*.bin")):
        raise UsageError(f"--truth needs the shards of an emulated run ({run_dir}/boards/shard-*.bin); "
                         "this run has none")
    return config


def run_head_shape(config: dict[str, Any]) -> tuple[int, int] | None:
    """(classes, features) of the head the run's server sent, from its config.json."""
    head = config.get("head")
    if isinstance(head, dict) and isinstance(head.get("n_classes"), int) and isinstance(head.get("n_features"), int):
        return head["n_classes"], head["n_features"]
    return None


def _devices_run_stats(run_dir: Path) -> bool:
    """Whether the devices announce the public statistics extractor (what --backbone auto uses)."""
    from ..device_model.features import MODEL_HASH
    from ..fleet import RunReader

    hashes = {h.get("model_hash") for hs in RunReader(run_dir).hellos.values() for h in hs}
    return hashes == {MODEL_HASH}


def _project_knowledge(run_dir: Path, config: dict[str, Any], project_path: Path, sets: list[str],
                       say: Any, invert: bool) -> tuple[Any, Any, tuple[np.ndarray, np.ndarray] | None, dict[str, Any]]:
    """(backbone, float backbone to invert or None, auxiliary data, knowledge notes) from a
    project: its int8 backbone's host copy, its float Keras backbone when that is the int8 one's
    source (tinyfl.audit.subject.float_backbone), its held-out windows. The run's head must have
    the project's shape."""
    import os

    from ..audit.subject import RAW_INPUT_NOTE, float_backbone
    from ..project import load_project, prepare_project
    from ..project.data import load_project_data

    project = load_project(project_path, sets)
    os.environ["TINYFL_BUILD_DIR"] = str(project.build_dir)
    shape = run_head_shape(config)
    classes = len(load_project_data(project).class_names)  # numpy only: before any model work
    if shape is not None and shape[0] != classes:
        raise UsageError(f"the run's head has {shape[0]} classes, project {project.name} has {classes}: "
                         "not a run of this project")
    data, backbone, _fw = prepare_project(project, say)
    if shape is not None and shape[1] != backbone.n_features:
        raise UsageError(f"the run's head takes {shape[1]} features, project {project.name}'s backbone gives "
                         f"{backbone.n_features}: not a run of this project")
    invert_with, note = float_backbone(project) if invert else (None, "raw input not attacked (--no-invert)")
    notes = {"backbone": f"project {project.name}: int8 backbone (host copy)",
             "aux": f"project {project.name}: {len(data.y_test)} held-out windows",
             "raw_input": note}
    return backbone, invert_with, (data.x_test, data.y_test), notes


def _check_model(run_dir: Path, backbone: Any) -> str | None:
    """A warning when the devices announce another model than the attacker's backbone."""
    from ..fleet import RunReader

    hashes = {h.get("model_hash") for hs in RunReader(run_dir).hellos.values() for h in hs} - {None}
    if hashes and hashes != {backbone.model_hash}:
        return (f"warning: the devices announce model hash {', '.join(f'{h:#010x}' for h in sorted(hashes))}, "
                f"the attacker's backbone is {backbone.model_hash:#010x}: its features are not the devices'")
    return None


def attack(
    run_dir: Path = typer.Argument(..., help="a recorded run (tinyfl demo / serve --record)"),
    aux: Optional[str] = typer.Option(None, help="public labelled data: none, basicmotions, digits or FILE.npz "
                                                 "(x, y); default none, or with --project its held-out windows"),
    backbone: str = typer.Option("auto", help="auto (the statistics extractor when the devices report it), "
                                              "cnn (the demo's int8 CNN: features only), none"),
    project: Optional[Path] = typer.Option(None, "--project", help="the run's project: the attacker knows its "
                                                                   "backbone and has its held-out windows"),
    sets: List[str] = typer.Option([], "--set", help='override a project key, e.g. "data.npz=other.npz"'),
    truth: bool = typer.Option(False, help="score against the emulated boards' shards (ground truth)"),
    invert: bool = typer.Option(True, help="also recover raw inputs when the backbone allows it"),
    fmt: str = typer.Option("text", "--format", help="text or json (stdout is pure JSON)"),
) -> None:
    """Attack every update in a recorded run: labels, features, raw input; with --truth, scores
    next to the baselines that need no update."""
    try:
        _attack(run_dir, aux, backbone, project, sets, truth, invert, fmt)
    except UsageError as exc:
        typer.echo(f"tinyfl attack: {exc}", err=True)
        raise typer.Exit(2)


def _attack(run_dir: Path, aux: str | None, backbone: str, project: Path | None, sets: list[str],
            truth: bool, invert: bool, fmt: str) -> None:
    if fmt not in ("text", "json"):
        raise UsageError(f"--format must be text or json, not {fmt!r}")
    if backbone not in ("auto", "cnn", "none"):
        raise UsageError(f"--backbone must be auto, cnn or none, not {backbone!r}")
    if sets and project is None:
        raise UsageError("--set needs --project")
    if project is not None and backbone != "auto":
        raise UsageError("--backbone: with --project the attacker knows the project's backbone")
    if project is not None and aux not in (None, "none"):
        raise UsageError("--aux: with --project the auxiliary data is the project's held-out windows "
                         "(or --aux none)")
    if aux is not None:
        _check_aux_spec(aux)
    config = check_run(run_dir, truth=truth)
    wants_aux = aux not in (None, "none")
    if wants_aux and backbone == "none":
        raise UsageError("--aux needs a backbone to compute the auxiliary features: --backbone auto or cnn, "
                         "or --project")
    if wants_aux and backbone == "auto" and not _devices_run_stats(run_dir):
        raise UsageError("--aux needs the devices' backbone: they do not run the statistics extractor, so give "
                         "--backbone cnn (the demo's reference CNN) or --project P (a project's run)")

    from .report import attack_run

    say = (lambda m: typer.echo(m, err=True)) if fmt == "text" else (lambda _m: None)
    notes: dict[str, Any] = {}
    chosen: Any = None
    invert_with: Any = None
    aux_data: Any = None
    if project is not None:
        chosen, invert_with, aux_data, notes = _project_knowledge(run_dir, config, project, sets, say, invert)
        if aux == "none":
            aux_data, notes["aux"] = None, "none"
    else:
        if backbone == "cnn":
            from ..backbones import cnn_backbone

            chosen = cnn_backbone("basic_motions")
            shape = run_head_shape(config)
            if shape is not None and shape[1] != chosen.n_features:
                raise UsageError(f"the run's head takes {shape[1]} features, the demo's CNN gives "
                                 f"{chosen.n_features}: not a run of the reference CNN")
        aux_data = load_aux(aux or "none") if backbone != "none" else None
    warning = _check_model(run_dir, chosen) if chosen is not None else None
    if warning:
        say(warning)
    report = attack_run(run_dir, aux=aux_data, backbone=chosen, truth="shards" if truth else None,
                        invert=invert, invert_with=invert_with)
    report.knowledge.update(notes)
    if fmt == "json":
        typer.echo(json.dumps(report.to_dict(include_arrays=False), indent=2))
    else:
        typer.echo("\n".join(report.lines()))


def register(app: typer.Typer) -> None:
    app.command("attack")(attack)
