"""What a PlatformIO project adds when secure aggregation is compiled in (TINYFL_SECAGG).

The same inputs as tinyfl.secagg.image.build_secagg_firmware, laid out as a project:

    lib/tinyfl/src/     firmware/secagg/ and firmware/secagg/device/ (flat: their includes are
                        flat) and the generated policy, tinyfl_secagg_image_gen.c
    lib/monocypher/     Monocypher as a local library: src/monocypher.[ch], LICENSE.txt, and
                        SOURCE.md saying which pinned, hash-checked sdist it was copied from

Monocypher is copied from build/third_party/monocypher/ (tinyfl.secagg.third_party fetches it
from the package index once, pinned by version and sha256): the project never asks PlatformIO's
registry or any network for it, and this repository never holds it.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from ..firmware_config import FirmwareConfig
from ..secagg import third_party
from ..secagg.build import SECAGG_DIR
from ..secagg.image import MAX_NEIGHBOURS_LIMIT, SecaggImage, emulated_image, render_source

__all__ = ["BOARD_K_MAX", "MONOCYPHER_LIB", "POLICY_SOURCE", "SecureParts", "board_policy", "secure_parts"]

BOARD_K_MAX = 16  # neighbours a real board's image accepts when the fleet's size is not known
MONOCYPHER_LIB = "monocypher"  # lib/<this>/ in the project
POLICY_SOURCE = "tinyfl_secagg_image_gen.c"  # lib/tinyfl/src/<this>


@dataclass(frozen=True)
class SecureParts:
    """Files and flags of the secure part of a project (paths relative to the project folder)."""

    files: tuple[tuple[str, bytes], ...]  # (path in the project, bytes)
    defines: dict[str, object]  # build flags of every env
    link_order: tuple[str, ...]  # after the model, in build_secagg_firmware's order


def _firmware_sources() -> list[Path]:
    """firmware/secagg's files in build_secagg_firmware's order: device/*.c, then secagg/*.c."""
    return sorted((SECAGG_DIR / "device").glob("*.c")) + sorted(SECAGG_DIR.glob("*.c"))


def _headers() -> list[Path]:
    return sorted((SECAGG_DIR / "device").glob("*.h")) + sorted(SECAGG_DIR.glob("*.h"))


def _monocypher_json() -> str:
    manifest = {
        "name": MONOCYPHER_LIB,
        "version": third_party.MONOCYPHER_VERSION,
        "description": ("Monocypher (X25519, ChaCha20-Poly1305, BLAKE2b), copied by tinyfl.platformio "
                        f"from the pymonocypher {third_party.PYMONOCYPHER_VERSION} sdist (see SOURCE.md)"),
        "license": "BSD-2-Clause OR CC0-1.0",
        "frameworks": "*",
        "platforms": "*",
        "build": {"flags": ["-std=c99"], "libLDFMode": "off"},
    }
    return json.dumps(manifest, indent=2) + "\n"


def _source_note(folder: Path) -> str:
    lines = [
        "# Monocypher in this project",
        "",
        f"Monocypher {third_party.MONOCYPHER_VERSION}, from the `{third_party.SDIST}` sdist of the",
        "Python package index (the C source it ships), checked by tinyfl against pinned hashes",
        "(`tinyfl/secagg/third_party.py`) and copied here by `tinyfl.platformio`. The project builds",
        "offline: PlatformIO never fetches it. Licence: LICENSE.txt (BSD-2-Clause or CC0-1.0).",
        "",
        "| file | sha256 |",
        "|---|---|",
        f"| {third_party.SDIST} | {third_party.SDIST_SHA256} |",
    ]
    for name in sorted(third_party.FILES):
        digest = hashlib.sha256((folder / name).read_bytes()).hexdigest()
        lines.append(f"| {name} | {digest} |")
    return "\n".join(lines) + "\n"


def secure_parts(config: FirmwareConfig, sa: SecaggImage) -> SecureParts:
    """The secure part of a project for this configuration and policy (raises ValueError for a
    policy the image cannot hold, ThirdPartyError when Monocypher cannot be had)."""
    policy = render_source(config, sa)  # checks the policy first: nothing is fetched for a bad one
    mono = third_party.ensure_monocypher()  # hash-checked; fetched only if not there yet
    src = "lib/tinyfl/src"
    files: list[tuple[str, bytes]] = [(f"{src}/{POLICY_SOURCE}", policy.encode())]
    files += [(f"{src}/{p.name}", p.read_bytes()) for p in _firmware_sources() + _headers()]
    lib = f"lib/{MONOCYPHER_LIB}"
    files += [(f"{lib}/library.json", _monocypher_json().encode()),
              (f"{lib}/SOURCE.md", _source_note(mono).encode()),
              (f"{lib}/LICENSE.txt", (mono / "LICENSE.txt").read_bytes()),
              (f"{lib}/src/monocypher.c", (mono / "monocypher.c").read_bytes()),
              (f"{lib}/src/monocypher.h", (mono / "monocypher.h").read_bytes())]
    names = [Path(path).name for path, _ in files if path.startswith(src)]
    if len(set(names)) != len(names):
        raise AssertionError("firmware/secagg file names must be unique to lie flat in lib/tinyfl/src")
    order = (f"{src}/{POLICY_SOURCE}", *(f"{src}/{p.name}" for p in _firmware_sources()),
             f"{lib}/src/monocypher.c")
    defines = {"TINYFL_SECAGG": None, "TINYFL_SECAGG_MAX_NEIGHBOURS": sa.k_max}
    return SecureParts(files=tuple(files), defines=defines, link_order=order)


def board_policy(spec, n_boards: int = 0) -> SecaggImage:
    """The policy real boards' images compile in, from a [secagg] section (tinyfl.fleet.config.
    SecaggSpec). With the boards listed ([[devices]], n_boards >= 2) it is the emulated
    fleets' rule (tinyfl.secagg.image.emulated_image); without them n_min must be given, and
    k_max is k, or BOARD_K_MAX for the complete graph (cohorts up to BOARD_K_MAX + 1 boards).
    Raises ValueError naming the key."""
    if n_boards >= 2:
        return emulated_image(spec, n_boards)
    if spec.n_min == 0:
        raise ValueError("secagg.n_min: a real board's image needs its floor on survivors: set it, "
                         "or list the boards in [[devices]] to derive it")
    k_max = min(MAX_NEIGHBOURS_LIMIT, max(BOARD_K_MAX, spec.k))
    return SecaggImage(n_min=spec.n_min, n_max=max(spec.n_max, spec.n_min), k_max=k_max,
                       local_multiplier=spec.local_multiplier)
