"""Monocypher for the device's secure aggregation, taken from the package index at build time.

Monocypher (X25519, ChaCha20, Poly1305, BLAKE2b; portable C99, BSD-2-Clause OR CC0-1.0) ships
its C source in the `pymonocypher` sdist. `ensure_monocypher()` downloads the pinned sdist with
pip, checks its sha256, and extracts monocypher.c, monocypher.h and the licence into
build/third_party/monocypher/ (never committed). It is offline-safe: when the extracted files
are there with the pinned hashes, or the sdist is already in the download folder, nothing is
fetched. Run it directly (`python -m tinyfl.secagg.third_party`) to prepare a machine.
"""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tarfile
from pathlib import Path

from ..paths import build_dir

__all__ = ["MONOCYPHER_VERSION", "PYMONOCYPHER_VERSION", "ThirdPartyError", "ensure_monocypher"]

PYMONOCYPHER_VERSION = "4.0.3.5"  # ships Monocypher 4.0.3
MONOCYPHER_VERSION = "4.0.3"
SDIST = f"pymonocypher-{PYMONOCYPHER_VERSION}.tar.gz"
SDIST_SHA256 = "b6f96c4fa56212a7c13aee8fc27a89d7531b622ce8aabbd6e82a9d2e93071d71"
# sha256 of each extracted file, so a tampered or half-written folder is caught offline too.
FILES = {
    "monocypher.c": "57eb914fc88136119bd41655cccb8c250048bf54d470540625186f8ab16f64be",
    "monocypher.h": "c494da712122da7ff679fdcf318a5317e84972b6c950fe9d896212947797facd",
    "LICENSE.txt": "d3a6d889033e22c8ee30bb2891f0787a3288fc594994cd04c885761c4475e30f",
}


class ThirdPartyError(RuntimeError):
    """The pinned source could not be fetched, or its hash does not match."""


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def monocypher_dir() -> Path:
    return build_dir() / "third_party" / "monocypher"


def _extracted_ok(folder: Path) -> bool:
    return all((folder / name).is_file() and _sha256(folder / name) == digest
               for name, digest in FILES.items())


def _download(downloads: Path) -> Path:
    sdist = downloads / SDIST
    if sdist.is_file() and _sha256(sdist) == SDIST_SHA256:
        return sdist
    downloads.mkdir(parents=True, exist_ok=True)
    # --no-binary for this package only: its build requirements may still come as wheels
    # (pip prepares the sdist's metadata). --ignore-requires-python: only the C is used.
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", "pymonocypher",
           "--ignore-requires-python", "--disable-pip-version-check", "-q",
           f"pymonocypher=={PYMONOCYPHER_VERSION}", "-d", str(downloads)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0 or not sdist.is_file():
        raise ThirdPartyError(f"could not download {SDIST} from the package index: "
                              f"{(proc.stderr or proc.stdout).strip().splitlines()[-1:]}")
    got = _sha256(sdist)
    if got != SDIST_SHA256:
        sdist.unlink()
        raise ThirdPartyError(f"{SDIST}: sha256 {got} differs from the pinned {SDIST_SHA256}")
    return sdist


def ensure_monocypher() -> Path:
    """The folder holding monocypher.c/.h and LICENSE.txt (pinned, hash-checked)."""
    folder = monocypher_dir()
    if _extracted_ok(folder):
        return folder
    sdist = _download(build_dir() / "third_party" / "downloads")
    prefix = f"pymonocypher-{PYMONOCYPHER_VERSION}/"
    folder.mkdir(parents=True, exist_ok=True)
    with tarfile.open(sdist, "r:gz") as tar:
        for name in FILES:
            member = tar.getmember(prefix + name)  # exact names only: no path from the archive
            data = tar.extractfile(member)
            if data is None:
                raise ThirdPartyError(f"{SDIST}: {name} is not a regular file")
            tmp = folder / f".{name}.{os.getpid()}.tmp"
            tmp.write_bytes(data.read())
            os.replace(tmp, folder / name)  # atomic: a concurrent build never sees half a file
    if not _extracted_ok(folder):
        raise ThirdPartyError(f"{SDIST}: extracted files differ from the pinned hashes")
    return folder


def main() -> None:
    try:
        folder = ensure_monocypher()
    except ThirdPartyError as exc:
        sys.exit(f"error: {exc}")
    print(f"Monocypher {MONOCYPHER_VERSION} (from pymonocypher {PYMONOCYPHER_VERSION}) in {folder}")


if __name__ == "__main__":
    main()
