"""Run PlatformIO without its registry: the one core package `pio run` fetches (tool-scons) is
provided from the SCons that pip installed, in a PlatformIO core folder of our own.

PlatformIO looks for a package folder `packages/tool-scons/` holding `package.json` and a
`.piopm` record whose spec names owner `platformio`; its `scons.py` is run with PlatformIO's
Python. Ours only hands over to `SCons.Script.Main.main()` of the pip package.
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

__all__ = ["PioError", "SCONS_PACKAGE_VERSION", "find_pio", "offline_core_dir", "pio_env"]

# The version PlatformIO 6.1/6.2 requires (platformio/dependencies.py: "~4.41101.0").
SCONS_PACKAGE_VERSION = "4.41101.0"

_SCONS_PY = """\
# Written by tinyfl.platformio.offline: runs the SCons that pip installed (no registry here).
import sys

from SCons.Script.Main import main

if __name__ == "__main__":
    sys.exit(main())
"""


class PioError(RuntimeError):
    """PlatformIO or SCons is missing, or a PlatformIO command failed (message holds its output)."""


def find_pio() -> str:
    """The `pio` next to this Python (a venv's bin/), else on PATH."""
    import sys

    local = Path(sys.executable).with_name("pio")
    if local.is_file():
        return str(local)
    found = shutil.which("pio")
    if found is None:
        raise PioError("pio not found: pip install 'tinyfl[boards]' (PlatformIO)")
    return found


def offline_core_dir(core_dir: Path | str) -> Path:
    """Make `core_dir` a PlatformIO core folder whose tool-scons is the pip SCons; returns it."""
    try:
        import SCons  # noqa: F401  (only to fail early with a clear message)
    except ImportError as exc:
        raise PioError("SCons not installed: pip install 'tinyfl[boards]' (scons)") from exc
    core = Path(core_dir)
    package = core / "packages" / "tool-scons"
    package.mkdir(parents=True, exist_ok=True)
    manifest = {"name": "tool-scons", "version": SCONS_PACKAGE_VERSION,
                "description": "SCons from pip, for offline PlatformIO (tinyfl)"}
    meta = {"type": "tool", "name": "tool-scons", "version": SCONS_PACKAGE_VERSION,
            "spec": {"owner": "platformio", "id": None, "name": "tool-scons",
                     "requirements": None, "uri": None}}
    for name, text in (("package.json", json.dumps(manifest)), (".piopm", json.dumps(meta)),
                       ("scons.py", _SCONS_PY)):
        path = package / name
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
    return core


def pio_env(core_dir: Path | str) -> dict[str, str]:
    """Environment for a pio subprocess: our core folder, no telemetry, no update checks."""
    env = dict(os.environ)
    env.update({
        "PLATFORMIO_CORE_DIR": str(Path(core_dir).resolve()),
        "PLATFORMIO_SETTING_ENABLE_TELEMETRY": "No",
        "PLATFORMIO_SETTING_CHECK_PLATFORMIO_INTERVAL": "3650",
        "PLATFORMIO_SETTING_CHECK_PRUNE_SYSTEM_THRESHOLD": "0",
        "PLATFORMIO_NO_ANSI": "true",
    })
    return env
