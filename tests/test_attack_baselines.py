"""A leak is only what beats the strongest guess the server could make without the update.

Regression (issue 7): `tinyfl attack` called label accuracy 0.333 a leak because it beat the
majority class (0.25), while spreading each device's known sample count over the classes
scored 0.825 without looking at any update."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np

import tinyfl.attack as A
from tinyfl.attack.report import AttackReport, UpdateAttack, _score


def test_spread_counts_sum_to_the_sample_count_and_follow_the_prior():
    assert A.spread_counts_baseline(10, 4).tolist() == [3, 3, 2, 2]
    assert A.spread_counts_baseline(1, 4).tolist() == [1, 0, 0, 0]
    assert A.spread_counts_baseline(10, 4, prior=np.array([1, 1, 6, 2])).tolist() == [1, 1, 6, 2]
    assert A.spread_counts_baseline(3, 4, prior=np.array([1, 1, 5, 1])).tolist() == [1, 0, 2, 0]
    for n in range(0, 30):
        assert A.spread_counts_baseline(n, 4, prior=np.array([0.1, 0.2, 0.3, 0.4])).sum() == n


def _batches(seed: int, updates: int = 40, n: int = 10, k: int = 4):
    """True label multisets of balanced data dealt into batches of n."""
    rng = np.random.default_rng(seed)
    return [rng.permutation(np.repeat(np.arange(k), updates * n // k))[i * n:(i + 1) * n]
            for i in range(updates)]


def _report(guess_counts, truths, k=4):
    aux = SimpleNamespace(labels=np.repeat(np.arange(k), 10), features=np.zeros((40, 2)), inputs=None)
    inputs = [SimpleNamespace(n_classes=k, round=i + 1) for i in range(len(truths))]
    updates = [UpdateAttack(f"dev{i % 4}", i + 1, len(y), 1.0, A.labels_from_counts(c), c, "test counts",
                            None, "none") for i, (c, y) in enumerate(zip(guess_counts, truths))]
    report = AttackReport("run", {}, updates)
    _score(report, inputs, [(np.zeros((len(y), 1)), y) for y in truths], aux, None, 0.05, 0)
    return report


def test_beating_the_majority_class_is_not_a_leak_when_spreading_the_count_is_better():
    truths = _batches(0)
    # a weak attack: all ten labels on the batch's most common class, right about a third
    weak = [np.bincount([np.bincount(y, minlength=4).argmax()] * len(y), minlength=4) for y in truths]
    entry = _report(weak, truths).summary["label_accuracy"]
    attack = entry["attack"].estimate
    majority = entry["baselines"]["majority class (auxiliary data)"].estimate
    spread = entry["baselines"]["sample count spread evenly over the classes"].estimate
    assert majority < attack < spread  # the case: 0.25 < 0.33 < 0.8
    assert entry["verdicts"]["majority class (auxiliary data)"].beats  # what was reported as a leak
    assert entry["strongest_baseline"].startswith("sample count spread")
    assert not entry["leak"]
    lines = "\n".join(_report(weak, truths).lines())
    assert "no leak shown" in lines and "LEAK" not in lines


def test_exact_counts_leak_beyond_every_baseline():
    truths = _batches(1)
    exact = [np.bincount(y, minlength=4) for y in truths]
    report = _report(exact, truths)
    entry = report.summary["label_accuracy"]
    assert entry["attack"].estimate == 1.0 and entry["leak"]
    assert any(line.startswith("  label_accuracy") and "LEAK" in line for line in report.lines())
    assert report.to_dict()["summary"]["label_accuracy"]["leak"] is True
