"""Checks for notebooks: one readable PASS line, or an AssertionError that says FAIL.

A check either prints ``PASS <what>: <evidence>`` or raises
``AssertionError("FAIL <what>: <evidence>. <hint>")``, so a student sees at
once whether their code is right, and nbval (and the autograder) see a
failing cell when it is not.
"""

from __future__ import annotations

import numpy as np

from . import gradcheck
from .layers import Module
from .losses import Loss

GRAD_TOLERANCE = 1e-6


def check(condition: bool, what: str, evidence: str = "", hint: str = "") -> None:
    """PASS or raise FAIL for one condition."""
    detail = f": {evidence}" if evidence else ""
    if not condition:
        raise AssertionError(f"FAIL {what}{detail}. {hint}".rstrip(". ") + ("." if hint else ""))
    print(f"PASS {what}{detail}")


def check_close(what: str, actual, expected, *, atol: float = 1e-6, rtol: float = 1e-5, hint: str = "") -> None:
    """PASS when ``actual`` matches ``expected`` element-wise (numpy.allclose)."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    if actual.shape != expected.shape:
        check(False, what, f"shape {actual.shape}, expected {expected.shape}", hint)
    diff = float(np.max(np.abs(actual - expected))) if actual.size else 0.0
    check(
        bool(np.allclose(actual, expected, atol=atol, rtol=rtol)),
        what, f"largest difference {diff:.2e}", hint,
    )


def _check_errors(what: str, errors: dict[str, float], tol: float) -> dict[str, float]:
    for name, err in errors.items():
        check(
            err < tol, f"{what} gradient of {name}",
            f"relative error {err:.2e} {'<' if err < tol else '>='} {tol:.0e}",
            "Compare your backward with the derivative in the markdown above",
        )
    return errors


def check_module_gradients(module: Module, x: np.ndarray, *, tol: float = GRAD_TOLERANCE) -> dict[str, float]:
    """Gradient check of a layer (its input and every parameter) in float64."""
    return _check_errors(type(module).__name__, gradcheck.check_module(module, x), tol)


def check_loss_gradient(loss: Loss, x: np.ndarray, labels: np.ndarray, *, tol: float = GRAD_TOLERANCE) -> float:
    """Gradient check of a loss's backward against central differences."""
    return _check_errors(repr(loss), {"x": gradcheck.check_loss(loss, x, labels)}, tol)["x"]


def check_network_gradients(
    model: Module, loss: Loss, x: np.ndarray, labels: np.ndarray, *, tol: float = GRAD_TOLERANCE
) -> dict[str, float]:
    """Gradient check of every parameter of a whole network through the loss."""
    return _check_errors("network", gradcheck.check_network(model, loss, x, labels), tol)
