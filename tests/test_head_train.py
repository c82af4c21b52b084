"""Head training: C == Python model (float32, same operation order), and both == a float64
reference of mini-batch SGD on the mean cross-entropy."""
from __future__ import annotations

import numpy as np
import pytest

import dp_clib
from tinyfl.device_model import DeviceModelError, head_logits, head_predict, head_train


@pytest.fixture(scope="module")
def lib() -> dp_clib.CoreLib:
    return dp_clib.CoreLib(dp_clib.build_core_library())


def problem(rng, n_classes, n_features, n):
    params = rng.normal(0, 0.3, n_classes * (n_features + 1)).astype(np.float32)
    features = rng.normal(0, 1, (n, n_features)).astype(np.float32)
    labels = rng.integers(0, n_classes, n).astype(np.uint8)
    return params, features, labels


def reference_sgd(params, features, labels, n_classes, n_features, lr, epochs, batch):
    """Plain float64 mini-batch SGD, written independently of the device model."""
    w = params[: n_classes * n_features].reshape(n_classes, n_features).astype(np.float64)
    b = params[n_classes * n_features:].astype(np.float64)
    x = features.astype(np.float64)
    for _ in range(epochs):
        for start in range(0, len(labels), batch):
            h, y = x[start:start + batch], labels[start:start + batch]
            z = h @ w.T + b
            p = np.exp(z - z.max(axis=1, keepdims=True))
            p /= p.sum(axis=1, keepdims=True)
            p[np.arange(len(y)), y] -= 1
            w -= lr * (p.T @ h) / len(y)
            b -= lr * p.mean(axis=0)
    return np.concatenate([w.reshape(-1), b])


SHAPES = [  # classes, features, samples, epochs, batch
    (4, 24, 10, 5, 3),     # last batch of 1
    (10, 64, 33, 3, 8),    # last batch of 1, wide
    (2, 1, 7, 2, 1),       # batch 1
    (16, 64, 40, 4, 16),   # largest wire head
    (3, 5, 9, 20, 64),     # one batch holds everything
    (6, 12, 50, 1, 7),
]


@pytest.mark.parametrize("n_classes,n_features,n,epochs,batch", SHAPES)
def test_c_matches_python_and_reference(lib, n_classes, n_features, n, epochs, batch):
    rng = np.random.default_rng([n_classes, n_features, n])
    params, features, labels = problem(rng, n_classes, n_features, n)
    lr = 0.1
    rc, c_params, scratch = lib.head_train(params, n_classes, n_features, features, labels, lr,
                                           epochs, batch)
    assert rc == dp_clib.STATUS_OK
    py_params = head_train(params, features, labels, n_classes=n_classes,
                           n_features=n_features, lr=lr, epochs=epochs, batch=batch)
    assert py_params.dtype == np.float32
    np.testing.assert_allclose(c_params, py_params, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(py_params, reference_sgd(params, features, labels, n_classes,
                                                        n_features, lr, epochs, batch),
                               rtol=1e-4, atol=1e-5)
    assert not np.allclose(c_params, params)  # it trained
    # the gradient scratch is wiped (it is a function of the samples)
    assert np.all(scratch[: n_classes * (n_features + 2)] == 0)


def test_training_lowers_the_loss(lib):
    rng = np.random.default_rng(9)
    n_classes, n_features, n = 4, 8, 64
    centers = rng.normal(0, 2, (n_classes, n_features))
    labels = rng.integers(0, n_classes, n).astype(np.uint8)
    features = (centers[labels] + rng.normal(0, 0.5, (n, n_features))).astype(np.float32)
    params = np.zeros(n_classes * (n_features + 1), dtype=np.float32)

    def loss(p):
        z = head_logits(p, n_classes, n_features, features).astype(np.float64)
        z -= z.max(axis=1, keepdims=True)
        return float(np.mean(np.log(np.exp(z).sum(axis=1)) - z[np.arange(n), labels]))

    rc, trained, _ = lib.head_train(params, n_classes, n_features, features, labels, 0.2, 10, 8)
    assert rc == dp_clib.STATUS_OK
    assert loss(trained) < 0.3 * loss(params)
    assert np.mean(head_predict(trained, n_classes, n_features, features) == labels) > 0.9


def test_batch_one_update_is_rank_one(lib):
    """One sample, one step: dW = db h^T exactly in exact arithmetic (the leak the privacy
    notes describe); float32 agrees to rounding."""
    rng = np.random.default_rng(10)
    params, features, labels = problem(rng, 5, 12, 1)
    rc, trained, _ = lib.head_train(params, 5, 12, features, labels, 0.5, 1, 1)
    d = (trained - params).astype(np.float64)
    dw, db = d[:60].reshape(5, 12), d[60:]
    np.testing.assert_allclose(dw, np.outer(db, features[0]), rtol=1e-4, atol=1e-7)
    # db = -lr (p - onehot): the only positive entry is the true class (iDLG)
    assert np.flatnonzero(db > 0).tolist() == [labels[0]]


def test_logits_and_predict_identical(lib):
    rng = np.random.default_rng(11)
    params, features, _ = problem(rng, 7, 30, 25)
    logits, predicted = lib.head_logits(params, 7, 30, features)
    assert np.array_equal(logits, head_logits(params, 7, 30, features))
    assert np.array_equal(predicted, head_predict(params, 7, 30, features))


def test_bad_label_refused_before_training(lib):
    rng = np.random.default_rng(12)
    params, features, labels = problem(rng, 3, 4, 6)
    labels[5] = 3
    rc, after, _ = lib.head_train(params, 3, 4, features, labels, 0.1, 1, 2)
    assert rc == dp_clib.status_code("VALUE")
    assert np.array_equal(after, params)
    with pytest.raises(DeviceModelError) as err:
        head_train(params, features, labels, n_classes=3, n_features=4, lr=0.1, epochs=1, batch=2)
    assert err.value.status == "VALUE"


@pytest.mark.parametrize("lr,batch", [(0.1, 0), (float("nan"), 2), (float("inf"), 2), (-0.1, 2)])
def test_bad_arguments(lib, lr, batch):
    rng = np.random.default_rng(13)
    params, features, labels = problem(rng, 3, 4, 6)
    rc, after, _ = lib.head_train(params, 3, 4, features, labels, lr, 1, batch)
    assert rc == dp_clib.status_code("ARG")
    assert np.array_equal(after, params)
    with pytest.raises(DeviceModelError) as err:
        head_train(params, features, labels, n_classes=3, n_features=4, lr=lr, epochs=1, batch=batch)
    assert err.value.status == "ARG"


def test_no_samples_or_no_epochs_changes_nothing(lib):
    rng = np.random.default_rng(14)
    params, features, labels = problem(rng, 3, 4, 6)
    rc, after, _ = lib.head_train(params, 3, 4, features[:0], labels[:0], 0.1, 3, 2)
    assert rc == dp_clib.STATUS_OK and np.array_equal(after, params)
    rc, after, _ = lib.head_train(params, 3, 4, features, labels, 0.1, 0, 2)
    assert rc == dp_clib.STATUS_OK and np.array_equal(after, params)
