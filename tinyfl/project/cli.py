"""`tinyfl init`: scaffold a project (registered on the main app by tinyfl.cli)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer
from rich.console import Console
from rich.markup import escape

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
        console.print(f"[red]{escape(str(exc))}[/]")
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
    from ..platformio.capture import resolve_label

    names = None
    if project is not None:
        from . import load_project

        names = list(load_project(project).data.class_names) or None
    if not 1 <= windows <= 255:
        console.print("[red]capture: --windows must be in 1..255[/]")
        raise typer.Exit(2)
    try:
        resolve_label(label, names)
    except (CaptureError, ValueError) as exc:  # the label: a usage error, before any link
        console.print(f"[red]capture: {escape(str(exc))}[/]", soft_wrap=True)
        raise typer.Exit(2)
    try:
        reply = send_capture(port, label, windows, labels=names)
    except CaptureError as exc:  # the board or the link
        console.print(f"[red]capture: {escape(str(exc))}[/]", soft_wrap=True)
        raise typer.Exit(1)
    console.print(f"board: {reply.text}")


def flash(
    project_dir: Path = typer.Argument(..., help="a PlatformIO project written by `tinyfl build --board nano33ble|esp32`"),
    env: Optional[str] = typer.Option(None, "--env", "-e", help="the board variant (an env of its platformio.ini, e.g. nano33ble_rev2)"),
    port: Optional[str] = typer.Option(None, "--port", help="upload port (default: PlatformIO finds it)"),
) -> None:
    """Build and upload a generated PlatformIO project to a board (`pio run -t upload`)."""
    import subprocess

    from ..platformio import PioError, find_pio

    ini = project_dir / "platformio.ini"
    if not ini.is_file():
        console.print(f"[red]flash: {escape(str(project_dir))} has no platformio.ini (write one with tinyfl build --board ...)[/]",
                      soft_wrap=True)
        raise typer.Exit(2)
    try:
        pio = find_pio()
    except PioError as exc:
        console.print(f"[red]flash: {escape(str(exc))}[/]", soft_wrap=True)
        raise typer.Exit(2)
    cmd = [pio, "run", "-d", str(project_dir), "-t", "upload"]
    if env:
        cmd += ["-e", env]
    if port:
        cmd += ["--upload-port", port]
    console.print("running: " + " ".join(cmd), soft_wrap=True)
    code = subprocess.run(cmd).returncode
    if code != 0:
        console.print(f"[red]flash: pio exited {code}[/]")
        raise typer.Exit(1)


def devices(
    ble: bool = typer.Option(False, help="also scan for BLE devices advertising the tinyfl service (bleak)"),
    seconds: float = typer.Option(5.0, help="BLE scan time"),
    fmt: str = typer.Option("text", "--format", help="text or json"),
) -> None:
    """List serial ports (and, with --ble, BLE devices advertising the tinyfl service)."""
    from serial.tools import list_ports

    found = [{"link": p.device, "kind": "serial", "description": p.description or "",
              "usb": f"{p.vid:04x}:{p.pid:04x}" if p.vid is not None else ""}
             for p in sorted(list_ports.comports(), key=lambda p: p.device)]
    if ble:
        found += _ble_devices(seconds)
    if fmt == "json":
        print(json.dumps(found, indent=2))
        return
    if not found:
        console.print("no serial ports" + (" or tinyfl BLE devices" if ble else ""))
    for d in found:
        console.print(f"{d['link']}  {d['kind']}  {d['description']} {d.get('usb', '')}".rstrip())


def _ble_devices(seconds: float) -> list[dict[str, str]]:
    """BLE devices advertising the tinyfl service UUID (the wire spec's), via bleak."""
    import asyncio

    from ..wire.spec import BLE_SERVICE_UUID

    try:
        from bleak import BleakScanner
    except ImportError:
        console.print("[red]devices: --ble needs bleak (pip install 'tinyfl[ble]')[/]")
        raise typer.Exit(2)

    async def scan() -> list[dict[str, str]]:
        seen = await BleakScanner.discover(timeout=seconds, service_uuids=[BLE_SERVICE_UUID])
        return [{"link": f"ble://{d.address}", "kind": "ble", "description": d.name or ""} for d in seen]

    try:
        return asyncio.run(scan())
    except Exception as exc:  # noqa: BLE001 - no Bluetooth adapter or stack: one line
        console.print(f"[red]devices: BLE scan failed: {escape(str(exc))}[/]", soft_wrap=True)
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("init")(init)
    app.command("capture")(capture)
    app.command("flash")(flash)
    app.command("devices")(devices)
