"""What the server has for one update (`AttackInput`), read from a recorded run or simulated.

The received update is u = values * grid_step = clip(head_after - head_sent, C') + noise, with
C' = C - sqrt(d)/2 * grid_step (the device clips a little inside C so the rounded integers stay
within 2^k steps) and discrete Gaussian noise of standard deviation z * C per coordinate.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

__all__ = ["Auxiliary", "AttackInput", "ClassStats", "updates_from_run", "simulate_input",
           "median_update_norm"]

FeatureFn = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class ClassStats:
    """Per-class Gaussian model of the auxiliary features (or inputs)."""

    means: np.ndarray  # (K, F)
    covariances: np.ndarray  # (K, F, F), shrunk towards the pooled within-class covariance
    precisions: np.ndarray  # (K, F, F)
    logdets: np.ndarray  # (K,)
    priors: np.ndarray  # (K,) class frequencies, floored so no class is impossible
    global_mean: np.ndarray  # (F,)
    lower: np.ndarray  # (F,) lowest auxiliary value of each coordinate


def class_stats(values: np.ndarray, labels: np.ndarray, n_classes: int) -> ClassStats:
    """Class means and covariances. Few samples per class (10 in BasicMotions) give singular
    covariances: each is shrunk towards the pooled within-class covariance with weight
    F / (F + n_c), plus a small ridge so dead (always-zero) ReLU units keep a finite precision."""
    x = np.asarray(values, dtype=np.float64).reshape(len(values), -1)
    y = np.asarray(labels).astype(np.int64).reshape(-1)
    f = x.shape[1]
    global_mean = x.mean(axis=0)
    means = np.tile(global_mean, (n_classes, 1))
    counts = np.bincount(y, minlength=n_classes)[:n_classes]
    centered = np.zeros_like(x)
    for c in range(n_classes):
        if counts[c]:
            means[c] = x[y == c].mean(axis=0)
            centered[y == c] = x[y == c] - means[c]
    pooled = centered.T @ centered / max(1, len(x) - int(np.count_nonzero(counts)))
    ridge = 1e-4 * max(float(np.trace(pooled)) / f, 1e-12)
    covs = np.empty((n_classes, f, f))
    for c in range(n_classes):
        own = (centered[y == c].T @ centered[y == c] / max(1, counts[c] - 1)) if counts[c] > 1 else pooled
        weight = counts[c] / (counts[c] + f)
        covs[c] = weight * own + (1 - weight) * pooled + ridge * np.eye(f)
    precisions = np.linalg.inv(covs)
    logdets = np.linalg.slogdet(covs)[1]
    priors = np.maximum(counts, 0.5) / max(1.0, float(np.maximum(counts, 0.5).sum()))
    return ClassStats(means, covs, precisions, logdets, priors, global_mean, x.min(axis=0))


@dataclass(frozen=True)
class Auxiliary:
    """Public labelled data from the same distribution as the devices' (never their own).

    features: what the backbone gives for `inputs` (or features known directly); inputs: raw
    windows/images, needed only to invert features to raw input."""

    features: np.ndarray  # (n, F)
    labels: np.ndarray  # (n,)
    inputs: np.ndarray | None = None  # (n, *sample_shape), same order
    _cache: dict = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_inputs(cls, inputs: np.ndarray, labels: np.ndarray, feature_fn: FeatureFn) -> Auxiliary:
        x = np.asarray(inputs, dtype=np.float32)
        return cls(np.asarray(feature_fn(x), dtype=np.float64), np.asarray(labels).astype(np.int64), x)

    def stats(self, n_classes: int) -> ClassStats:
        key = ("features", n_classes)
        if key not in self._cache:
            self._cache[key] = class_stats(self.features, self.labels, n_classes)
        return self._cache[key]

    def input_stats(self, n_classes: int) -> ClassStats:
        if self.inputs is None:
            raise ValueError("the auxiliary data holds no raw inputs")
        key = ("inputs", n_classes)
        if key not in self._cache:
            self._cache[key] = class_stats(self.inputs.reshape(len(self.inputs), -1), self.labels,
                                           n_classes)
        return self._cache[key]


@dataclass(frozen=True)
class AttackInput:
    """One received update and everything the server knows about how it was made."""

    values: np.ndarray  # int64: the integers received
    grid_step: float  # float value of one integer step (C / 2^k), from the update
    params: np.ndarray  # float32: the head the server sent (W row-major, then b)
    n_classes: int
    n_features: int
    lr: float
    epochs: int
    batch: int
    clip: float  # C, announced by the device
    noise_multiplier: float  # z: noise std / C per coordinate, the device's effective value
    grid_bits: int
    sample_count: int  # from the update
    device: str = ""
    round: int = 0
    aux: Auxiliary | None = None
    feature_fn: FeatureFn | None = None  # the public backbone, if known

    def __post_init__(self) -> None:
        k, f = self.n_classes, self.n_features
        if np.shape(self.values) != (k * (f + 1),) or np.shape(self.params) != (k * (f + 1),):
            raise ValueError(f"values and params must hold {k * (f + 1)} numbers")
        if self.sample_count < 1:
            raise ValueError("an update trained on no samples")

    @property
    def update(self) -> np.ndarray:
        """The received update in float (float64)."""
        return np.asarray(self.values, dtype=np.float64) * float(self.grid_step)

    @property
    def d_weights(self) -> np.ndarray:
        """(K, F) weight part of the update (after - sent)."""
        k, f = self.n_classes, self.n_features
        return self.update[: k * f].reshape(k, f)

    @property
    def d_bias(self) -> np.ndarray:
        return self.update[self.n_classes * self.n_features:]

    @property
    def weights(self) -> np.ndarray:
        k, f = self.n_classes, self.n_features
        return np.asarray(self.params, dtype=np.float64)[: k * f].reshape(k, f)

    @property
    def bias(self) -> np.ndarray:
        return np.asarray(self.params, dtype=np.float64)[self.n_classes * self.n_features:]

    @property
    def n_params(self) -> int:
        return self.n_classes * (self.n_features + 1)

    @property
    def noise_std(self) -> float:
        """Noise standard deviation per coordinate, float units (z * C)."""
        return float(self.noise_multiplier) * float(self.clip)

    @property
    def clip_target(self) -> float:
        """The L2 bound the device clips the float update to before rounding."""
        return float(self.clip) - 0.5 * np.sqrt(self.n_params) * float(self.grid_step)

    @property
    def residual_var(self) -> float:
        """Variance per coordinate of (received - clipped update): noise plus rounding."""
        return self.noise_std ** 2 + float(self.grid_step) ** 2 / 12.0

    def with_knowledge(self, aux: Auxiliary | None = None,
                       feature_fn: FeatureFn | None = None) -> AttackInput:
        return replace(self, aux=aux if aux is not None else self.aux,
                       feature_fn=feature_fn if feature_fn is not None else self.feature_fn)


def _hello_for(hellos: Sequence[dict[str, Any]], t: float) -> dict[str, Any] | None:
    """The device's last hello before time t (its settings then), else its first."""
    if not hellos:
        return None
    before = [h for h in hellos if h.get("t", 0.0) <= t]
    return before[-1] if before else hellos[0]


def updates_from_run(run_dir: str | Path, *, aux: Auxiliary | None = None,
                     feature_fn: FeatureFn | None = None) -> list[AttackInput]:
    """Every update recorded in a run, with the head and settings the server sent for it.

    Reads only the record (frames decoded as the live host decoded them, hellos, config): no
    live link. An update is kept when it answers a global model sent to that device (same
    round and nonce); the device's privacy settings come from its last hello before the update
    (config.json as a fallback).
    """
    from ..fleet import RunReader
    from ..privacy.noise import effective_noise_multiplier

    reader = RunReader(run_dir)
    sent = reader.sent_globals()
    hellos = reader.hellos
    config_dp = reader.config.get("devices_dp", {})
    out: list[AttackInput] = []
    for rm in reader.updates():
        m = rm.message
        g = sent.get(m.round, {}).get(rm.device)
        if g is None or g.nonce != m.nonce or (g.n_classes, g.n_features) != (m.n_classes, m.n_features):
            continue
        dp = _hello_for(hellos.get(rm.device, []), rm.t) or config_dp.get(rm.device)
        if dp is None:
            raise ValueError(f"{run_dir}: no hello or DP config for device {rm.device}")
        out.append(AttackInput(
            values=np.asarray(m.values, dtype=np.int64), grid_step=float(m.grid_step),
            params=np.asarray(g.params, dtype=np.float32), n_classes=int(g.n_classes),
            n_features=int(g.n_features), lr=float(g.lr), epochs=int(g.local_epochs),
            batch=int(g.batch_size), clip=float(dp["clip"]),
            noise_multiplier=effective_noise_multiplier(float(dp["noise_multiplier"])),
            grid_bits=int(dp["grid_bits"]), sample_count=int(m.sample_count), device=rm.device,
            round=int(m.round), aux=aux, feature_fn=feature_fn))
    return out


def simulate_input(params: np.ndarray, features: np.ndarray, labels: np.ndarray, *, n_classes: int,
                   n_features: int, lr: float, epochs: int, batch: int, clip: float,
                   noise_multiplier: float, grid_bits: int = 8, seed: int = 0, device: str = "sim",
                   round_number: int = 1, aux: Auxiliary | None = None,
                   feature_fn: FeatureFn | None = None) -> AttackInput:
    """What the server would receive from an honest device (tinyfl.device_model.device_round:
    same float32 training, clipping, grid and exact discrete Gaussian integers) trained on
    `features`/`labels` in that order. noise_multiplier 0: a test build without noise."""
    from ..device_model import ChaCha20Drbg, device_round, fixed_seed_bytes, grid_step
    from ..privacy.noise import effective_noise_multiplier

    h = np.asarray(features, dtype=np.float32).reshape(-1, n_features)
    z = effective_noise_multiplier(noise_multiplier) if noise_multiplier > 0 else 0.0
    # a fixed generator per (seed, round): reproducible experiments, never a device's stream
    drbg = ChaCha20Drbg(fixed_seed_bytes(seed, round_number)) if z > 0 else None
    _, values = device_round(np.asarray(params, dtype=np.float32), h, np.asarray(labels),
                             n_classes=n_classes, n_features=n_features, lr=lr, epochs=epochs,
                             batch=batch, clip=clip, grid_bits=grid_bits,
                             noise_multiplier=z if z > 0 else None, drbg=drbg)
    return AttackInput(values=np.asarray(values, dtype=np.int64),
                       grid_step=float(grid_step(clip, grid_bits)),
                       params=np.asarray(params, dtype=np.float32), n_classes=n_classes,
                       n_features=n_features, lr=float(np.float32(lr)), epochs=epochs, batch=batch,
                       clip=clip, noise_multiplier=z, grid_bits=grid_bits, sample_count=len(h),
                       device=device, round=round_number, aux=aux, feature_fn=feature_fn)


def median_update_norm(params: np.ndarray, features: np.ndarray, labels: np.ndarray, *,
                       n_classes: int, n_features: int, lr: float, epochs: int, batch: int,
                       per_update: int = 1) -> float:
    """Median L2 norm of unclipped updates over consecutive groups of `per_update` samples:
    the usual choice of clip bound C (PRIVACY_NOTES)."""
    from ..device_model import head_train

    p = np.asarray(params, dtype=np.float32)
    h = np.asarray(features, dtype=np.float32).reshape(-1, n_features)
    y = np.asarray(labels)
    norms = []
    for start in range(0, len(h) - per_update + 1, per_update):
        trained = head_train(p, h[start:start + per_update], y[start:start + per_update],
                             n_classes=n_classes, n_features=n_features, lr=lr, epochs=epochs,
                             batch=batch)
        norms.append(float(np.linalg.norm((trained - p).astype(np.float64))))
    if not norms:
        raise ValueError("not enough samples for one update")
    return float(np.median(norms))
