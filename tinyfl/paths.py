"""Where the pieces of a source checkout live (firmware, boards, build output)."""
from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
FIRMWARE_DIR = REPO_ROOT / "firmware"
BOARDS_DIR = REPO_ROOT / "boards"
HOST_DIR = REPO_ROOT / "host"


def build_dir() -> Path:
    """Generated C and binaries go here, never among hand-written sources."""
    return Path(os.environ.get("TINYFL_BUILD_DIR", REPO_ROOT / "build"))
