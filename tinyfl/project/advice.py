"""Before a run: will the configured noise leave the model anything to learn?

A quick simulation of the run on the project's own features (the host copy of the backbone):
devices train the head exactly as the firmware does (tinyfl.device_model.head_train), clip and
round to the grid like tinyfl_protect.c, and the server averages. The noise of the average is
drawn directly: N device releases each carry independent noise of stddev sigma (grid steps),
so their mean carries sigma / sqrt(N) per coordinate; a Gaussian of that stddev stands in for
the mean of N discrete Gaussians (their variances agree to within 1e-10 at sigma >= 1 grid
step). This estimates utility only; privacy is never estimated here.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["UtilityEstimate", "estimate_utility"]

MAX_SIMULATED_DEVICES = 64  # the averaged signal settles long before; the noise uses the real N


@dataclass(frozen=True)
class UtilityEstimate:
    devices: int
    rounds: int
    noise_multiplier: float
    start: float  # accuracy of the head the run starts from
    without_noise: float  # mean final accuracy, clip and grid but no noise
    with_noise: float  # mean final accuracy at the configured noise
    repeats: int

    @property
    def harmful(self) -> bool:
        """The noise costs more than a tenth of the accuracy the run could reach without it,
        and leaves the head below where it started."""
        return (self.with_noise < self.start - 0.05
                and self.with_noise < self.without_noise - 0.1 * max(self.without_noise, 1e-9))

    def message(self) -> str:
        text = (f"estimated accuracy after {self.rounds} rounds with {self.devices} devices: "
                f"{self.with_noise:.2f} at noise multiplier {self.noise_multiplier:g} "
                f"({self.without_noise:.2f} without noise; {self.start:.2f} at the start)")
        if self.harmful:
            text += ("; the noise will undo training: add devices, lower dp.noise_multiplier, or "
                     "accept a weaker privacy guarantee")
        return text


def _accuracy(params: np.ndarray, k: int, f: int, x: np.ndarray, y: np.ndarray) -> float:
    w, b = params[: k * f].reshape(k, f), params[k * f:]
    return float(np.mean(np.argmax(x @ w.T + b, axis=1) == y))


def estimate_utility(features_train: np.ndarray, y_train: np.ndarray, features_test: np.ndarray,
                     y_test: np.ndarray, head: np.ndarray, *, n_classes: int, devices: int,
                     rounds: int, samples_per_round: int, lr: float, local_epochs: int,
                     batch_size: int, server_lr: float, clip: float, grid_bits: int,
                     noise_multiplier: float, repeats: int = 3, seed: int = 0) -> UtilityEstimate:
    from ..device_model.head import head_train
    from ..device_model.protect import clip_and_round, grid_step
    from ..privacy.noise import noise_variance

    xf = np.asarray(features_train, dtype=np.float32)
    xt = np.asarray(features_test, dtype=np.float32)
    f = xf.shape[1]
    start = np.asarray(head, dtype=np.float32)
    step = float(grid_step(clip, grid_bits))
    num, den = noise_variance(noise_multiplier, grid_bits) if noise_multiplier > 0 else (0, 1)
    sigma = float(np.sqrt(num / den)) * step  # per coordinate, in head units
    simulated = min(devices, MAX_SIMULATED_DEVICES)

    def run(noisy: bool, rng: np.random.Generator) -> float:
        params = start.copy()
        shards = np.array_split(rng.permutation(len(xf)), simulated)
        for _ in range(rounds):
            total = np.zeros_like(params, dtype=np.float64)
            for shard in shards:
                if len(shard) == 0:
                    continue
                pick = rng.choice(shard, size=min(samples_per_round, len(shard)), replace=False)
                trained = head_train(params, xf[pick], y_train[pick], n_classes=n_classes,
                                     n_features=f, lr=lr, epochs=local_epochs, batch=batch_size)
                _, ints = clip_and_round((trained - params).astype(np.float32), clip, grid_bits)
                total += ints * step  # what the integers on the wire say, noise aside
            mean = total / simulated
            if noisy and sigma > 0:
                mean += rng.normal(0.0, sigma / np.sqrt(devices), size=mean.shape)
            params = (params + server_lr * mean).astype(np.float32)
        return _accuracy(params, n_classes, f, xt, y_test)

    rngs = np.random.SeedSequence(seed).spawn(2 * repeats)
    clean = [run(False, np.random.default_rng(s)) for s in rngs[:repeats]]
    noisy = [run(True, np.random.default_rng(s)) for s in rngs[repeats:]]
    return UtilityEstimate(devices, rounds, noise_multiplier, _accuracy(start, n_classes, f, xt, y_test),
                           float(np.mean(clean)), float(np.mean(noisy)), repeats)
