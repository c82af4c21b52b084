"""`tinyfl init`: a project a user starts from that runs as it is (numpy only, no TensorFlow).

It writes a commented tinyfl.toml, a data folder with synthetic 3-axis windows in the .npz
layout tinyfl reads, and a small Keras model builder. Replace the data and the model with your
own and every command keeps working.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .config import PROJECT_FILE, ProjectError

__all__ = ["init_project"]

_TOML = '''\
# A tinyfl project. Every command reads this file:
#   tinyfl build   --project {name}      # firmware + memory/accuracy report -> build/
#   tinyfl demo    --project {name}      # emulated boards train on shards of your data
#   tinyfl attack  RUN --project {name}  # what a server recovers from a recorded run
#   tinyfl audit   --project {name} --smoke
# Override any key on the command line: --set "dp.noise_multiplier=2" --set "emulate.n=8".
# Relative paths are relative to this file.

[project]
name = "{name}"
build_dir = "build"          # firmware, the generated model C, reports
runs_dir = "runs"            # recorded runs (tinyfl demo/serve write one folder per run)

[data]
# One of:
#   npz = "..."   arrays x_train, y_train, x_test, y_test (or x, y: split by test_fraction);
#                 x is (N, steps, channels) float, time-major (step 0's channels, step 1's, ...);
#                 y holds integer labels 0..K-1 (or strings); optional array class_names
#   csv = "..."   one window a row: the label, then steps * channels values time-major
#                 (csv_test = "..." for a held-out file; else test_fraction is held out)
#   loader = "loader.py:load"   a function () -> (x_train, y_train, x_test, y_test)
npz = "data/windows.npz"
window = [{steps}, {channels}]        # steps, channels of one window
class_names = [{class_names}]
test_fraction = 0.25
sample_rate_hz = 10.0        # the windows' sampling rate: real boards sample their IMU at it

[model]
# One of:
#   builder = "model.py:build"   (window, n_classes) -> an uncompiled Keras classifier, trained here
#   keras = "model.keras"        a trained Keras classifier (epochs = 0 keeps its weights)
#   tflite = "backbone.tflite" with head = "head.npz"   an int8 backbone and its float head
# The last layer must be Dense on logits: it becomes the head the boards fine-tune; everything
# before it becomes the frozen int8 backbone, generated as C.
builder = "model.py:build"
epochs = 30
batch_size = 16
seed = 0

[device]
samples_per_round = 10       # windows a board trains on in each round

[dp]                         # compiled into the firmware; the device enforces them
clip = 1.0                   # L2 bound of one update (W and b)
noise_multiplier = 1.0       # noise stddev / clip (discrete Gaussian, drawn on the device)
grid_bits = 8                # the clip bound spans 2^grid_bits integer steps on the wire
delta = 1e-5
eps_limit = 50.0             # the budget each device enforces over its lifetime

[fleet]
rounds = 2
lr = 0.05                    # device SGD learning rate
local_epochs = 5
batch_size = 5
deadline_s = 60.0
server_lr = 1.0

[emulate]                    # boards the host launches: qemu (Cortex-M4F) or native
board = "qemu"
n = 3
seed = 0                     # how the training windows are split into the boards' shards

# Real boards instead of [emulate]:
# [[devices]]
# link = "/dev/ttyACM0"
# name = "left-wrist"
'''

_MODEL = '''\
"""The project's classifier. tinyfl trains it on data/, splits off the last Dense layer as the
head the boards fine-tune, and turns the rest into an int8 backbone generated as C."""


def build(window, n_classes):
    import keras

    steps, channels = window
    inputs = keras.Input(shape=(steps, channels))
    x = keras.layers.Conv1D(8, 5, padding="same", activation="relu")(inputs)
    x = keras.layers.MaxPooling1D(2)(x)
    x = keras.layers.Conv1D(16, 3, padding="same", activation="relu")(x)
    x = keras.layers.GlobalAveragePooling1D()(x)
    x = keras.layers.Dense(16, activation="relu")(x)
    outputs = keras.layers.Dense(n_classes)(x)  # logits: the head
    return keras.Model(inputs, outputs)
'''

_README = '''\
# {name}

A tinyfl project (made by `tinyfl init`). `tinyfl.toml` says where everything is.

- `data/windows.npz`: example windows (synthetic: each class a different oscillation on each
  axis, plus noise). Replace it with your own recordings in the same layout, or point
  `[data]` at a CSV file or a loader function.
- `model.py`: the classifier. Its last Dense layer is the head the boards fine-tune.

Try it:

    tinyfl build --project .
    tinyfl demo  --project .
'''


def _example_windows(steps: int, channels: int, classes: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)

    def draw(n: int) -> tuple[np.ndarray, np.ndarray]:
        y = np.arange(n) % classes
        rng.shuffle(y)
        t = np.arange(steps, dtype=np.float64)[None, :, None]
        freq = (1.0 + y)[:, None, None] * (2.0 * np.pi / steps)
        phase = rng.uniform(0.0, 2.0 * np.pi, size=(n, 1, channels))
        x = np.sin(freq * t + phase) + 0.3 * rng.standard_normal((n, steps, channels))
        return x.astype(np.float32), y.astype(np.int64)

    x_train, y_train = draw(40 * classes)
    x_test, y_test = draw(12 * classes)
    return {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}


def init_project(folder: str | Path, *, name: str | None = None, steps: int = 48, channels: int = 3,
                 class_names: tuple[str, ...] = ("still", "wave", "shake"), force: bool = False,
                 seed: int = 0) -> Path:
    """Writes the scaffold into `folder`; returns the project file. Refuses to overwrite."""
    root = Path(folder).expanduser()
    name = name or root.resolve().name or "project"
    if not name.replace("-", "").replace("_", "").isalnum():
        raise ProjectError(f"project name {name!r}: use letters, digits, '-' and '_'")
    if steps < 4 or channels < 1 or len(class_names) < 2:
        raise ProjectError("init: a window needs >= 4 steps, >= 1 channel, and >= 2 classes")
    files = {
        root / PROJECT_FILE: _TOML.format(name=name, steps=steps, channels=channels,
                                          class_names=", ".join(f'"{c}"' for c in class_names)),
        root / "model.py": _MODEL,
        root / "README.md": _README.format(name=name),
    }
    existing = [p for p in [*files, root / "data" / "windows.npz"] if p.exists()]
    if existing and not force:
        raise ProjectError(f"init: {existing[0]} exists (use --force to overwrite)")
    (root / "data").mkdir(parents=True, exist_ok=True)
    for path, text in files.items():
        path.write_text(text)
    np.savez(root / "data" / "windows.npz", **_example_windows(steps, channels, len(class_names), seed),
             class_names=np.array(class_names))
    return root / PROJECT_FILE
