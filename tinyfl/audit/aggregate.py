"""The attack audit of a simulated fleet's record (tinyfl.secagg.record): what the server saw
(sums under secure aggregation, single updates otherwise) attacked with tinyfl.attack.aggregate,
each attack scored against every device it targets, with the same baselines, tests and verdict
rule as the emulated audit (tinyfl.audit.leakage: a leak beats every fair baseline beyond the
Bonferroni-widened interval).

One attack on a sum is scored once per device of its cohort. Those scores share the attack's
output, so they are not independent: the intervals are narrower than they should be, which
makes a "leaks" verdict easier to reach, never harder; "at baseline" is the stronger claim.

The fleet's devices train on raw pixels (no backbone), so their features ARE the raw input:
the feature estimate is scored as the recovered input as well (PSNR, Pearson).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

__all__ = ["AT_BASELINE", "AggregateAudit", "audit_record"]

AT_BASELINE = "at baseline"


@dataclass
class AggregateAudit:
    mode: str
    releases: int  # attacked
    targets: int  # (release, device) pairs scored
    scores: list[Any]  # tinyfl.audit.leakage.MetricScore
    kinds: tuple[str, ...] = ()
    seconds: dict[str, float] = field(default_factory=dict)

    def verdict(self, leak: str) -> str:
        from .leakage import NOT_AUDITED

        scored = [s for s in self.scores if s.leak == leak]
        if not scored:
            return NOT_AUDITED
        return "leaks" if any(s.beats_all for s in scored) else AT_BASELINE

    @property
    def verdicts(self) -> dict[str, str]:
        from .leakage import LEAKS

        return {leak: self.verdict(leak) for leak in LEAKS}

    @property
    def exit_code(self) -> int:
        """0 when every leak was audited and is at baseline, 1 otherwise (the audit's rule)."""
        return 0 if all(v == AT_BASELINE for v in self.verdicts.values()) else 1

    def best(self, leak: str) -> tuple[Any, str, Any] | None:
        """(the attack's score, the strongest fair baseline's name, its score) of the first
        metric of this leak, for a one-line table."""
        for s in self.scores:
            if s.leak == leak:
                fair = [n for n in s.verdicts]
                strongest = max(fair, key=lambda n: s.baselines[n].estimate)
                return s.attack_interval, strongest, s.baselines[strongest]
        return None

    def to_dict(self) -> dict[str, Any]:
        return {"mode": self.mode, "releases": self.releases, "targets": self.targets,
                "kinds": list(self.kinds), "verdicts": self.verdicts, "exit_code": self.exit_code,
                "scores": [s.to_dict() for s in self.scores],
                "seconds": {k: round(v, 2) for k, v in self.seconds.items()}}


NON_MEMBER = "the attack's own guess, scored on a device outside the sum"


def _score(attacked: list[Any], used: np.ndarray, x_pool: np.ndarray, y_pool: np.ndarray, aux: Any,
           alpha: float, seed: int) -> tuple[list[Any], int]:
    """MetricScores per leak, as tinyfl.audit.leakage scores them, plus one more fair baseline:
    the same attack output scored against samples of the training pool that no device of the
    cohort used that round (a non-member). A sum necessarily tells the population's statistics
    (what the model learns); what it tells about ONE device is what the attack gets right about
    it beyond what it gets right about someone who was not in the sum: the DP question."""
    from ..attack import (centered_cosine, class_mean_baseline, compare, count_overlap,
                          global_mean_baseline, label_count_baselines, match_rows, pearson, psnr,
                          random_same_class_baseline, summarize)
    from .leakage import BLIND_LABEL, LEAKS, ORACLE, MetricScore, sign_test

    rng = np.random.default_rng(seed)
    per: dict[tuple[str, str, str], list[float]] = {}

    def add(leak: str, metric: str, who: str, values: Any) -> None:
        per.setdefault((leak, metric, who), []).extend(np.asarray(values, dtype=np.float64).ravel())

    x_pool, y_pool = np.asarray(x_pool, dtype=np.float64), np.asarray(y_pool, dtype=np.int64)
    center = np.asarray(aux.features, dtype=np.float64).mean(axis=0)

    def add_guess(who: str, rows: np.ndarray, x_true: np.ndarray) -> None:
        """Features and raw input are the same pixels here: one guess, both leaks."""
        add("features", "feature centered cosine", who, centered_cosine(rows, x_true, center))
        raw = who.replace("attack: likelihood", "attack: features as pixels")
        add("raw_input", "input PSNR (dB)", raw, psnr(rows, x_true, data_range=1.0))
        add("raw_input", "input Pearson", raw, pearson(rows, x_true))
    all_true, targets = [], 0
    for a in attacked:
        res, k = a.result, a.input.n_classes
        members = np.unique(used[a.round - 1, [d - 1 for d in a.cohort]])
        outside = np.setdiff1d(np.arange(len(y_pool)), members)
        for device in a.cohort:
            targets += 1
            idx = used[a.round - 1, device - 1]
            n = len(idx)
            # a large cohort can use nearly the whole pool: then no non-member to score against
            others = [rng.choice(outside, size=n, replace=len(outside) < n)] if len(outside) else []
            for who, sample in [("member", idx)] + [("non-member", o) for o in others]:
                y_true, x_true = y_pool[sample], x_pool[sample]
                true_counts = np.bincount(y_true, minlength=k)
                hits = np.arange(n) < round(count_overlap(res.counts, true_counts) * n)
                est = res.features[match_rows(res.features, x_true)]
                if who == "non-member":
                    add("label", "label accuracy", NON_MEMBER, hits)
                    add_guess(NON_MEMBER, est, x_true)
                    continue
                all_true.append(y_true)
                add("label", "label accuracy", "attack: " + res.label_method, hits)
                for name, counts in label_count_baselines(n, k, aux).items():
                    overlap = count_overlap(counts, true_counts)
                    add("label", "label accuracy", name, np.arange(n) < round(overlap * n))
                labels = res.labels[match_rows(res.features, x_true)]
                add_guess("attack: likelihood", est, x_true)
                add_guess("class mean (recovered label)", class_mean_baseline(labels, aux), x_true)
                add_guess("random same class (recovered label)", random_same_class_baseline(
                    labels, aux, seed=seed + a.round), x_true)
                add_guess("global mean", global_mean_baseline(n, aux), x_true)
                add_guess(ORACLE, class_mean_baseline(y_true, aux), x_true)
    if all_true:
        y_all = np.concatenate(all_true)
        add("label", "label accuracy", BLIND_LABEL, y_all == np.bincount(y_all).argmax())
    scores = []
    for leak in LEAKS:
        keys = {(m, w) for (lk, m, w) in per if lk == leak}
        attacks = sorted((m, w) for (m, w) in keys if w.startswith("attack: "))
        leak_alpha = alpha / max(1, len(attacks))  # Bonferroni, as tinyfl.audit.leakage
        for metric, who in attacks:
            att = np.asarray(per[(leak, metric, who)])
            rate = metric == "label accuracy"
            baselines, verdicts, signs = {}, {}, {}
            for (m, name) in sorted(keys):
                if m != metric or name.startswith("attack: "):
                    continue
                b = np.asarray(per[(leak, metric, name)])
                baselines[name] = summarize(b.astype(bool) if rate else b, alpha=alpha, seed=seed)
                if name != ORACLE:
                    verdicts[name] = compare(att, b, alpha=leak_alpha, seed=seed)
                    signs[name] = sign_test(att, b, leak_alpha / 2)
            scores.append(MetricScore(leak, metric, who.removeprefix("attack: "), True,
                                      summarize(att.astype(bool) if rate else att, alpha=alpha, seed=seed),
                                      baselines, verdicts, signs, leak_alpha))
    return scores, targets


def audit_record(run_dir: str | Path, x_pool: np.ndarray, y_pool: np.ndarray, aux: Any, *,
                 alpha: float = 0.05, seed: int = 0, select: Callable[[Any], bool] | None = None,
                 limit: int | None = None) -> AggregateAudit:
    """Attack the releases of a record (those `select` keeps, at most `limit`) and score each
    against every device it covers. x_pool, y_pool: the training pool the record's truth
    indexes (scoring only); aux: the attacker's tinyfl.attack.Auxiliary."""
    import time

    from ..attack.aggregate import attack_releases
    from ..secagg.record import SumReader
    from .leakage import _one_blas_thread

    t0 = time.perf_counter()
    reader = SumReader(run_dir)
    used = reader.truth()  # scoring only: the attack never reads it
    with _one_blas_thread():
        attacked = attack_releases(run_dir, aux, select=select, limit=limit)
    t1 = time.perf_counter()
    scores, targets = _score(attacked, used, x_pool, y_pool, aux, alpha, seed)
    return AggregateAudit(str(reader.config.get("mode", "")), len(attacked), targets, scores,
                          tuple(sorted({a.kind for a in attacked})),
                          {"attack": t1 - t0, "score": time.perf_counter() - t1})


def main(argv: list[str] | None = None) -> int:
    """`python -m tinyfl.audit.aggregate RUN_DIR [--limit N] [--format json]`: audit a fleet
    simulation's record (tinyfl.secagg.fleet_sim; its data must be digits). Exit 0: every leak
    at baseline; 1: a leak (or one not audited); 2: not a readable record."""
    import argparse
    import json
    import sys

    parser = argparse.ArgumentParser(prog="python -m tinyfl.audit.aggregate", description=main.__doc__)
    parser.add_argument("run_dir")
    parser.add_argument("--limit", type=int, default=None, help="releases attacked (first ones)")
    parser.add_argument("--format", choices=("text", "json"), default="text")
    args = parser.parse_args(argv)
    try:
        from ..attack import Auxiliary
        from ..secagg.fleet_sim import digits_fleet_data
        from ..secagg.record import SumReader

        data_name = SumReader(args.run_dir).config.get("data")
        if data_name != "digits":
            raise ValueError(f"the record's data is {data_name!r}; this audit knows digits")
        data = digits_fleet_data()
        aux = Auxiliary(data.x_test.astype(np.float64), data.y_test, data.x_test)
        audit = audit_record(args.run_dir, data.x_train, data.y_train, aux, limit=args.limit)
    except (OSError, ValueError, KeyError, TypeError, IndexError) as exc:
        print(f"error: {args.run_dir}: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    if args.format == "json":
        print(json.dumps(audit.to_dict(), default=float))
    else:
        print(f"{audit.mode}: {audit.releases} releases, {audit.targets} device targets")
        for leak, verdict in audit.verdicts.items():
            print(f"  {leak}: {verdict}")
    return audit.exit_code


if __name__ == "__main__":
    raise SystemExit(main())
