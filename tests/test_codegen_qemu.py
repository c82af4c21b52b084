"""The BasicMotions backbone on the emulated Cortex-M4F (QEMU mps2-an386): generated C + kernels
built with arm-none-eabi-gcc -O2, bit-exact with the tflite-micro interpreter; the head
initialised from the Keras model predicts on the device what it predicts in Python."""
from __future__ import annotations

import numpy as np
import pytest

from codegen_helpers import build_qemu_model_program, parse_qemu_model_output, reference_artifacts
from tinyfl.codegen import generate
from tinyfl.codegen.tflm import tflm_outputs
from tinyfl.data import load_basic_motions
from tinyfl.paths import build_dir

pytest.importorskip("tensorflow")

KERNEL_PATHS = {"plain": None, "optimized": {"TINYFL_KERNELS_OPTIMIZED": 1}}


@pytest.fixture(scope="module")
def basic_motions_case():
    artifacts, _ = reference_artifacts("basic_motions")
    ds = load_basic_motions()
    rng = np.random.default_rng(11)
    noisy = ds.x_train[rng.integers(0, len(ds.x_train), 40)] * rng.uniform(0.3, 3.0, (40, 1, 1))
    noisy = (noisy + rng.normal(0.0, float(ds.x_train.std()) * 0.3, noisy.shape)).astype(np.float32)
    # Test windows first: the head check uses the first len(x_test) rows.
    x = np.concatenate([ds.x_test, ds.x_train, noisy]).astype(np.float32)
    ref_features = tflm_outputs(artifacts.tflite, x).astype(np.float32)
    directory = build_dir() / "qemu_vectors"
    directory.mkdir(parents=True, exist_ok=True)
    windows = directory / "basic_motions_windows.f32"
    head = directory / "basic_motions_head.f32"
    windows.write_bytes(x.tobytes())
    head.write_bytes(artifacts.head.flat().tobytes())
    return artifacts, ds, x, ref_features, windows, head


@pytest.mark.parametrize("kernels", list(KERNEL_PATHS))
def test_basic_motions_bit_exact_on_cortex_m4(qemu, basic_motions_case, kernels) -> None:
    from tinyfl.emulate import run_semihosted

    artifacts, ds, x, ref_features, windows, head = basic_motions_case
    gen = generate(artifacts.tflite, name="basic_motions")
    elf = build_qemu_model_program(gen, tag=f"basic_motions_{kernels}", defines=KERNEL_PATHS[kernels])
    code, out = run_semihosted(elf, [str(windows), str(len(x)), str(head)], timeout=120)
    assert code == 0, out[-2000:]
    assert f"PASS model {len(x)}" in out
    n_classes = artifacts.head.n_classes
    feats, logits, preds = parse_qemu_model_output(out, len(x), gen.feature_len, n_classes)

    # Backbone: every feature bit equal to the interpreter's (120 windows).
    same = feats.view(np.uint32) == ref_features.view(np.uint32)
    assert same.all(), f"{int((~same).sum())} of {same.size} features differ"

    # Head from the Keras model, on the test set: same predictions as Python, logits within
    # float tolerance (only the summation order differs).
    n_test = len(ds.x_test)
    py_logits = artifacts.head.logits(ref_features[:n_test])
    np.testing.assert_allclose(logits[:n_test], py_logits, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(preds[:n_test], np.argmax(py_logits, axis=1))
    device_accuracy = float(np.mean(preds[:n_test] == ds.y_test))
    assert device_accuracy == pytest.approx(artifacts.int8_accuracy)


def _qemu_features(gen, tag: str, x: np.ndarray, kernels: str) -> np.ndarray:
    """Features the generated model computes on the emulated Cortex-M4F (a zero one-class head
    satisfies the program's head argument)."""
    from tinyfl.emulate import run_semihosted

    directory = build_dir() / "qemu_vectors"
    directory.mkdir(parents=True, exist_ok=True)
    windows, head = directory / f"{tag}_windows.f32", directory / f"{tag}_head.f32"
    windows.write_bytes(np.ascontiguousarray(x, dtype=np.float32).tobytes())
    head.write_bytes(np.zeros(gen.feature_len + 1, dtype=np.float32).tobytes())
    elf = build_qemu_model_program(gen, tag=f"{tag}_{kernels}", defines=KERNEL_PATHS[kernels])
    code, out = run_semihosted(elf, [str(windows), str(len(x)), str(head)], timeout=120)
    assert code == 0, out[-2000:]
    assert f"PASS model {len(x)}" in out
    return parse_qemu_model_output(out, len(x), gen.feature_len, 1)[0]


@pytest.mark.parametrize("kernels", list(KERNEL_PATHS))
def test_backbone_ops_bit_exact_on_cortex_m4(qemu, kernels) -> None:
    """PAD, HARD_SWISH, MUL, TRANSPOSE, CONCATENATION, REDUCE_MAX, SQUEEZE, LOGISTIC, SOFTMAX (the chain
    model) and a converter-made MobileNet-style classifier, built for Cortex-M4F -O2."""
    from codegen_helpers import backbone_ops_chain, convert_cached, reference_outputs
    from tinyfl.models._tf import keras as k

    tflite, shape, s_in, zp_in = backbone_ops_chain(0)
    rng = np.random.default_rng(21)
    x = ((rng.integers(-128, 128, (40, *shape)) - zp_in) * np.float32(s_in)).astype(np.float32)
    cases = [("chain", tflite, x)]

    inp = k.Input((10, 9, 3))
    y = k.layers.ZeroPadding2D(((1, 0), (1, 1)))(inp)
    y = k.layers.DepthwiseConv2D(3, strides=2)(y)
    y = k.layers.Conv2D(8, 1)(y)
    y = k.layers.Activation("hard_swish")(y)
    se = k.layers.GlobalAveragePooling2D(keepdims=True)(y)
    se = k.layers.Dense(8, activation="sigmoid")(se)
    y = k.layers.Multiply()([y, se])
    y = k.layers.GlobalMaxPooling2D()(y)
    model = k.Model(inp, k.layers.Dense(5, activation="softmax")(y))
    for layer in model.layers:
        ws = layer.get_weights()
        if ws:
            layer.set_weights([rng.normal(0.0, 0.5, w.shape).astype(np.float32) for w in ws])
    block = convert_cached(model, rng.normal(0.0, 1.0, (64, 10, 9, 3)))
    cases.append(("mobilenet_block", block, rng.normal(0.0, 1.5, (40, 10, 9, 3)).astype(np.float32)))

    for tag, tfl, windows in cases:
        gen = generate(tfl, name=tag)
        feats = _qemu_features(gen, tag, windows, kernels)
        ref = reference_outputs(tfl, windows).reshape(feats.shape)
        same = feats.view(np.uint32) == ref.view(np.uint32)
        assert same.all(), f"{tag}: {int((~same).sum())} of {same.size} outputs differ"


@pytest.mark.parametrize("kernels", list(KERNEL_PATHS))
def test_mlperf_tiny_shaped_models_on_cortex_m4(qemu, kernels) -> None:
    """Int8 IO with folded shape ops (KWS DS-CNN), per-tensor Dense (AD autoencoder) and a
    residual network (ResNet-8), whole classifiers, 24 windows each on the Cortex-M4F."""
    from codegen_helpers import mlperf_tiny_tflite, reference_outputs

    rng = np.random.default_rng(22)
    for name in ("kws_ds_cnn", "anomaly_autoencoder", "resnet8"):
        tflite = mlperf_tiny_tflite(name)
        gen = generate(tflite, name=name)
        windows = rng.normal(0.0, 1.5, (24, gen.input_len)).astype(np.float32)
        feats = _qemu_features(gen, f"mlperf_{name}", windows, kernels)
        ref = reference_outputs(tflite, windows.reshape(24, *_input_shape(tflite))).reshape(feats.shape)
        same = feats.view(np.uint32) == ref.view(np.uint32)
        assert same.all(), f"{name}: {int((~same).sum())} of {same.size} outputs differ"


def _input_shape(tflite: bytes) -> tuple[int, ...]:
    from tinyfl.codegen import read_tflite

    model = read_tflite(tflite)
    return tuple(model.tensors[model.inputs[0]].shape[1:])
