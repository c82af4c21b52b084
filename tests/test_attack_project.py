"""`tinyfl attack --project` on a project whose model is a Keras file used as given: the
attacker inverts raw input through the float Keras backbone (the int8 backbone's exact source);
any other project keeps raw input out, with a note."""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tinyfl.audit.subject import RAW_INPUT_NOTE, float_backbone
from tinyfl.project import init_project, load_project

ROOT = Path(__file__).resolve().parents[1]
CLASSES = ("a", "b", "c")


def _keras_project(root: Path) -> Path:
    """An init'd project whose model is model.keras (the example architecture, untrained), used
    as given (epochs = 0)."""
    folder = root / "kp"
    init_project(folder, steps=24, channels=2, class_names=CLASSES)
    spec = importlib.util.spec_from_file_location("kp_model", folder / "model.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.build((24, 2), len(CLASSES)).save(folder / "model.keras")
    toml = folder / "tinyfl.toml"
    text = toml.read_text().replace('builder = "model.py:build"', 'keras = "model.keras"')
    toml.write_text(text.replace("epochs = 30", "epochs = 0"))
    return folder


def test_a_builder_project_has_no_float_backbone(tmp_path):
    init_project(tmp_path / "p")
    assert float_backbone(load_project(tmp_path / "p")) == (None, RAW_INPUT_NOTE)


def test_a_keras_project_is_attacked_down_to_raw_input(tmp_path):
    folder = _keras_project(tmp_path)
    env = {k: v for k, v in os.environ.items() if k != "TINYFL_BUILD_DIR"}
    env["PYTHONPATH"] = str(ROOT)

    def cli(*args: str) -> subprocess.CompletedProcess:
        proc = subprocess.run([sys.executable, "-m", "tinyfl.cli", *args], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
        return proc

    sets = ["--set", "emulate.board=native", "--set", "emulate.n=2", "--set", "fleet.rounds=1",
            "--set", "device.samples_per_round=1"]
    demo = json.loads(cli("demo", "--project", str(folder), *sets, "--format", "json").stdout)
    report = json.loads(cli("attack", demo["run_dir"], "--project", str(folder), *sets, "--truth",
                            "--format", "json").stdout)
    knowledge = report["knowledge"]
    assert knowledge["invert_inputs"] is True and "float Keras backbone" in knowledge["raw_input"]
    assert len(report["updates"]) == 2
    assert report["summary"]["input_psnr_db"]["attack"]["n"] == 2  # every inverted window scored

    # the float backbone the attacker inverts is the source of the devices' int8 one
    from tinyfl.project import prepare_project

    project = load_project(folder)
    data, int8, _config = prepare_project(project)
    keras_backbone, _note = float_backbone(project)
    h_float = np.asarray(keras_backbone.predict(data.x_test, verbose=0), dtype=np.float64)
    h_int8 = np.asarray(int8.features(data.x_test), dtype=np.float64)
    assert h_float.shape == h_int8.shape
    assert np.corrcoef(h_float.ravel(), h_int8.ravel())[0, 1] > 0.95


def _fake_run(root: Path, config: str, model_hash: int) -> Path:
    run = root / "run"
    run.mkdir()
    (run / "frames.jsonl").write_text("")
    (run / "config.json").write_text(config)
    (run / "hellos.jsonl").write_text(json.dumps({"device": "dev1", "t": 0.0, "model_hash": model_hash}) + "\n")
    return run


def test_a_run_of_another_model_is_named_and_a_damaged_record_refused(tmp_path):
    from types import SimpleNamespace

    from tinyfl.attack.cli import UsageError, _check_model, check_run

    run = _fake_run(tmp_path, json.dumps({"head": {"n_classes": 3, "n_features": 16}}), 0x1234)
    assert check_run(run, truth=False)["head"] == {"n_classes": 3, "n_features": 16}
    assert _check_model(run, SimpleNamespace(model_hash=0x1234)) is None
    warning = _check_model(run, SimpleNamespace(model_hash=0x9999))
    assert "0x00001234" in warning and "0x00009999" in warning
    (run / "config.json").write_text("{not json")
    with pytest.raises(UsageError, match="config.json is damaged"):
        check_run(run, truth=False)
    (run / "config.json").write_text("[1, 2]")
    with pytest.raises(UsageError, match="not a run's configuration"):
        check_run(run, truth=False)
