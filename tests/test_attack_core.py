"""Attacks on simulated updates (tinyfl.device_model.device_round) with the statistics features
of BasicMotions: the device model, exact closed forms at z = 0, label counts, crafted heads,
metrics. No TensorFlow here (test_attack_digits.py has the image inversion)."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import tinyfl.attack as A
from tinyfl.attack._local import clip_backward, clip_forward, train_backward, train_forward
from tinyfl.data import load_basic_motions
from tinyfl.device_model import head_train, stats_features
from tinyfl.fleet import initial_head

K, F = 4, 24
LR = 0.05


@pytest.fixture(scope="module")
def motions():
    d = load_basic_motions()
    train = stats_features(d.x_train).astype(np.float64)
    test = stats_features(d.x_test).astype(np.float64)
    aux = A.Auxiliary(test, d.y_test, d.x_test)
    return d, train, aux


def _sim(head, h, y, *, epochs=1, batch=1, clip=1.6, z=0.0, seed=0, aux=None, grid_bits=8):
    return A.simulate_input(head, h, y, n_classes=K, n_features=F, lr=LR, epochs=epochs, batch=batch,
                            clip=clip, noise_multiplier=z, seed=seed, aux=aux, grid_bits=grid_bits)


def test_importing_the_attacks_leaves_tensorflow_out():
    code = "import sys, tinyfl.attack; print('tensorflow' in sys.modules, 'keras' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_local_training_model_matches_the_device_and_its_gradient_is_right():
    rng = np.random.default_rng(0)
    params = (rng.normal(size=K * (F + 1)) * 0.3).astype(np.float32)
    h = rng.random((5, F)) * 3
    y = rng.integers(0, K, 5)
    trace = train_forward(params, h, y, K, F, 0.1, 3, 2)
    device = head_train(params, h.astype(np.float32), y, n_classes=K, n_features=F, lr=0.1, epochs=3,
                        batch=2) - params
    assert np.abs(trace.delta - device).max() < 1e-5
    observed = rng.normal(size=K * (F + 1)) * 0.05
    target = 0.3 * float(np.linalg.norm(trace.delta))  # clipping active

    def loss(hh: np.ndarray) -> float:
        u, _ = clip_forward(train_forward(params, hh, y, K, F, 0.1, 3, 2).delta, target)
        return 0.5 * float(np.sum((u - observed) ** 2))

    u, norm = clip_forward(trace.delta, target)
    grad = train_backward(trace, h, clip_backward(trace.delta, norm, target, u - observed), K, F)
    eps = 1e-6
    for i, j in [(0, 0), (1, 5), (4, 23), (2, 11)]:
        hp, hm = h.copy(), h.copy()
        hp[i, j] += eps
        hm[i, j] -= eps
        assert grad[i, j] == pytest.approx((loss(hp) - loss(hm)) / (2 * eps), rel=1e-4, abs=1e-9)


@pytest.mark.parametrize("epochs", [1, 3, 5])
def test_one_sample_without_noise_gives_label_and_features_exactly(motions, epochs):
    d, train, _ = motions
    head = initial_head(K, F, 0).params
    clip = A.median_update_norm(head, train, d.y_train, n_classes=K, n_features=F, lr=LR,
                                epochs=epochs, batch=1)
    for i in range(20):
        # a fine grid: at the default 8 bits, updates much smaller than C lose precision
        # (worst cosine 0.993 here), see docs/attacks.md
        inp = _sim(head, train[i:i + 1], d.y_train[i:i + 1], epochs=epochs, clip=clip, seed=i,
                   grid_bits=16)
        assert A.label_sign(inp) == d.y_train[i]
        est = A.features_analytic(inp)
        assert A.cosine(est.features, train[i:i + 1])[0] >= 0.999
        assert np.allclose(est.features[0], train[i], rtol=1e-2, atol=1e-2 * np.abs(train[i]).max())


def test_default_grid_without_noise_still_gives_labels_and_near_exact_features(motions):
    d, train, _ = motions
    head = initial_head(K, F, 0).params
    cos = []
    for i in range(40):
        inp = _sim(head, train[i:i + 1], d.y_train[i:i + 1], epochs=5, seed=i)
        assert A.label_sign(inp) == d.y_train[i]
        cos.append(A.cosine(A.features_analytic(inp).features, train[i:i + 1])[0])
    assert np.mean(cos) >= 0.999 and min(cos) >= 0.99


def test_noise_needs_the_matched_filter_not_the_sign_rule(motions):
    d, train, aux = motions
    head = initial_head(K, F, 0).params
    sign, matched = [], []
    for i in range(40):
        inp = _sim(head, train[i:i + 1], d.y_train[i:i + 1], epochs=5, z=0.1, seed=i, aux=aux)
        sign.append(A.label_sign(inp) == d.y_train[i])
        matched.append(A.label_matched_filter(inp) == d.y_train[i])
    assert A.compare(np.array(matched), np.array(sign)).beats
    assert np.mean(matched) >= 0.8


def test_nnls_counts_beat_bias_only_counts_under_noise(motions):
    d, train, aux = motions
    head = initial_head(K, F, 0).params
    n = 8
    clip = A.median_update_norm(head, train, d.y_train, n_classes=K, n_features=F, lr=LR, epochs=5,
                                batch=n, per_update=n)
    rng = np.random.default_rng(0)
    nnls, bias = [], []
    for trial in range(30):
        idx = rng.choice(len(train), n, replace=False)
        inp = _sim(head, train[idx], d.y_train[idx], epochs=5, batch=n, clip=clip, z=0.3, seed=trial,
                   aux=aux)
        true_counts = np.bincount(d.y_train[idx], minlength=K)
        got = A.label_counts_nnls(inp)
        assert got.sum() == n and np.all(got >= 0)
        nnls.append(A.count_overlap(got, true_counts))
        bias.append(A.count_overlap(A.label_counts_bias(inp), true_counts))
    verdict = A.compare(nnls, bias)
    assert verdict.beats, verdict


def test_crafted_heads_and_the_device_guard(motions):
    d, train, aux = motions
    scale = float(np.linalg.norm(train, axis=1).mean())
    kinds = {kind: A.craft_head(kind, K, F, sink=0, feature_scale=scale) for kind in A.CRAFTED_KINDS}
    assert kinds["zero"].guard_reason == "zero_row"
    assert kinds["bias_boost"].guard_reason == "bias"
    for kind in ("tiny", "bias_boost_guarded", "trap"):
        assert kinds[kind].passes_guard, kind
    assert A.guard_check(initial_head(K, F, 0).params, K, F) is None
    rng = np.random.default_rng(1)
    # all-zero / tiny head, E = 1, one batch: exact label counts in closed form when unclipped;
    # clipped, counts - n/K are known up to a common scale. A fine grid: with features of norm
    # ~30 the bias entries are ~100x smaller than the weights and an 8-bit grid rounds them off
    for kind in ("zero", "tiny"):
        for trial in range(10):
            idx = rng.choice(len(train), 6, replace=False)
            true_counts = np.bincount(d.y_train[idx], minlength=K)
            inp = _sim(kinds[kind].params, train[idx], d.y_train[idx], batch=6, clip=10.0, seed=trial,
                       grid_bits=16)
            assert np.array_equal(A.counts_zero_head(inp), true_counts)
            clipped = _sim(kinds[kind].params, train[idx], d.y_train[idx], batch=6, clip=0.5, seed=trial,
                           grid_bits=16)
            got = A.counts_zero_head(clipped)
            assert got.sum() == 6
            assert np.array_equal(np.sign(got - 1.5), np.sign(true_counts - 1.5))


def test_boosted_bias_recovers_lone_samples_exactly_and_noise_stops_it(motions):
    d, train, _ = motions
    head = A.craft_head("bias_boost", K, F, sink=0).params
    honest = initial_head(K, F, 0).params
    rng = np.random.default_rng(2)
    crafted_hits, honest_hits, noisy_hits, lone = [], [], [], []
    for trial in range(20):
        idx = rng.choice(np.flatnonzero(d.y_train != 0), 3, replace=False)
        y = d.y_train[idx]
        lone.extend([np.sum(y == c) == 1 for c in y])
        for store, params, z in ((crafted_hits, head, 0.0), (honest_hits, honest, 0.0), (noisy_hits, head, 0.05)):
            inp = _sim(params, train[idx], y, batch=3, clip=1.0, z=z, seed=trial, grid_bits=16)
            store.extend(A.exact_recovery(A.recover_rows(inp)[1], train[idx]))
    crafted_hits, lone = np.array(crafted_hits), np.array(lone)
    assert np.all(crafted_hits[lone])  # a sample alone in its class is recovered exactly
    # the honest random head saturates on some samples of these large features (norm ~30) and
    # leaks a few exactly too; the crafted head leaks far more
    assert A.compare(crafted_hits.astype(float), np.array(honest_hits, dtype=float)).beats
    assert np.mean(noisy_hits) == 0.0


def test_metrics_and_verdicts():
    rng = np.random.default_rng(0)
    img = rng.random((3, 8, 8, 1))
    assert np.allclose(A.ssim(img, img), 1.0)
    assert np.all(A.ssim(img, rng.random((3, 8, 8, 1))) < 0.5)
    assert np.all(A.psnr(img * 0 + 0.5, img * 0 + 0.6, data_range=1.0) == pytest.approx(20.0))
    ci = A.clopper_pearson(3, 10)
    assert (ci.lo, ci.hi) == pytest.approx((0.0667395, 0.6524529), abs=1e-6)  # scipy beta.ppf
    window = rng.normal(size=(1, 50, 3))
    assert A.phase_aligned_correlation(np.roll(window, 7, axis=1), window)[0] == pytest.approx(1.0)
    assert A.pearson(np.roll(window, 7, axis=1), window)[0] < 0.5
    truth = rng.random((5, 4))
    assert np.array_equal(A.match_rows(truth[[3, 1, 4, 0, 2]], truth), [3, 1, 4, 0, 2])
    good, bad = rng.normal(1.0, 0.1, 50), rng.normal(0.0, 0.1, 50)
    assert A.compare(good, bad).beats and not A.compare(bad, good).beats
    assert not A.compare(good, good + rng.normal(0, 0.01, 50)).beats
    assert A.compare(bad, good, higher_is_better=False).beats
    h = rng.random((4, 6))
    assert np.allclose(A.centered_cosine(h, h, h.mean(axis=0)), 1.0)


def test_likelihood_attack_under_noise_is_honest_about_baselines(motions):
    d, train, aux = motions
    head = initial_head(K, F, 0).params
    hits, attack, baseline = [], [], []
    center = aux.features.mean(axis=0)
    for i in range(20):
        inp = _sim(head, train[i:i + 1], d.y_train[i:i + 1], epochs=5, z=1.0, seed=i, aux=aux)
        est = A.features_likelihood(inp)
        assert est.details["std"].shape == (1, F)
        hits.append(est.labels[0] == d.y_train[i])
        attack.append(A.centered_cosine(est.features, train[i:i + 1], center)[0])
        baseline.append(A.centered_cosine(A.class_mean_baseline(est.labels, aux), train[i:i + 1], center)[0])
    assert not A.compare(attack, baseline).beats
    assert A.summarize(np.array(hits)).method == "clopper-pearson"


def test_clopper_pearson_is_exact_and_survives_large_counts():
    from tinyfl.attack.metrics import clopper_pearson

    small = clopper_pearson(7, 10)  # the textbook interval for 7 of 10 at 95%
    assert small.lo == pytest.approx(0.3475, abs=1e-4) and small.hi == pytest.approx(0.9333, abs=1e-4)
    large = clopper_pearson(2500, 5000)  # summing binomial terms overflows a float here
    assert large.lo < 0.5 < large.hi and large.hi - large.lo < 0.03
