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


def relative_error(analytic, numeric: np.ndarray, name: str = "the gradient") -> float:
    """||a - n|| / max(||a|| + ||n||, 1e-12), norms over all entries.

    Raises:
        ValueError: ``analytic`` is None or has another shape than ``numeric``;
            the message names ``name`` (e.g. "the gradient of W").
    """
    if analytic is None:
        raise ValueError(f"{name} is None: backward returned nothing where it must return {name}")
    a = np.asarray(analytic, dtype=np.float64)
    n = np.asarray(numeric, dtype=np.float64)
    if a.shape != n.shape:
        raise ValueError(
            f"{name} has shape {a.shape}, but must have shape {n.shape}: a gradient has the shape of what it "
            f"is the gradient of"
        )
    return float(np.linalg.norm(a - n) / max(np.linalg.norm(a) + np.linalg.norm(n), 1e-12))


def returns_input_gradient(module: Module) -> bool:
    """Whether ``module.backward`` must return dE/d(input): not for a Linear (or a network whose first
    layer is one) built with ``compute_input_grad=False``."""
    first = module.layers[0] if getattr(module, "layers", None) else module
    return bool(getattr(first, "compute_input_grad", True))


def gradient_name(name: str) -> str:
    """'the gradient of W', 'the gradient of the input'."""
    return f"the gradient of {'the input' if name == 'input' else name}"


def module_gradients(module: Module, x: np.ndarray, *, seed: int = 0, h: float = 1e-6) -> dict[str, tuple]:
    """Backpropagated and numerical gradients of a layer, for its input and every parameter.

    Args:
        module: a layer or a whole network; converted to float64 in place.
        x: an input batch, e.g. (N, in_features); converted to float64.

    Returns:
        ``{"input": (analytic, numeric), "<param name>": (analytic, numeric), ...}``;
        "input" is left out when the module does not compute its input gradient
        (:func:`returns_input_gradient`). ``analytic`` is what backward gave
        (None if it returned nothing).
    """
    module.astype(np.float64)
    x = np.array(x, dtype=np.float64)
    upstream = np.random.default_rng(seed).standard_normal(np.shape(module.forward(x)))

    def f() -> float:
        return float(np.sum(module.forward(x) * upstream))

    module.forward(x)
    grad_x = module.backward(upstream)
    analytic = {name: np.array(p.grad, dtype=np.float64) for name, p in module.named_parameters().items()}
    pairs = {}
    if returns_input_gradient(module):
        pairs["input"] = (grad_x, numerical_gradient(f, x, h))
    for name, p in module.named_parameters().items():
        pairs[name] = (analytic[name], numerical_gradient(f, p.data, h))
    return pairs


def check_module(module: Module, x: np.ndarray, *, seed: int = 0, h: float = 1e-6) -> dict[str, float]:
    """Relative error of ``module.backward`` for its input and every parameter.

    Args:
        module: a layer or a whole network; converted to float64 in place.
        x: an input batch, e.g. (N, in_features); converted to float64.

    Returns:
        ``{"input": err, "<param name>": err, ...}``; "input" is left out when
        the module does not compute its input gradient (a network's first layer).

    Raises:
        ValueError: a gradient is missing or has the wrong shape; the message names it.
    """
    return {name: relative_error(a, n, gradient_name(name))
            for name, (a, n) in module_gradients(module, x, seed=seed, h=h).items()}


def loss_gradient(loss: Loss, x: np.ndarray, labels: np.ndarray, *, h: float = 1e-6) -> tuple:
    """(``loss.backward()``, its central-difference estimate) for outputs x: (N, K), both (N, K)."""
    x = np.array(x, dtype=np.float64)
    loss.forward(x, labels)
    analytic = loss.backward()
    return analytic, numerical_gradient(lambda: loss.forward(x, labels), x, h)


def check_loss(loss: Loss, x: np.ndarray, labels: np.ndarray, *, h: float = 1e-6) -> float:
    """Relative error of ``loss.backward()`` against central differences; x: (N, K)."""
    return relative_error(*loss_gradient(loss, x, labels, h=h), name="the gradient of x")


def network_gradients(
    model: Module, loss: Loss, x: np.ndarray, labels: np.ndarray, *, h: float = 1e-6
) -> dict[str, tuple]:
    """``{"<param name>": (analytic, numeric)}`` for every parameter of ``loss(model(x), labels)``.

    The whole backward pass, loss included, against central differences; the
    model is converted to float64 in place.
    """
    model.astype(np.float64)
    x = np.array(x, dtype=np.float64)

    def f() -> float:
        return loss.forward(model.forward(x), labels)

    f()
    model.backward(loss.backward())
    analytic = {name: np.array(p.grad, dtype=np.float64) for name, p in model.named_parameters().items()}
    return {name: (analytic[name], numerical_gradient(f, p.data, h)) for name, p in model.named_parameters().items()}


def check_network(
    model: Module, loss: Loss, x: np.ndarray, labels: np.ndarray, *, h: float = 1e-6
) -> dict[str, float]:
    """Relative error of every parameter gradient of ``loss(model(x), labels)``.

    The whole backward pass, loss included, against central differences.
    """
    return {name: relative_error(a, n, gradient_name(name))
            for name, (a, n) in network_gradients(model, loss, x, labels, h=h).items()}
