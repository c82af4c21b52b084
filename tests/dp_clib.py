"""Builds the privacy/learning core of the firmware as a host shared library for ctypes tests.

Used by tests/test_dp_*.py and tests/test_head_*.py. Until the wire helper's generated
status header exists, a stand-in with the same enum is written into the build folder (never
into firmware/).
"""
from __future__ import annotations

import ctypes
import os
from pathlib import Path

import numpy as np

from tinyfl.paths import FIRMWARE_DIR, REPO_ROOT, build_dir
from tinyfl.toolchain import WARNINGS, cached_output, compile_host, firmware_sources

CORE_SOURCES = (
    "tinyfl_drbg.c",
    "tinyfl_dgauss.c",
    "tinyfl_head.c",
    "tinyfl_protect.c",
    "tinyfl_features_stats.c",
)
DRIVER = REPO_ROOT / "tests" / "c" / "dp_api.c"
GENERATED_STATUS = FIRMWARE_DIR / "generated" / "tinyfl_wire_gen.h"
STATUS_OK = 0


def status_code(name: str) -> int:
    from tinyfl.wire.spec import STATUS_BY_NAME

    return STATUS_BY_NAME[name]


def _standin_status_header() -> str:
    from tinyfl.wire import spec

    lines = [
        "/* test stand-in for the generated wire header: only what the privacy core needs */",
        "#ifndef TINYFL_WIRE_GEN_H",
        "#define TINYFL_WIRE_GEN_H",
        f"#define TINYFL_WIRE_MAX_PARAMS {spec.MAX_PARAMS}",
        f"#define TINYFL_WIRE_MIN_CHUNK {spec.MIN_CHUNK}",
        f"#define TINYFL_WIRE_MAX_CHUNK {spec.MAX_CHUNK}",
        "typedef enum {",
    ]
    for name, code, _ in spec.STATUS:
        prefix = "TINYFL_" if name in ("OK", "AGAIN") else "TINYFL_E_"
        lines.append(f"    {prefix}{name} = {code},")
    lines += ["} tinyfl_status;", f"#define TINYFL_STATUS_COUNT {len(spec.STATUS)}", "#endif", ""]
    return "\n".join(lines)


def status_include_dirs() -> list[Path]:
    """Include dirs that make "generated/tinyfl_wire_gen.h" resolvable."""
    if GENERATED_STATUS.exists():
        return []
    root = build_dir() / "dp_standin"
    header = root / "generated" / "tinyfl_wire_gen.h"
    text = _standin_status_header()
    if not header.exists() or header.read_text() != text:
        header.parent.mkdir(parents=True, exist_ok=True)
        header.write_text(text)
    return [root]


def build_core_library() -> Path:
    """TINYFL_DP_UBSAN=1 builds with -fsanitize=undefined (trapping) for a manual UB check."""
    sources = firmware_sources(CORE_SOURCES) + [DRIVER]
    includes = status_include_dirs()
    headers = sorted(FIRMWARE_DIR.glob("*.h"))
    extra = ["-fsanitize=undefined", "-fno-sanitize-recover=all"] if os.environ.get("TINYFL_DP_UBSAN") else []
    key = [*sources, *headers, " ".join(WARNINGS + tuple(extra))]
    key += [GENERATED_STATUS] if GENERATED_STATUS.exists() else [_standin_status_header()]
    out = cached_output("dp_core", key, ".so")
    if not out.exists():
        compile_host(sources, out, include_dirs=includes, shared=True, extra_flags=extra)
    return out


_u8p = ctypes.POINTER(ctypes.c_uint8)
_u16p = ctypes.POINTER(ctypes.c_uint16)
_i32p = ctypes.POINTER(ctypes.c_int32)
_u32p = ctypes.POINTER(ctypes.c_uint32)
_u64p = ctypes.POINTER(ctypes.c_uint64)
_fp = ctypes.POINTER(ctypes.c_float)
_vp = ctypes.c_void_p
_sz = ctypes.c_size_t


def _ptr(array: np.ndarray, ctype):
    return array.ctypes.data_as(ctype)


class CoreLib:
    """Thin numpy-facing wrapper over tests/c/dp_api.c."""

    def __init__(self, path: Path):
        lib = ctypes.CDLL(str(path))
        sig = {
            "tinyfl_drbg_seed": (None, [_vp, _u8p]),
            "tinyfl_drbg_u64": (ctypes.c_uint64, [_vp]),
            "tinyfl_test_drbg_size": (_sz, []),
            "tinyfl_test_u32s": (None, [_vp, _u32p, _sz]),
            "tinyfl_test_below": (None, [_vp, ctypes.c_uint64, _u64p, _sz]),
            "tinyfl_test_bits": (None, [_vp, _u8p, _u32p, _sz]),
            "tinyfl_test_uniform": (None, [_vp, ctypes.c_uint64, _u64p, _sz]),
            "tinyfl_test_bernoulli_exp": (None, [_vp, ctypes.c_uint64, ctypes.c_uint64, _u8p, _sz]),
            "tinyfl_test_dlaplace": (None, [_vp, ctypes.c_uint32, _i32p, _sz]),
            "tinyfl_test_dgauss": (ctypes.c_int, [_vp, ctypes.c_uint64, ctypes.c_uint64, _i32p, _sz]),
            "tinyfl_test_dgauss_check": (ctypes.c_int, [ctypes.c_uint64, ctypes.c_uint64]),
            "tinyfl_test_dgauss_work": (
                ctypes.c_int, [_vp, ctypes.c_uint64, ctypes.c_uint64, _i32p, _u32p, _u32p, _sz]),
            "tinyfl_test_work_budget": (ctypes.c_uint64, [ctypes.c_uint64, ctypes.c_uint64, _sz]),
            "tinyfl_test_comparisons": (ctypes.c_uint32, [_vp]),
            "tinyfl_drbg_bit_position": (ctypes.c_uint64, [_vp]),
            "tinyfl_drbg_discard_to_block": (None, [_vp, ctypes.c_uint32]),
            "tinyfl_test_head_train": (
                ctypes.c_int,
                [_fp, ctypes.c_uint16, ctypes.c_uint16, _fp, _u8p, _sz, ctypes.c_float,
                 ctypes.c_uint8, ctypes.c_uint8, _fp],
            ),
            "tinyfl_test_head_logits": (
                None, [_fp, ctypes.c_uint16, ctypes.c_uint16, _fp, _sz, _fp, _u16p]),
            "tinyfl_head_train_scratch_size": (_sz, [ctypes.c_uint16, ctypes.c_uint16]),
            "tinyfl_test_protect": (
                ctypes.c_int,
                [ctypes.c_float, ctypes.c_uint8, ctypes.c_uint64, ctypes.c_uint64, ctypes.c_uint8,
                 _vp, _fp, _sz, _i32p],
            ),
            "tinyfl_test_clip_round": (
                ctypes.c_int, [ctypes.c_float, ctypes.c_uint8, _fp, _sz, _i32p]),
            "tinyfl_test_stats": (
                ctypes.c_int, [ctypes.c_uint16, ctypes.c_uint16, _fp, _sz, _fp, _u32p]),
        }
        for name, (restype, argtypes) in sig.items():
            fn = getattr(lib, name)
            fn.restype = restype
            fn.argtypes = argtypes
        self.lib = lib
        self.drbg_size = lib.tinyfl_test_drbg_size()

    # -- generator -------------------------------------------------------------------------
    def drbg(self, seed: bytes) -> ctypes.Array:
        assert len(seed) == 44
        state = ctypes.create_string_buffer(self.drbg_size)
        buf = (ctypes.c_uint8 * 44).from_buffer_copy(seed)
        self.lib.tinyfl_drbg_seed(state, buf)
        return state

    def u32s(self, state, n: int) -> np.ndarray:
        out = np.zeros(n, dtype=np.uint32)
        self.lib.tinyfl_test_u32s(state, _ptr(out, _u32p), n)
        return out

    def u64(self, state) -> int:
        return int(self.lib.tinyfl_drbg_u64(state))

    def below(self, state, bound: int, n: int) -> np.ndarray:
        out = np.zeros(n, dtype=np.uint64)
        self.lib.tinyfl_test_below(state, bound, _ptr(out, _u64p), n)
        return out

    def bits(self, state, widths) -> np.ndarray:
        widths = np.ascontiguousarray(widths, dtype=np.uint8)
        out = np.zeros(widths.size, dtype=np.uint32)
        self.lib.tinyfl_test_bits(state, _ptr(widths, _u8p), _ptr(out, _u32p), widths.size)
        return out

    def uniform(self, state, bound: int, n: int) -> np.ndarray:
        out = np.zeros(n, dtype=np.uint64)
        self.lib.tinyfl_test_uniform(state, bound, _ptr(out, _u64p), n)
        return out

    # -- samplers ----------------------------------------------------------------------------
    def bernoulli_exp(self, state, num: int, den: int, n: int) -> np.ndarray:
        out = np.zeros(n, dtype=np.uint8)
        self.lib.tinyfl_test_bernoulli_exp(state, num, den, _ptr(out, _u8p), n)
        return out

    def dlaplace(self, state, t: int, n: int) -> np.ndarray:
        out = np.zeros(n, dtype=np.int32)
        self.lib.tinyfl_test_dlaplace(state, t, _ptr(out, _i32p), n)
        return out

    def dgauss(self, state, num: int, den: int, n: int) -> np.ndarray:
        out = np.zeros(n, dtype=np.int32)
        rc = self.lib.tinyfl_test_dgauss(state, num, den, _ptr(out, _i32p), n)
        if rc != 0:
            raise ValueError(f"variance {num}/{den} outside the sampler's range")
        return out

    def dgauss_work(self, state, num: int, den: int, n: int):
        """(values, coins, comparisons) of n draws from one plan."""
        out = np.zeros(n, dtype=np.int32)
        coins = np.zeros(n, dtype=np.uint32)
        comparisons = np.zeros(n, dtype=np.uint32)
        rc = self.lib.tinyfl_test_dgauss_work(state, num, den, _ptr(out, _i32p), _ptr(coins, _u32p),
                                              _ptr(comparisons, _u32p), n)
        if rc != 0:
            raise ValueError(f"variance {num}/{den} outside the sampler's range")
        return out, coins, comparisons

    def work_budget(self, num: int, den: int, n: int) -> int:
        return int(self.lib.tinyfl_test_work_budget(num, den, n))

    def bit_position(self, state) -> int:
        return int(self.lib.tinyfl_drbg_bit_position(state))

    def comparisons(self, state) -> int:
        return int(self.lib.tinyfl_test_comparisons(state))

    def blocks_made(self, state) -> int:
        """The block counter (tinyfl_drbg: key[8], nonce[3], then counter at byte 44)."""
        return ctypes.c_uint32.from_buffer(state, 44).value

    def discard_to_block(self, state, block: int) -> None:
        self.lib.tinyfl_drbg_discard_to_block(state, block)

    def dgauss_check(self, num: int, den: int) -> int:
        return self.lib.tinyfl_test_dgauss_check(num, den)

    # -- head --------------------------------------------------------------------------------
    def head_train(self, params, n_classes, n_features, features, labels, lr, epochs, batch):
        params = np.ascontiguousarray(params, dtype=np.float32).copy()
        features = np.ascontiguousarray(features, dtype=np.float32)
        labels = np.ascontiguousarray(labels, dtype=np.uint8)
        scratch = np.full(self.lib.tinyfl_head_train_scratch_size(n_classes, n_features), np.nan,
                          dtype=np.float32)
        rc = self.lib.tinyfl_test_head_train(
            _ptr(params, _fp), n_classes, n_features, _ptr(features, _fp), _ptr(labels, _u8p),
            len(labels), lr, epochs, batch, _ptr(scratch, _fp))
        return rc, params, scratch

    def head_logits(self, params, n_classes, n_features, features):
        params = np.ascontiguousarray(params, dtype=np.float32)
        features = np.ascontiguousarray(features, dtype=np.float32)
        n = features.shape[0]
        logits = np.zeros((n, n_classes), dtype=np.float32)
        predicted = np.zeros(n, dtype=np.uint16)
        self.lib.tinyfl_test_head_logits(_ptr(params, _fp), n_classes, n_features,
                                         _ptr(features, _fp), n, _ptr(logits, _fp),
                                         _ptr(predicted, _u16p))
        return logits, predicted

    # -- protection --------------------------------------------------------------------------
    def protect(self, state, update, clip, grid_bits, var=None):
        update = np.ascontiguousarray(update, dtype=np.float32).copy()
        out = np.zeros(update.size, dtype=np.int32)
        num, den = var if var is not None else (0, 1)
        rc = self.lib.tinyfl_test_protect(clip, grid_bits, num, den, 1 if var is not None else 0,
                                          state, _ptr(update, _fp), update.size, _ptr(out, _i32p))
        return rc, update, out

    def clip_round(self, update, clip, grid_bits):
        update = np.ascontiguousarray(update, dtype=np.float32).copy()
        out = np.zeros(update.size, dtype=np.int32)
        rc = self.lib.tinyfl_test_clip_round(clip, grid_bits, _ptr(update, _fp), update.size,
                                             _ptr(out, _i32p))
        return rc, update, out

    # -- features ----------------------------------------------------------------------------
    def stats(self, windows: np.ndarray, n_channels: int, n_steps: int):
        windows = np.ascontiguousarray(windows, dtype=np.float32)
        n = windows.shape[0]
        features = np.zeros((n, 4 * n_channels), dtype=np.float32)
        model_hash = ctypes.c_uint32(0)
        rc = self.lib.tinyfl_test_stats(n_channels, n_steps, _ptr(windows, _fp), n,
                                        _ptr(features, _fp), ctypes.byref(model_hash))
        return rc, features, model_hash.value
