"""`tinyfl attack RUN_DIR`: attack a recorded run from its record alone.

Register on the main typer app with `register(app)` (tinyfl/cli.py).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import typer

__all__ = ["attack", "register", "load_aux"]


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
        with np.load(path) as data:
            return data["x"].astype(np.float32), data["y"].astype(np.int64)
    raise typer.BadParameter(f"aux must be none, basicmotions, digits or an .npz file with x and y, not {spec!r}")


def attack(
    run_dir: Path = typer.Argument(..., help="a recorded run (tinyfl demo / serve --record)"),
    aux: str = typer.Option("none", help="public labelled data: none, basicmotions, digits or FILE.npz (x, y)"),
    backbone: str = typer.Option("auto", help="auto (the statistics extractor when the devices report it), "
                                              "cnn (the demo's int8 CNN: features only), none"),
    truth: bool = typer.Option(False, help="score against the emulated boards' shards (ground truth)"),
    invert: bool = typer.Option(True, help="also recover raw inputs when the backbone allows it"),
    fmt: str = typer.Option("text", "--format", help="text or json (stdout is pure JSON)"),
) -> None:
    """Attack every update in a recorded run: labels, features, raw input; with --truth, scores
    next to the baselines that need no update."""
    from .report import attack_run

    chosen: Any = None
    if backbone == "cnn":
        from ..backbones import cnn_backbone

        chosen = cnn_backbone("basic_motions")
    elif backbone not in ("auto", "none"):
        raise typer.BadParameter("backbone must be auto, cnn or none")
    aux_data = load_aux(aux)
    if backbone == "none":
        aux_data = None
    report = attack_run(run_dir, aux=aux_data, backbone=chosen, truth="shards" if truth else None,
                        invert=invert)
    if fmt == "json":
        typer.echo(json.dumps(report.to_dict(include_arrays=False), indent=2))
    else:
        typer.echo("\n".join(report.lines()))


def register(app: typer.Typer) -> None:
    app.command("attack")(attack)
