"""What a server learns from tinyfl updates: every attack of tinyfl.attack next to the baselines
that need no update, at noise multipliers z = 0, 0.3, 1 (C = median update norm, grid 8 bits).

    python -m bench attacks            # about 3 minutes on one core
    TINYFL_BENCH_N=12 python -m bench attacks   # fewer samples per cell, a smoke run

Updates are simulated with tinyfl.device_model (the device's own integers). Scores are means
over samples with 95% intervals; "beats" = the attack beats that baseline beyond the interval
(for features: on both the centered cosine and the standardized MSE).
"""
from __future__ import annotations

import os
import time
from typing import Any, Callable

import numpy as np

import tinyfl.attack as A

Z_LEVELS = (0.0, 0.3, 1.0)
LR = 0.05


def _n() -> int:
    return int(os.environ.get("TINYFL_BENCH_N", "40"))


def _fmt(v: A.Verdict) -> str:
    return f"{v.attack.estimate:7.3f} vs {v.baseline.estimate:7.3f}  {'BEATS' if v.beats else 'no gain'}"


def _timed(fn: Callable[[], Any], store: dict[str, list[float]], name: str) -> Any:
    t0 = time.perf_counter()
    out = fn()
    store.setdefault(name, []).append(time.perf_counter() - t0)
    return out


def _digits() -> dict[str, Any]:
    from tinyfl.data import load_digits
    from tinyfl.models.reference import digits_cnn
    from tinyfl.models.split import split_head
    from tinyfl.models.train import pretrain

    data = load_digits()
    model = pretrain(digits_cnn(10), data, epochs=8, batch_size=32, seed=0)
    backbone, head = split_head(model)
    train = backbone.predict(data.x_train, verbose=0).astype(np.float64)
    test = backbone.predict(data.x_test, verbose=0).astype(np.float64)
    params = np.concatenate([head.weights.ravel(), head.bias]).astype(np.float32)
    return {"name": "digits (CNN float backbone, trained head)", "data": data, "backbone": backbone,
            "params": params, "train": train, "aux": A.Auxiliary(test, data.y_test, data.x_test),
            "k": 10, "epochs": 1, "image": True}


def _motions() -> dict[str, Any]:
    from tinyfl.data import load_basic_motions
    from tinyfl.device_model import stats_features
    from tinyfl.fleet import initial_head

    data = load_basic_motions()
    train = stats_features(data.x_train).astype(np.float64)
    test = stats_features(data.x_test).astype(np.float64)
    return {"name": "BasicMotions (statistics backbone, initial head, E=5)", "data": data,
            "backbone": "stats", "params": initial_head(4, train.shape[1], 0).params, "train": train,
            "aux": A.Auxiliary(test, data.y_test, data.x_test), "k": 4, "epochs": 5, "image": False}


def single_sample(setup: dict[str, Any]) -> None:
    data, train, aux, k, params = setup["data"], setup["train"], setup["aux"], setup["k"], setup["params"]
    f, epochs = train.shape[1], setup["epochs"]
    clip = A.median_update_norm(params, train, data.y_train, n_classes=k, n_features=f, lr=LR,
                                epochs=epochs, batch=1)
    n = min(_n(), len(train))
    idx = np.sort(np.random.default_rng(0).permutation(len(train))[:n])
    y_true = data.y_train[idx]
    center = aux.features.mean(axis=0)
    print(f"-- {setup['name']}: one sample per update, C = {clip:.4g}, {n} samples")
    times: dict[str, list[float]] = {}
    for z in Z_LEVELS:
        labels: dict[str, list[int]] = {"sign (iDLG)": [], "matched filter": [], "linearized posterior": [],
                                        "likelihood": []}
        feats: dict[str, list[np.ndarray]] = {"analytic": [], "least squares": [], "likelihood": []}
        images, stds, log_posts = [], [], []
        for i in idx:
            inp = A.simulate_input(params, train[i:i + 1], data.y_train[i:i + 1], n_classes=k, n_features=f,
                                   lr=LR, epochs=epochs, batch=1, clip=clip, noise_multiplier=z,
                                   seed=int(i), aux=aux)
            labels["sign (iDLG)"].append(_timed(lambda: A.label_sign(inp), times, "sign rule"))
            labels["matched filter"].append(_timed(lambda: A.label_matched_filter(inp), times, "matched filter"))
            log_posts.append(_timed(lambda: A.label_posterior(inp), times, "label posterior"))
            labels["linearized posterior"].append(int(np.argmax(log_posts[-1])))
            feats["analytic"].append(_timed(lambda: A.features_analytic(inp), times, "analytic features").features)
            est = _timed(lambda: A.features_likelihood(inp), times, "likelihood (labels + features)")
            labels["likelihood"].append(int(est.labels[0]))
            feats["likelihood"].append(est.features)
            stds.append(est.details["std"])
            feats["least squares"].append(_timed(lambda: A.features_least_squares(inp, labels=est.labels),
                                                 times, "least squares features").features)
            images.append(_timed(lambda: A.invert_inputs(est.features, est.labels, aux, setup["backbone"],
                                                         feature_std=est.details["std"]),
                                 times, "raw-input inversion"))
        rec = np.array(labels["likelihood"])
        majority = A.majority_label_baseline(n, aux, k) == y_true
        print(f"  z = {z:g}")
        for name, got in labels.items():
            v = A.compare(np.array(got) == y_true, majority)
            ci = A.summarize(np.array(got) == y_true)
            print(f"    label {name:22s} {ci}  vs majority {v.baseline.estimate:.3f}  "
                  f"{'BEATS' if v.beats else 'no gain'}")
        h_true = train[idx]
        baselines = {"class mean (rec. label)": A.class_mean_baseline(rec, aux),
                     "label-posterior mixture": A.label_mixture_baseline(np.array(log_posts), aux),
                     "random same class": A.random_same_class_baseline(rec, aux, seed=z.__hash__() % 97),
                     "class mean (TRUE label)": A.class_mean_baseline(y_true, aux)}
        scale = aux.features.std(axis=0)
        for name, rows in feats.items():
            est_rows = np.concatenate(rows)
            raw = A.cosine(est_rows, h_true)
            cen = A.centered_cosine(est_rows, h_true, center)
            smse = A.standardized_mse(est_rows, h_true, scale)
            line = f"    features {name:14s} cos {raw.mean():.3f} centered {cen.mean():.3f} std.MSE {smse.mean():8.3f}"
            for bname, brows in baselines.items():
                vc = A.compare(cen, A.centered_cosine(brows, h_true, center))
                vm = A.compare(smse, A.standardized_mse(brows, h_true, scale), higher_is_better=False)
                line += (f" | {bname}: {vc.baseline.estimate:.3f}/{vm.baseline.estimate:.3f} "
                         f"{'BEATS' if vc.beats and vm.beats else 'no gain'}")
            print(line)
        print(f"    (raw cosine of the class mean: {A.cosine(baselines['class mean (rec. label)'], h_true).mean():.3f}"
              " -- why centered cosine is the score)")
        x_hat = np.concatenate(images)
        x_true = data.x_train[idx].astype(np.float64)
        guesses = {"class mean": A.class_mean_baseline(rec, aux, use="inputs"),
                   "mixture": A.label_mixture_baseline(np.array(log_posts), aux, use="inputs"),
                   "global mean": A.global_mean_baseline(n, aux, use="inputs")}
        if setup["image"]:
            metrics = (("PSNR dB", lambda a: A.psnr(a, x_true, 1.0)), ("SSIM", lambda a: A.ssim(a, x_true)))
        else:
            metrics = (("PSNR dB", lambda a: A.psnr(a, x_true)), ("Pearson", lambda a: A.pearson(a, x_true)),
                       ("phase-aligned", lambda a: A.phase_aligned_correlation(a, x_true)))
        for metric, fn in metrics:
            ours = fn(x_hat)
            verdicts = {name: A.compare(ours, fn(rows)) for name, rows in guesses.items()}
            print(f"    input {metric:13s} attack {ours.mean():7.3f} | " + " | ".join(
                f"{name} {v.baseline.estimate:.3f}" for name, v in verdicts.items())
                + ("  BEATS all" if all(v.beats for v in verdicts.values()) else "  no gain over all"))
    print("  time per update (mean over all z): " + ", ".join(
        f"{name} {np.mean(v) * 1e3:.1f} ms" for name, v in times.items()))


def batch_counts(setup: dict[str, Any], n: int = 8) -> None:
    data, train, aux, k, params = setup["data"], setup["train"], setup["aux"], setup["k"], setup["params"]
    f, epochs = train.shape[1], setup["epochs"]
    clip = A.median_update_norm(params, train, data.y_train, n_classes=k, n_features=f, lr=LR,
                                epochs=epochs, batch=n, per_update=n)
    rng = np.random.default_rng(0)
    trials = _n()
    print(f"-- {setup['name']}: label counts, batch of {n}, {trials} updates (fraction of labels recovered)")
    for z in Z_LEVELS:
        bias, nnls = [], []
        for t in range(trials):
            idx = rng.choice(len(train), n, replace=False)
            inp = A.simulate_input(params, train[idx], data.y_train[idx], n_classes=k, n_features=f, lr=LR,
                                   epochs=epochs, batch=n, clip=clip, noise_multiplier=z, seed=t, aux=aux)
            counts = np.bincount(data.y_train[idx], minlength=k)
            bias.append(A.count_overlap(A.label_counts_bias(inp), counts))
            nnls.append(A.count_overlap(A.label_counts_nnls(inp), counts))
        print(f"  z = {z:g}: NNLS vs bias-only {_fmt(A.compare(nnls, bias))}")


def malicious(setup: dict[str, Any]) -> None:
    data, train, aux, k, honest = setup["data"], setup["train"], setup["aux"], setup["k"], setup["params"]
    f = train.shape[1]
    scale = float(np.linalg.norm(aux.features, axis=1).mean())
    heads = {"honest": honest}
    guard = {"honest": A.guard_check(honest, k, f)}
    for kind in A.CRAFTED_KINDS:
        crafted = A.craft_head(kind, k, f, sink=0, feature_scale=scale)
        heads[kind] = crafted.params
        guard[kind] = crafted.guard_reason
    print(f"-- {setup['name']}: malicious heads, fraction of samples recovered exactly (cosine >= 0.999)")
    print("  device guard: " + ", ".join(f"{kind} {'passes' if r is None else 'REFUSED (' + r + ')'}"
                                          for kind, r in guard.items()))
    rng = np.random.default_rng(1)
    trials = max(10, _n() // 2)
    for n, epochs in ((4, 1), (4, 5), (8, 1)):
        for grid_bits in (8, 16):
            for z in (0.0, 0.01):
                rates, exact_counts = [], []
                for name, params in heads.items():
                    clip = A.median_update_norm(honest, train[:200], data.y_train[:200], n_classes=k,
                                                n_features=f, lr=LR, epochs=epochs, batch=n, per_update=n)
                    hits, counts_ok = [], []
                    for t in range(trials):
                        idx = rng.choice(len(train), n, replace=False)
                        inp = A.simulate_input(params, train[idx], data.y_train[idx], n_classes=k, n_features=f,
                                               lr=LR, epochs=epochs, batch=n, clip=clip, noise_multiplier=z,
                                               seed=t, aux=aux, grid_bits=grid_bits)
                        hits.extend(A.exact_recovery(A.recover_rows(inp)[1], train[idx]))
                        if name in ("zero", "tiny"):
                            counts_ok.append(np.array_equal(A.counts_zero_head(inp),
                                                            np.bincount(data.y_train[idx], minlength=k)))
                    rates.append(f"{name} {np.mean(hits):.2f}")
                    if counts_ok:
                        exact_counts.append(f"{name} {np.mean(counts_ok):.2f}")
                print(f"  batch {n}, E={epochs}, {grid_bits}-bit grid, z={z:g}: " + ", ".join(rates)
                      + ("; exact counts: " + ", ".join(exact_counts) if exact_counts else ""))


def main() -> None:
    digits, motions = _digits(), _motions()
    single_sample(digits)
    single_sample(motions)
    batch_counts(digits)
    batch_counts(motions)
    malicious(digits)


if __name__ == "__main__":
    main()
