"""The price of the noise: federated head accuracy on BasicMotions at each noise level, for a
stated fleet size N.

Each device update carries noise z C per coordinate; FedAvg averages N of them, so the noise
in the global step shrinks by sqrt(N) while each device's own release keeps its eps. The
fleet is simulated with the device model: every device trains the global head on its samples
exactly as the firmware does (tinyfl.device_model.head_train), and the update is clipped,
rounded and noised by the firmware's own protection code (the audit's ctypes build of
tinyfl_protect.c). BasicMotions has 40 training windows: a simulated device draws its samples
from them at random (the same distribution, not the same people), and accuracy is measured on
the 40 held-out windows through the statistics backbone.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

import numpy as np

__all__ = ["UtilityConfig", "UtilityCurve", "utility_curve"]


@dataclass(frozen=True)
class UtilityConfig:
    fleet_sizes: tuple[int, ...] = (100,)
    rounds: int = 30  # the shipped budget (z = 1, eps_limit 40) allows 30 releases
    samples_per_round: int = 1
    lr: float = 0.05
    local_epochs: int = 5
    batch_size: int = 5
    clip: float = 1.0
    grid_bits: int = 8
    seed: int = 0


@dataclass
class UtilityCurve:
    config: UtilityConfig
    noise_levels: list[float]
    accuracy: dict[int, list[float]]  # fleet size -> final test accuracy per noise level
    history: dict[int, list[list[float]]]  # fleet size -> per level, accuracy after each round
    initial_accuracy: float
    seconds: float
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"config": asdict(self.config), "noise_levels": self.noise_levels,
                "accuracy": {str(n): v for n, v in self.accuracy.items()},
                "history": {str(n): v for n, v in self.history.items()},
                "initial_accuracy": self.initial_accuracy, "seconds": round(self.seconds, 3),
                "notes": self.notes}


def _simulate(h_train: np.ndarray, y_train: np.ndarray, h_test: np.ndarray, y_test: np.ndarray,
              n_devices: int, z: float, config: UtilityConfig, mechanism: Any,
              n_classes: int) -> list[float]:
    from ..device_model import grid_step, head_train
    from ..fleet import initial_head
    from ..privacy import noise_variance

    n_features = h_train.shape[1]
    rng = np.random.default_rng(config.seed + n_devices)
    head = initial_head(n_classes, n_features, config.seed).params.astype(np.float32)
    var = None if z == 0 else noise_variance(z, config.grid_bits)
    step = float(grid_step(config.clip, config.grid_bits))
    history = []
    for _ in range(config.rounds):
        total = np.zeros(head.shape, dtype=np.float64)
        for _d in range(n_devices):
            idx = rng.integers(0, len(y_train), size=config.samples_per_round)
            trained = head_train(head, h_train[idx], y_train[idx], n_classes=n_classes,
                                 n_features=n_features, lr=config.lr, epochs=config.local_epochs,
                                 batch=config.batch_size)
            ints = mechanism.releases(trained - head, 1, clip=config.clip, grid_bits=config.grid_bits,
                                      noise_var=var)[0]
            total += ints.astype(np.float64) * step
        head = (head.astype(np.float64) + total / n_devices).astype(np.float32)
        w, b = head[: n_classes * n_features].reshape(n_classes, n_features), head[n_classes * n_features:]
        history.append(float(np.mean(np.argmax(h_test @ w.T + b, axis=1) == y_test)))
    return history


def utility_curve(config: UtilityConfig, noise_levels: list[float], *,
                  progress: Callable[[float], None] | None = None) -> UtilityCurve:
    from ..data import load_basic_motions
    from ..device_model import stats_features
    from ..fleet import initial_head
    from .mechanism import mechanism_library

    started = time.monotonic()
    data = load_basic_motions()
    h_train, h_test = stats_features(data.x_train), stats_features(data.x_test)
    k = len(data.class_names)
    head0 = initial_head(k, h_train.shape[1], config.seed).params
    w0, b0 = head0[: k * h_train.shape[1]].reshape(k, -1), head0[k * h_train.shape[1]:]
    initial = float(np.mean(np.argmax(h_test @ w0.T + b0, axis=1) == data.y_test))
    mechanism = mechanism_library()
    accuracy: dict[int, list[float]] = {}
    history: dict[int, list[list[float]]] = {}
    jobs = [(n, z) for n in config.fleet_sizes for z in noise_levels]
    for i, (n, z) in enumerate(jobs):
        hist = _simulate(h_train, data.y_train, h_test, data.y_test, n, float(z), config, mechanism, k)
        accuracy.setdefault(n, []).append(hist[-1])
        history.setdefault(n, []).append(hist)
        if progress is not None:
            progress((i + 1) / len(jobs))
    notes = [f"FedAvg of {', '.join(map(str, config.fleet_sizes))} simulated devices, {config.rounds} rounds, "
             f"{config.samples_per_round} sample(s) per device and round drawn from the 40 BasicMotions "
             "training windows; accuracy on the 40 held-out windows (statistics backbone)"]
    return UtilityCurve(config, [float(z) for z in noise_levels], accuracy, history, initial,
                        time.monotonic() - started, notes)
