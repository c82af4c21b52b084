"""`tinyfl init`: scaffold a project (registered on the main app by tinyfl.cli)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer
from rich.console import Console

console = Console(stderr=True)


def init(
    folder: Path = typer.Argument(Path("."), help="folder for the new project (created if missing)"),
    name: Optional[str] = typer.Option(None, help="project name (default: the folder's name)"),
    window: List[int] = typer.Option([48, 3], "--window", help="steps and channels of the example windows (give it twice)"),
    classes: List[str] = typer.Option(["still", "wave", "shake"], "--class", help="class names of the example data (repeat)"),
    force: bool = typer.Option(False, help="overwrite an existing project's files"),
    fmt: str = typer.Option("text", "--format", help="text or json"),
) -> None:
    """Scaffold a project: a commented tinyfl.toml, example data in data/, a small Keras model."""
    from . import ProjectError, init_project

    if len(window) != 2:
        console.print("[red]init: --window takes two values: --window STEPS --window CHANNELS[/]")
        raise typer.Exit(2)
    try:
        path = init_project(folder, name=name, steps=window[0], channels=window[1],
                            class_names=tuple(classes), force=force)
    except ProjectError as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(2)
    if fmt == "json":
        print(json.dumps({"project": str(path)}))
        return
    console.print(f"project written: {path}")
    console.print(f"next: tinyfl build --project {folder}   then   tinyfl demo --project {folder}")


def capture(
    port: str = typer.Option(..., "--port", help="the board's serial port (or a pyserial URL)"),
    label: str = typer.Option(..., "--label", help="the class of what you are about to record (a name or an index)"),
    windows: int = typer.Option(1, help="windows to record"),
    project: Optional[Path] = typer.Option(None, "--project", help="a project: its class names"),
) -> None:
    """On the board owner's machine: record labelled windows on the board (the server never
    learns the labels; they stay on the board until its next round)."""
    from ..platformio import CaptureError, send_capture

    names = None
    if project is not None:
        from . import load_project

        names = list(load_project(project).data.class_names) or None
    if not 1 <= windows <= 255:
        console.print("[red]capture: --windows must be in 1..255[/]")
        raise typer.Exit(2)
    try:
        reply = send_capture(port, label, windows, labels=names)
    except ValueError as exc:  # the label: a usage error
        console.print(f"[red]capture: {exc}[/]", soft_wrap=True)
        raise typer.Exit(2)
    except CaptureError as exc:  # the board or the link
        console.print(f"[red]capture: {exc}[/]", soft_wrap=True)
        raise typer.Exit(1)
    console.print(f"board: {reply.text}")


def register(app: typer.Typer) -> None:
    app.command("init")(init)
    app.command("capture")(capture)
