"""The attack audit on the backbone the demo ships: emulated native boards running the
generated int8 CNN, attacked with the CNN's host features and the float Keras inversion."""
from __future__ import annotations

from dataclasses import replace

import pytest

from tinyfl.audit import AuditConfig
from tinyfl.audit.leakage import run_leakage_level

pytest.importorskip("tensorflow")


@pytest.fixture(scope="module")
def cnn_levels(tmp_path_factory):
    config = AuditConfig.smoke(backbone="cnn", test_seed=7).leakage_config()
    root = tmp_path_factory.mktemp("audit-cnn")
    return {z: run_leakage_level(config, z, root / f"z{z:g}") for z in (0.0, 1.0)}


def test_cnn_updates_leak_labels_and_features_without_noise(cnn_levels):
    lv = cnn_levels[0.0]
    assert lv.n_updates == 12 and not lv.refusals
    assert lv.verdict("label") == "leaks"
    assert lv.verdict("features") == "leaks"
    # the likelihood attack recovers the CNN's 24 features almost exactly (noise-free update)
    feats = lv.score("feature centered cosine", "likelihood")
    assert feats.attack_interval.estimate > 0.95
    # raw input went through the float Keras backbone, not the statistics adapter
    assert lv.score("input PSNR (dB)", "inversion (tinyfl.attack)") is not None
    assert lv.score("input PSNR (dB)", "class-mean shape at recovered levels") is None
    assert all(ex["inversion"] is not None and ex["level"] is None for ex in lv.examples)


def test_cnn_features_are_protected_at_z1(cnn_levels):
    lv = cnn_levels[1.0]
    assert lv.n_updates >= 10
    assert lv.verdict("features") == "protected"
    assert lv.verdict("raw_input") == "protected"
    assert lv.score("feature centered cosine", "likelihood").attack_interval.estimate < 0.9


def test_cnn_audit_renders_and_its_utility_uses_cnn_features(cnn_levels, tmp_path):
    import json

    import numpy as np

    from tinyfl.audit import AuditReport, render
    from tinyfl.audit.utility import _data, utility_curve
    from tinyfl.backbones import cnn_backbone
    from tinyfl.data import load_basic_motions

    config = AuditConfig.smoke(backbone="cnn", noise_levels=(0.0, 1.0), parts=("leakage", "utility"))
    utility = utility_curve(replace(config.utility_config(), fleet_sizes=(100,), rounds=30), [0.0])
    h_train = _data("cnn")[0]
    assert np.array_equal(h_train, cnn_backbone("basic_motions").features(load_basic_motions().x_train))
    # the pretrained CNN's features separate the classes (measured 1.0; statistics: 0.8)
    assert utility.initial_accuracy < 0.5 and utility.accuracy[100][0] >= 0.9
    report = AuditReport(config, None, [cnn_levels[0.0], cnn_levels[1.0]], utility, {})
    page = render(report, tmp_path)
    assert "int8 CNN backbone" in page.read_text()
    assert (tmp_path / "reconstructions.png").read_bytes()[:4] == b"\x89PNG"
    summary = json.loads((tmp_path / "report.json").read_text())
    assert summary["config"]["backbone"] == "cnn" and "(cnn backbone)" in summary["findings"][0]
