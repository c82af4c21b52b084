"""The attack audit: emulated devices with known data at a grid of noise levels, every update
attacked with tinyfl.attack, every score next to the baselines that need no update, and a
verdict per kind of leak (label, features, raw input).

A leak is reported when some attack beats every fair baseline beyond the confidence interval on
some metric: the paired per-sample difference has its bootstrap interval above 0, or the attack
wins more than half of the samples beyond a Clopper-Pearson interval (a sign test: one failed
sample, e.g. an update that rounds to zero, cannot hide a leak from it).
The interval is widened for the number of (attack, metric) pairs tried for that leak
(Bonferroni), so "leaks" is not an artefact of trying many scores. Fair baselines use what the
attack had: the recovered label (its class mean, a random sample of that class) or nothing (the
global mean; for labels every count guess from the announced sample count: the majority class,
the count spread evenly or by the public label prior), or bound every guess made without the
update (for labels, the best constant guess in hindsight: the most common true label among the
scored samples). A leak must beat all of them, so the strongest. The
class mean of the TRUE label is shown as an oracle, never used for a verdict.

Devices hold BasicMotions training windows (real smartwatch IMU data) and the statistics
backbone or the demo's int8 CNN (`backbone`); the attacker knows the backbone (public: its
features for the auxiliary data and for scoring are the host's bit-exact copy of the device's
C; raw inputs are inverted through the statistics or the float Keras CNN). The attacker's
auxiliary data is the held-out split (same distribution, never a device's own samples). The
sigma = 0 level runs the test-only firmware without noise (TINYFL_TEST_NO_NOISE) and the
attacker is told so. With `project` (a tinyfl.toml), the devices hold the project's training
windows and run its int8 backbone, the auxiliary data is its held-out windows, and raw input is
not attacked (tinyfl.audit.subject): its verdict is "not audited".
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

import numpy as np

__all__ = [
    "LEAKS",
    "LeakageConfig",
    "AuditBackbone",
    "audit_backbone",
    "MetricScore",
    "SignTest",
    "sign_test",
    "LevelResult",
    "run_leakage_level",
    "level_reconstruction",
]

LEAKS = ("label", "features", "raw_input")
FAIR_BASELINES = ("class mean (recovered label)", "random same class (recovered label)", "global mean")
ORACLE = "class mean (true label)"
BLIND_LABEL = "best constant guess (hindsight)"
NOT_AUDITED = "not audited"


@dataclass(frozen=True)
class LeakageConfig:
    board: str = "native"  # or "qemu"
    devices: int = 4
    rounds: int = 6
    samples_per_round: int = 1  # one sample per update: the worst case for the device
    lr: float = 0.05
    local_epochs: int = 5
    batch_size: int = 5
    clip: float = 1.0
    grid_bits: int = 8
    delta: float = 1e-5
    alpha: float = 0.05
    workers: int = 1  # processes attacking updates in parallel
    examples: int = 3  # reconstructions kept per level for the report
    test_seed: int | None = None  # test builds only: reproducible device noise
    seed: int = 0
    backbone: str = "stats"  # the devices' frozen backbone: "stats" or "cnn" (tinyfl.backbones)
    project: str | None = None  # a project's tinyfl.toml: its data, backbone and head instead
    project_sets: tuple[str, ...] = ()  # its --set overrides


@dataclass(frozen=True)
class SignTest:
    """Wins and losses of the attack against a baseline, sample by sample (ties dropped):
    robust where one failed sample would swamp a mean (e.g. an update that rounds to zero)."""

    wins: int
    losses: int
    win_rate_lower: float  # one-sided Clopper-Pearson lower bound of wins / (wins + losses)

    @property
    def beats(self) -> bool:
        return self.win_rate_lower > 0.5

    def to_dict(self) -> dict[str, Any]:
        return {"wins": self.wins, "losses": self.losses, "win_rate_lower": self.win_rate_lower,
                "beats": self.beats}


def sign_test(attack: np.ndarray, baseline: np.ndarray, alpha: float) -> SignTest:
    from .stats import clopper_pearson_upper

    d = np.asarray(attack, dtype=np.float64) - np.asarray(baseline, dtype=np.float64)
    d = d[np.isfinite(d)]
    wins, losses = int(np.sum(d > 0)), int(np.sum(d < 0))
    lower = 1.0 - float(clopper_pearson_upper(losses, wins + losses, alpha)) if wins + losses else 0.0
    return SignTest(wins, losses, lower)


@dataclass
class MetricScore:
    """One metric of one attack at one noise level, with every baseline and verdict. The attack
    beats a baseline when the paired mean difference is above 0 beyond its interval, or when it
    wins more than half of the samples beyond the interval (each test at alpha / 2)."""

    leak: str
    metric: str
    attack: str
    higher_is_better: bool
    attack_interval: Any  # tinyfl.attack.Interval
    baselines: dict[str, Any]  # name -> Interval
    verdicts: dict[str, Any]  # name -> tinyfl.attack.Verdict, the mean test (fair baselines only)
    signs: dict[str, SignTest]  # name -> the sign test (fair baselines only)
    alpha: float

    def beats(self, name: str) -> bool:
        return self.verdicts[name].beats or self.signs[name].beats

    @property
    def beats_all(self) -> bool:
        return bool(self.verdicts) and all(self.beats(name) for name in self.verdicts)

    def to_dict(self) -> dict[str, Any]:
        return {"leak": self.leak, "metric": self.metric, "attack": self.attack,
                "higher_is_better": self.higher_is_better, "alpha": self.alpha,
                "attack_score": self.attack_interval.to_dict(),
                "baselines": {k: v.to_dict() for k, v in self.baselines.items()},
                "beats": {k: self.beats(k) for k in self.verdicts},
                "mean_differences": {k: v.difference.to_dict() for k, v in self.verdicts.items()},
                "sign_tests": {k: v.to_dict() for k, v in self.signs.items()},
                "beats_all_fair_baselines": self.beats_all}


@dataclass
class LevelResult:
    noise_multiplier: float
    eps_rdp: float  # one release, replace relation (inf without noise)
    eps_pld: float
    n_updates: int
    n_samples: int
    scores: list[MetricScore]
    examples: list[dict[str, Any]] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    run_dir: str = ""
    refusals: dict[str, int] = field(default_factory=dict)  # device answers other than an update

    def verdict(self, leak: str) -> str:
        scored = [s for s in self.scores if s.leak == leak]
        if not scored:
            return NOT_AUDITED  # no attack of this kind could run (e.g. no backbone to invert)
        return "leaks" if any(s.beats_all for s in scored) else "protected"

    @property
    def verdicts(self) -> dict[str, str]:
        return {leak: self.verdict(leak) for leak in LEAKS}

    def score(self, metric: str, attack: str | None = None) -> MetricScore | None:
        for s in self.scores:
            if s.metric == metric and (attack is None or s.attack == attack):
                return s
        return None

    def to_dict(self, *, include_examples: bool = False) -> dict[str, Any]:
        out = {"noise_multiplier": self.noise_multiplier,
               "eps_rdp": self.eps_rdp if math.isfinite(self.eps_rdp) else None,
               "eps_pld": self.eps_pld if math.isfinite(self.eps_pld) else None,
               "n_updates": self.n_updates, "n_samples": self.n_samples,
               "verdicts": self.verdicts, "scores": [s.to_dict() for s in self.scores],
               "seconds": {k: round(v, 3) for k, v in self.seconds.items()}, "run_dir": self.run_dir,
               "refusals": self.refusals}
        if include_examples:
            out["examples"] = [{k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in e.items()}
                               for e in self.examples]
        return out


def level_reconstruction(features: np.ndarray, labels: np.ndarray, aux: Any) -> np.ndarray:
    """Raw windows from recovered statistics features: the auxiliary class-mean window of the
    recovered label, each channel moved to the recovered channel mean. (An adapter next to
    tinyfl.attack.invert_stats_features, which also rescales the shape to the recovered std:
    that adds variance at the wrong times when the timing is unknown. Moving the level alone
    lowers the squared error whenever the recovered mean is right.)"""
    x_aux = np.asarray(aux.inputs, dtype=np.float64)
    n_ch = x_aux.shape[2]
    h = np.asarray(features, dtype=np.float64).reshape(len(features), n_ch, 4)
    out = np.empty((len(h),) + x_aux.shape[1:])
    for i, label in enumerate(np.asarray(labels).reshape(-1)):
        members = x_aux[np.asarray(aux.labels) == label]
        shape = (members if len(members) else x_aux).mean(axis=0)
        out[i] = shape - shape.mean(axis=0) + h[i, :, 0]
    return out


def _one_blas_thread():
    """The attacks solve many small problems: threaded BLAS makes them tens of times slower
    (measured: 9 s instead of 0.2 s per update on 2 busy cores)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        import contextlib

        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


@dataclass(frozen=True)
class AuditBackbone:
    """The devices' backbone as the attacker knows it: the device's features (host copy) and
    what raw-input inversion goes through ("stats", or the float Keras CNN)."""

    backbone: Any  # tinyfl.backbones.Backbone
    invert_with: Any

    @property
    def name(self) -> str:
        return self.backbone.name

    @property
    def features(self) -> Callable[[np.ndarray], np.ndarray]:
        return self.backbone.features


def audit_backbone(name: str, n_channels: int) -> AuditBackbone:
    from ..backbones import BACKBONES, cnn_backbone, stats_backbone

    if name == "stats":
        return AuditBackbone(stats_backbone(n_channels), "stats")
    if name == "cnn":
        return AuditBackbone(cnn_backbone("basic_motions"), _float_cnn_backbone("basic_motions"))
    raise ValueError(f"unknown backbone {name!r}; choose from {', '.join(BACKBONES)}")


@lru_cache(maxsize=2)
def _float_cnn_backbone(dataset: str) -> Any:
    """The float Keras backbone of the reference CNN (the same seeded pretraining as the int8
    one the devices run): gradients for the raw-input inversion."""
    from ..models import build_reference
    from ..models.split import split_head

    _, model = build_reference(dataset)
    return split_head(model)[0]


def _attack_one(inp: Any, invert_with: Any = "stats") -> Any:
    from ..attack import attack_update

    with _one_blas_thread():
        return attack_update(inp, invert_backbone=invert_with)


def _attack_all(inputs: list[Any], workers: int, progress: Callable[[int], None],
                invert_with: Any = "stats") -> list[Any]:
    # the Keras inversion (TensorFlow) stays in this process: a worker would load it again
    if workers <= 1 or len(inputs) < 2 or not isinstance(invert_with, str):
        out = []
        for i, inp in enumerate(inputs):
            out.append(_attack_one(inp, invert_with))
            progress(i + 1)
        return out
    from concurrent.futures import as_completed

    from ._pool import process_pool

    results: list[Any] = [None] * len(inputs)
    # spawned workers (never forked: see tinyfl.audit._pool); the attack never touches the boards
    with process_pool(workers) as pool:
        futures = {pool.submit(_attack_one, inp): i for i, inp in enumerate(inputs)}
        for done, fut in enumerate(as_completed(futures), start=1):
            results[futures[fut]] = fut.result()
            progress(done)
    return results


def _score_level(inputs: list[Any], results: list[Any], truths: list[Any], aux: Any, alpha: float,
                 seed: int, feature_fn: Callable[[np.ndarray], np.ndarray] | None = None,
                 stats_levels: bool = True) -> list[MetricScore]:
    from ..attack import (centered_cosine, class_mean_baseline, compare, count_overlap,
                          global_mean_baseline, label_count_baselines, match_rows, pearson,
                          phase_aligned_correlation, psnr, random_same_class_baseline, summarize)
    from ..device_model import stats_features

    feature_fn = feature_fn or stats_features
    per: dict[tuple[str, str, str], list[float]] = {}  # (leak, metric, guesser) -> per-sample scores

    def add(leak: str, metric: str, who: str, values: Any) -> None:
        per.setdefault((leak, metric, who), []).extend(np.asarray(values, dtype=np.float64).ravel())

    center = np.asarray(aux.features).mean(axis=0)
    for inp, res, truth in zip(inputs, results, truths):
        if truth is None:
            continue
        x_true, y_true = np.asarray(truth[0], dtype=np.float64), np.asarray(truth[1], dtype=np.int64)
        n, k = len(y_true), inp.n_classes
        true_counts = np.bincount(y_true, minlength=k)

        def hits(counts: np.ndarray) -> np.ndarray:
            return np.arange(n) < round(count_overlap(counts, true_counts) * n)

        add("label", "label accuracy", "attack: " + res.label_method, hits(res.counts))
        if n == 1:
            for name, key in (("matched filter", "matched_filter_label"), ("sign (iDLG)", "sign_label")):
                if key in res.details:
                    add("label", "label accuracy", "attack: " + name,
                        hits(np.bincount([int(res.details[key])], minlength=k)))
        for name, counts in label_count_baselines(n, k, aux).items():  # every update-free count guess
            add("label", "label accuracy", name, hits(counts))

        x_true = x_true.reshape((n,) + aux.inputs.shape[1:])
        h_true = np.asarray(feature_fn(x_true), dtype=np.float64)
        order = match_rows(res.features, h_true)
        feats = res.features[order]
        rec_labels = res.labels[order]
        guesses = {
            "class mean (recovered label)": class_mean_baseline(rec_labels, aux),
            "random same class (recovered label)": random_same_class_baseline(rec_labels, aux, seed=seed + inp.round),
            "global mean": global_mean_baseline(n, aux),
            ORACLE: class_mean_baseline(y_true, aux),
        }
        add("features", "feature centered cosine", "attack: likelihood", centered_cosine(feats, h_true, center))
        for name, rows in guesses.items():
            add("features", "feature centered cosine", name, centered_cosine(rows, h_true, center))

        raw = {"attack: inversion (tinyfl.attack)": None if res.inputs is None else res.inputs[order],
               # the recovered channel levels exist in the statistics features only
               "attack: class-mean shape at recovered levels":
                   level_reconstruction(feats, rec_labels, aux) if stats_levels else None}
        raw_base = {
            "class mean (recovered label)": class_mean_baseline(rec_labels, aux, use="inputs"),
            "random same class (recovered label)": random_same_class_baseline(rec_labels, aux, use="inputs",
                                                                              seed=seed + inp.round),
            "global mean": global_mean_baseline(n, aux, use="inputs"),
            ORACLE: class_mean_baseline(y_true, aux, use="inputs"),
        }
        for name, rows in {**raw, **raw_base}.items():
            if rows is None:
                continue
            add("raw_input", "input PSNR (dB)", name, psnr(rows, x_true))
            add("raw_input", "input Pearson", name, pearson(rows, x_true))
            add("raw_input", "input phase-aligned correlation", name, phase_aligned_correlation(rows, x_true))

    # No guess made without the update can beat, in expectation, the best constant guess in
    # hindsight (the most common true label among the scored samples): the label baseline that
    # a skewed sample of devices cannot fool.
    all_true = np.concatenate([np.asarray(t[1], dtype=np.int64) for t in truths if t is not None]) \
        if any(t is not None for t in truths) else np.zeros(0, dtype=np.int64)
    if all_true.size:
        add("label", "label accuracy", BLIND_LABEL, all_true == np.bincount(all_true).argmax())
    scores: list[MetricScore] = []
    for leak in LEAKS:
        keys = {(m, w) for (lk, m, w) in per if lk == leak}
        attacks = sorted({(m, w) for (m, w) in keys if w.startswith("attack: ")})
        leak_alpha = alpha / max(1, len(attacks))  # Bonferroni over (attack, metric) pairs
        for metric, who in attacks:
            a = np.asarray(per[(leak, metric, who)])
            is_rate = metric == "label accuracy"
            base_names = [w for (m, w) in keys if m == metric and not w.startswith("attack: ")]
            baselines, verdicts, signs = {}, {}, {}
            for name in sorted(base_names):
                b = np.asarray(per[(leak, metric, name)])
                baselines[name] = summarize(b.astype(bool) if is_rate else b, alpha=alpha, seed=seed)
                if name != ORACLE:
                    # two tests per baseline: a two-sided interval at leak_alpha is one-sided at half
                    verdicts[name] = compare(a, b, alpha=leak_alpha, seed=seed)
                    signs[name] = sign_test(a, b, leak_alpha / 2)
            scores.append(MetricScore(leak, metric, who.removeprefix("attack: "), True,
                                      summarize(a.astype(bool) if is_rate else a, alpha=alpha, seed=seed),
                                      baselines, verdicts, signs, leak_alpha))
    return scores


def _examples(inputs: list[Any], results: list[Any], truths: list[Any], aux: Any, count: int,
              stats_levels: bool = True) -> list[dict[str, Any]]:
    from ..attack import class_mean_baseline

    out = []
    # the same (round, device) pairs at every level: the shards do not depend on the noise
    for i in sorted(range(len(inputs)), key=lambda j: (inputs[j].round, inputs[j].device)):
        inp, res, truth = inputs[i], results[i], truths[i]
        if len(out) >= count or truth is None or inp.sample_count != 1:
            continue
        x_true = np.asarray(truth[0], dtype=np.float64).reshape((1,) + aux.inputs.shape[1:])
        out.append({
            "device": inp.device, "round": inp.round, "true_label": int(truth[1][0]),
            "recovered_label": int(res.labels[0]), "original": x_true[0],
            "inversion": None if res.inputs is None else np.asarray(res.inputs[0], dtype=np.float64),
            "level": (level_reconstruction(res.features[:1], res.labels[:1], aux)[0]
                      if stats_levels else None),
            "class_mean": class_mean_baseline(res.labels[:1], aux, use="inputs")[0],
        })
    return out


def _refusals(run_dir: Path) -> dict[str, int]:
    """Rounds a device did not answer with an update, by reason (e.g. CRAFTED: with few devices
    and much noise, FedAvg can push the global head past the device's crafted-head guard)."""
    from ..fleet import RunReader

    out: dict[str, int] = {}
    for event in RunReader(run_dir).events():
        if event.get("kind") in ("device_error", "budget_exhausted", "timeout"):
            reason = str(event.get("detail", event["kind"])).split(" ")[0] or event["kind"]
            out[reason] = out.get(reason, 0) + 1
    return out


def run_leakage_level(config: LeakageConfig, noise_multiplier: float, run_dir: Path, *,
                      progress: Callable[[float], None] | None = None) -> LevelResult:
    """One noise level: record an emulated run, attack every update, score it."""
    from ..attack import Auxiliary, samples_of_updates, truth_from_shards, updates_from_run
    from ..data import load_basic_motions
    from ..firmware_config import DpConfig
    from ..privacy import effective_noise_multiplier, epsilon, epsilon_pld
    from .fleet_run import record_run

    say = progress or (lambda _f: None)
    started = time.monotonic()
    noiseless = noise_multiplier == 0
    dp = DpConfig(clip=config.clip, noise_multiplier=1.0 if noiseless else noise_multiplier,
                  grid_bits=config.grid_bits, delta=config.delta, eps_limit=1e9)
    if config.project:  # the project's windows and its int8 backbone (nothing to invert)
        from .subject import project_subject

        data: Any = project_subject(config.project, config.project_sets)
        backbone = AuditBackbone(data.backbone, None)
    else:
        data = load_basic_motions()
        backbone = audit_backbone(config.backbone, data.x_train.shape[2])
    stats_levels = backbone.name == "stats" and not config.project
    record_run(run_dir, data.x_train, data.y_train, backbone=backbone.backbone, board=config.board,
               devices=config.devices, rounds=config.rounds, samples_per_round=config.samples_per_round,
               lr=config.lr, local_epochs=config.local_epochs, batch_size=config.batch_size, dp=dp,
               test_seed=config.test_seed, defines={"TINYFL_TEST_NO_NOISE": None} if noiseless else None,
               seed=config.seed, n_classes=data.n_classes if config.project else None)
    recorded = time.monotonic()
    say(0.1)

    aux = Auxiliary.from_inputs(data.x_test, data.y_test, backbone.features)
    inputs = updates_from_run(run_dir, aux=aux, feature_fn=backbone.features)
    if noiseless:  # the audit knows this build sends no noise; the hello cannot say so
        inputs = [replace(inp, noise_multiplier=0.0) for inp in inputs]
    truths = samples_of_updates(inputs, truth_from_shards(run_dir))
    results = _attack_all(inputs, config.workers, lambda done: say(0.1 + 0.85 * done / max(1, len(inputs))),
                          backbone.invert_with)
    attacked = time.monotonic()
    scores = _score_level(inputs, results, truths, aux, config.alpha, config.seed, backbone.features,
                          stats_levels)
    examples = _examples(inputs, results, truths, aux, config.examples, stats_levels)
    if noiseless:
        eps_rdp = eps_pld = math.inf
    else:
        z = effective_noise_multiplier(noise_multiplier)
        eps_rdp, eps_pld = epsilon(z, 1, config.delta), epsilon_pld(z, 1, config.delta)
    say(1.0)
    return LevelResult(float(noise_multiplier), eps_rdp, eps_pld, len(inputs),
                       sum(inp.sample_count for inp in inputs), scores, examples,
                       {"record": recorded - started, "attack": attacked - recorded,
                        "score": time.monotonic() - attacked}, str(run_dir), _refusals(run_dir))
