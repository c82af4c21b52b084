"""A secure-aggregation fleet, simulated with the device model, beside the same fleet without
noise and with local noise only: what the server learns, what the model learns, what it costs.

Each of N modelled devices (ids 1..N) holds a shard of the digits training set (the 8x8 pixels
are the features: the head is trained on raw input, so there is no backbone between the two)
and per round trains the head on its next samples as the firmware does
(tinyfl.device_model.device_round: float32 training, clip, grid), then by mode:
- "none":   sends the grid integers (a test build without noise); the server averages them;
- "local":  adds N_Z(0, (z C)^2) with the protect step's exact sampler and work budget, as
            today's firmware; the server sees every update;
- "secagg": runs a real SecAgg+ round (tinyfl.secagg reference clients and server: X25519,
            ChaCha20-Poly1305, Shamir, k-neighbour graph, dropouts at each step) in which each
            device adds N_Z(0, max(sigma^2 / n_min, sigma_local^2)) (the client's noise step,
            the same sampler) before masking; the server sees the masked vectors and the
            unmasked sum, never an update. Every round the unmasked sum is checked against the
            plain sum of the survivors' noised inputs (a mismatch raises).
The same shards, samples, initial head and dropouts in every mode. Every run is recorded
(tinyfl.secagg.record) for the attacks and the audit (tinyfl.audit.aggregate).
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field, replace
from fractions import Fraction
from pathlib import Path
from typing import Any, Callable

import numpy as np

__all__ = ["MODES", "FleetSimOptions", "FleetSimResult", "FleetData", "digits_fleet_data",
           "simulate_fleet", "paired_accuracy_difference", "same_fleet"]

MODES = ("none", "secagg", "local")
DROP_STEPS = ("drop_after_keys", "drop_after_share", "drop_after_mask")


@dataclass(frozen=True)
class FleetSimOptions:
    mode: str = "secagg"
    devices: int = 100
    rounds: int = 80
    z: float = 1.0  # secagg: sigma / C of the SUM; local: of each update; none: unused
    n_min: int = 80  # secagg: the smallest cohort a device accepts (compiled in)
    local_z: float = 0.0  # secagg: the local floor sigma_local / C
    k: int = 16  # secagg: neighbours per device (SecAgg+ graph; complete when >= N - 1)
    n_max: int = 1000
    clip: float = 1.0
    grid_bits: int = 8
    delta: float = 1e-5
    lr: float = 0.2
    local_epochs: int = 5
    batch_size: int = 5
    samples_per_round: int = 5
    shard_size: int = 20
    server_lr: float = 2.0
    dropout: float = 0.05  # fraction of the devices lost per round, spread over the steps
    seed: int = 0  # shards, initial head, graph and dropouts
    test_seed: int = 1234  # the devices' generator seeds (a test build)

    def validate(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, not {self.mode!r}")
        if not 1 <= self.devices <= 100_000 or not 1 <= self.rounds <= 10_000:
            raise ValueError("devices must be in 1..100000 and rounds in 1..10000")
        if not 1 <= self.samples_per_round <= self.shard_size:
            raise ValueError("samples_per_round must be in 1..shard_size")
        if not 0 <= self.dropout < 1:
            raise ValueError("dropout must be in [0, 1)")
        if self.mode == "secagg":
            if not 2 <= self.n_min <= self.devices <= self.n_max:
                raise ValueError("secure aggregation needs 2 <= n_min <= devices <= n_max")
            if self.z < 0 or self.local_z < 0 or (self.z == 0 and self.local_z > 0):
                raise ValueError("need z >= 0 and local_z >= 0 (local_z only with z > 0)")
        elif self.mode == "local" and not self.z > 0:
            raise ValueError("local noise needs z > 0")

    @property
    def max_drops(self) -> int:
        """Devices lost per round: dropout * N, never past N - n_min (in every mode, so the
        fleets compared lose the same devices; n_min above N caps nothing outside secagg)."""
        drops = int(round(self.dropout * self.devices))
        return min(drops, self.devices - self.n_min) if self.n_min <= self.devices else drops


@dataclass(frozen=True)
class FleetData:
    """Features (n, F) float32 and labels of the devices' pool and of the held-out split (the
    attacker's public auxiliary data and the accuracy test set)."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    n_classes: int

    @property
    def n_features(self) -> int:
        return int(self.x_train.shape[1])


def digits_fleet_data() -> FleetData:
    """scikit-learn's digits, 1,347 training and 450 test images (8x8 pixels in [0, 1])."""
    from ..data import load_digits

    d = load_digits(flat=True)
    return FleetData("digits", d.x_train.astype(np.float32), d.y_train.astype(np.int64),
                     d.x_test.astype(np.float32), d.y_test.astype(np.int64), len(d.class_names))


@dataclass
class FleetSimResult:
    options: FleetSimOptions
    accuracy: list[float]  # after round 0 (the initial head), 1, ..., R
    correct: np.ndarray  # (n_test,) bool: the final head's hits, for paired comparisons
    releases: np.ndarray  # (N,) releases each device made (its ledger's count)
    cohorts: list[int]  # per round: devices in what the server aggregated
    eps_central: float  # max over devices, delta = options.delta
    eps_local: float
    noise_var: tuple[int, int] | None  # per-device variance (num, den) in grid steps^2
    run_dir: str
    seconds: dict[str, float] = field(default_factory=dict)
    sums_checked: int = 0  # secagg rounds whose unmasked sum equalled the plain sum

    @property
    def accuracy_after(self) -> float:
        return self.accuracy[-1]

    def accuracy_interval(self, alpha: float = 0.05) -> Any:
        from ..attack.metrics import clopper_pearson

        return clopper_pearson(int(self.correct.sum()), len(self.correct), alpha=alpha)

    def to_dict(self) -> dict[str, Any]:
        ci = self.accuracy_interval()
        return {"options": asdict(self.options), "accuracy": self.accuracy,
                "accuracy_ci": [ci.lo, ci.hi], "cohorts": self.cohorts,
                "releases_max": int(self.releases.max(initial=0)),
                "eps_central": _finite(self.eps_central), "eps_local": _finite(self.eps_local),
                "noise_var": self.noise_var, "run_dir": self.run_dir,
                "seconds": {k: round(v, 2) for k, v in self.seconds.items()},
                "sums_checked": self.sums_checked}


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None


def paired_accuracy_difference(a: FleetSimResult, b: FleetSimResult, *, alpha: float = 0.05,
                               seed: int = 0) -> Any:
    """a's accuracy minus b's on the same test samples: mean and bootstrap interval of the
    per-sample difference (paired, so much tighter than two separate intervals)."""
    from ..attack.metrics import bootstrap_ci

    if a.correct.shape != b.correct.shape:
        raise ValueError("the two fleets were scored on different test sets")
    return bootstrap_ci(a.correct.astype(np.float64) - b.correct.astype(np.float64), alpha=alpha,
                        n_boot=4000, seed=seed)


def _secagg_variance(o: FleetSimOptions) -> tuple[int, int] | None:
    """Per-device variance in grid steps^2 (tinyfl.secagg.budget.device_variance) of the
    rational noise multiplier the device compiles in; None for a broken build without noise."""
    from ..privacy.noise import noise_variance
    from .budget import device_variance

    if o.z == 0:
        return None
    sigma2 = Fraction(*noise_variance(o.z, o.grid_bits))
    local2 = Fraction(*noise_variance(o.local_z, o.grid_bits)) if o.local_z > 0 else Fraction(0)
    return device_variance(sigma2, o.n_min, local2)


class _Device:
    """A modelled board: its shard, replayed in order (wrapping), and its generator."""

    def __init__(self, device_id: int, shard: np.ndarray, test_seed: int) -> None:
        from ..device_model import ChaCha20Drbg, fixed_seed_bytes

        self.id = device_id
        self.shard = shard
        self.cursor = 0
        self.drbg = ChaCha20Drbg(fixed_seed_bytes(test_seed, device_id))

    def next_samples(self, count: int) -> np.ndarray:
        take = self.shard[(self.cursor + np.arange(count)) % len(self.shard)]
        self.cursor = (self.cursor + count) % len(self.shard)
        return take


def _drops(o: FleetSimOptions, round_number: int) -> dict[str, list[int]]:
    """Devices lost in this round, each at one step of the protocol (the same in every mode:
    without secure aggregation a device lost at any step is an update that did not arrive)."""
    count = o.max_drops
    if count == 0:
        return {step: [] for step in DROP_STEPS}
    rng = np.random.default_rng([o.seed, round_number, 0x5EC])
    lost = rng.choice(np.arange(1, o.devices + 1), size=count, replace=False)
    steps = rng.integers(0, len(DROP_STEPS), size=count)
    return {step: sorted(int(d) for d, s in zip(lost, steps) if s == i)
            for i, step in enumerate(DROP_STEPS)}


class _NoNoiseClient:
    """A broken build for the audit's negative test: the reference client without its noise
    step (everything else, masks included, unchanged)."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def noise(self, policy: Any, x: np.ndarray) -> np.ndarray:
        return np.asarray(x, dtype=np.int64).astype(np.int32)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


def simulate_fleet(options: FleetSimOptions, run_dir: str | Path, data: FleetData | None = None,
                   *, progress: Callable[[dict[str, Any]], None] | None = None) -> FleetSimResult:
    """Runs the fleet for options.rounds rounds, recording what the server saw in run_dir."""
    from ..device_model import device_round, grid_step
    from ..fleet.aggregator import initial_head
    from .record import SumRecorder

    o = options
    o.validate()
    data = data if data is not None else digits_fleet_data()
    k, f = data.n_classes, data.n_features
    n_params = k * (f + 1)
    step = float(grid_step(o.clip, o.grid_bits))
    if o.mode == "secagg":
        noise_var = _secagg_variance(o)
    elif o.mode == "local":
        from ..privacy.noise import noise_variance

        noise_var = noise_variance(o.z, o.grid_bits)
    else:
        noise_var = None

    devices = []
    for i in range(1, o.devices + 1):
        shard = np.random.default_rng([o.seed, i]).choice(len(data.y_train), size=o.shard_size,
                                                          replace=False)
        devices.append(_Device(i, shard, o.test_seed))
    params = initial_head(k, f, o.seed).params
    used = np.zeros((o.rounds, o.devices, o.samples_per_round), dtype=np.int64)
    releases = np.zeros(o.devices, dtype=np.int64)
    accuracy = [_accuracy(params, data)[0]]
    cohorts: list[int] = []
    seconds = {"devices": 0.0, "protocol": 0.0}
    checked = 0
    run_dir = Path(run_dir)
    with SumRecorder(run_dir) as rec:
        rec.save_config({
            "kind": "tinyfl fleet simulation", "mode": o.mode, "data": data.name,
            "n_classes": k, "n_features": f, "devices": o.devices,
            "round": {"lr": o.lr, "local_epochs": o.local_epochs, "batch_size": o.batch_size,
                      "samples_per_round": o.samples_per_round, "server_lr": o.server_lr},
            "dp": {"clip": o.clip, "grid_bits": o.grid_bits, "delta": o.delta,
                   "noise_var": list(noise_var) if noise_var else None,
                   "z": o.z, "local_z": o.local_z, "n_min": o.n_min if o.mode == "secagg" else None},
            "secagg": {"k": o.k, "n_min": o.n_min, "n_max": o.n_max} if o.mode == "secagg" else None})
        for r in range(1, o.rounds + 1):
            rec.head(r, params)
            t0 = time.perf_counter()
            grid: dict[int, np.ndarray] = {}
            for dev in devices:
                idx = dev.next_samples(o.samples_per_round)
                used[r - 1, dev.id - 1] = idx
                noisy = o.mode == "local"
                _, values = device_round(params, data.x_train[idx], data.y_train[idx], n_classes=k,
                                         n_features=f, lr=o.lr, epochs=o.local_epochs,
                                         batch=o.batch_size, clip=o.clip, grid_bits=o.grid_bits,
                                         noise_multiplier=o.z if noisy else None,
                                         drbg=dev.drbg if noisy else None)
                grid[dev.id] = np.asarray(values, dtype=np.int64)
            seconds["devices"] += time.perf_counter() - t0
            drops = _drops(o, r)
            t1 = time.perf_counter()
            if o.mode == "secagg":
                total, cohort, released = _secagg_round(o, r, devices, grid, noise_var, drops, rec)
                checked += 1
                rec.release(r, "sum", cohort, step, total)
            else:
                lost = {d for ds in drops.values() for d in ds}
                cohort = [d for d in sorted(grid) if d not in lost]
                released = sorted(grid)  # a lost update was still released (and charged)
                total = np.zeros(n_params, dtype=np.int64)
                for d in cohort:
                    rec.release(r, "update", [d], step, grid[d])
                    total += grid[d]
            seconds["protocol"] += time.perf_counter() - t1
            for d in released:
                releases[d - 1] += 1
            cohorts.append(len(cohort))
            if cohort:  # FedAvg over the cohort (tinyfl.fleet.aggregator.fedavg's arithmetic)
                mean = total.astype(np.float64) * step / len(cohort)
                params = (params.astype(np.float64) + o.server_lr * mean).astype(np.float32)
            acc, correct = _accuracy(params, data)
            accuracy.append(acc)
            if progress is not None:
                progress({"mode": o.mode, "round": r, "cohort": len(cohort), "accuracy": acc})
        rec.truth(used)
    eps_central, eps_local = _epsilons(o, noise_var, int(releases.max(initial=0)), n_params)
    return FleetSimResult(o, accuracy, correct, releases, cohorts, eps_central, eps_local,
                          noise_var, str(run_dir), seconds, checked)


def _secagg_round(o: FleetSimOptions, r: int, devices: list[_Device], grid: dict[int, np.ndarray],
                  noise_var: tuple[int, int] | None, drops: dict[str, list[int]],
                  rec: Any) -> tuple[np.ndarray, list[int], list[int]]:
    """One real SecAgg+ round; returns (unmasked sum, survivors U3, devices that released)."""
    from .client import Policy, ReferenceClient
    from .server import SecAggServer
    from .simulate import run_round

    policy = Policy(n_min=o.n_min, n_max=o.n_max, bound=1 << o.grid_bits,
                    noise=noise_var if noise_var is not None else (1, 1))
    clients: dict[int, Any] = {d.id: ReferenceClient(d.id, r, d.drbg) for d in devices}
    if noise_var is None:
        clients = {u: _NoNoiseClient(c) for u, c in clients.items()}
    k = min(o.k, o.devices - 1)
    k -= k % 2 if k < o.devices - 1 else 0  # a Harary graph below complete needs an even k
    t = k // 2 + 1
    server = SecAggServer(round=r, k=k, t=t, n_min=o.n_min,
                          rng=np.random.default_rng([o.seed, r, 0x6A]))
    result = run_round(clients, server, grid, policy, **drops)
    if result.refused:
        raise RuntimeError(f"round {r}: devices {result.refused} refused a step")
    plain = np.sum([result.noised[u].astype(np.int64) for u in result.u3], axis=0)
    if not np.array_equal(result.total, plain):
        raise RuntimeError(f"round {r}: the unmasked sum differs from the sum of the inputs")
    rec.masked(r, server.masked)
    return result.total, list(result.u3), list(result.u2)


def _accuracy(params: np.ndarray, data: FleetData) -> tuple[float, np.ndarray]:
    k, f = data.n_classes, data.n_features
    p = np.asarray(params, dtype=np.float64)
    logits = data.x_test @ p[: k * f].reshape(k, f).T + p[k * f:]
    correct = np.argmax(logits, axis=1) == data.y_test
    return float(correct.mean()), correct


def _epsilons(o: FleetSimOptions, noise_var: tuple[int, int] | None, releases: int,
              dim: int) -> tuple[float, float]:
    """(central, local) eps per device after `releases` releases, replace-one, o.delta.
    Central: against an honest-but-curious server, DDGauss over n_min honest devices
    (tinyfl.secagg.budget); local: against any server, the device's own noise alone."""
    from ..privacy.accounting import epsilon
    from ..privacy.noise import effective_noise_multiplier
    from .budget import central_epsilon, local_epsilon

    if noise_var is None or releases == 0:
        return (math.inf, math.inf) if releases else (0.0, 0.0)
    if o.mode == "local":
        eps = epsilon(effective_noise_multiplier(o.z), releases, o.delta)
        return eps, eps  # the server sees each update: its guarantee is the local one
    v = noise_var[0] / noise_var[1]
    bound = 1 << o.grid_bits
    return (central_epsilon(releases, o.delta, bound=bound, dim=dim, n_min=o.n_min, local_var=v),
            local_epsilon(releases, o.delta, bound=bound, local_var=v))


def same_fleet(options: FleetSimOptions, mode: str, **changes: Any) -> FleetSimOptions:
    """The same fleet (data, seeds, dropouts, rounds) in another mode."""
    return replace(options, mode=mode, **changes)
