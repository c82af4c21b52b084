"""A user's project: one TOML file that names the model, the data, the privacy parameters and
the fleet. Every command reads it (`--project tinyfl.toml`); `--set section.key=value`
overrides any key. Loading validates everything that can be checked without TensorFlow or a
compiler: paths, window shape, DP parameters, board names, the fleet.

    [project]
    name = "gestures"
    build_dir = "build"            # firmware, generated model C, reports (relative to this file)
    runs_dir = "runs"              # recorded runs

    [data]                         # exactly one of npz, csv, loader
    npz = "data/windows.npz"       # x_train/y_train/x_test/y_test, or x/y (split below)
    # csv = "data/train.csv"       # a row: label, then the window's values time-major
    # csv_test = "data/test.csv"
    # loader = "loader.py:load"    # a function () -> (x_train, y_train, x_test, y_test)
    window = [64, 3]               # steps, channels of one sample
    class_names = []               # optional: names for labels 0..K-1
    test_fraction = 0.25           # held out when the data has no test split
    sample_rate_hz = 10.0          # the windows' sampling rate: real boards sample the IMU at it

    [model]                        # exactly one of builder, keras, tflite (+ head)
    builder = "model.py:build"     # (window, n_classes) -> an uncompiled Keras classifier
    # keras = "model.keras"        # a Keras classifier whose last layer is Dense on logits
    # tflite = "backbone.tflite"   # an int8 backbone, with
    # head = "head.npz"            # its head: arrays weights (classes x features) and bias
    epochs = 20                    # pretraining on the training windows (0: use as given)
    batch_size = 16
    seed = 0

    [device]
    samples_per_round = 10         # windows a board trains on per round

    [dp]                           # compiled into the firmware; the device enforces them
    clip = 1.0
    noise_multiplier = 1.0
    grid_bits = 8
    delta = 1e-5
    eps_limit = 50.0

    [fleet]   ...                  # as in a fleet file (tinyfl/fleet/config.py)
    [emulate] board = "qemu"  n = 3  seed = 0
    [[devices]] link = "/dev/ttyACM0"
    [secagg]  ...                  # secure aggregation, as in a fleet file: rounds and images
"""
from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Iterable

from ..firmware_config import DpConfig

__all__ = ["ProjectError", "Project", "DataSpec", "ModelSpec", "load_project", "parse_project",
           "PROJECT_FILE", "BOARDS"]

PROJECT_FILE = "tinyfl.toml"
BOARDS = ("qemu", "qemu-rv32", "native")  # boards a project can emulate here
_SECTIONS = ("project", "data", "model", "device", "dp", "fleet", "emulate", "devices", "secagg")


class ProjectError(ValueError):
    """The project is invalid; the message names the file and the key, on one line."""


@dataclass(frozen=True)
class DataSpec:
    npz: str = ""
    csv: str = ""
    csv_test: str = ""
    loader: str = ""
    window: tuple[int, ...] = ()
    class_names: tuple[str, ...] = ()
    test_fraction: float = 0.25
    sample_rate_hz: float = 10.0  # the rate the windows were recorded at: real boards sample at it


@dataclass(frozen=True)
class ModelSpec:
    builder: str = ""
    keras: str = ""
    tflite: str = ""
    head: str = ""
    epochs: int = 20
    batch_size: int = 16
    seed: int = 0

    @property
    def kind(self) -> str:
        return next(k for k in ("builder", "keras", "tflite") if getattr(self, k))


@dataclass(frozen=True)
class Project:
    path: Path  # the project file
    name: str
    build_dir: Path
    runs_dir: Path
    data: DataSpec
    model: ModelSpec
    samples_per_round: int
    dp: DpConfig
    fleet: Any  # tinyfl.fleet.FleetConfig ([fleet], [emulate], [[devices]])
    raw: dict[str, Any] = field(repr=False, default_factory=dict)

    @property
    def root(self) -> Path:
        return self.path.parent

    def resolve(self, relative: str) -> Path:
        p = Path(relative).expanduser()
        return p if p.is_absolute() else self.root / p

    @property
    def window(self) -> tuple[int, int]:
        steps, channels = self.data.window
        return steps, channels


def _fail(key: str, why: str) -> None:
    raise ProjectError(f"{key}: {why}")


def _table(raw: dict[str, Any], name: str) -> dict[str, Any]:
    value = raw.get(name, {})
    if not isinstance(value, dict):
        _fail(name, "expected a table")
    return value


def _typed(section: str, values: dict[str, Any], cls: type) -> dict[str, Any]:
    known = {f.name: f.type for f in fields(cls)}
    unknown = sorted(set(values) - set(known))
    if unknown:
        _fail(section, f"unknown key(s) {', '.join(unknown)}")
    out = {}
    for key, value in values.items():
        kind = known[key] if isinstance(known[key], str) else known[key].__name__
        where = f"{section}.{key}"
        if kind == "int" and (isinstance(value, bool) or not isinstance(value, int)):
            _fail(where, f"expected an integer, got {value!r}")
        elif kind == "float":
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                _fail(where, f"expected a number, got {value!r}")
            value = float(value)
            if not math.isfinite(value):
                _fail(where, f"must be finite, got {value!r}")
        elif kind == "str" and not isinstance(value, str):
            _fail(where, f"expected a string, got {value!r}")
        elif kind.startswith("tuple"):
            if not isinstance(value, list):
                _fail(where, f"expected an array, got {value!r}")
            value = tuple(value)
        out[key] = value
    return out


def _data_spec(root: Path, values: dict[str, Any]) -> DataSpec:
    spec = DataSpec(**_typed("data", values, DataSpec))
    sources = [k for k in ("npz", "csv", "loader") if getattr(spec, k)]
    if len(sources) != 1:
        _fail("data", "name exactly one of npz, csv or loader")
    if spec.csv_test and not spec.csv:
        _fail("data.csv_test", "needs data.csv")
    if len(spec.window) != 2 or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1
                                        for v in spec.window):
        _fail("data.window", f"expected [steps, channels] (positive integers), got {list(spec.window)}")
    if spec.window[0] * spec.window[1] > 16384:
        _fail("data.window", f"{spec.window[0]} x {spec.window[1]} values is more than a board holds (16384)")
    if not all(isinstance(n, str) and n for n in spec.class_names):
        _fail("data.class_names", "expected non-empty strings")
    if len(set(spec.class_names)) != len(spec.class_names):
        _fail("data.class_names", "names must be unique")
    if not 0.0 < spec.test_fraction < 1.0:
        _fail("data.test_fraction", "must be in (0, 1)")
    if not 0.1 <= spec.sample_rate_hz <= 1000.0:
        _fail("data.sample_rate_hz", "must be in 0.1..1000")
    for key in ("npz", "csv", "csv_test"):
        rel = getattr(spec, key)
        if rel and not _resolve(root, rel).is_file():
            _fail(f"data.{key}", f"no such file {_resolve(root, rel)}")
    if spec.loader:
        _check_callable_ref(root, "data.loader", spec.loader)
    return spec


def _model_spec(root: Path, values: dict[str, Any]) -> ModelSpec:
    spec = ModelSpec(**_typed("model", values, ModelSpec))
    kinds = [k for k in ("builder", "keras", "tflite") if getattr(spec, k)]
    if len(kinds) != 1:
        _fail("model", "name exactly one of builder, keras or tflite")
    if spec.tflite and not spec.head:
        _fail("model.head", "an int8 tflite backbone needs its head (an .npz with weights and bias)")
    if spec.head and not spec.tflite:
        _fail("model.head", "only used with model.tflite")
    if spec.builder:
        _check_callable_ref(root, "model.builder", spec.builder)
    for key in ("keras", "tflite", "head"):
        rel = getattr(spec, key)
        if rel and not _resolve(root, rel).exists():
            _fail(f"model.{key}", f"no such file {_resolve(root, rel)}")
    if spec.keras and not (spec.keras.endswith(".keras") or spec.keras.endswith(".h5")
                           or _resolve(root, spec.keras).is_dir()):
        _fail("model.keras", "expected a .keras or .h5 file or a SavedModel folder")
    if spec.tflite:
        _check_tflite(_resolve(root, spec.tflite))
    if not 0 <= spec.epochs <= 10000:
        _fail("model.epochs", "must be in 0..10000")
    if spec.builder and spec.epochs == 0:
        _fail("model.epochs", "a builder's model is untrained: give epochs >= 1")
    if not 1 <= spec.batch_size <= 4096:
        _fail("model.batch_size", "must be in 1..4096")
    return spec


def _check_tflite(path: Path) -> None:
    """A readable int8 backbone: float tensors only at the QUANTIZE/DEQUANTIZE edges."""
    from ..codegen.tflite_reader import ModelFormatError, read_tflite

    try:
        model = read_tflite(path.read_bytes())
    except ModelFormatError as exc:
        _fail("model.tflite", f"{path.name}: {exc}")
    edges = ("QUANTIZE", "DEQUANTIZE")
    for op in model.operators:
        if op.op in edges:
            continue
        if any(i >= 0 and model.tensors[i].dtype == "FLOAT32" for i in op.inputs):
            _fail("model.tflite", f"{path.name} computes {op.op} in float: give a full int8 backbone "
                  "(or name the Keras model in model.keras / model.builder and tinyfl quantizes it)")


def _resolve(root: Path, rel: str) -> Path:
    p = Path(rel).expanduser()
    return p if p.is_absolute() else root / p


def _check_callable_ref(root: Path, key: str, ref: str) -> None:
    file, sep, func = ref.partition(":")
    if not sep or not file.endswith(".py") or not func.isidentifier():
        _fail(key, f"expected 'file.py:function', got {ref!r}")
    if not _resolve(root, file).is_file():
        _fail(key, f"no such file {_resolve(root, file)}")


def _dp(values: dict[str, Any]) -> DpConfig:
    dp = DpConfig(**_typed("dp", values, DpConfig))
    if not dp.clip > 0.0:
        _fail("dp.clip", f"must be positive, got {dp.clip}")
    if dp.noise_multiplier < 0.0:
        _fail("dp.noise_multiplier", f"must be >= 0, got {dp.noise_multiplier}")
    if dp.noise_multiplier == 0.0:
        _fail("dp.noise_multiplier", "0 adds no noise: a release build refuses it (no privacy)")
    if not 1 <= dp.grid_bits <= 20:
        _fail("dp.grid_bits", "must be in 1..20")
    if not 0.0 < dp.delta < 1.0:
        _fail("dp.delta", "must be in (0, 1)")
    if not dp.eps_limit > 0.0:
        _fail("dp.eps_limit", f"must be positive, got {dp.eps_limit}")
    from ..privacy.noise import noise_variance

    try:
        noise_variance(dp.noise_multiplier, dp.grid_bits)
    except ValueError as exc:
        _fail("dp.noise_multiplier", str(exc))
    return dp


def check_budget(dp: DpConfig) -> float:
    """eps of one release (the device's relation); ProjectError when the budget allows none.
    Imports dp-accounting, not TensorFlow."""
    from ..firmware_config import FirmwareConfig
    from ..privacy.accounting import epsilon

    one = epsilon(dp.noise_multiplier, 1, dp.delta)
    if FirmwareConfig(dp=dp).releases_allowed() < 1:  # the device's own arithmetic
        _fail("dp.eps_limit", f"one update costs eps {one:.3g} at noise multiplier "
              f"{dp.noise_multiplier:g}, more than the limit {dp.eps_limit:g}: no release is possible")
    return one


def _apply_set(raw: dict[str, Any], item: str) -> None:
    key, sep, text = item.partition("=")
    key = key.strip()
    section, dot, name = key.partition(".")
    if not sep or not dot or not name or "." in name:
        _fail(f"--set {item!r}", "expected section.key=value")
    if section not in _SECTIONS or section == "devices":
        _fail(f"--set {item!r}", f"unknown section {section!r}")
    from ..fleet.config import _parse_value  # one rule for "key=value" everywhere

    value = _parse_value(text.strip())
    table = raw.setdefault(section, {})
    if not isinstance(table, dict):
        _fail(section, "expected a table")
    table[name] = value


def parse_project(text: str, path: Path, overrides: Iterable[str] = ()) -> Project:
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ProjectError(f"invalid TOML: {exc}") from exc
    for item in overrides:
        _apply_set(raw, item)
    unknown = sorted(set(raw) - set(_SECTIONS))
    if unknown:
        _fail("project", f"unknown section(s) {', '.join(unknown)}")
    root = path.parent
    meta = _table(raw, "project")
    bad = sorted(set(meta) - {"name", "build_dir", "runs_dir"})
    if bad:
        _fail("project", f"unknown key(s) {', '.join(bad)}")
    name = meta.get("name", root.name or "project")
    if not isinstance(name, str) or not name.replace("-", "").replace("_", "").isalnum():
        _fail("project.name", f"use letters, digits, '-' and '_', got {name!r}")
    dirs = {}
    for key, default in (("build_dir", "build"), ("runs_dir", "runs")):
        value = meta.get(key, default)
        if not isinstance(value, str) or not value:
            _fail(f"project.{key}", "expected a folder path")
        dirs[key] = _resolve(root, value)
    data = _data_spec(root, _table(raw, "data"))
    model = _model_spec(root, _table(raw, "model"))
    device = _table(raw, "device")
    if set(device) - {"samples_per_round"}:
        _fail("device", f"unknown key(s) {', '.join(sorted(set(device) - {'samples_per_round'}))}")
    spr = device.get("samples_per_round", 10)
    if isinstance(spr, bool) or not isinstance(spr, int) or not 1 <= spr <= 255:
        _fail("device.samples_per_round", "must be an integer in 1..255")
    dp = _dp(_table(raw, "dp"))
    fleet = _fleet(raw)
    return Project(path=path, name=name, build_dir=dirs["build_dir"], runs_dir=dirs["runs_dir"],
                   data=data, model=model, samples_per_round=spr, dp=dp, fleet=fleet, raw=raw)


def _fleet(raw: dict[str, Any]) -> Any:
    from ..fleet.config import ConfigError, fleet_config_from_dict

    fleet_raw = {k: raw[k] for k in ("fleet", "devices", "emulate", "dp", "secagg") if k in raw}
    emulate = fleet_raw.get("emulate")
    if isinstance(emulate, dict):
        if "data" in emulate:
            _fail("emulate.data", "a project's boards get shards of its [data]: remove this key")
        if emulate.get("board", "qemu") not in BOARDS:
            _fail("emulate.board", f"unknown board {emulate.get('board')!r}; choose from {', '.join(BOARDS)}")
    try:
        return fleet_config_from_dict(fleet_raw)
    except ConfigError as exc:
        raise ProjectError(str(exc)) from exc


def load_project(path: str | Path, overrides: Iterable[str] = ()) -> Project:
    """Reads and validates a project file (or the tinyfl.toml inside a folder)."""
    p = Path(path).expanduser()
    if p.is_dir():
        p = p / PROJECT_FILE
    try:
        text = p.read_text()
    except OSError as exc:
        raise ProjectError(f"{p}: {exc.strerror or exc}") from exc
    try:
        return parse_project(text, p.resolve(), overrides)
    except ProjectError as exc:
        raise ProjectError(f"{p}: {exc}") from exc
