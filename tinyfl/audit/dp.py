"""The empirical DP audit of the device's release mechanism (Jagielski, Ullman, Oprea, NeurIPS
2020): runs with and without a canary, a distinguishing test on the received integers,
Clopper-Pearson bounds, eps_LB next to the claimed eps.

Two parts, one canary (tinyfl.audit.canary):
- the mechanism: the firmware's own protection code (tinyfl_protect.c with the exact discrete
  Gaussian sampler and the ChaCha20 generator), compiled for the host and driven through
  ctypes for hundreds of thousands of releases: tight enough to get close to the claim;
- the device: whole firmware images on emulated boards, round after round over the wire, with
  two tests (the canary release alone; the canary release minus the reference release before
  it, which cancels repeated noise) and plain invariants on the integers (noise variance,
  clean norm against the clip bound, fresh noise in consecutive releases). This is where a
  broken build (noise off, a reused seed, noise before clipping, a clip larger than told)
  shows.

What eps_LB is compared with: the two worlds differ in one sample of one round, and the
reference release is the same in both worlds, so a correct device's outputs are exactly as
distinguishable as one release: the claim is eps for one release under the replace relation
(sensitivity 2C), RDP (the device's budget figure) and PLD (tighter).
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Callable

import numpy as np

from .canary import Canary, make_canary
from .stats import Distinguisher, audit_scores

__all__ = [
    "BROKEN_VARIANTS",
    "DpAuditConfig",
    "MechanismAudit",
    "DeviceAudit",
    "Invariant",
    "DpAudit",
    "audit_mechanism",
    "audit_device",
    "check_invariants",
    "check_coordinates",
    "check_replays",
    "coordinate_noise",
    "run_dp_audit",
]

# The deliberately broken test-only firmware variants the audit must fail (firmware/tinyfl_config.h).
BROKEN_VARIANTS: dict[str, dict[str, Any]] = {
    "no_noise": {"TINYFL_TEST_NO_NOISE": None},
    "reuse_seed": {"TINYFL_TEST_REUSE_SEED": None},
    "noise_before_clip": {"TINYFL_TEST_NOISE_BEFORE_CLIP": None},
    "clip_scale": {"TINYFL_TEST_CLIP_SCALE_LOG2": 2},
    # class 0's bias sent without noise (the index is the head's: see DpAuditConfig.defines)
    "unnoised_coord": {"TINYFL_TEST_UNNOISED_COORD": "bias of class 0"},
    "constant_key": {"TINYFL_TEST_CONSTANT_KEY": None},
}
TIGHT_FRACTION = 0.5  # eps_LB below half the PLD claim: the audit is too weak to mean anything
INVARIANT_SIGMAS = 5.0  # plain checks fail only far outside their sampling noise
# family-wise chance that a correct device fails one per-coordinate check (Bonferroni over the
# coordinates; the same order as a 5-sigma two-sided test)
COORDINATE_ALPHA = 1e-6


@dataclass(frozen=True)
class DpAuditConfig:
    """The setting the mechanism is audited at. The firmware code is the same for any noise
    multiplier; z = 3 puts the one-release claim (2.98 RDP, 2.75 PLD) where a few hundred
    thousand trials can approach it, and about a thousand per world refute a broken device
    (a few hundred when it sends deterministic integers)."""

    noise_multiplier: float = 3.0
    clip: float = 1.0
    grid_bits: int = 8
    delta: float = 1e-5
    alpha: float = 0.05  # each eps_LB holds with confidence 1 - alpha
    mechanism_trials: int = 400_000  # per world; 0 skips the mechanism part
    board_trials: int = 1024  # (reference, canary) release pairs per world; 0 skips the boards
    replay_releases: int = 16  # per boot and board: the reboot and cross-board checks
    configured_noise_multiplier: float | None = None  # the deployment's z: its device image is audited too
    board: str = "native"  # or "qemu"
    variant: str | None = None  # one of BROKEN_VARIANTS: audit a deliberately broken build
    n_classes: int = 4  # the head under audit: BasicMotions with the stats backbone
    n_channels: int = 6
    n_steps: int = 100
    seed: int = 0  # the audit's own choices (canary window, selection split), never the noise

    def defines(self) -> dict[str, Any] | None:
        if self.variant is None:
            return None
        if self.variant not in BROKEN_VARIANTS:
            raise ValueError(f"unknown variant {self.variant!r}: {', '.join(BROKEN_VARIANTS)}")
        out = dict(BROKEN_VARIANTS[self.variant])
        if "TINYFL_TEST_UNNOISED_COORD" in out:  # biases follow the n_classes x n_features weights
            out["TINYFL_TEST_UNNOISED_COORD"] = self.n_classes * 4 * self.n_channels
        return out

    def test_seed(self) -> int | None:
        return 1 if self.variant == "reuse_seed" else None


@dataclass(frozen=True)
class Claim:
    rdp: float
    pld: float


def _claim(config: DpAuditConfig) -> Claim:
    from ..privacy import effective_noise_multiplier, epsilon, epsilon_pld

    z = effective_noise_multiplier(config.noise_multiplier)
    return Claim(epsilon(z, 1, config.delta), epsilon_pld(z, 1, config.delta))


def _histogram(pos: np.ndarray, neg: np.ndarray, bins: int = 80) -> dict[str, list[float]]:
    lo, hi = float(min(pos.min(), neg.min())), float(max(pos.max(), neg.max()))
    if hi <= lo:
        hi = lo + 1.0
    edges = np.linspace(lo, hi, bins + 1)
    return {"edges": edges.tolist(), "with_canary": np.histogram(pos, edges)[0].tolist(),
            "without_canary": np.histogram(neg, edges)[0].tolist()}


@dataclass
class MechanismAudit:
    trials_per_world: int
    distinguisher: Distinguisher
    claim_rdp: float
    claim_pld: float
    canary_distance_c: float  # |clean_in - clean_out| / C (at most 2)
    seconds: float
    histogram: dict[str, list[float]] = field(repr=False)

    @property
    def eps_lower_bound(self) -> float:
        return self.distinguisher.eps_lower_bound

    @property
    def passed(self) -> bool:
        return self.eps_lower_bound <= self.claim_rdp

    @property
    def tight(self) -> bool:
        return self.eps_lower_bound >= TIGHT_FRACTION * self.claim_pld

    def to_dict(self) -> dict[str, Any]:
        return {"trials_per_world": self.trials_per_world, "eps_lower_bound": self.eps_lower_bound,
                "claim_rdp": self.claim_rdp, "claim_pld": self.claim_pld,
                "fraction_of_pld_claim": self.eps_lower_bound / self.claim_pld if self.claim_pld else None,
                "passed": self.passed, "tight": self.tight,
                "canary_distance_c": self.canary_distance_c,
                "distinguisher": self.distinguisher.to_dict(), "seconds": round(self.seconds, 3),
                "histogram": self.histogram}


@dataclass(frozen=True)
class Invariant:
    name: str
    passed: bool
    value: float
    limit: str
    detail: str

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["value"] = self.value if math.isfinite(self.value) else None
        return out


@dataclass
class DeviceAudit:
    board: str
    variant: str | None
    trials_per_world: int
    boards_started: int
    test_build: bool
    distinguishers: list[Distinguisher]
    invariants: list[Invariant]
    claim_rdp: float
    claim_pld: float
    seconds: float
    histogram: dict[str, list[float]] = field(repr=False)

    @property
    def eps_lower_bound(self) -> float:
        return max(d.eps_lower_bound for d in self.distinguishers)

    @property
    def statistical_pass(self) -> bool:
        return self.eps_lower_bound <= self.claim_rdp

    @property
    def invariants_pass(self) -> bool:
        return all(i.passed for i in self.invariants)

    @property
    def passed(self) -> bool:
        return self.statistical_pass and self.invariants_pass

    def to_dict(self) -> dict[str, Any]:
        return {"board": self.board, "variant": self.variant, "trials_per_world": self.trials_per_world,
                "boards_started": self.boards_started, "test_build": self.test_build,
                "eps_lower_bound": self.eps_lower_bound, "claim_rdp": self.claim_rdp,
                "claim_pld": self.claim_pld, "statistical_pass": self.statistical_pass,
                "invariants_pass": self.invariants_pass, "passed": self.passed,
                "distinguishers": [d.to_dict() for d in self.distinguishers],
                "invariants": [i.to_dict() for i in self.invariants],
                "seconds": round(self.seconds, 3), "histogram": self.histogram}


@dataclass
class DpAudit:
    config: DpAuditConfig
    mechanism: MechanismAudit | None
    device: DeviceAudit | None  # at the audit's tight setting (config.noise_multiplier)
    configured: DeviceAudit | None = None  # the same checks on the image at the deployment's z

    def parts(self) -> list[tuple[str, Any]]:
        z = self.config.configured_noise_multiplier
        return [(label, part) for label, part in (
            ("mechanism", self.mechanism), (f"device at z = {self.config.noise_multiplier:g}", self.device),
            (f"device at the configured z = {z:g}" if z is not None else "device", self.configured))
            if part is not None]

    @property
    def passed(self) -> bool:
        return all(part.passed for _, part in self.parts())

    @property
    def verdict(self) -> str:
        return "pass" if self.passed else "fail"

    def findings(self) -> list[str]:
        """Plain sentences: what failed, and whether the audit was strong enough."""
        out = []
        for label, part in self.parts():
            if part.eps_lower_bound > part.claim_rdp:
                out.append(f"{label}: eps_LB {part.eps_lower_bound:.2f} exceeds the claimed "
                           f"{part.claim_rdp:.2f} (one release, RDP): the claim is false")
            out += [f"{label}: invariant '{i.name}' fails: {i.detail}"
                    for i in getattr(part, "invariants", ()) if not i.passed]
        if self.mechanism is not None and not self.mechanism.tight:
            out.append(f"mechanism: eps_LB {self.mechanism.eps_lower_bound:.2f} is below half the "
                       f"PLD claim {self.mechanism.claim_pld:.2f}: the audit is too weak to mean "
                       "anything (more trials)")
        return out

    def to_dict(self) -> dict[str, Any]:
        cfg = asdict(self.config)
        return {"config": cfg, "verdict": self.verdict, "findings": self.findings(),
                "mechanism": self.mechanism.to_dict() if self.mechanism else None,
                "device": self.device.to_dict() if self.device else None,
                "configured": self.configured.to_dict() if self.configured else None}


def _canary(config: DpAuditConfig) -> Canary:
    return make_canary(config.n_classes, config.n_channels, config.n_steps, clip=config.clip,
                       grid_bits=config.grid_bits, seed=config.seed)


def _float_update(canary: Canary, label: int) -> np.ndarray:
    from ..device_model import head_train, stats_features

    h = stats_features(canary.window[None])
    trained = head_train(canary.head, h, np.array([label]), n_classes=canary.n_classes,
                         n_features=canary.n_features, lr=canary.lr, epochs=1, batch=1)
    return (trained - canary.head).astype(np.float32)


def audit_mechanism(config: DpAuditConfig, canary: Canary | None = None, *,
                    progress: Callable[[float], None] | None = None, chunk: int = 20_000) -> MechanismAudit:
    """The firmware's protection code on the canary's two updates, `mechanism_trials` releases
    each, generator keyed from os.urandom."""
    from ..privacy import noise_variance
    from .mechanism import mechanism_library

    started = time.monotonic()
    canary = canary or _canary(config)
    var = noise_variance(config.noise_multiplier, config.grid_bits)
    lib = mechanism_library()
    scores = {}
    total, done = 2 * config.mechanism_trials, 0
    for label in (canary.label_in, canary.label_out):
        update = _float_update(canary, label)
        parts = []
        for start in range(0, config.mechanism_trials, chunk):
            count = min(chunk, config.mechanism_trials - start)
            ints = lib.releases(update, count, clip=config.clip, grid_bits=config.grid_bits, noise_var=var)
            parts.append(canary.score(ints))
            done += count
            if progress is not None:
                progress(done / total)
        scores[label] = np.concatenate(parts)
    pos, neg = scores[canary.label_in], scores[canary.label_out]
    rng = np.random.default_rng(config.seed)
    d = audit_scores("projection on the canary direction", pos, neg, delta=config.delta,
                     alpha=config.alpha, rng=rng)
    claim = _claim(config)
    return MechanismAudit(config.mechanism_trials, d, claim.rdp, claim.pld,
                          canary.distance_steps / (1 << config.grid_bits), time.monotonic() - started,
                          _histogram(pos, neg))


def check_invariants(world_in: np.ndarray, world_out: np.ndarray, *, noise_var: float,
                     grid_bits: int) -> list[Invariant]:
    """Plain checks on (trials, 2, n) release pairs of each world, independent of any claim
    about eps: the noise has the promised variance, the clean update (the mean over trials)
    is within the clip bound, and consecutive releases carry independent noise."""
    groups = [world_in[:, 0], world_in[:, 1], world_out[:, 0], world_out[:, 1]]
    n = world_in.shape[2]
    means = [g.astype(np.float64).mean(axis=0) for g in groups]
    resid = [g - m for g, m in zip(groups, means)]
    ss = sum(float(np.sum(r * r)) for r in resid)
    dof = n * sum(len(g) - 1 for g in groups)
    v_hat = ss / dof
    ratio = v_hat / noise_var
    tol = INVARIANT_SIGMAS * math.sqrt(2.0 / dof)
    out = [Invariant("noise variance", abs(ratio - 1.0) <= tol, ratio, f"1 +- {tol:.3f}",
                     f"measured noise variance is {ratio:.4g} x the promised (z 2^k)^2 grid steps^2")]

    # |mean|^2 is |clean|^2 plus n v / T of noise, with sd sqrt(2 n v^2 / T^2 + 4 |clean|^2 v / T)
    bound2 = float(4 ** grid_bits)
    worst_z, worst_norm = -math.inf, 0.0
    for g, m in zip(groups, means):
        t = len(g)
        excess = float(m @ m) - n * v_hat / t - bound2
        sd = math.sqrt(2 * n * v_hat ** 2 / t ** 2 + 4 * bound2 * v_hat / t) or 1e-12
        if excess / sd > worst_z:
            worst_z = excess / sd
            worst_norm = math.sqrt(max(float(m @ m) - n * v_hat / t, 0.0)) / (1 << grid_bits)
    out.append(Invariant("clean norm within the clip bound", worst_z <= INVARIANT_SIGMAS, worst_norm,
                         "<= 1 C (+ sampling noise)",
                         f"the largest mean release has norm {worst_norm:.3f} C after removing the noise's "
                         f"share ({worst_z:+.1f} sd beyond C)"))

    num = sum(float(np.sum(resid[a] * resid[b])) for a, b in ((0, 1), (2, 3)))
    den = math.sqrt(sum(float(np.sum(resid[a] ** 2)) for a in (0, 2)) *
                    sum(float(np.sum(resid[b] ** 2)) for b in (1, 3)))
    pairs = len(world_in) + len(world_out)
    rho = num / den if den > 0 else math.nan
    limit = INVARIANT_SIGMAS / math.sqrt(n * pairs)
    out.append(Invariant("fresh noise in consecutive releases", math.isfinite(rho) and abs(rho) <= limit,
                         rho, f"|rho| <= {limit:.3f}",
                         f"correlation of the noise in consecutive releases: {rho:.3g}" if math.isfinite(rho)
                         else "no noise to correlate"))
    return out


def coordinate_noise(world_in: np.ndarray, world_out: np.ndarray, canary: Canary) -> np.ndarray:
    """(draws, n): every received integer minus the grid value an honest noise-free device sends
    for that sample (the reference and the world-D canary give clean_in, the world-D' canary
    clean_out), so each column holds the noise of one coordinate."""
    return np.concatenate([world_in[:, 0] - canary.clean_in, world_in[:, 1] - canary.clean_in,
                           world_out[:, 0] - canary.clean_in, world_out[:, 1] - canary.clean_out])


def _ks_discrete(noise: np.ndarray, sigma: float) -> np.ndarray:
    """Per column, the Kolmogorov-Smirnov distance between the integers' empirical CDF and the
    discrete Gaussian's, P(X <= x) = Phi((x + 1/2) / sigma) at sigma >= 1 grid step (the
    half-step continuity term is the discrete mass; its error is far below the test's
    resolution). Measured at both sides of every jump, as for any discrete law."""
    from scipy.stats import norm

    x = np.sort(noise.astype(np.float64), axis=0)
    n = x.shape[0]
    cdf_at = norm.cdf((x + 0.5) / sigma)  # P(X <= x)
    cdf_below = norm.cdf((x - 0.5) / sigma)  # P(X < x)
    # empirical P(X <= x) and P(X < x) at each sorted value (ties: the last and first of a run)
    right = np.empty_like(x)
    left = np.empty_like(x)
    for j in range(x.shape[1]):
        col = x[:, j]
        right[:, j] = np.searchsorted(col, col, side="right") / n
        left[:, j] = np.searchsorted(col, col, side="left") / n
    return np.maximum((right - cdf_at).max(axis=0), (cdf_below - left).max(axis=0))


def check_coordinates(noise: np.ndarray, noise_var: float, *, alpha: float = COORDINATE_ALPHA) -> list[Invariant]:
    """Every coordinate's noise on its own: its variance (sum of squares / sigma^2 is chi-square
    with `draws` degrees of freedom) and its distribution (Kolmogorov-Smirnov against the
    discrete Gaussian), each two-sided at alpha / n per coordinate (Bonferroni), so a correct
    device fails with probability at most alpha. A coordinate sent without noise (variance 0),
    with too little or too much noise, or off its clean value shows here even when the total
    over all coordinates looks right. The Kolmogorov p-value is conservative for a discrete
    law: never a false FAIL from discreteness."""
    from scipy.stats import chi2, kstwo

    e = np.asarray(noise, dtype=np.float64)
    draws, n = e.shape
    per = alpha / n
    ratio = (e * e).sum(axis=0) / (noise_var * draws)
    lo, hi = chi2.ppf(per / 2, draws) / draws, chi2.isf(per / 2, draws) / draws
    worst = int(np.argmax(np.abs(np.log(np.maximum(ratio, 1e-300)))))
    bad = np.flatnonzero((ratio < lo) | (ratio > hi))
    detail = (f"noise variance per coordinate / sigma^2: {ratio.min():.3g} to {ratio.max():.3g} over {n} "
              f"coordinates ({draws} draws each)")
    if bad.size:
        detail += f"; outside [{lo:.3f}, {hi:.3f}]: coordinate(s) {', '.join(map(str, bad[:8]))}"
    out = [Invariant("noise variance of every coordinate", bad.size == 0, float(ratio[worst]),
                     f"each in [{lo:.3f}, {hi:.3f}]", detail)]

    d = _ks_discrete(e, math.sqrt(noise_var))
    p = kstwo.sf(d, draws)
    bad = np.flatnonzero(p < per)
    worst = int(np.argmin(p))
    detail = (f"largest distance from the discrete Gaussian: {d[worst]:.3g} at coordinate {worst} "
              f"(p = {p[worst]:.2g}, Bonferroni limit {per:.2g})")
    if bad.size:
        detail += f"; failing coordinate(s) {', '.join(map(str, bad[:8]))}"
    out.append(Invariant("noise distribution of every coordinate", bad.size == 0, float(p[worst]),
                         f"p >= {per:.2g} per coordinate", detail))
    return out


def _noise_correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Correlation of the noise in two series of releases of the same samples, each centred on
    its own mean per coordinate (the clean update drops out, whatever it is)."""
    x = a.astype(np.float64) - a.mean(axis=0)
    y = b.astype(np.float64) - b.mean(axis=0)
    den = math.sqrt(float(np.sum(x * x)) * float(np.sum(y * y)))
    return float(np.sum(x * y)) / den if den > 0 else math.nan


def check_replays(first_boot: np.ndarray, second_boot: np.ndarray, other_board: np.ndarray) -> list[Invariant]:
    """The same data and head after a reboot, and on another board, must give fresh noise: a
    key that is the same on every boot (or on every board) repeats its releases bit for bit,
    and anyone with the firmware image strips the noise. Each correlation is about
    N(0, 1 / (n (releases - 1))) for a correct device."""
    releases, n = first_boot.shape
    limit = INVARIANT_SIGMAS / math.sqrt(n * (releases - 1))
    out = []
    for name, other, what in (("fresh noise after a reboot", second_boot, "the same board after a reboot"),
                              ("independent noise across boards", other_board, "a second board")):
        rho = _noise_correlation(first_boot, other)
        same = int(np.sum(np.all(first_boot == other, axis=1)))
        ok = math.isfinite(rho) and abs(rho) <= limit and same == 0
        detail = (f"{same} of {releases} releases bit-identical with {what} on the same data; noise "
                  f"correlation {rho:.3g}" if math.isfinite(rho) else f"no noise to correlate with {what}")
        out.append(Invariant(name, ok, rho, f"|rho| <= {limit:.3f}, no identical release", detail))
    return out


def audit_device(config: DpAuditConfig, canary: Canary | None = None, *,
                 progress: Callable[[float], None] | None = None) -> DeviceAudit:
    """Whole firmware images on emulated boards: `board_trials` release pairs per world."""
    from ..privacy import noise_variance
    from .boards import audit_firmware, collect_board_releases, collect_replays

    started = time.monotonic()
    canary = canary or _canary(config)
    firmware, fw_config = audit_firmware(config.board, canary, n_channels=config.n_channels,
                                         n_steps=config.n_steps, noise_multiplier=config.noise_multiplier,
                                         delta=config.delta, defines=config.defines(),
                                         test_seed=config.test_seed())
    releases = collect_board_releases(
        config.board, firmware, fw_config, canary, config.board_trials,
        progress=(lambda got: progress(got / config.board_trials)) if progress else None)
    w_in, w_out = releases.world_in, releases.world_out
    rng = np.random.default_rng(config.seed)
    alpha = config.alpha / 2  # two tests on the same trials: Bonferroni
    single = audit_scores("canary release", canary.score(w_in[:, 1]), canary.score(w_out[:, 1]),
                          delta=config.delta, alpha=alpha, rng=rng)
    paired = audit_scores("canary minus reference release", canary.score(w_in[:, 1] - w_in[:, 0]),
                          canary.score(w_out[:, 1] - w_out[:, 0]), delta=config.delta, alpha=alpha, rng=rng)
    num, den = noise_variance(config.noise_multiplier, config.grid_bits)
    invariants = check_invariants(w_in, w_out, noise_var=num / den, grid_bits=config.grid_bits)
    invariants += check_coordinates(coordinate_noise(w_in, w_out, canary), num / den)
    if config.replay_releases >= 2:
        replays = collect_replays(config.board, firmware, canary, config.replay_releases)
        invariants += check_replays(replays.first_boot, replays.second_boot, replays.other_board)
    claim = _claim(config)
    return DeviceAudit(config.board, config.variant, config.board_trials, releases.boards_started,
                       releases.test_build, [single, paired], invariants, claim.rdp, claim.pld,
                       time.monotonic() - started,
                       _histogram(canary.score(w_in[:, 1]), canary.score(w_out[:, 1]), bins=40))


def run_dp_audit(config: DpAuditConfig, *, progress: Callable[[str, float], None] | None = None) -> DpAudit:
    """Both parts (a part with 0 trials is skipped); the mechanism part never runs a variant
    (variants live in the device runtime)."""
    canary = _canary(config)
    say = progress or (lambda _what, _frac: None)
    mechanism = None
    if config.mechanism_trials > 0 and config.variant is None:
        mechanism = audit_mechanism(config, canary, progress=lambda f: say("mechanism", f))
    device = configured = None
    if config.board_trials > 0:
        device = audit_device(config, canary, progress=lambda f: say("device", f))
        z = config.configured_noise_multiplier
        if z is not None and z != config.noise_multiplier:
            # the deployment's image: a noise or key bug that shows only at its own z shows here
            configured = audit_device(replace(config, noise_multiplier=float(z)), canary,
                                      progress=lambda f: say(f"device at z = {z:g}", f))
    return DpAudit(config, mechanism, device, configured)
