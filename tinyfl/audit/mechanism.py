"""The firmware's update protection as a host shared library, driven in bulk through ctypes.

The same C a device runs (firmware/tinyfl_protect.c, tinyfl_dgauss.c, tinyfl_drbg.c) with a
small batch entry point (mechanism_driver.c), so a tight DP audit can draw hundreds of
thousands of releases in seconds. The generator is keyed from os.urandom, as a device keys it
from its TRNG: the audit never chooses the noise.
"""
from __future__ import annotations

import ctypes
import os
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..paths import FIRMWARE_DIR
from ..toolchain import WARNINGS, cached_output, compile_host, firmware_sources

__all__ = ["MechanismLibrary", "mechanism_library"]

_SOURCES = ("tinyfl_drbg.c", "tinyfl_dgauss.c", "tinyfl_protect.c")
_DRIVER = Path(__file__).with_name("mechanism_driver.c")
_SEED_SIZE = 44

_fp = ctypes.POINTER(ctypes.c_float)
_i32p = ctypes.POINTER(ctypes.c_int32)
_u8p = ctypes.POINTER(ctypes.c_uint8)


def _build() -> Path:
    sources = firmware_sources(_SOURCES) + [_DRIVER]
    headers = sorted(FIRMWARE_DIR.glob("*.h")) + sorted((FIRMWARE_DIR / "generated").glob("*.h"))
    out = cached_output("audit_mechanism", [*sources, *headers, " ".join(WARNINGS)], ".so")
    if not out.exists():
        tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
        compile_host(sources, tmp, shared=True)
        os.replace(tmp, out)  # another process may load the library while this one builds it
    return out


class MechanismLibrary:
    """numpy-facing wrapper; one generator per instance (keyed from os.urandom)."""

    def __init__(self, path: Path, seed: bytes | None = None):
        lib = ctypes.CDLL(str(path))
        lib.tinyfl_audit_drbg_size.restype = ctypes.c_size_t
        lib.tinyfl_audit_drbg_size.argtypes = []
        lib.tinyfl_drbg_seed.restype = None
        lib.tinyfl_drbg_seed.argtypes = [ctypes.c_void_p, _u8p]
        lib.tinyfl_audit_releases.restype = ctypes.c_int
        lib.tinyfl_audit_releases.argtypes = [
            ctypes.c_float, ctypes.c_uint8, ctypes.c_uint64, ctypes.c_uint64, ctypes.c_int,
            ctypes.c_void_p, _fp, ctypes.c_size_t, ctypes.c_size_t, _fp, _i32p]
        self._lib = lib
        self._drbg = ctypes.create_string_buffer(lib.tinyfl_audit_drbg_size())
        key = seed if seed is not None else os.urandom(_SEED_SIZE)
        if len(key) != _SEED_SIZE:
            raise ValueError(f"a generator seed is {_SEED_SIZE} bytes")
        lib.tinyfl_drbg_seed(self._drbg, (ctypes.c_uint8 * _SEED_SIZE).from_buffer_copy(key))

    def releases(self, update: np.ndarray, count: int, *, clip: float, grid_bits: int,
                 noise_var: tuple[int, int] | None) -> np.ndarray:
        """`count` protected releases of the same float update: (count, n) int32, each with
        fresh noise from this instance's generator. noise_var None: no noise (clip and
        round only)."""
        u = np.ascontiguousarray(update, dtype=np.float32).reshape(-1)
        out = np.empty((int(count), u.size), dtype=np.int32)
        scratch = np.empty_like(u)
        num, den = noise_var if noise_var is not None else (0, 1)
        rc = self._lib.tinyfl_audit_releases(
            float(clip), int(grid_bits), int(num), int(den), int(noise_var is not None),
            self._drbg, u.ctypes.data_as(_fp), u.size, out.shape[0],
            scratch.ctypes.data_as(_fp), out.ctypes.data_as(_i32p))
        if rc != 0:
            from ..wire.spec import STATUS

            name = next((s[0] for s in STATUS if s[1] == rc), str(rc))
            raise ValueError(f"tinyfl_protect_update refused the audit's update: {name}")
        return out


@lru_cache(maxsize=1)
def _library_path() -> Path:
    return _build()


def mechanism_library(seed: bytes | None = None) -> MechanismLibrary:
    """The compiled mechanism with a fresh generator (built once per source version)."""
    return MechanismLibrary(_library_path(), seed)
