"""Builds the ledger arithmetic (firmware/tinyfl_rdp.c) and the entropy health tests
(firmware/tinyfl_entropy_health.c) as a host shared library for ctypes tests."""
from __future__ import annotations

import ctypes
from pathlib import Path

from tinyfl.paths import FIRMWARE_DIR
from tinyfl.toolchain import WARNINGS, cached_output, compile_host, firmware_sources

SOURCES = ("tinyfl_rdp.c", "tinyfl_entropy_health.c")


class RdpCurve(ctypes.Structure):
    _fields_ = [
        ("per_release", ctypes.POINTER(ctypes.c_uint32)),
        ("eps_offset", ctypes.POINTER(ctypes.c_int32)),
        ("kl_zero_below", ctypes.c_uint32),
        ("eps_limit", ctypes.c_int64),
    ]


class EntropyHealth(ctypes.Structure):
    _fields_ = [
        ("samples", ctypes.c_uint32),
        ("rct_run", ctypes.c_uint16),
        ("apt_seen", ctypes.c_uint16),
        ("apt_count", ctypes.c_uint16),
        ("rct_last", ctypes.c_uint8),
        ("apt_first", ctypes.c_uint8),
        ("failed", ctypes.c_uint8),
    ]


def build() -> Path:
    sources = firmware_sources(SOURCES)
    headers = sorted(FIRMWARE_DIR.glob("*.h")) + sorted((FIRMWARE_DIR / "generated").glob("*.h"))
    out = cached_output("ledger_core", [*sources, *headers, " ".join(WARNINGS)], ".so")
    if not out.exists():
        compile_host(sources, out, shared=True)
    return out


def load() -> ctypes.CDLL:
    lib = ctypes.CDLL(str(build()))
    u32p = ctypes.POINTER(ctypes.c_uint32)
    lib.tinyfl_rdp_charge.argtypes = [u32p, ctypes.POINTER(RdpCurve), ctypes.c_uint32]
    lib.tinyfl_rdp_charge.restype = None
    lib.tinyfl_rdp_eps.argtypes = [u32p, ctypes.POINTER(RdpCurve), ctypes.c_uint32]
    lib.tinyfl_rdp_eps.restype = ctypes.c_int64
    lib.tinyfl_rdp_releases_left.argtypes = [u32p, ctypes.POINTER(RdpCurve), ctypes.c_uint32]
    lib.tinyfl_rdp_releases_left.restype = ctypes.c_uint32
    lib.tinyfl_rdp_eps_float.argtypes = [ctypes.c_int64]
    lib.tinyfl_rdp_eps_float.restype = ctypes.c_float
    lib.tinyfl_entropy_health_init.argtypes = [ctypes.POINTER(EntropyHealth)]
    lib.tinyfl_entropy_health_init.restype = None
    lib.tinyfl_entropy_health_feed.argtypes = [ctypes.POINTER(EntropyHealth), ctypes.c_char_p, ctypes.c_size_t]
    lib.tinyfl_entropy_health_feed.restype = ctypes.c_int
    return lib
