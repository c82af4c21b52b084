"""End to end: a recorded emulated run (native boards) attacked from its record alone."""
from __future__ import annotations

import json

import numpy as np
import pytest

import tinyfl.attack as A
from tinyfl.data import load_basic_motions
from tinyfl.demo import DemoOptions, run_emulated
from tinyfl.device_model import ChaCha20Drbg, device_round, fixed_seed_bytes, stats_features

TEST_SEED = 7


@pytest.fixture(scope="module")
def recorded_run(tmp_path_factory):
    # a test build (fixed noise seed) so the record can be checked against the device model;
    # the statistics backbone keeps it fast (the demo's default CNN needs TensorFlow)
    run_dir = tmp_path_factory.mktemp("attack") / "run"
    run_emulated(DemoOptions(board="native", n=2, rounds=2, backbone="stats", test_seed=TEST_SEED), run_dir)
    return run_dir


def test_updates_from_run_are_exactly_what_the_server_has(recorded_run):
    inputs = A.updates_from_run(recorded_run)
    assert sorted((i.round, i.device) for i in inputs) == [(1, "dev1"), (1, "dev2"), (2, "dev1"), (2, "dev2")]
    samples = A.samples_of_updates(inputs, A.truth_from_shards(recorded_run))
    drbgs: dict[str, ChaCha20Drbg] = {}
    for inp, (windows, labels) in sorted(zip(inputs, samples), key=lambda pair: pair[0].round):
        assert inp.sample_count == 10 and (inp.epochs, inp.batch) == (5, 5)
        # the device model, fed the recorded head and settings, reproduces the integers
        device_id = int(inp.device[3:])
        drbg = drbgs.setdefault(inp.device, ChaCha20Drbg(fixed_seed_bytes(TEST_SEED, device_id)))
        _, want = device_round(inp.params, stats_features(windows.reshape(len(windows), 100, 6)), labels,
                               n_classes=inp.n_classes, n_features=inp.n_features, lr=inp.lr,
                               epochs=inp.epochs, batch=inp.batch, clip=inp.clip,
                               grid_bits=inp.grid_bits, noise_multiplier=inp.noise_multiplier, drbg=drbg)
        assert np.abs(want - inp.values).max() <= 1


def test_attack_run_reports_recoveries_and_scores_against_baselines(recorded_run):
    data = load_basic_motions()
    report = A.attack_run(recorded_run, aux=(data.x_test, data.y_test), truth="shards")
    assert report.knowledge == {"aux_samples": 40, "backbone": "stats", "invert_inputs": True}
    assert len(report.updates) == 4
    for update in report.updates:
        assert update.counts.sum() == update.sample_count == 10
        assert update.features.shape == (10, 24) and update.inputs.shape == (10, 100, 6)
        assert update.label_method == "NNLS counts"
    assert {"majority class (auxiliary data)", "sample count spread evenly over the classes",
            "sample count spread by the label prior (auxiliary data)"} <= set(report.summary["label_accuracy"]["verdicts"])
    strongest = report.summary["label_accuracy"]["strongest_baseline"]
    assert report.summary["label_accuracy"]["baselines"][strongest].estimate >= max(
        b.estimate for b in report.summary["label_accuracy"]["baselines"].values())
    for metric in ("label_accuracy", "feature_centered_cosine", "input_psnr_db", "input_phase_aligned_corr"):
        assert report.summary[metric]["attack"].n == 40
    for metric in ("feature_centered_cosine", "input_psnr_db", "input_phase_aligned_corr"):
        assert {"class mean (recovered label)", "random same class (recovered label)", "global mean",
                "class mean (true label)"} <= set(report.summary[metric]["verdicts"])
    # z = 1 (the demo's default): nothing beyond class level leaks
    assert not report.summary["feature_centered_cosine"]["verdicts"]["class mean (recovered label)"].beats
    as_json = json.loads(json.dumps(report.to_dict()))
    assert as_json["summary"]["label_accuracy"]["attack"]["method"] == "clopper-pearson"
    assert any("label_accuracy" in line for line in report.lines())


def test_attack_run_without_knowledge_uses_closed_forms(recorded_run):
    report = A.attack_run(recorded_run)
    assert report.knowledge["aux_samples"] == 0 and not report.summary
    assert all(u.label_method.startswith("bias counts") and u.feature_method == "analytic"
               for u in report.updates)


def test_attack_run_scores_a_statistics_run_without_auxiliary_data(tmp_path):
    # regression: the shards' flat windows went into the statistics extractor unreshaped
    from tinyfl.attack import attack_run
    from tinyfl.demo import DemoOptions, run_emulated

    run = run_emulated(DemoOptions(board="native", n=2, rounds=1, backbone="stats"), tmp_path / "run")
    report = attack_run(run.run_dir, truth="shards")
    assert len(report.updates) == 2
    summary = report.to_dict()["summary"]
    assert "label_accuracy" in summary and "feature_centered_cosine" in summary
