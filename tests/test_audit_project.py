"""The audit of a user's project, without running it: its settings come from the project, bad
settings are refused before any work, and a kind of leak no attack could try is "not audited",
never "protected"."""
from __future__ import annotations

import numpy as np
import pytest

from tinyfl.attack import summarize
from tinyfl.audit import AuditConfig, AuditReport, LevelResult
from tinyfl.audit.leakage import NOT_AUDITED, MetricScore
from tinyfl.project import init_project, load_project


@pytest.fixture()
def project(tmp_path):
    init_project(tmp_path / "p", steps=32, channels=2, class_names=("a", "b", "c", "d", "e"))
    return load_project(tmp_path / "p", ["dp.noise_multiplier=2", "fleet.lr=0.1"])


def test_a_project_audit_takes_the_projects_settings(project):
    config = AuditConfig.for_project(project, ("dp.noise_multiplier=2", "fleet.lr=0.1"), smoke=True,
                                     board="qemu")
    config.validate()
    assert config.dp == project.dp and config.dp.noise_multiplier == 2
    assert config.samples_per_round == project.samples_per_round == 10
    assert (config.lr, config.local_epochs, config.batch_size) == (0.1, project.fleet.fleet.local_epochs,
                                                                   project.fleet.fleet.batch_size)
    assert config.project == str(project.path) and config.backbone == "project"
    for part in (config.leakage_config(), config.utility_config()):
        assert part.project == config.project and part.project_sets == ("dp.noise_multiplier=2", "fleet.lr=0.1")
    assert config.noise_levels == AuditConfig.smoke().noise_levels  # smoke stays small


@pytest.mark.parametrize("board", ["foo", "qemu-rv32", ""])
def test_boards_the_audit_cannot_run_are_refused_before_any_work(board):
    with pytest.raises(ValueError, match="the audit runs on native or qemu"):
        AuditConfig.smoke(board=board).validate()


def test_the_project_backbone_needs_a_project():
    with pytest.raises(ValueError, match="give --project"):
        AuditConfig.smoke(backbone="project").validate()


def _score(leak: str) -> MetricScore:
    interval = summarize(np.array([0.2, 0.4, 0.6]))
    return MetricScore(leak, f"{leak} metric", "some attack", True, interval, {}, {}, {}, 0.05)


def test_a_leak_without_any_attack_is_not_audited_rather_than_protected():
    level = LevelResult(1.0, 10.7, 9.0, 4, 4, [_score("label"), _score("features")])
    assert level.verdicts == {"label": "protected", "features": "protected", "raw_input": NOT_AUDITED}
    report = AuditReport(AuditConfig.smoke(backbone="stats"), None, [level], None, {})
    verdicts = report.leak_verdicts()
    assert verdicts["raw_input"]["verdict"] == NOT_AUDITED and verdicts["raw_input"]["protected_from"] is None
    assert verdicts["label"]["protected_from"] == 1.0
    findings = report.findings()
    assert "the label and the features are protected" in findings[0]
    assert any(f.startswith("Raw input: not audited") for f in findings)
    assert not any("Raw input: protected" in f for f in findings)
