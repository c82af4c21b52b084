"""The device's privacy ledger arithmetic, bit for bit (firmware/tinyfl_rdp.c, tinyfl_ledger.c).

The ledger stores the privacy loss itself, not a count of releases: the accumulated Renyi DP
of all releases at each order of RDP_ORDERS, as unsigned 32-bit fixed point in units of 2^-16
nats. Each firmware image adds its own per-release RDP curve (computed here at build time with
dp-accounting, rounded UP so the device never under-reports); a value that would pass 2^32 - 1
saturates to UNBOUNDED, which means "no bound at this order". eps comes from the stored curve by
the same conversion as dp-accounting's RdpAccountant (compute_epsilon), with the per-order
delta term rounded up at build time, so a reflash with another DP configuration composes
correctly: what was spent stays spent.

Used to render tinyfl_config_gen.h, by tests (C == Python) and by the host to predict what a
device reports. decode_flash_log reads the ledger a board keeps as an append-only log on raw
flash (firmware/tinyfl_flashlog.c) from an image of that region.
"""
from __future__ import annotations

import math
import struct
import zlib
from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "RDP_ORDERS",
    "UNIT",
    "UNBOUNDED",
    "EPS_UNBOUNDED",
    "LEDGER_VERSION",
    "LEDGER_SIZE",
    "RdpCurve",
    "Ledger",
    "release_rdp_units",
    "curve_for",
    "eps_units",
    "eps_float",
    "releases_left",
    "encode_record",
    "decode_record",
    "decode_flash_log",
]

# The orders of the ledger format (version 3): dp-accounting's default RDP orders, fixed here
# so that the ledger's meaning never depends on the installed dp-accounting.
RDP_ORDERS: tuple[float, ...] = (
    tuple(1 + x / 10.0 for x in range(1, 100)) + tuple(float(a) for a in range(11, 64)) + (128.0, 256.0, 512.0, 1024.0)
)
UNIT = 1 << 16  # fixed point: units of 2^-16 nats
UNBOUNDED = 0xFFFFFFFF  # a saturated order: no bound there
EPS_UNBOUNDED = None  # eps_units() when every order is saturated
MAX_RELEASES = 0xFFFF  # the wire's release counters are u16

LEDGER_MAGIC = 0x4C4C4654  # "TFLL"
LEDGER_VERSION = 3
_HEADER = struct.Struct("<IHHIIII")  # magic, version, releases_done, last_round, boot_count, config_id, last_run
LEDGER_SIZE = _HEADER.size + 4 * len(RDP_ORDERS) + 4


@dataclass(frozen=True)
class RdpCurve:
    """What one firmware image compiles in: its per-release RDP and the eps conversion terms."""

    per_release: tuple[int, ...]  # units, rounded up; UNBOUNDED where the loss has no bound
    eps_offset: tuple[int, ...]  # log1p(-1/a) - log(delta * a) / (a - 1), units, rounded up
    kl_zero_below: int  # an order whose stored RDP is below this proves eps = 0 (KL bound)
    limit: int  # eps_limit in units, rounded down


def _per_order_rdp(noise_multiplier: float) -> np.ndarray:
    """RDP of one Gaussian release of this (applied) multiplier at every ledger order, by
    dp-accounting's RdpAccountant."""
    import dp_accounting
    from dp_accounting import rdp

    accountant = rdp.RdpAccountant(orders=list(RDP_ORDERS))
    accountant.compose(dp_accounting.GaussianDpEvent(noise_multiplier))
    # The accountant keeps its per-order RDP in _rdp; dp-accounting has no public getter.
    return np.asarray(accountant._rdp, dtype=np.float64)


def release_rdp_units(noise_multiplier: float, *, relation: str = "replace") -> tuple[int, ...]:
    """One release's RDP at each ledger order in units, rounded up (UNBOUNDED when z = 0).
    `noise_multiplier` is the multiplier the device applies (zn/zd)."""
    from .accounting import _applied

    z = _applied(float(noise_multiplier), relation)
    if z == 0:
        return (UNBOUNDED,) * len(RDP_ORDERS)
    out = []
    for value in _per_order_rdp(z):
        units = math.ceil(float(value) * UNIT) if math.isfinite(value) else UNBOUNDED
        out.append(min(max(units, 1), UNBOUNDED))  # a release always costs something
    return tuple(out)


def _eps_offsets(delta: float) -> tuple[int, ...]:
    out = []
    for a in RDP_ORDERS:
        term = math.log1p(-1.0 / a) - math.log(delta * a) / (a - 1.0)
        units = math.ceil(term * UNIT)
        if not -(2**31) <= units < 2**31:
            raise ValueError(f"delta {delta!r} is too small for the ledger's eps conversion")
        out.append(units)
    return tuple(out)


def curve_for(noise_multiplier: float, delta: float, eps_limit: float, *, exact: bool = False) -> RdpCurve:
    """The curve a firmware image with this DP configuration compiles in. exact=False rounds
    the multiplier to the fraction the device applies (tinyfl.privacy.noise)."""
    if not 0 < delta < 1:
        raise ValueError(f"delta must be in (0, 1), got {delta!r}")
    if not eps_limit >= 0 or math.isinf(eps_limit):
        raise ValueError(f"eps_limit must be finite and >= 0, got {eps_limit!r}")
    from .noise import effective_noise_multiplier  # noise builds on device_model, which uses this module

    z = float(noise_multiplier) if exact else effective_noise_multiplier(noise_multiplier)
    # KL bound of compute_epsilon: rdp < -log1p(-delta^2) gives eps = 0. For an integer r,
    # r < x holds exactly when r < ceil(x); a fresh ledger (all 0) then reports 0.
    kl = math.ceil(-math.log1p(-delta * delta) * UNIT)
    return RdpCurve(release_rdp_units(z), _eps_offsets(delta), kl, min(math.floor(eps_limit * UNIT), 2**62))


def _charged(rdp: tuple[int, ...] | list[int], per: tuple[int, ...] | None, times: int) -> list[int]:
    out = []
    for i, r in enumerate(rdp):
        if times == 0:
            out.append(r)
            continue
        p = UNBOUNDED if per is None else per[i]
        if r == UNBOUNDED or p == UNBOUNDED:
            out.append(UNBOUNDED)
        else:
            out.append(min(r + times * p, UNBOUNDED))
    return out


def eps_units(rdp, curve: RdpCurve, per: tuple[int, ...] | None = None, extra: int = 0) -> int | None:
    """eps of the ledger (after `extra` more releases of `per`) in units; None when unbounded."""
    best = None
    for i, r in enumerate(_charged(rdp, per, extra)):
        if r == UNBOUNDED:
            continue
        if r < curve.kl_zero_below:
            return 0
        e = r + curve.eps_offset[i]
        best = e if best is None or e < best else best
    return None if best is None else max(best, 0)


def eps_float(units: int | None) -> float:
    """What the device reports: units / 2^16 as float32, rounded up; FLT_MAX when unbounded."""
    if units is None:
        return float(np.finfo(np.float32).max)
    exact = units / UNIT
    f = np.float32(exact)
    if float(f) < exact:
        f = np.nextafter(f, np.float32(np.inf), dtype=np.float32)
    return float(f)


def releases_left(rdp, curve: RdpCurve, cap: int) -> int:
    """Largest k <= cap such that k more releases of this curve keep eps <= its limit."""
    def fits(k: int) -> bool:
        e = eps_units(rdp, curve, curve.per_release, k)
        return e is not None and e <= curve.limit

    lo, hi = 0, cap
    if not fits(0):
        return 0
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if fits(mid):
            lo = mid
        else:
            hi = mid - 1
    return lo


@dataclass
class Ledger:
    """The ledger record's content (firmware/tinyfl_ledger.h)."""

    releases_done: int = 0
    last_run: int = 0
    last_round: int = 0
    boot_count: int = 0
    config_id: int = 0
    rdp: list[int] = field(default_factory=lambda: [0] * len(RDP_ORDERS))

    def charge(self, curve: RdpCurve, run: int, round_: int) -> None:
        self.rdp = _charged(self.rdp, curve.per_release, 1)
        self.releases_done = min(self.releases_done + 1, MAX_RELEASES)
        self.last_run, self.last_round = run, round_

    def eps(self, curve: RdpCurve) -> float:
        return eps_float(eps_units(self.rdp, curve))

    def releases_max(self, curve: RdpCurve) -> int:
        return self.releases_done + releases_left(self.rdp, curve, MAX_RELEASES - self.releases_done)


def encode_record(ledger: Ledger, *, version: int = LEDGER_VERSION) -> bytes:
    body = _HEADER.pack(LEDGER_MAGIC, version, ledger.releases_done, ledger.last_round, ledger.boot_count,
                        ledger.config_id, ledger.last_run)
    body += struct.pack(f"<{len(RDP_ORDERS)}I", *ledger.rdp)
    return body + struct.pack("<I", zlib.crc32(body))


def decode_record(record: bytes) -> Ledger:
    """ValueError for anything the device would lock on."""
    if len(record) != LEDGER_SIZE:
        raise ValueError(f"ledger record is {len(record)} bytes, expected {LEDGER_SIZE}")
    magic, version, done, last_round, boots, config_id, last_run = _HEADER.unpack_from(record)
    if magic != LEDGER_MAGIC or version != LEDGER_VERSION:
        raise ValueError(f"not a version {LEDGER_VERSION} ledger record")
    if struct.unpack_from("<I", record, LEDGER_SIZE - 4)[0] != zlib.crc32(record[:-4]):
        raise ValueError("ledger record checksum mismatch")
    rdp = list(struct.unpack_from(f"<{len(RDP_ORDERS)}I", record, _HEADER.size))
    return Ledger(done, last_run, last_round, boots, config_id, rdp)


# The ledger as an append-only log on raw NOR flash (firmware/tinyfl_flashlog.c): entry headers
# with disjoint zero bits, entry lengths in words (header and check word included).
_H_CHECKPOINT, _H_CURVE, _H_RELEASE, _H_BOOT = 0xFFFFFF00, 0xFFFF00FF, 0xFF00FFFF, 0x00FFFFFF
_ERASED = 0xFFFFFFFF
_WORDS = {
    _H_CHECKPOINT: 7 + len(RDP_ORDERS),
    _H_CURVE: 2 + len(RDP_ORDERS),
    _H_RELEASE: 4,
    _H_BOOT: 2,
}


def _check(seq: int, offset: int, words) -> int:
    return zlib.crc32(struct.pack(f"<{2 + len(words)}I", seq, offset, *words)) & 0x7FFFFFFF


def decode_flash_log(image: bytes, page_size: int) -> Ledger | None:
    """The ledger a flash log region holds, replayed as the device does: None for a region never
    committed; ValueError where the device would lock. A torn release at the tail counts."""
    if page_size % 4 or len(image) % page_size or len(image) // page_size < 2:
        raise ValueError("flash image is not whole pages of whole words, at least two")
    n = page_size // 4
    pages = [struct.unpack_from(f"<{n}I", image, p * page_size) for p in range(len(image) // page_size)]
    ckpt = _WORDS[_H_CHECKPOINT]
    valid = [(w[1], p) for p, w in enumerate(pages)
             if w[0] == _H_CHECKPOINT and w[ckpt - 1] == _check(w[1], 0, w[:ckpt - 1])]
    if not valid:
        if all(v == _ERASED for v in pages[0][ckpt:]) and all(v == _ERASED for w in pages[1:] for v in w):
            return None  # fresh, or the first (empty) checkpoint was cut
        raise ValueError("flash log has no valid checkpoint")
    seq, page = max(valid)
    if [s for s, _ in valid].count(seq) > 1 or pages[page][-1] != _ERASED:
        raise ValueError("flash log's newest page is ambiguous or superseded")
    w = pages[page]
    ledger = Ledger(min(w[2], MAX_RELEASES), w[3], w[4], w[5], 0, list(w[6:6 + len(RDP_ORDERS)]))
    curve = None
    off, end = ckpt, n - 1
    while off < end and w[off] != _ERASED:
        h = w[off]
        size = _WORDS.get(h, 0)
        if h != _H_CHECKPOINT and size and off + size <= end and w[off + size - 1] == _check(seq, 4 * off, w[off:off + size - 1]):
            if h == _H_CURVE:
                curve = w[off + 1:off + 1 + len(RDP_ORDERS)]
            elif h == _H_RELEASE:
                if curve is None:
                    raise ValueError("flash log has a release before any curve")
                ledger.rdp = _charged(ledger.rdp, curve, 1)
                ledger.releases_done = min(ledger.releases_done + 1, MAX_RELEASES)
                ledger.last_run, ledger.last_round = w[off + 1], w[off + 2]
            else:
                ledger.boot_count += 1
            off += size
            continue
        meant = next((k for k in _WORDS if (~h & k) & _ERASED == 0), None)
        if meant in (None, _H_CHECKPOINT) or any(v != _ERASED for v in w[off + _WORDS[meant]:end]):
            raise ValueError(f"flash log is damaged at word {off}")
        if meant == _H_RELEASE:  # torn: not sent, but counted as spent
            if curve is None:
                raise ValueError("flash log has a release before any curve")
            ledger.rdp = _charged(ledger.rdp, curve, 1)
            ledger.releases_done = min(ledger.releases_done + 1, MAX_RELEASES)
        return ledger
    if any(v != _ERASED for v in w[off:end]):
        raise ValueError(f"flash log is damaged at word {off}")
    return ledger
