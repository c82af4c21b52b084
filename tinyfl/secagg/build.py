"""What a firmware build adds when secure aggregation is compiled in: the sources under
firmware/secagg/, Monocypher's C (fetched and hash-checked on first use) and their include
folders. Builds without secure aggregation never call this, so their images are unchanged."""
from __future__ import annotations

from pathlib import Path

from ..paths import FIRMWARE_DIR
from .third_party import ensure_monocypher

__all__ = ["SECAGG_DIR", "firmware_inputs"]

SECAGG_DIR = FIRMWARE_DIR / "secagg"


def firmware_inputs() -> tuple[list[Path], list[Path]]:
    """(sources, include_dirs) of the device's secure aggregation, Monocypher included; the
    DRBG and the sampler it uses are part of every image already."""
    mono = ensure_monocypher()
    return [*sorted(SECAGG_DIR.glob("*.c")), mono / "monocypher.c"], [SECAGG_DIR, mono]
