"""Builds the device's secure-aggregation C (firmware/secagg/ + Monocypher + DRBG + sampler)
as a host shared library and wraps it with the reference client's interface, so the server
and the simulation drive the C exactly as they drive tinyfl.secagg.client.ReferenceClient."""
from __future__ import annotations

import ctypes
import os
from pathlib import Path

import numpy as np

from tinyfl.paths import FIRMWARE_DIR, REPO_ROOT
from tinyfl.secagg.client import CIPHER_SIZE, REVEAL_SIZE, Neighbour, Policy, ProtocolError
from tinyfl.secagg.build import SECAGG_DIR, firmware_inputs
from tinyfl.toolchain import WARNINGS, cached_output, compile_host

DRIVER = REPO_ROOT / "tests" / "c" / "secagg_api.c"
MAX_NEIGHBOURS = 16
STATUS_OK = 0


def build_library() -> Path:
    """TINYFL_SECAGG_UBSAN=1 builds with -fsanitize=undefined (trapping) for a manual UB check."""
    sources, includes = firmware_inputs()
    sources += [FIRMWARE_DIR / "tinyfl_drbg.c", FIRMWARE_DIR / "tinyfl_dgauss.c", DRIVER]
    headers = sorted(SECAGG_DIR.glob("*.h")) + sorted(FIRMWARE_DIR.glob("*.h"))
    extra = (["-fsanitize=undefined", "-fno-sanitize-recover=all"]
             if os.environ.get("TINYFL_SECAGG_UBSAN") else [])
    out = cached_output("secagg", [*sources, *headers, " ".join(WARNINGS + tuple(extra))], ".so")
    if not out.exists():
        compile_host(sources, out, include_dirs=includes, shared=True, extra_flags=extra)
    return out


class Config(ctypes.Structure):
    class Var(ctypes.Structure):
        _fields_ = [("num", ctypes.c_uint64), ("den", ctypes.c_uint64)]

    _fields_ = [("n_min", ctypes.c_uint16), ("n_max", ctypes.c_uint16), ("bound", ctypes.c_uint32),
                ("noise", Var)]

    @classmethod
    def of(cls, policy: Policy) -> "Config":
        return cls(policy.n_min, policy.n_max, policy.bound, cls.Var(*policy.noise))


class CNeighbour(ctypes.Structure):
    _fields_ = [("id", ctypes.c_uint16), ("c_pk", ctypes.c_uint8 * 32), ("s_pk", ctypes.c_uint8 * 32)]


_u8p = ctypes.POINTER(ctypes.c_uint8)
_u16p = ctypes.POINTER(ctypes.c_uint16)
_i32p = ctypes.POINTER(ctypes.c_int32)
_u32p = ctypes.POINTER(ctypes.c_uint32)
_vp = ctypes.c_void_p
_sz = ctypes.c_size_t


class SecaggLib:
    def __init__(self, path: Path):
        lib = ctypes.CDLL(str(path))
        sig = {
            "tinyfl_drbg_seed": (None, [_vp, _u8p]),
            "tinyfl_drbg_u32": (ctypes.c_uint32, [_vp]),
            "tinyfl_secagg_keypair": (None, [_vp, _u8p, _u8p]),
            "tinyfl_secagg_agree": (ctypes.c_int, [_u8p, ctypes.c_uint8, ctypes.c_uint32, ctypes.c_uint16,
                                                   _u8p, _u8p, ctypes.c_uint16, _u8p]),
            "tinyfl_gf256_mul": (ctypes.c_uint8, [ctypes.c_uint8, ctypes.c_uint8]),
            "tinyfl_shamir_init": (ctypes.c_int, [_vp, _vp, _u8p, ctypes.c_uint8]),
            "tinyfl_shamir_share": (ctypes.c_int, [_vp, ctypes.c_uint8, _u8p]),
            "tinyfl_secagg_mask_add": (None, [_u32p, _sz, _u8p, ctypes.c_int]),
            "tinyfl_secagg_config_check": (ctypes.c_int, [ctypes.POINTER(Config)]),
            "tinyfl_secagg_begin": (ctypes.c_int, [_vp, _vp, ctypes.c_uint16, ctypes.c_uint32, _u8p, _u8p]),
            "tinyfl_secagg_share": (ctypes.c_int, [_vp, _vp, ctypes.POINTER(CNeighbour), _sz, _sz, _u8p]),
            "tinyfl_secagg_receive": (ctypes.c_int, [_vp, ctypes.c_uint16, _u8p]),
            "tinyfl_secagg_add_noise": (ctypes.c_int, [ctypes.POINTER(Config), _vp, _i32p, _sz]),
            "tinyfl_secagg_mask": (ctypes.c_int, [_vp, ctypes.POINTER(Config), _i32p, _sz, _u16p, _sz,
                                                  ctypes.c_uint16, _u32p]),
            "tinyfl_secagg_unmask": (ctypes.c_int, [_vp, ctypes.POINTER(Config), _u16p, _sz,
                                                    ctypes.c_uint16, _u8p, ctypes.POINTER(_sz)]),
        }
        for name, (restype, argtypes) in sig.items():
            fn = getattr(lib, name)
            fn.restype, fn.argtypes = restype, argtypes
        for name in ("tinyfl_test_secagg_size", "tinyfl_test_shamir_poly_size",
                     "tinyfl_test_secagg_drbg_size", "tinyfl_test_secagg_neighbour_size"):
            getattr(lib, name).restype = _sz
        assert lib.tinyfl_test_secagg_neighbour_size() == ctypes.sizeof(CNeighbour)
        self.lib = lib

    def drbg(self, seed: bytes):
        state = ctypes.create_string_buffer(self.lib.tinyfl_test_secagg_drbg_size())
        self.lib.tinyfl_drbg_seed(state, _buf(seed))
        return state

    def keypair(self, drbg) -> tuple[bytes, bytes]:
        sk, pk = _out(32), _out(32)
        self.lib.tinyfl_secagg_keypair(drbg, sk, pk)
        return bytes(sk), bytes(pk)

    def agree(self, label: bytes, round_: int, my_id: int, my_sk: bytes, my_pk: bytes,
              their_id: int, their_pk: bytes) -> tuple[int, bytes]:
        key = _out(32)
        rc = self.lib.tinyfl_secagg_agree(key, label[0], round_, my_id, _buf(my_sk), _buf(my_pk),
                                          their_id, _buf(their_pk))
        return rc, bytes(key)

    def shamir(self, drbg, secret: bytes, t: int, xs: list[int]) -> tuple[int, dict[int, bytes]]:
        poly = ctypes.create_string_buffer(self.lib.tinyfl_test_shamir_poly_size())
        rc = self.lib.tinyfl_shamir_init(poly, drbg, _buf(secret), t)
        shares = {}
        for x in xs:
            out = _out(32)
            rc = rc or self.lib.tinyfl_shamir_share(poly, x, out)
            shares[x] = bytes(out)
        return rc, shares

    def mask_add(self, y: np.ndarray, seed: bytes, sign: int) -> np.ndarray:
        y = np.ascontiguousarray(y, dtype=np.uint32).copy()
        self.lib.tinyfl_secagg_mask_add(y.ctypes.data_as(_u32p), y.size, _buf(seed), sign)
        return y

    def config_check(self, policy: Policy) -> int:
        return self.lib.tinyfl_secagg_config_check(ctypes.byref(Config.of(policy)))


def _buf(data: bytes):
    return (ctypes.c_uint8 * max(len(data), 1)).from_buffer_copy(data or b"\0")


def _out(n: int):
    return (ctypes.c_uint8 * n)()


def _ids(ids: list[int]):
    return (ctypes.c_uint16 * max(len(ids), 1))(*ids)


class CDevice:
    """The C device's secure-aggregation state behind the reference client's interface; a
    refused step raises ProtocolError carrying the status code."""

    def __init__(self, lib: SecaggLib, id_: int, round_: int, seed: bytes):
        self.lib, self.id, self.round = lib, id_, round_
        self.drbg = lib.drbg(seed)
        self.state = ctypes.create_string_buffer(lib.lib.tinyfl_test_secagg_size())

    def _check(self, rc: int, what: str) -> None:
        if rc != STATUS_OK:
            raise ProtocolError(f"device {self.id}: {what} refused (status {rc})", rc)

    def begin(self) -> tuple[bytes, bytes]:
        c_pk, s_pk = _out(32), _out(32)
        self._check(self.lib.lib.tinyfl_secagg_begin(self.state, self.drbg, self.id, self.round,
                                                     c_pk, s_pk), "begin")
        return bytes(c_pk), bytes(s_pk)

    def share(self, neighbours: list[Neighbour], t: int) -> list[bytes]:
        arr = (CNeighbour * max(len(neighbours), 1))()
        for slot, n in zip(arr, neighbours):
            slot.id = n.id
            slot.c_pk[:] = list(n.c_pk)
            slot.s_pk[:] = list(n.s_pk)
        out = _out(CIPHER_SIZE * max(len(neighbours), 1))
        self._check(self.lib.lib.tinyfl_secagg_share(self.state, self.drbg, arr, len(neighbours), t,
                                                     out), "share")
        raw = bytes(out)
        return [raw[j * CIPHER_SIZE:(j + 1) * CIPHER_SIZE] for j in range(len(neighbours))]

    def receive(self, sender: int, cipher: bytes) -> None:
        if len(cipher) != CIPHER_SIZE:  # the frame decoder bounds this on the device
            raise ProtocolError(f"share of {len(cipher)} bytes")
        self._check(self.lib.lib.tinyfl_secagg_receive(self.state, sender, _buf(cipher)), "receive")

    def noise(self, policy: Policy, x: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(x, dtype=np.int32).copy()
        self._check(self.lib.lib.tinyfl_secagg_add_noise(ctypes.byref(Config.of(policy)), self.drbg,
                                                         x.ctypes.data_as(_i32p), x.size), "noise")
        return x

    def mask(self, policy: Policy, x: np.ndarray, alive: list[int], cohort: int) -> np.ndarray:
        x = np.ascontiguousarray(x, dtype=np.int32)
        y = np.zeros(x.size, dtype=np.uint32)
        self._check(self.lib.lib.tinyfl_secagg_mask(
            self.state, ctypes.byref(Config.of(policy)), x.ctypes.data_as(_i32p), x.size,
            _ids(alive), len(alive), cohort, y.ctypes.data_as(_u32p)), "mask")
        return y

    def unmask(self, policy: Policy, survived: list[int], cohort: int) -> list[bytes]:
        out = _out(REVEAL_SIZE * MAX_NEIGHBOURS)
        count = _sz(0)
        self._check(self.lib.lib.tinyfl_secagg_unmask(
            self.state, ctypes.byref(Config.of(policy)), _ids(survived), len(survived), cohort, out,
            ctypes.byref(count)), "unmask")
        raw = bytes(out)
        return [raw[j * REVEAL_SIZE:(j + 1) * REVEAL_SIZE] for j in range(count.value)]
