"""A user's project file: scaffold, validation before any TensorFlow or compiler work, data checks."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from tinyfl.project import ProjectError, check_budget, init_project, load_project
from tinyfl.project.data import load_project_data


@pytest.fixture()
def project_dir(tmp_path):
    init_project(tmp_path / "gestures")
    return tmp_path / "gestures"


def test_init_writes_a_project_that_loads(project_dir):
    project = load_project(project_dir)
    assert project.name == "gestures"
    assert project.window == (48, 3)
    assert project.model.kind == "builder"
    assert project.fleet.emulate.n == 3 and project.fleet.fleet.rounds == 2
    data = load_project_data(project)
    assert data.x_train.shape[1:] == (48, 3)
    assert data.class_names == ("still", "wave", "shake")
    assert set(np.unique(data.y_train)) == {0, 1, 2}


def test_init_refuses_to_overwrite(project_dir):
    with pytest.raises(ProjectError, match="exists"):
        init_project(project_dir)


def test_overrides_reach_every_section(project_dir):
    project = load_project(project_dir, ["dp.noise_multiplier=2.5", "emulate.n=5", "fleet.rounds=4",
                                         "device.samples_per_round=7"])
    assert project.dp.noise_multiplier == 2.5
    assert project.fleet.emulate.n == 5 and project.fleet.fleet.rounds == 4
    assert project.samples_per_round == 7


@pytest.mark.parametrize("override, message", [
    ("dp.clip=0", "dp.clip: must be positive"),
    ("dp.noise_multiplier=-1", "dp.noise_multiplier: must be >= 0"),
    ("dp.noise_multiplier=0", "no privacy"),
    ("dp.delta=1.5", "dp.delta"),
    ("dp.eps_limit=0", "dp.eps_limit: must be positive"),
    ("emulate.board='foo'", "unknown board 'foo'"),
    ("emulate.n=0", "emulate.n"),
    ("data.window=[48]", "data.window"),
    ("data.npz='missing.npz'", "no such file"),
    ("model.builder='model.py'", "file.py:function"),
    ("model.epochs=-1", "model.epochs"),
    ("fleet.rounds=0", "fleet.rounds"),
    ("dp.colour=1", "unknown key"),
    ("emulate.data='digits'", "emulate.data"),
])
def test_bad_values_are_one_line_errors(project_dir, override, message):
    with pytest.raises(ProjectError, match=message) as info:
        load_project(project_dir, [override])
    assert "\n" not in str(info.value)


def test_a_budget_that_allows_no_release_says_what_one_costs(project_dir):
    project = load_project(project_dir, ["dp.eps_limit=5"])
    with pytest.raises(ProjectError, match=r"one update costs eps 10\.7.*more than the limit 5"):
        check_budget(project.dp)
    assert check_budget(load_project(project_dir).dp) == pytest.approx(10.7255, abs=1e-3)


def _rewrite(project_dir, **arrays):
    path = project_dir / "data" / "windows.npz"
    with np.load(path) as d:
        data = {k: d[k] for k in d.files}
    data.update(arrays)
    np.savez(path, **data)


def test_data_with_nan_is_refused(project_dir):
    with np.load(project_dir / "data" / "windows.npz") as d:
        x = d["x_train"].copy()
    x[3, 5, 1] = np.nan
    _rewrite(project_dir, x_train=x)
    with pytest.raises(ProjectError, match="training samples hold 1 NaN"):
        load_project_data(load_project(project_dir))


def test_single_class_data_is_refused(project_dir):
    with np.load(project_dir / "data" / "windows.npz") as d:
        y = np.zeros_like(d["y_train"])
    _rewrite(project_dir, y_train=y)
    with pytest.raises(ProjectError, match="fewer than 2 classes"):
        load_project_data(load_project(project_dir))


def test_window_shape_mismatch_is_refused(project_dir):
    with pytest.raises(ProjectError, match=r"shape \(48, 3\), data.window says \[50, 3\]"):
        load_project_data(load_project(project_dir, ["data.window=[50, 3]"]))


def test_csv_data_with_a_loader_and_flat_windows(tmp_path):
    init_project(tmp_path / "p", steps=8, channels=2, class_names=("a", "b"))
    rng = np.random.default_rng(1)
    rows = [f"{'ab'[i % 2]}," + ",".join(f"{v:.4f}" for v in rng.normal(i % 2, 0.1, 16))
            for i in range(40)]
    (tmp_path / "p" / "train.csv").write_text("label," + ",".join(f"v{i}" for i in range(16)) + "\n"
                                              + "\n".join(rows) + "\n")
    project = load_project(tmp_path / "p", ["data.npz=''", "data.csv='train.csv'",
                                             "data.class_names=[]"])
    data = load_project_data(project)
    assert data.x_train.shape[1:] == (8, 2) and data.class_names == ("a", "b")
    (tmp_path / "p" / "loader.py").write_text(
        "import numpy as np\n"
        "def load():\n"
        "    x = np.ones((10, 16), np.float32); y = np.arange(10) % 2\n"
        "    return x, y, x[:4], y[:4]\n")
    project = load_project(tmp_path / "p", ["data.npz=''", "data.loader='loader.py:load'",
                                             "data.class_names=[]"])
    assert load_project_data(project).x_test.shape == (4, 8, 2)


def test_a_float_tflite_is_refused_before_any_work(tmp_path):
    init_project(tmp_path / "p")
    (tmp_path / "p" / "head.npz").write_bytes(b"")
    (tmp_path / "p" / "garbage.tflite").write_bytes(b"\x00" * 64)
    with pytest.raises(ProjectError, match="model.tflite"):
        load_project(tmp_path / "p", ["model.builder=''", "model.tflite='garbage.tflite'",
                                      "model.head='head.npz'"])


def test_loading_a_project_never_imports_tensorflow(project_dir):
    code = ("import sys; from tinyfl.project import load_project, check_budget; "
            "from tinyfl.project.data import load_project_data; "
            f"p = load_project({str(project_dir)!r}); load_project_data(p); check_budget(p.dp); "
            "print('tensorflow' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
