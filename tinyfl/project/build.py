"""`tinyfl build --project`: the firmware image for one board and its report, written into the
project's build folder (build_dir/<board>/): the image, report.json (flash, RAM, arena, MACs,
accuracy) and the firmware configuration header it was built with."""
from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any, Callable

from .config import Project, ProjectError

__all__ = ["EMULATED_BOARDS", "build_project"]

EMULATED_BOARDS = {"qemu": "qemu-mps2-an386", "qemu-mps2-an386": "qemu-mps2-an386", "native": "native",
                   "qemu-rv32": "qemu-virt-rv32", "riscv": "qemu-virt-rv32"}
REAL_BOARDS = ("nano33ble", "esp32")  # a PlatformIO project to build and flash with `pio run -t upload`


def build_project(project: Project, board: str, *, optimized: bool = True,
                  say: Callable[[str], None] = lambda _m: None) -> dict[str, Any]:
    from ..codegen import build_report
    from ..emulate import build_firmware
    from ..emulate.build import firmware_size
    from . import check_budget, project_parts

    if board not in EMULATED_BOARDS and board not in REAL_BOARDS:
        raise ProjectError(f"board {board!r}: choose from {', '.join([*sorted(EMULATED_BOARDS), *REAL_BOARDS])}")
    eps_one = check_budget(project.dp)
    data, artifacts, backbone, config = project_parts(project, say)
    if board in REAL_BOARDS:
        return _platformio_project(project, board, config, backbone, eps_one, say)
    say(f"building the {board} firmware")
    defines = dict(backbone.defines) if optimized else {}
    image = build_firmware(EMULATED_BOARDS[board], config, model_sources=backbone.model_sources,
                           defines=defines or None)
    out = project.build_dir / board
    out.mkdir(parents=True, exist_ok=True)
    target = out / f"{project.name}{image.suffix}"
    shutil.copy2(image, target)
    config.write_header(out)
    say("measuring the model (flash, RAM, arena against TFLM)")
    model_report = build_report(artifacts, "qemu" if board != "native" else "native", optimized=optimized)
    report: dict[str, Any] = {
        "project": project.name,
        "board": board,
        "firmware": str(target),
        "model": model_report.to_dict(),
        "head": {"classes": config.n_classes, "features": config.n_features,
                 "parameters": config.n_params},
        "window": list(project.window),
        "accuracy": {"int8_backbone_with_pretrained_head": artifacts.int8_accuracy,
                     "float_model": artifacts.float_accuracy, "test_windows": int(len(data.x_test))},
        "dp": {"clip": config.dp.clip, "noise_multiplier": config.dp.noise_multiplier,
               "grid_bits": config.dp.grid_bits, "delta": config.dp.delta,
               "eps_limit": config.dp.eps_limit, "eps_per_release": eps_one,
               "releases_allowed": config.releases_allowed()},
    }
    if image.suffix == ".elf":
        report["image"] = firmware_size(image)
    (out / "report.json").write_text(json.dumps(report, indent=2, default=_jsonable) + "\n")
    return report


def _platformio_project(project: Project, board: str, config: Any, backbone: Any, eps_one: float,
                        say: Callable[[str], None]) -> dict[str, Any]:
    from ..platformio import write_project
    from ..platformio.secure import board_policy

    secagg = None
    if project.fleet.secagg is not None:  # images with secure aggregation (docs/boards.md)
        from ..secagg.image import render_source

        try:
            secagg = board_policy(project.fleet.secagg, len(project.fleet.devices))
            render_source(config, secagg)  # a policy the image cannot hold (modulus), before writing
        except ValueError as exc:
            raise ProjectError(str(exc) if str(exc).startswith("secagg.") else f"secagg: {exc}") from exc
    out = project.build_dir / board / "platformio"
    say(f"writing the PlatformIO project for {board}" + (" with secure aggregation" if secagg else ""))
    write_project(out, board, config, backbone.model_sources, backbone.defines,
                  sample_rate_hz=project.data.sample_rate_hz, secagg=secagg)
    report = {"project": project.name, "board": board, "platformio_project": str(out),
              "flash": f"cd {out} && pio run -t upload",
              "head": {"classes": config.n_classes, "features": config.n_features},
              "dp": {"eps_per_release": eps_one, "releases_allowed": config.releases_allowed()}}
    if secagg is not None:
        report["secagg"] = {"n_min": secagg.n_min, "n_max": secagg.n_max, "k_max": secagg.k_max,
                            "local_multiplier": secagg.local_multiplier}
    (project.build_dir / board / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    return report


def _jsonable(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    try:
        return float(value)
    except (TypeError, ValueError):
        return str(value)
