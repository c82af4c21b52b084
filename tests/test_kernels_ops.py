"""Randomized single-op and small multi-op models: each op's kernel, through generated C, is
bit-exact with the tflite-micro interpreter (random shapes, strides, paddings, activations,
per-channel scales, nonzero biases, inputs that saturate)."""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pytest

from codegen_helpers import assert_bit_exact

pytest.importorskip("tensorflow")

N_INPUTS = 48  # per model; with the reference models the suite compares > 1000 inputs


def _keras():
    from tinyfl.models._tf import keras

    return keras


def _act(rng: np.random.Generator) -> str | None:
    return [None, "relu", "relu6"][int(rng.integers(0, 3))]


def _randomize_weights(model: Any, rng: np.random.Generator) -> None:
    """Nonzero biases and varied per-channel magnitudes (so per-channel scales differ)."""
    for layer in model.layers:
        weights = layer.get_weights()
        if not weights:
            continue
        new = []
        for w in weights:
            if w.ndim == 1:
                new.append(rng.normal(0.0, 0.3, w.shape).astype(np.float32))
            else:
                gain = rng.uniform(0.2, 1.5, w.shape[-1]).astype(np.float32)
                new.append((rng.normal(0.0, 0.5, w.shape) * gain).astype(np.float32))
        layer.set_weights(new)


def conv2d(rng: np.random.Generator) -> Any:
    k = _keras()
    h, w, c = int(rng.integers(3, 11)), int(rng.integers(3, 11)), int(rng.integers(1, 6))
    kh, kw = int(rng.integers(1, min(h, 4) + 1)), int(rng.integers(1, min(w, 4) + 1))
    dilated = rng.random() < 0.25
    strides = (1, 1) if dilated else (int(rng.integers(1, 3)), int(rng.integers(1, 4)))
    dilation = (int(rng.integers(1, 3)), 1) if dilated else (1, 1)
    padding = "same" if rng.random() < 0.5 else "valid"
    if padding == "valid" and dilated and (kh - 1) * dilation[0] + 1 > h:
        dilation = (1, 1)
    inp = k.Input((h, w, c))
    out = k.layers.Conv2D(int(rng.integers(1, 9)), (kh, kw), strides=strides, padding=padding,
                          dilation_rate=dilation, activation=_act(rng),
                          use_bias=bool(rng.random() < 0.8))(inp)
    return k.Model(inp, out)


def conv1d(rng: np.random.Generator) -> Any:
    k = _keras()
    steps, ch = int(rng.integers(8, 40)), int(rng.integers(1, 7))
    inp = k.Input((steps, ch))
    out = k.layers.Conv1D(int(rng.integers(2, 12)), int(rng.integers(1, 6)),
                          strides=int(rng.integers(1, 3)),
                          padding="same" if rng.random() < 0.5 else "valid",
                          activation=_act(rng))(inp)
    return k.Model(inp, out)


def depthwise(rng: np.random.Generator) -> Any:
    k = _keras()
    h, w, c = int(rng.integers(3, 10)), int(rng.integers(3, 10)), int(rng.integers(1, 6))
    inp = k.Input((h, w, c))
    out = k.layers.DepthwiseConv2D(
        (int(rng.integers(1, 4)), int(rng.integers(1, 4))),
        strides=(int(rng.integers(1, 3)), int(rng.integers(1, 3))),
        padding="same" if rng.random() < 0.5 else "valid",
        depth_multiplier=int(rng.integers(1, 3)), activation=_act(rng))(inp)
    return k.Model(inp, out)


def dense(rng: np.random.Generator) -> Any:
    k = _keras()
    inp = k.Input((int(rng.integers(1, 70)),))
    out = k.layers.Dense(int(rng.integers(1, 40)), activation=_act(rng),
                         use_bias=bool(rng.random() < 0.8))(inp)
    return k.Model(inp, out)


def _pool2d(rng: np.random.Generator, layer_name: str) -> Any:
    k = _keras()
    h, w, c = int(rng.integers(2, 12)), int(rng.integers(2, 12)), int(rng.integers(1, 5))
    pool = (int(rng.integers(1, min(h, 3) + 1)), int(rng.integers(1, min(w, 3) + 1)))
    strides = (int(rng.integers(1, 3)), int(rng.integers(1, 3)))
    padding = "same" if rng.random() < 0.5 else "valid"
    layer = getattr(k.layers, layer_name)
    inp = k.Input((h, w, c))
    # A conv in front gives the pool an int8 input with a nontrivial zero point.
    x = k.layers.Conv2D(c, 1)(inp)
    out = layer(pool, strides=strides, padding=padding)(x)
    return k.Model(inp, out)


def avg_pool2d(rng: np.random.Generator) -> Any:
    return _pool2d(rng, "AveragePooling2D")


def max_pool2d(rng: np.random.Generator) -> Any:
    return _pool2d(rng, "MaxPooling2D")


def mean(rng: np.random.Generator) -> Any:
    k = _keras()
    if rng.random() < 0.5:
        inp = k.Input((int(rng.integers(2, 30)), int(rng.integers(1, 8))))
        out = k.layers.GlobalAveragePooling1D()(inp)
    else:
        inp = k.Input((int(rng.integers(1, 8)), int(rng.integers(1, 8)), int(rng.integers(1, 6))))
        out = k.layers.GlobalAveragePooling2D()(inp)
    return k.Model(inp, out)


def residual(rng: np.random.Generator) -> Any:
    """Multi-op: conv -> (depthwise branch) -> ADD -> pooling -> mean -> dense."""
    k = _keras()
    h, w, c = int(rng.integers(4, 10)), int(rng.integers(4, 10)), int(rng.integers(1, 4))
    f = int(rng.integers(2, 8))
    inp = k.Input((h, w, c))
    x = k.layers.Conv2D(f, 3, padding="same", activation="relu")(inp)
    y = k.layers.DepthwiseConv2D(3, padding="same")(x)
    z = k.layers.Add()([x, y])
    z = k.layers.ReLU()(z) if rng.random() < 0.5 else z
    z = k.layers.MaxPooling2D(2, padding="same")(z)
    z = k.layers.GlobalAveragePooling2D()(z)
    out = k.layers.Dense(int(rng.integers(2, 12)), activation=_act(rng))(z)
    return k.Model(inp, out)


BUILDERS: dict[str, Callable[[np.random.Generator], Any]] = {
    "conv2d": conv2d,
    "conv1d": conv1d,
    "depthwise": depthwise,
    "dense": dense,
    "avg_pool2d": avg_pool2d,
    "max_pool2d": max_pool2d,
    "mean": mean,
    "residual": residual,
}
FAST_OPS = frozenset({"conv2d", "conv1d", "depthwise", "dense", "residual"})
CASES = [(name, seed) for name in BUILDERS for seed in range(3)]


@pytest.mark.parametrize("name,seed", CASES, ids=[f"{n}-{s}" for n, s in CASES])
def test_random_model_bit_exact(name: str, seed: int) -> None:
    from tinyfl.models import convert_int8
    from tinyfl.models.train import set_seed

    rng = np.random.default_rng(1000 * seed + sum(map(ord, name)))
    set_seed(seed)
    model = BUILDERS[name](rng)
    _randomize_weights(model, rng)
    shape = tuple(model.input_shape[1:])
    representative = rng.normal(0.0, 1.0, (64, *shape)).astype(np.float32)
    tflite = convert_int8(model, representative)
    x = rng.normal(0.0, 1.0, (N_INPUTS, *shape)).astype(np.float32)
    x[: N_INPUTS // 4] *= 4.0  # beyond the calibrated range: saturation paths
    assert assert_bit_exact(tflite, x, tag=f"op_{name}_{seed}") == N_INPUTS
    if name in FAST_OPS:
        # The fast kernels' arithmetic (portable C here; the DSP instructions run in QEMU, see
        # test_kernels_fast.py) on the same random layers.
        assert assert_bit_exact(tflite, x, tag=f"op_{name}_{seed}", optimized=True) == N_INPUTS
