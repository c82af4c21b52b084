"""The price of the noise: federated head accuracy on BasicMotions at each noise level, for a
stated fleet size N.

Each device update carries noise z C per coordinate; FedAvg averages N of them, so the noise
in the global step shrinks by sqrt(N) while each device's own release keeps its eps. A device
releases no more updates than its budget allows (the firmware's table for z, delta and
eps_limit): at each noise level the fleet trains min(rounds, releases allowed) rounds, and
stops there as a real one would (the noise-free reference level is a test build, unbounded). The
fleet is simulated with the device model: every device trains the global head on its samples
exactly as the firmware does (tinyfl.device_model.head_train), and the update is clipped,
rounded and noised by the firmware's own protection code (the audit's ctypes build of
tinyfl_protect.c). BasicMotions has 40 training windows: a simulated device draws its samples
from them at random (the same distribution, not the same people), and accuracy is measured on
the 40 held-out windows through the devices' backbone (the statistics one or the demo's int8
CNN, its host copy: the features the devices compute). With `project` (a tinyfl.toml): the
project's windows through its int8 backbone, the fleet starting from its pretrained head.

With `simulate=True` (`tinyfl audit --simulate N`) every point is instead a recorded fleet run
(tinyfl.flower.figures.run_cell, the runs of `python -m bench flower`): N modelled boards behind
the relay and the unchanged Aggregator, the devices refusing past their budget as the firmware
does, on `simulate_dataset` through the statistics backbone (digits by default: 898 test images
resolve a few points where BasicMotions' 40 windows cannot). A test build's noise is fixed by
its seed, so each point is one run and its spread is the 95% interval over the test images.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from typing import Any, Callable

import numpy as np

__all__ = ["UtilityConfig", "UtilityCurve", "utility_curve"]


@dataclass(frozen=True)
class UtilityConfig:
    fleet_sizes: tuple[int, ...] = (100,)
    rounds: int = 30  # asked for; each level stops where the device budget does
    delta: float = 1e-5
    eps_limit: float = 50.0  # the device budget: z = 1 allows 10 releases (RDP, replace)
    samples_per_round: int = 1
    lr: float = 0.05
    local_epochs: int = 5
    batch_size: int = 5
    clip: float = 1.0
    grid_bits: int = 8
    repeats: int = 3  # independent fleets per point (fresh noise and samples): their mean is drawn
    workers: int = 1
    seed: int = 0
    backbone: str = "stats"  # "stats" or "cnn" (tinyfl.backbones)
    project: str | None = None  # a project's tinyfl.toml: its windows, backbone and pretrained head
    project_sets: tuple[str, ...] = ()
    simulate: bool = False  # points from fleet simulations (tinyfl.flower) instead of this FedAvg loop
    simulate_dataset: str = "digits"  # their data: "digits" or "basicmotions"


@dataclass
class UtilityCurve:
    config: UtilityConfig
    noise_levels: list[float]
    accuracy: dict[int, list[float]]  # fleet size -> per noise level, final test accuracy (mean of repeats)
    spread: dict[int, list[tuple[float, float]]]  # fleet size -> per level, (min, max) over repeats
    history: dict[int, list[list[float]]]  # fleet size -> per level, mean accuracy after each round
    refused_from: dict[int, list[int | None]]  # fleet size -> per level, first round refused (guard)
    releases_allowed: list[int | None]  # per level: the device budget (None: no noise, no budget)
    initial_accuracy: float
    seconds: float
    notes: list[str] = field(default_factory=list)
    source: str = "fedavg-loop"  # or "fleet-simulation": recorded runs of tinyfl.flower
    eps_per_device: dict[int, list[float | None]] = field(default_factory=dict)  # simulated: dp-accounting

    def to_dict(self) -> dict[str, Any]:
        return {"config": asdict(self.config), "noise_levels": self.noise_levels,
                "accuracy": {str(n): v for n, v in self.accuracy.items()},
                "spread": {str(n): [list(p) for p in v] for n, v in self.spread.items()},
                "history": {str(n): v for n, v in self.history.items()},
                "refused_from": {str(n): v for n, v in self.refused_from.items()},
                "releases_allowed": self.releases_allowed,
                "rounds_trained": self.rounds_trained(),
                "initial_accuracy": self.initial_accuracy, "seconds": round(self.seconds, 3),
                "notes": self.notes, "source": self.source,
                "eps_per_device": {str(n): v for n, v in self.eps_per_device.items()}}

    def rounds_trained(self) -> list[int]:
        """Per level: the rounds the fleet really trained (the budget stops it)."""
        return [rounds_at(self.config.rounds, allowed) for allowed in self.releases_allowed]


def project_name(config: UtilityConfig) -> str:
    from .subject import project_subject

    return project_subject(config.project, config.project_sets).name


def backbone_name(config: UtilityConfig) -> str:
    return "the project's int8" if config.project else config.backbone


def rounds_at(rounds: int, allowed: int | None) -> int:
    return rounds if allowed is None else min(rounds, allowed)


def releases_allowed(z: float, config: UtilityConfig) -> int | None:
    """What the device's budget table allows at noise z (None without noise: a test build)."""
    from ..privacy.accounting import releases_allowed as allowed

    return None if z == 0 else allowed(z, config.delta, config.eps_limit)


@lru_cache(maxsize=2)
def _data(backbone: str = "stats", project: str | None = None, sets: tuple[str, ...] = ()) -> tuple:
    """Features of the training and held-out windows, the class count and the head the fleet
    starts from (None: a seeded random one), computed in the parent: spawned workers receive
    them (tinyfl.audit._pool) and never start TensorFlow."""
    from ..backbones import cnn_backbone, stats_backbone
    from ..data import load_basic_motions

    if project:  # the project's windows through its int8 backbone, from its pretrained head
        from .subject import project_subject

        s = project_subject(project, sets)
        f = s.backbone.features
        return (np.asarray(f(s.x_train), dtype=np.float32), s.y_train,
                np.asarray(f(s.x_test), dtype=np.float32), s.y_test, s.n_classes, s.initial_head)

    data = load_basic_motions()
    if backbone == "cnn":
        features = cnn_backbone("basic_motions").features
    elif backbone == "stats":
        features = stats_backbone(data.x_train.shape[2]).features
    else:
        raise ValueError(f"unknown backbone {backbone!r} (stats or cnn)")
    return (np.asarray(features(data.x_train), dtype=np.float32), np.asarray(data.y_train),
            np.asarray(features(data.x_test), dtype=np.float32), np.asarray(data.y_test),
            len(data.class_names), None)


_worker_data: tuple | None = None  # set in spawned workers: the parent's features, no TensorFlow


def _init_worker(data: tuple) -> None:
    global _worker_data
    _worker_data = data


def _fleet_data(config: UtilityConfig) -> tuple:
    return _worker_data if _worker_data is not None else _data(config.backbone, config.project,
                                                                config.project_sets)


def _simulate(job: tuple[int, float, int, int, UtilityConfig]) -> tuple[list[float], int | None]:
    """One fleet: (accuracy after each round, the first round the devices refused the head or
    None). Its own generator, keyed from os.urandom, so parallel fleets never share noise."""
    from .leakage import _one_blas_thread

    with _one_blas_thread():
        return _simulate_fleet(*job)


def _simulate_fleet(n_devices: int, z: float, repeat: int, rounds: int,
                    config: UtilityConfig) -> tuple[list[float], int | None]:
    from ..attack.malicious import guard_check
    from ..device_model import grid_step, head_train
    from ..privacy import noise_variance
    from .mechanism import mechanism_library

    h_train, y_train, h_test, y_test, n_classes, start = _fleet_data(config)
    mechanism = mechanism_library()
    n_features = h_train.shape[1]
    rng = np.random.default_rng([config.seed, n_devices, repeat])
    head = _start_head(start, n_classes, n_features, config.seed)
    var = None if z == 0 else noise_variance(z, config.grid_bits)
    step = float(grid_step(config.clip, config.grid_bits))
    history: list[float] = []
    for r in range(1, rounds + 1):
        if guard_check(head, n_classes, n_features) is not None:
            # every device refuses this head as crafted; nothing changes it any more
            return history + [history[-1] if history else float("nan")] * (rounds - len(history)), r
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
    return history, None


def _start_head(start: np.ndarray | None, n_classes: int, n_features: int, seed: int) -> np.ndarray:
    from ..fleet import initial_head

    if start is not None:
        return np.asarray(start, dtype=np.float32)
    return initial_head(n_classes, n_features, seed).params.astype(np.float32)


def _run_jobs(jobs: list[Any], workers: int, progress: Callable[[float], None] | None,
              data: tuple) -> list[Any]:
    say = progress or (lambda _f: None)
    if workers <= 1 or len(jobs) < 2:
        out = []
        for i, job in enumerate(jobs):
            out.append(_simulate(job))
            say((i + 1) / len(jobs))
        return out
    from concurrent.futures import as_completed

    from ._pool import process_pool

    results: list[Any] = [None] * len(jobs)
    # spawned, never forked (tinyfl.audit._pool); the workers get the features, not the backbone
    with process_pool(workers, _init_worker, (data,)) as pool:
        futures = {pool.submit(_simulate, job): i for i, job in enumerate(jobs)}
        for done, fut in enumerate(as_completed(futures), start=1):
            results[futures[fut]] = fut.result()
            say(done / len(jobs))
    return results


def utility_curve(config: UtilityConfig, noise_levels: list[float], *,
                  progress: Callable[[float], None] | None = None) -> UtilityCurve:
    if config.simulate:
        return simulated_curve(config, noise_levels, progress=progress)
    started = time.monotonic()
    data = _data(config.backbone, config.project, config.project_sets)
    h_train, _, h_test, y_test, k, start = data
    head0 = _start_head(start, k, h_train.shape[1], config.seed)
    w0, b0 = head0[: k * h_train.shape[1]].reshape(k, -1), head0[k * h_train.shape[1]:]
    initial = float(np.mean(np.argmax(h_test @ w0.T + b0, axis=1) == y_test))
    allowed = [releases_allowed(float(z), config) for z in noise_levels]
    rounds = {float(z): rounds_at(config.rounds, a) for z, a in zip(noise_levels, allowed)}
    # the biggest fleets first: they take longest, the pool stays busy
    jobs = sorted([(n, float(z), rep, rounds[float(z)], config) for n in config.fleet_sizes for z in noise_levels
                   for rep in range(config.repeats)], key=lambda j: -j[0] * (j[3] + 1))
    results = dict(zip([(j[0], j[1], j[2]) for j in jobs], _run_jobs(jobs, config.workers, progress, data)))
    accuracy: dict[int, list[float]] = {}
    spread: dict[int, list[tuple[float, float]]] = {}
    history: dict[int, list[list[float]]] = {}
    refused: dict[int, list[int | None]] = {}
    for n in config.fleet_sizes:
        for z in noise_levels:
            runs = [results[(n, float(z), rep)] for rep in range(config.repeats)]
            finals = [h[-1] if h else initial for h, _ in runs]  # no release allowed: the initial head
            accuracy.setdefault(n, []).append(float(np.mean(finals)))
            spread.setdefault(n, []).append((float(min(finals)), float(max(finals))))
            history.setdefault(n, []).append(np.mean([h for h, _ in runs], axis=0).tolist())
            stops = [r for _, r in runs if r is not None]
            refused.setdefault(n, []).append(min(stops) if stops else None)
    budget = ", ".join(f"z = {z:g}: {rounds[float(z)]}" for z in noise_levels)
    name = "BasicMotions" if not config.project else f"project {project_name(config)}"
    start_from = "" if start is None else ", starting from the project's pretrained head"
    notes = [f"FedAvg of {', '.join(map(str, config.fleet_sizes))} simulated devices, at most {config.rounds} "
             f"rounds, {config.samples_per_round} sample(s) per device and round drawn from the {len(h_train)} {name} "
             f"training windows; accuracy on the {len(h_test)} held-out windows ({backbone_name(config)} backbone"
             f"{start_from}), mean of {config.repeats} independent fleet(s) per point",
             f"each device stops at its budget (eps_limit {config.eps_limit:g} at delta {config.delta:g}, RDP, "
             f"replace relation), so the fleet trains this many rounds per level: {budget} (z = 0 is the "
             "noise-free test build, no budget)"]
    stalls = [f"N = {n}, z = {z:g}: from round {r}" for n in refused
              for z, r in zip(noise_levels, refused[n]) if r is not None]
    if stalls:
        notes.append("the averaged noise pushed the global head past the devices' crafted-head guard "
                     "(|b| > 20 or |w| > 100), so every device refused it and training stopped: "
                     + "; ".join(stalls))
    return UtilityCurve(config, [float(z) for z in noise_levels], accuracy, spread, history, refused, allowed,
                        initial, time.monotonic() - started, notes)


def simulated_curve(config: UtilityConfig, noise_levels: list[float], *,
                    progress: Callable[[float], None] | None = None) -> UtilityCurve:
    """The curve from recorded fleet runs (tinyfl.flower.figures.run_cell), one per (fleet size,
    noise level), with the audit's device settings; no attack (the attack audit does that)."""
    from ..flower.figures import TableSpec, run_cell

    if config.project:
        raise ValueError("a simulated utility curve runs the statistics backbone on digits or "
                         "BasicMotions, not a project's backbone: drop --simulate or --project")
    started = time.monotonic()
    spec = TableSpec(sizes=tuple(config.fleet_sizes), zs=tuple(float(z) for z in noise_levels),
                     rounds=config.rounds, dataset=config.simulate_dataset,
                     eps_limit=config.eps_limit, delta=config.delta, clip=config.clip,
                     grid_bits=config.grid_bits, lr=config.lr, local_epochs=config.local_epochs,
                     batch_size=config.batch_size, samples_per_round=config.samples_per_round,
                     shard_size=max(20, config.samples_per_round), attack_devices=0,
                     seed=config.seed)
    spec.validate()
    cells = spec.cells()
    by: dict[tuple[int, float], dict[str, Any]] = {}
    for i, (n, z) in enumerate(cells):
        by[(n, z)] = run_cell(n, z, spec)
        if progress is not None:
            progress((i + 1) / len(cells))
    levels = [float(z) for z in noise_levels]
    sizes = list(config.fleet_sizes)
    allowed = [by[(sizes[0], z)]["releases_allowed"] for z in levels]
    initial = by[(sizes[0], levels[0])]["accuracy_before"]
    first = by[(sizes[0], levels[0])]
    released = "; ".join(f"N = {n}, z = {z:g}: {by[(n, z)]['rounds_released']}" for n in sizes for z in levels)
    notes = [f"recorded fleet simulations (tinyfl.flower: modelled boards, the relay and the Aggregator) of "
             f"{', '.join(map(str, sizes))} devices on {config.simulate_dataset} through the statistics backbone, "
             f"at most {config.rounds} rounds, {config.samples_per_round} sample(s) per device and round; "
             f"accuracy on the {first['test_samples']} test samples, one run per point (test builds: the noise "
             "is fixed by the seed), bars the 95% Clopper-Pearson interval over the test samples",
             f"each device refuses past its budget (eps_limit {config.eps_limit:g} at delta {config.delta:g}, "
             f"RDP, replace relation); rounds in which updates were released: {released}"]
    refused = {n: [by[(n, z)]["stalled_from"] for z in levels] for n in sizes}
    stalls = [f"N = {n}, z = {z:g}: from round {r}" for n in sizes for z, r in zip(levels, refused[n])
              if r is not None]
    if stalls:
        notes.append("no device released although its budget allowed it (the averaged noise pushed the "
                     "head past the crafted-head guard, or every update was lost): " + "; ".join(stalls))
    return UtilityCurve(
        config, levels,
        accuracy={n: [by[(n, z)]["accuracy"] for z in levels] for n in sizes},
        spread={n: [tuple(by[(n, z)]["accuracy_ci"]) for z in levels] for n in sizes},
        history={n: [by[(n, z)]["history"] for z in levels] for n in sizes},
        refused_from=refused,
        releases_allowed=allowed, initial_accuracy=initial,
        seconds=time.monotonic() - started, notes=notes, source="fleet-simulation",
        eps_per_device={n: [by[(n, z)]["eps_per_device"] for z in levels] for n in sizes})
