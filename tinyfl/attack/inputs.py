"""From recovered features to raw input (windows or images).

Keras backbone (public float weights): fit x so that backbone(x) matches the recovered h,
starting at the auxiliary class mean, under a per-class Gaussian prior on the input (the
"Maui"-style head-only inversion, 2025; PRIVACY_NOTES: total-variation priors hurt here):
    minimize |backbone(x) - h|^2 / (2 s^2) + (x - m_y)^T P_y (x - m_y) / 2
with L-BFGS-B (bounds = the auxiliary inputs' range). TensorFlow is imported here only, when a
Keras backbone is passed.

Statistics backbone (per-channel mean, std, min, max): no optimization needed, and no timing in
the features: only the class-mean shape can fill it in. Default: shift each channel of the class
mean window to the recovered mean and clip it to the recovered [min, max] (the lowest squared
error: even with exact features, +0.2 dB over the class mean on BasicMotions). match_spread=True
also scales it to the recovered std and pins its extremes to min/max: the right statistics but
a larger error, since the wiggles land at the wrong times.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ._optim import HAVE_SCIPY, single_threaded_blas
from .threat import Auxiliary

__all__ = ["invert_inputs", "invert_stats_features", "is_keras_model"]


def is_keras_model(backbone: Any) -> bool:
    return any(cls.__module__.startswith(("keras", "tensorflow")) for cls in type(backbone).__mro__)


@single_threaded_blas
def invert_inputs(features: np.ndarray, labels: np.ndarray, aux: Auxiliary, backbone: Any, *,
                  feature_std: float | np.ndarray | None = None, max_iter: int = 300) -> np.ndarray:
    """Raw inputs (n, *sample_shape) whose backbone features match `features` (n, F).

    backbone: a Keras model (the float backbone, features out), or the statistics backbone
    (a tinyfl.backbones.Backbone named "stats", or the string "stats"). feature_std: how far the
    recovered features may be off, per coordinate, (F,) or (n, F): e.g. the likelihood attack's
    posterior std (FeatureEstimate.details["std"]); never below a tenth of the auxiliary
    features' within-class standard deviation (the default, right for exact features)."""
    if aux.inputs is None:
        raise ValueError("raw-input inversion needs auxiliary inputs (the class-mean start and prior)")
    name = backbone if isinstance(backbone, str) else getattr(backbone, "name", None)
    if name == "stats" and not is_keras_model(backbone):
        return invert_stats_features(features, labels, aux)
    if is_keras_model(backbone):
        return _invert_keras(features, labels, aux, backbone, feature_std, max_iter)
    raise TypeError("invert_inputs needs the float Keras backbone or the stats backbone "
                    f"(got {type(backbone).__name__}: the int8 C backbone has no gradients)")


def _within_class_std(aux: Auxiliary) -> np.ndarray:
    f = np.asarray(aux.features, dtype=np.float64)
    y = np.asarray(aux.labels)
    resid = np.concatenate([f[y == c] - f[y == c].mean(axis=0) for c in np.unique(y)])
    return np.sqrt(np.mean(resid ** 2, axis=0)) + 1e-6


def _invert_keras(features: np.ndarray, labels: np.ndarray, aux: Auxiliary, model: Any,
                  feature_std: Any, max_iter: int) -> np.ndarray:
    import tensorflow as tf

    from ._optim import minimize

    h = np.asarray(features, dtype=np.float64).reshape(len(features), -1)
    y = np.asarray(labels, dtype=np.int64).reshape(-1)
    shape = aux.inputs.shape[1:]
    d = int(np.prod(shape))
    n_classes = int(max(int(np.max(aux.labels)), int(y.max())) + 1)
    st = aux.input_stats(n_classes)
    means = st.means[y]
    precs = st.precisions[y]
    floor = 0.1 * _within_class_std(aux)
    s = floor if feature_std is None else np.maximum(
        np.broadcast_to(np.asarray(feature_std, dtype=np.float64), h.shape), floor)
    inv_var = tf.constant(np.broadcast_to(1.0 / s ** 2, h.shape), dtype=tf.float32)
    target = tf.constant(h, dtype=tf.float32)

    @tf.function(reduce_retracing=True)
    def feature_loss(x: Any) -> tuple[Any, Any]:
        with tf.GradientTape() as tape:
            tape.watch(x)
            out = model(tf.reshape(x, (-1,) + tuple(shape)), training=False)
            value = 0.5 * tf.reduce_sum(tf.square(out - target) * inv_var)
        return value, tape.gradient(value, x)

    def fun_grad(flat: np.ndarray) -> tuple[float, np.ndarray]:
        x = flat.reshape(len(h), d)
        value, grad = feature_loss(tf.constant(x, dtype=tf.float32))
        diff = x - means
        pd = np.einsum("nij,nj->ni", precs, diff)
        return float(value) + 0.5 * float(np.sum(diff * pd)), grad.numpy().astype(np.float64).ravel() + pd.ravel()

    flat_aux = aux.inputs.reshape(len(aux.inputs), -1)
    lower = np.tile(flat_aux.min(axis=0), len(h))
    upper = np.tile(flat_aux.max(axis=0), len(h))
    x0 = np.clip(means.ravel(), lower, upper)
    if HAVE_SCIPY:
        import scipy.optimize as sopt

        res = sopt.minimize(fun_grad, x0, jac=True, method="L-BFGS-B",
                            bounds=list(zip(lower, upper)), options={"maxiter": max_iter})
        x = res.x
    else:  # pragma: no cover - without scipy: projected descent on the lower bound, then clip
        x, _ = minimize(fun_grad, x0, lower=lower, max_iter=max_iter)
        x = np.minimum(x, upper)
    return x.reshape((len(h),) + tuple(shape)).astype(np.float32)


def invert_stats_features(features: np.ndarray, labels: np.ndarray, aux: Auxiliary, *,
                          match_spread: bool = False, rounds: int = 20) -> np.ndarray:
    """Windows (n, steps, channels) shaped like the auxiliary class-mean window with the given
    per-channel mean within [min, max], or all four statistics with match_spread (module doc)."""
    x_aux = np.asarray(aux.inputs, dtype=np.float64)
    if x_aux.ndim != 3:
        raise ValueError("the statistics backbone works on (n, steps, channels) windows")
    n_ch = x_aux.shape[2]
    h = np.asarray(features, dtype=np.float64).reshape(len(features), n_ch, 4)
    y = np.asarray(labels).reshape(-1)
    out = np.empty((len(h),) + x_aux.shape[1:])
    for i in range(len(h)):
        members = x_aux[np.asarray(aux.labels) == y[i]]
        shape = (members if len(members) else x_aux).mean(axis=0)
        for c in range(n_ch):
            mean, std, lo, hi = h[i, c]
            if match_spread:
                out[i, :, c] = _fit_channel(shape[:, c], mean, max(std, 0.0), lo, hi, rounds)
            else:
                out[i, :, c] = np.clip(shape[:, c] - shape[:, c].mean() + mean, min(lo, hi), max(lo, hi))
    return out.astype(np.float32)


def _fit_channel(shape: np.ndarray, mean: float, std: float, lo: float, hi: float,
                 rounds: int) -> np.ndarray:
    x = shape - shape.mean()
    sd = x.std()
    x = mean + (x * (std / sd) if sd > 0 else np.zeros_like(x))
    for _ in range(rounds):
        x = np.clip(x, lo, hi)
        x[np.argmin(x)] = lo
        x[np.argmax(x)] = hi
        free = (x > lo) & (x < hi)
        if not np.any(free):
            break
        # move the free samples so mean and std match again, extremes stay pinned
        n = len(x)
        target_sum = mean * n - x[~free].sum()
        target_sq = (std ** 2 + mean ** 2) * n - np.sum(x[~free] ** 2)
        xf = x[free]
        m_f = target_sum / len(xf)
        var_f = target_sq / len(xf) - m_f ** 2
        cur = xf - xf.mean()
        cur_sd = cur.std()
        if var_f <= 0 or cur_sd == 0:
            x[free] = m_f
            continue
        x[free] = m_f + cur * (np.sqrt(var_f) / cur_sd)
    return x
