"""Optimizers for the attacks: scipy's L-BFGS-B and NNLS when scipy is installed (it comes
with scikit-learn, the `data` extra), plain numpy fallbacks otherwise."""
from __future__ import annotations

import functools
from typing import Any, Callable, TypeVar

import importlib.util

import numpy as np

__all__ = ["HAVE_SCIPY", "minimize", "nnls", "single_threaded_blas"]

# scipy is optional (the fallbacks below are slower but give the same kind of answer) and
# imported on first use, so importing tinyfl.attack stays light
HAVE_SCIPY = importlib.util.find_spec("scipy") is not None

FunGrad = Callable[[np.ndarray], tuple[float, np.ndarray]]
F = TypeVar("F", bound=Callable[..., Any])


def single_threaded_blas(func: F) -> F:
    """Runs `func` with BLAS limited to one thread (threadpoolctl, when installed). The attacks
    make many tiny matrix calls; on a loaded machine OpenBLAS's threads spin and wait on each
    other, which made L-BFGS-B's steps 100x slower here."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            from threadpoolctl import threadpool_limits
        except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
            return func(*args, **kwargs)
        with threadpool_limits(1, user_api="blas"):
            return func(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def minimize(fun_grad: FunGrad, x0: np.ndarray, *, lower: np.ndarray | None = None,
             max_iter: int = 300, use_scipy: bool = True) -> tuple[np.ndarray, float]:
    """(x, f(x)) minimizing a smooth function given value and gradient, with optional lower
    bounds per coordinate (-inf for none)."""
    x0 = np.asarray(x0, dtype=np.float64).ravel()
    if HAVE_SCIPY and use_scipy:
        import scipy.optimize as sopt

        bounds = None
        if lower is not None:
            # infinite bounds as floats: scipy 1.17 is ~100x slower per step with None
            bounds = [(float(lo), np.inf) for lo in np.asarray(lower, dtype=np.float64).ravel()]
        res = sopt.minimize(fun_grad, x0, jac=True, method="L-BFGS-B", bounds=bounds,
                             options={"maxiter": max_iter, "maxcor": 20, "ftol": 1e-13,
                                      "gtol": 1e-10})
        return res.x, float(res.fun)
    return _projected_descent(fun_grad, x0, lower, max_iter * 3)


def _projected_descent(fun_grad: FunGrad, x: np.ndarray, lower: np.ndarray | None,
                       max_iter: int) -> tuple[np.ndarray, float]:
    """Gradient descent with Barzilai-Borwein steps, backtracking and projection on the bounds."""
    lo = np.full_like(x, -np.inf) if lower is None else np.asarray(lower, dtype=np.float64).ravel()
    x = np.maximum(x, lo)
    f, g = fun_grad(x)
    step = 1e-3 / max(1e-12, float(np.linalg.norm(g)))
    for _ in range(max_iter):
        while True:
            x_new = np.maximum(x - step * g, lo)
            f_new, g_new = fun_grad(x_new)
            if f_new <= f or step < 1e-30:
                break
            step *= 0.5
        s, d = x_new - x, g_new - g
        x, f, g = x_new, f_new, g_new
        sd = float(np.dot(s, d))
        if not np.any(s) or sd <= 0:
            if not np.any(s):
                break
            step *= 2.0
        else:
            step = float(np.dot(s, s)) / sd
    return x, float(f)


def nnls(a: np.ndarray, b: np.ndarray, max_iter: int | None = None) -> np.ndarray:
    """x >= 0 minimizing |a x - b| (Lawson-Hanson active set without scipy)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if HAVE_SCIPY:
        import scipy.optimize as sopt

        return sopt.nnls(a, b)[0]
    n = a.shape[1]
    x = np.zeros(n)
    passive = np.zeros(n, dtype=bool)
    for _ in range(max_iter or 3 * n):
        w = a.T @ (b - a @ x)
        if passive.all() or np.max(np.where(passive, -np.inf, w)) <= 1e-12:
            break
        passive[int(np.argmax(np.where(passive, -np.inf, w)))] = True
        while True:
            z = np.zeros(n)
            z[passive] = np.linalg.lstsq(a[:, passive], b, rcond=None)[0]
            if np.all(z[passive] > 0):
                x = z
                break
            neg = passive & (z <= 0)
            alpha = np.min(x[neg] / (x[neg] - z[neg]))
            x = x + alpha * (z - x)
            passive &= x > 1e-12
    return x

