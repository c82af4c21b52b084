"""The pre-run utility estimate: it sees noise that undoes training, and the cure (more devices)."""
from __future__ import annotations

import numpy as np

from tinyfl.project.advice import estimate_utility


def _features(seed: int = 0):
    rng = np.random.default_rng(seed)
    centers = rng.normal(0.0, 1.0, size=(3, 8))
    y = np.arange(300) % 3
    x = (centers[y] + 0.3 * rng.normal(size=(300, 8))).astype(np.float32)
    return x[:200], y[:200], x[200:], y[200:]


def _estimate(devices: int, z: float, rounds: int = 4):
    xtr, ytr, xte, yte = _features()
    head = np.zeros(3 * 9, dtype=np.float32)
    return estimate_utility(xtr, ytr, xte, yte, head, n_classes=3, devices=devices, rounds=rounds,
                            samples_per_round=10, lr=0.1, local_epochs=3, batch_size=5,
                            server_lr=1.0, clip=1.0, grid_bits=8, noise_multiplier=z)


def test_without_noise_training_reaches_the_separable_classes():
    e = _estimate(devices=10, z=1e-3)
    assert e.start < 0.5 and e.without_noise > 0.9 and abs(e.with_noise - e.without_noise) < 0.05
    assert not e.harmful


def test_heavy_noise_on_few_devices_is_flagged_and_many_devices_cure_it():
    few = _estimate(devices=2, z=20.0)
    many = _estimate(devices=100_000, z=20.0)
    assert few.with_noise < few.without_noise - 0.1  # noise costs accuracy (not "harmful": it starts from zero)
    assert few.with_noise < 0.7 < many.with_noise
    assert not many.harmful
    assert "devices" in few.message() and "at noise multiplier 20" in few.message()


def test_a_pretrained_head_ruined_by_noise_is_harmful():
    xtr, ytr, xte, yte = _features()
    # a good head (class means as weights) that noise from 2 devices at z = 20 destroys
    w = np.stack([xtr[ytr == c].mean(axis=0) for c in range(3)]).astype(np.float32)
    b = -0.5 * (w * w).sum(axis=1)
    head = np.concatenate([w.ravel(), b]).astype(np.float32)
    e = estimate_utility(xtr, ytr, xte, yte, head, n_classes=3, devices=2, rounds=4,
                         samples_per_round=10, lr=0.1, local_epochs=3, batch_size=5,
                         server_lr=1.0, clip=1.0, grid_bits=8, noise_multiplier=20.0)
    assert e.start > 0.9 and e.harmful and "undo training" in e.message()
