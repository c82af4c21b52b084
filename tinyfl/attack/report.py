"""Attack every update of a recorded run and, given the ground truth, score it against the
baselines that need no update (what `tinyfl attack RUN_DIR` prints)."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Collection, Mapping

import numpy as np

from .baselines import (class_mean_baseline, global_mean_baseline, label_count_baselines, label_mixture_baseline,
                        random_same_class_baseline)
from .features import features_analytic, features_likelihood
from .inputs import invert_inputs, is_keras_model
from .labels import (label_counts_bias, label_counts_nnls, label_matched_filter, label_posterior, label_sign,
                     labels_from_counts)
from .metrics import (centered_cosine, standardized_mse, compare, cosine, count_overlap, match_rows, mse,
                      pearson, phase_aligned_correlation, psnr, ssim, summarize)
from .threat import AttackInput, Auxiliary, updates_from_run

__all__ = ["UpdateAttack", "AttackReport", "attack_update", "attack_run", "truth_from_shards",
           "samples_of_updates"]

Truth = Mapping[str, tuple[np.ndarray, np.ndarray]]  # device -> (inputs in replay order, labels)


def is_oracle(baseline: str) -> bool:
    """A baseline that uses the ground truth (the true label's class mean): drawn for context,
    never a reason to call something a leak or not."""
    return baseline.endswith("(true label)")


@dataclass
class UpdateAttack:
    """What the attacks recovered from one update (and, once scored, how well)."""

    device: str
    round: int
    sample_count: int
    noise_multiplier: float
    labels: np.ndarray  # (n,) recovered labels (a multiset for batches, sorted)
    counts: np.ndarray  # (K,)
    label_method: str
    features: np.ndarray | None  # (n, F)
    feature_method: str
    inputs: np.ndarray | None = None  # (n, *sample_shape)
    seconds: dict[str, float] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)
    scores: dict[str, Any] = field(default_factory=dict)  # per-sample scores when truth is known

    def to_dict(self, *, include_arrays: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {
            "device": self.device, "round": self.round, "sample_count": self.sample_count,
            "noise_multiplier": self.noise_multiplier, "labels": self.labels.tolist(),
            "counts": self.counts.tolist(), "label_method": self.label_method,
            "feature_method": self.feature_method, "seconds": self.seconds, **self.details,
        }
        out = {k: (np.round(v, 4).tolist() if isinstance(v, np.ndarray) else v) for k, v in out.items()}
        if include_arrays and self.features is not None:
            out["features"] = np.round(self.features, 6).tolist()
        if self.scores:
            out["scores"] = {k: np.asarray(v).tolist() for k, v in self.scores.items()}
        return out


@dataclass
class AttackReport:
    run_dir: str
    knowledge: dict[str, Any]  # what the attacker was given
    updates: list[UpdateAttack]
    summary: dict[str, dict[str, Any]] = field(default_factory=dict)  # metric -> attack/baselines/verdicts

    def to_dict(self, *, include_arrays: bool = True) -> dict[str, Any]:
        summary = {
            metric: {
                "attack": entry["attack"].to_dict(),
                "baselines": {k: v.to_dict() for k, v in entry["baselines"].items()},
                "verdicts": {k: v.to_dict() for k, v in entry["verdicts"].items()},
                "higher_is_better": entry["higher_is_better"],
                "strongest_baseline": entry.get("strongest_baseline"),
                "leak": entry.get("leak", False),
            }
            for metric, entry in self.summary.items()
        }
        return {"run_dir": self.run_dir, "knowledge": self.knowledge,
                "updates": [u.to_dict(include_arrays=include_arrays) for u in self.updates],
                "summary": summary}

    def lines(self) -> list[str]:
        """Plain-text report: one line per update, then each score against its baselines."""
        out = [f"attack on {self.run_dir}: {len(self.updates)} updates; attacker knows "
               + ", ".join(f"{k}={v}" for k, v in self.knowledge.items())]
        for u in self.updates:
            labels = (str(int(u.labels[0])) if u.sample_count == 1
                      else "counts " + " ".join(str(int(c)) for c in u.counts))
            out.append(f"  {u.device} round {u.round}: n={u.sample_count} z={u.noise_multiplier:g} "
                       f"labels {labels} ({u.label_method}); features {u.feature_method}; "
                       f"{sum(u.seconds.values()):.2f} s")
        for metric, entry in self.summary.items():
            better = "higher" if entry["higher_is_better"] else "lower"
            strongest = entry.get("strongest_baseline")
            if strongest is None:
                word = "no update-free baseline to compare with"
            elif entry.get("leak"):
                word = f"LEAK: beats every update-free baseline, the strongest {strongest} included"
            else:
                word = f"no leak shown: does not beat every update-free baseline (the strongest: {strongest})"
            out.append(f"  {metric} ({better} is better): attack {entry['attack']}: {word}")
            for name, interval in entry["baselines"].items():
                verdict = entry["verdicts"][name]
                word = "beats" if verdict.beats else "does not beat"
                oracle = " (oracle: knows the truth, never decides)" if is_oracle(name) else ""
                out.append(f"    {word} {name}{oracle} {interval} (difference {verdict.difference})")
        return out


def _feature_fn_of(backbone: Any) -> Callable[[np.ndarray], np.ndarray] | None:
    if backbone is None:
        return None
    if is_keras_model(backbone):
        return lambda x: np.asarray(backbone.predict(np.asarray(x, dtype=np.float32), verbose=0))
    if hasattr(backbone, "features"):
        return backbone.features
    if callable(backbone):
        return backbone
    raise TypeError(f"backbone must be a Keras model, a tinyfl Backbone or a function, not {type(backbone).__name__}")


def attack_update(inp: AttackInput, *, invert_backbone: Any = None,
                  feature_std: float | None = None) -> UpdateAttack:
    """The strongest attack the server's knowledge allows on one update.

    With auxiliary data: the likelihood fit (label hypotheses for one sample, NNLS counts for a
    batch); without: iDLG's sign rule / bias counts and the analytic features. With a backbone
    to invert (and auxiliary inputs), raw inputs too."""
    aux = inp.aux
    n = inp.sample_count
    seconds: dict[str, float] = {}
    details: dict[str, Any] = {"sign_label": label_sign(inp)} if n == 1 else {}
    t0 = time.perf_counter()
    if aux is None:
        if n == 1:
            counts = np.bincount([label_sign(inp)], minlength=inp.n_classes)
            label_method = "sign (iDLG)"
        else:
            counts = label_counts_bias(inp)
            label_method = "bias counts (LLG-style)"
        seconds["labels"] = time.perf_counter() - t0
        est = features_analytic(inp)
        seconds["features"] = est.seconds
        labels = labels_from_counts(counts)
        return UpdateAttack(inp.device, inp.round, n, inp.noise_multiplier, labels, counts,
                            label_method, est.features, est.method, None, seconds, details)
    if n == 1:
        details["matched_filter_label"] = label_matched_filter(inp)
        details["label_log_posterior"] = label_posterior(inp, aux)
        est = features_likelihood(inp, aux)
        labels = est.labels
        counts = np.bincount(labels, minlength=inp.n_classes)
        label_method = "likelihood over label hypotheses"
        seconds["labels+features"] = est.seconds
    else:
        counts = label_counts_nnls(inp, aux)
        labels = labels_from_counts(counts)
        seconds["labels"] = time.perf_counter() - t0
        est = features_likelihood(inp, aux, labels)
        label_method = "NNLS counts"
        seconds["features"] = est.seconds
    inputs = None
    if invert_backbone is not None and aux.inputs is not None:
        t1 = time.perf_counter()
        std = est.details.get("std") if feature_std is None else feature_std
        inputs = invert_inputs(est.features, labels, aux, invert_backbone, feature_std=std)
        seconds["inputs"] = time.perf_counter() - t1
    return UpdateAttack(inp.device, inp.round, n, inp.noise_multiplier, labels, counts, label_method,
                        est.features, est.method, inputs, seconds, details)


def truth_from_shards(run_dir: str | Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Ground truth of an emulated run (tinyfl.demo): device i of config.json's device order
    replays boards/shard-{i+1}.bin in order. For scoring only: an attacker never has it."""
    from ..emulate.shard import read_shard
    from ..fleet import RunReader

    run_dir = Path(run_dir)
    config = RunReader(run_dir).config
    order = config.get("device_order") or [d["name"] for d in config.get("devices", [])]
    out = {}
    for i, name in enumerate(order):
        path = run_dir / "boards" / f"shard-{i + 1}.bin"
        if not path.exists():
            continue
        shard = read_shard(path)
        out[name] = (shard.windows, shard.labels.astype(np.int64))
    return out


def samples_of_updates(inputs: list[AttackInput], truth: Truth) -> list[tuple[np.ndarray, np.ndarray] | None]:
    """The true (inputs, labels) behind each update: a device's sensor replays its samples in
    order and wraps around, each round taking sample_count of them. Assumes every round that
    took samples produced a recorded update."""
    offsets: dict[str, int] = {}
    out: list[tuple[np.ndarray, np.ndarray] | None] = [None] * len(inputs)
    for idx in sorted(range(len(inputs)), key=lambda i: (inputs[i].device, inputs[i].round)):
        inp = inputs[idx]
        if inp.device not in truth:
            continue
        x, y = truth[inp.device]
        start = offsets.get(inp.device, 0)
        take = (start + np.arange(inp.sample_count)) % len(y)
        offsets[inp.device] = start + inp.sample_count
        out[idx] = (np.asarray(x)[take], np.asarray(y)[take])
    return out


def _as_aux(aux: Any, feature_fn: Callable | None) -> Auxiliary | None:
    if aux is None or isinstance(aux, Auxiliary):
        return aux
    inputs, labels = aux
    if feature_fn is None:
        raise ValueError("auxiliary inputs need a backbone to compute their features")
    return Auxiliary.from_inputs(inputs, labels, feature_fn)


def _stats_feature_fn(inputs: list[AttackInput], run_dir: Path) -> Callable | None:
    """The statistics extractor is public: use it when the devices say they run it."""
    from ..device_model.features import MODEL_HASH, stats_features
    from ..fleet import RunReader

    hellos = RunReader(run_dir).hellos
    hashes = {h.get("model_hash") for hs in hellos.values() for h in hs}
    if not inputs or hashes != {MODEL_HASH}:
        return None
    channels = inputs[0].n_features // 4  # mean, std, min, max per channel

    def features(windows: np.ndarray) -> np.ndarray:
        # flat windows (as shards store them) or (n, steps, channels): time-major either way
        x = np.asarray(windows, dtype=np.float32)
        return stats_features(x.reshape(len(x), -1, channels))

    return features


def attack_run(run_dir: str | Path, *, aux: Auxiliary | tuple[np.ndarray, np.ndarray] | None = None,
               backbone: Any = None, truth: Truth | str | None = None, invert: bool | None = None,
               invert_with: Any = None, feature_std: float | None = None, alpha: float = 0.05,
               seed: int = 0, devices: Collection[str] | None = None,
               max_round: int | None = None) -> AttackReport:
    """Attack every update recorded in `run_dir`.

    aux: public labelled data, an Auxiliary or (inputs, labels) whose features the backbone
    gives; backbone: the public feature extractor (a Keras float backbone, a tinyfl Backbone, or
    a function; the statistics extractor is used automatically when the devices report it);
    truth: device -> (inputs, labels) in replay order, or "shards" for an emulated run's shard
    files, used ONLY to score; invert: also recover raw inputs (default: when the backbone can be
    inverted and aux holds inputs); invert_with: the float Keras backbone to invert when
    `backbone` is the int8 C one (tinyfl.backbones.cnn_backbone); feature_std: how much to
    trust the recovered features in the inversion (default: their Laplace posterior std);
    devices, max_round: attack only these devices' updates of rounds up to max_round (a sample
    of a large fleet; every earlier round stays in, so the replayed truth stays aligned)."""
    run_dir = Path(run_dir)
    inputs = [inp for inp in updates_from_run(run_dir)
              if (devices is None or inp.device in devices)
              and (max_round is None or inp.round <= max_round)]
    feature_fn = _feature_fn_of(backbone)
    if invert_with is None:
        invert_with = backbone
    if feature_fn is None:
        feature_fn = _stats_feature_fn(inputs, run_dir)
        invert_with = "stats" if feature_fn is not None else invert_with
    aux_obj = _as_aux(aux, feature_fn)
    inputs = [inp.with_knowledge(aux_obj, feature_fn) for inp in inputs]
    can_invert = aux_obj is not None and aux_obj.inputs is not None and invert_with is not None and (
        invert_with == "stats" or is_keras_model(invert_with)
        or getattr(invert_with, "name", None) == "stats")
    do_invert = can_invert if invert is None else bool(invert and can_invert)
    results = [attack_update(inp, invert_backbone=invert_with if do_invert else None,
                             feature_std=feature_std) for inp in inputs]
    knowledge = {"aux_samples": 0 if aux_obj is None else int(len(aux_obj.labels)),
                 "backbone": "none" if feature_fn is None else (
                     "stats" if backbone is None else getattr(backbone, "name", type(backbone).__name__)),
                 "invert_inputs": do_invert}
    report = AttackReport(str(run_dir), knowledge, results)
    if truth is not None:
        if isinstance(truth, str):
            if truth != "shards":
                raise ValueError("truth must be a mapping or 'shards'")
            truth = truth_from_shards(run_dir)
        _score(report, inputs, samples_of_updates(inputs, truth), aux_obj, feature_fn, alpha, seed)
    return report


def _score(report: AttackReport, inputs: list[AttackInput], truths: list[Any], aux: Auxiliary | None,
           feature_fn: Callable | None, alpha: float, seed: int) -> None:
    """Per-sample scores for each update, then the mean with intervals against the baselines."""
    pooled: dict[str, dict[str, list[float]]] = {}

    def add(metric: str, name: str, values: Any) -> None:
        pooled.setdefault(metric, {}).setdefault(name, []).extend(np.asarray(values, dtype=np.float64).ravel())

    higher = {"mse": False, "feature_standardized_mse": False}
    for inp, res, tr in zip(inputs, report.updates, truths):
        if tr is None:
            continue
        x_true, y_true = tr
        k = inp.n_classes
        true_counts = np.bincount(y_true, minlength=k)
        n = len(y_true)
        hit = round(count_overlap(res.counts, true_counts) * n)
        res.scores["label_hits"] = np.arange(n) < hit
        add("label_accuracy", "attack", res.scores["label_hits"])
        for name, counts in label_count_baselines(n, k, aux).items():
            base_hit = round(count_overlap(counts, true_counts) * n)
            add("label_accuracy", name, np.arange(n) < base_hit)
        if feature_fn is None or res.features is None:
            continue
        h_true = np.asarray(feature_fn(np.asarray(x_true, dtype=np.float32).reshape((n,) + _sample_shape(aux, x_true))), dtype=np.float64)
        order = match_rows(res.features, h_true)
        est = res.features[order]
        center = np.asarray(aux.features).mean(axis=0) if aux is not None else np.zeros(h_true.shape[1])
        scale = np.asarray(aux.features).std(axis=0) if aux is not None else np.ones(h_true.shape[1])
        guesses = {"attack": est}
        if aux is not None:
            guesses.update(_baselines(res, y_true, aux, "features", seed + inp.round))
        for name, rows in guesses.items():
            if name != "attack" and not name.endswith("(true label)"):
                rows = rows[match_rows(rows, h_true)]  # a set of guesses gets its best pairing too
            add("feature_cosine", name, cosine(rows, h_true))
            add("feature_centered_cosine", name, centered_cosine(rows, h_true, center))
            add("feature_standardized_mse", name, standardized_mse(rows, h_true, scale))
        res.scores["feature_cosine"] = cosine(est, h_true)
        res.scores["feature_centered_cosine"] = centered_cosine(est, h_true, center)
        if res.inputs is None or aux is None or aux.inputs is None:
            continue
        x_true = np.asarray(x_true, dtype=np.float64).reshape((n,) + aux.inputs.shape[1:])
        image = aux.inputs.ndim == 4
        candidates = {"attack": res.inputs[order],
                      **_baselines(res, y_true, aux, "inputs", seed + inp.round)}
        for name, rows in candidates.items():
            if name != "attack" and not name.endswith("(true label)"):
                rows = rows[match_rows(rows, x_true)]
            if image:
                add("input_psnr_db", name, psnr(rows, x_true, data_range=1.0))
                add("input_ssim", name, ssim(rows, x_true))
            else:
                add("input_psnr_db", name, psnr(rows, x_true))
                add("input_pearson", name, pearson(rows, x_true))
                add("input_phase_aligned_corr", name, phase_aligned_correlation(rows, x_true))
            add("mse", name, mse(rows, x_true))
        res.scores["input_psnr_db"] = psnr(res.inputs[order], x_true, data_range=1.0 if image else None)
    for metric, by_name in pooled.items():
        hib = higher.get(metric, True)
        attack = np.asarray(by_name.pop("attack"))
        is_bool = metric == "label_accuracy"
        attack_scores = attack.astype(bool) if is_bool else attack
        entry: dict[str, Any] = {"attack": summarize(attack_scores, alpha=alpha, seed=seed),
                                 "baselines": {}, "verdicts": {}, "higher_is_better": hib}
        for name, values in by_name.items():
            base = np.asarray(values)
            entry["baselines"][name] = summarize(base.astype(bool) if is_bool else base, alpha=alpha, seed=seed)
            entry["verdicts"][name] = compare(attack, base, higher_is_better=hib, alpha=alpha, seed=seed)
        fair = [name for name in entry["baselines"] if not is_oracle(name)]
        if fair:
            sign = 1.0 if hib else -1.0
            entry["strongest_baseline"] = max(fair, key=lambda name: sign * entry["baselines"][name].estimate
                                              if np.isfinite(entry["baselines"][name].estimate) else -np.inf)
        # a leak only beats EVERY guess the server could make without the update, so the
        # strongest one too (an oracle that knows the true label never decides)
        entry["leak"] = bool(fair) and all(entry["verdicts"][name].beats for name in fair)
        report.summary[metric] = entry


def _baselines(res: UpdateAttack, y_true: np.ndarray, aux: Auxiliary, use: str,
               seed: int) -> dict[str, np.ndarray]:
    """Guesses needing no update: from the recovered labels (fair: the attack had those too),
    the label posterior's mixture of class means (one sample; a batch: its recovered labels'
    class means), the global mean, and the class mean of the TRUE label (an oracle)."""
    labels = res.labels
    log_post = res.details.get("label_log_posterior")
    mixture = (label_mixture_baseline(log_post, aux, use=use) if log_post is not None
               else class_mean_baseline(labels, aux, use=use))
    return {"class mean (recovered label)": class_mean_baseline(labels, aux, use=use),
            "label-posterior mixture of class means": mixture,
            "random same class (recovered label)": random_same_class_baseline(labels, aux, use=use,
                                                                              seed=seed),
            "global mean": global_mean_baseline(len(y_true), aux, use=use),
            "class mean (true label)": class_mean_baseline(y_true, aux, use=use)}


def _sample_shape(aux: Auxiliary | None, x: np.ndarray) -> tuple[int, ...]:
    if aux is not None and aux.inputs is not None:
        return tuple(aux.inputs.shape[1:])
    return tuple(np.asarray(x).shape[1:])
