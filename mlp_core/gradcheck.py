"""Numerical gradient checks by central differences, in float64.

For a scalar function f and a small step h,

    df/dx_i ~ (f(x + h e_i) - f(x - h e_i)) / (2 h),

with error O(h^2). Backpropagation is right when its gradient matches this
estimate to a relative error

    ||a - n|| / max(||a|| + ||n||, tiny)   (Euclidean norms over all entries)

of about 1e-7 or less in float64. (The norm form is used rather than the
largest entry-wise ratio, which blows up on entries where both gradients are
nearly zero, as they are for ReLU units that never fire.) float32 has too few digits for this, so
every check converts the layer to float64 first.

To check a layer, we make a scalar out of its output with a fixed random
array R: f(x) = sum(layer(x) * R). Then df/d(output) = R, and backward(R)
must return df/dx and fill each parameter's grad.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from .layers import Module
from .losses import Loss


def numerical_gradient(f: Callable[[], float], x: np.ndarray, h: float = 1e-6) -> np.ndarray:
    """Central-difference gradient of ``f()`` with respect to array ``x`` (same shape).

    ``f`` takes no arguments and reads ``x``, which is perturbed in place and
    restored entry by entry.
    """
    grad = np.zeros_like(x, dtype=np.float64)
    it = np.nditer(x, flags=["multi_index"], op_flags=[["readwrite"]])
    for _ in it:
        i = it.multi_index
        old = x[i]
        x[i] = old + h
        f_plus = f()
        x[i] = old - h
        f_minus = f()
        x[i] = old
        grad[i] = (f_plus - f_minus) / (2 * h)
    return grad


def relative_error(analytic: np.ndarray, numeric: np.ndarray) -> float:
    """||a - n|| / max(||a|| + ||n||, 1e-12), norms over all entries."""
    a = np.asarray(analytic, dtype=np.float64)
    n = np.asarray(numeric, dtype=np.float64)
    if a.shape != n.shape:
        raise ValueError(f"gradient shapes differ: analytic {a.shape}, numerical {n.shape}")
    return float(np.linalg.norm(a - n) / max(np.linalg.norm(a) + np.linalg.norm(n), 1e-12))


def check_module(module: Module, x: np.ndarray, *, seed: int = 0, h: float = 1e-6) -> dict[str, float]:
    """Relative error of ``module.backward`` for its input and every parameter.

    Args:
        module: a layer or a whole network; converted to float64 in place.
        x: an input batch, e.g. (N, in_features); converted to float64.

    Returns:
        ``{"input": err, "<param name>": err, ...}``; "input" is left out when
        the module does not compute its input gradient (a network's first layer).
    """
    module.astype(np.float64)
    x = np.array(x, dtype=np.float64)
    upstream = np.random.default_rng(seed).standard_normal(module.forward(x).shape)

    def f() -> float:
        return float(np.sum(module.forward(x) * upstream))

    module.forward(x)
    grad_x = module.backward(upstream)
    analytic = {name: p.grad.copy() for name, p in module.named_parameters().items()}

    errors = {}
    if grad_x is not None:
        errors["input"] = relative_error(grad_x, numerical_gradient(f, x, h))
    for name, p in module.named_parameters().items():
        errors[name] = relative_error(analytic[name], numerical_gradient(f, p.data, h))
    return errors


def check_loss(loss: Loss, x: np.ndarray, labels: np.ndarray, *, h: float = 1e-6) -> float:
    """Relative error of ``loss.backward()`` against central differences; x: (N, K)."""
    x = np.array(x, dtype=np.float64)
    loss.forward(x, labels)
    analytic = loss.backward()
    numeric = numerical_gradient(lambda: loss.forward(x, labels), x, h)
    return relative_error(analytic, numeric)


def check_network(
    model: Module, loss: Loss, x: np.ndarray, labels: np.ndarray, *, h: float = 1e-6
) -> dict[str, float]:
    """Relative error of every parameter gradient of ``loss(model(x), labels)``.

    The whole backward pass, loss included, against central differences.
    """
    model.astype(np.float64)
    x = np.array(x, dtype=np.float64)

    def f() -> float:
        return loss.forward(model.forward(x), labels)

    f()
    model.backward(loss.backward())
    analytic = {name: p.grad.copy() for name, p in model.named_parameters().items()}
    return {
        name: relative_error(analytic[name], numerical_gradient(f, p.data, h))
        for name, p in model.named_parameters().items()
    }
