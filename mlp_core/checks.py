"""Checks for notebooks: a PASS line, or a FAIL that says what is wrong, where, and what it looks like.

A check prints ``PASS <what>: <evidence>`` or fails with a
:class:`CheckFailed` (an ``AssertionError``) whose message starts with
``FAIL <what>`` and carries a diagnosis (:mod:`mlp_core.diagnosis`): got and
expected at the worst entry, where, the input there, and the pattern when one
fits (a factor N, a transpose, the bias missing, wrong only where x = 0...).
nbval and the autograder see a failing cell; the student sees why.

Three things keep a check honest about whom it blames:

* :func:`guard` runs the student's code and turns a numpy or Python error
  into a FAIL naming the function, the layer and the likely cause; a
  ``NotImplementedError`` (a function not written yet) passes through as it is;
* :class:`all_checks` runs every check of a block and fails at its end,
  listing every FAIL, so one failure never hides the others;
* the gradient checks first check the forward pass they differentiate
  (``forward_case``), and a whole-network check that fails looks for the
  component that fails its own check.

Dropout's checks judge by property, since a right random mask can be drawn in
more than one way: :mod:`mlp_core.property_checks`.

Every ``actual`` may be given as a function of no arguments: it then runs
inside :func:`guard`, so that a crash is that check's FAIL and the others
still run.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from . import gradcheck
from .diagnosis import compare, explain_crash, number
from .layers import Module
from .losses import Loss

GRAD_TOLERANCE = 1e-6


class CheckFailed(AssertionError):
    """A check failed; the message starts with FAIL and says why."""

    def __init__(self, message: str, blamed: str = ""):
        super().__init__(message)
        self.blamed = blamed


class all_checks:
    """``with all_checks(): ...``: every check in the block runs and prints its verdict; the block fails
    at its end, with every FAIL in the message, if any check failed or the code crashed (a crash ends
    the block: the checks after it did not run, and the message says so)."""

    _active: list["all_checks"] = []

    def __init__(self) -> None:
        self.failures: list[str] = []

    def __enter__(self) -> "all_checks":
        all_checks._active.append(self)
        return self

    def __exit__(self, kind, error, tb) -> bool:
        all_checks._active.remove(self)
        if error is not None and (isinstance(error, NotImplementedError) or not isinstance(error, Exception)):
            return False
        if isinstance(error, CheckFailed):
            self.failures.append(str(error))
        elif error is not None:
            blamed, text = explain_crash(error)
            self.failures.append(_message(blamed, text, ""))
            print(f"FAIL {blamed} (below)")
        if error is not None:
            self.failures[-1] += "\n  (the checks after it in this block did not run)"
        if self.failures:
            count = f"{len(self.failures)} checks failed:\n" if len(self.failures) > 1 else ""
            raise CheckFailed(count + "\n".join(self.failures)) from None
        return False


def _message(what: str, detail: str, hint: str) -> str:
    lines = detail.splitlines() if detail else []
    text = f"FAIL {what}" + (f": {lines[0]}" if lines else "")
    text += "".join(f"\n  {line}" for line in lines[1:])
    return text + (f"\n  hint: {hint}" if hint else "")


def _fail(what: str, detail: str = "", hint: str = "", blamed: str = "") -> bool:
    """Record a FAIL in the active :class:`all_checks` block (print a pointer, return False), or raise it."""
    message = _message(what, detail, hint)
    if all_checks._active:
        all_checks._active[-1].failures.append(message)
        print(f"FAIL {what} (below)")
        return False
    raise CheckFailed(message, blamed or what)


class guard:
    """``with guard("Linear.backward"): ...`` turns an exception of the student's code into a FAIL.

    The FAIL names the function that crashed (found in the traceback), the
    layer (``layer 2 Linear(5, 3)`` inside a network; pass ``model`` when the
    network is not the student's ``Sequential``), the shapes of its arrays
    and the likely cause. ``NotImplementedError`` (not written yet) and
    :class:`CheckFailed` pass through unchanged.
    """

    def __init__(self, function: str = "", *, model=None):
        self.function, self.model = function, model

    def __enter__(self) -> "guard":
        return self

    def __exit__(self, kind, error, tb) -> bool:
        if error is None or isinstance(error, (NotImplementedError, CheckFailed)) or not isinstance(error, Exception):
            return False
        blamed, text = explain_crash(error, function=self.function, model=self.model)
        try:
            _fail(blamed, text, blamed=blamed)
        except CheckFailed as failure:
            raise failure from None  # the FAIL says what the raw error said, and why
        return True  # inside all_checks the block goes on


class _Crashed:
    """What a guarded ``actual`` gives back when it crashed: its FAIL is already reported."""


def _evaluate(what: str, actual):
    if not callable(actual):
        return actual
    function = what.split(":")[0].split()[0]
    with guard(function):
        return actual()
    return _Crashed()


def check(condition, what: str, evidence: str = "", hint: str = "") -> None:
    """PASS or FAIL for one condition (a value, or a function of no arguments run inside :func:`guard`)."""
    condition = _evaluate(what, condition)
    if isinstance(condition, _Crashed):
        return
    if not condition:
        _fail(what, evidence, hint)
        return
    print(f"PASS {what}" + (f": {evidence}" if evidence else ""))


def check_close(what: str, actual, expected, *, atol: float = 1e-6, rtol: float = 1e-5, hint: str = "",
                **diagnosis) -> None:
    """PASS when ``actual`` matches ``expected`` element-wise (numpy.allclose), else a FAIL with a diagnosis.

    ``diagnosis`` takes the keywords of :func:`mlp_core.diagnosis.compare`:
    ``inputs``, ``sizes``, ``offsets``, ``masks``, ``variants``.
    """
    _close(what, actual, expected, atol=atol, rtol=rtol, hint=hint, **diagnosis)


def _close(what: str, actual, expected, *, atol: float, rtol: float, hint: str, **diagnosis) -> bool:
    """:func:`check_close`, returning whether it passed."""
    actual = _evaluate(what, actual)
    if isinstance(actual, _Crashed):
        return False
    problem = compare(actual, expected, atol=atol, rtol=rtol, **diagnosis)
    if problem:
        return _fail(what, problem, hint)
    a, e = np.asarray(actual, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    diff = float(np.max(np.abs(a - e))) if a.size else 0.0
    print(f"PASS {what}: largest difference {diff:.2e}")
    return True


# --------------------------------------------------------------------------- #
# Gradient checks
# --------------------------------------------------------------------------- #


def _gradient_verdicts(what: str, pairs: dict[str, tuple], tol: float, hint: str,
                       diagnosis: dict | None = None) -> dict[str, float]:
    """One PASS or FAIL per gradient; a FAIL shows the worst entry and the pattern (backward vs numerical).

    ``diagnosis``: gradient name -> keywords of :func:`mlp_core.diagnosis.compare` (inputs, sizes, masks).
    """
    errors = {}
    for name, (analytic, numeric) in pairs.items():
        label = f"{what}: {gradcheck.gradient_name(name).removeprefix('the ')}"
        try:
            err = gradcheck.relative_error(analytic, numeric, gradcheck.gradient_name(name))
        except ValueError as problem:
            _fail(label, str(problem), hint)
            errors[name] = float("inf")
            continue
        errors[name] = err
        if err < tol:
            print(f"PASS {label}: relative error {err:.2e} < {tol:.0e}")
        else:
            detail = compare(analytic, numeric, atol=1e-9, rtol=1e-4, label="numerically",
                             **(diagnosis or {}).get(name, {})) or ""
            _fail(label, f"relative error {err:.2e} >= {tol:.0e} (backward against central differences)\n{detail}",
                  hint)
    return errors


def _forward_first(function: str, actual: Callable, expected, atol: float = 1e-6, rtol: float = 1e-5) -> bool:
    """The gradient check differentiates the forward pass: check it on a known case first."""
    return _close(f"{function} (the gradient check needs it right first)", actual, expected, atol=atol, rtol=rtol,
                  hint=f"fix {function} first: the gradient check compares backward with the slope of forward")


def check_module_gradients(module: Module, x: np.ndarray, *, tol: float = GRAD_TOLERANCE,
                           forward_case: tuple | None = None, hint: str = "") -> dict[str, float]:
    """Gradient check of a layer (its input and every parameter) in float64.

    ``forward_case`` = (input, expected output): checked first, so that a
    wrong forward is blamed on forward, not on the backward it is compared with.
    """
    name = type(module).__name__
    if forward_case is not None:
        x_known, y_known = forward_case
        if not _forward_first(f"{name}.forward", lambda: module.forward(np.array(x_known, dtype=np.float64)),
                              y_known):
            return {}
    with guard(f"{name}.backward"):
        pairs = gradcheck.module_gradients(module, x)
        sizes = {"N": int(np.shape(x)[0])} if np.ndim(x) == 2 else {}
        diagnosis = {n: {"sizes": sizes, **({"inputs": {"x": x}} if n == "input" else {})} for n in pairs}
        return _gradient_verdicts(f"{name}.backward", pairs, tol, hint or f"{name}.backward differs from the slope of "
                                  f"{name}.forward", diagnosis)
    return {}


def check_loss_gradient(loss: Loss, x: np.ndarray, labels: np.ndarray, *, tol: float = GRAD_TOLERANCE,
                        forward_case: tuple | None = None, hint: str = "") -> float:
    """Gradient check of a loss's backward against central differences of its forward.

    ``forward_case`` = (x, labels, expected loss): checked first (see :func:`check_module_gradients`).
    """
    name = type(loss).__name__
    if forward_case is not None:
        x_known, labels_known, value = forward_case
        if not _forward_first(f"{name}.forward", lambda: loss.forward(np.array(x_known, np.float64), labels_known),
                              value):
            return float("inf")
    with guard(f"{name}.backward"):
        pair = gradcheck.loss_gradient(loss, x, labels)
        n, k = np.shape(x)
        true_class = np.arange(k)[None, :] == np.asarray(labels)[:, None]
        diagnosis = {"x": {"inputs": {"x": x}, "sizes": {"N": n, "K": k}, "masks": {"at the true class": true_class}}}
        return _gradient_verdicts(f"{name}.backward", {"x": pair}, tol,
                                  hint or f"{name}.backward differs from the slope of {name}.forward", diagnosis)["x"]
    return float("inf")


def check_network_gradients(model, loss: Loss, x: np.ndarray, labels: np.ndarray, *,
                            tol: float = GRAD_TOLERANCE, what: str | None = None) -> dict[str, float]:
    """Gradient check of every parameter of a whole network through the loss.

    One verdict per parameter; with ``what``, one verdict for the whole
    network (its largest relative error). When a gradient fails, each
    component (every layer and the loss) is checked on its own, and the hint
    names the first that fails its own check; when all pass, the fault is in
    how ``Sequential`` chains them.
    """
    pairs = None
    with guard("Sequential.backward", model=model):
        pairs = gradcheck.network_gradients(model, loss, x, labels)
    if pairs is None:
        return {}
    errors = {}
    for name, (analytic, numeric) in pairs.items():
        try:
            errors[name] = gradcheck.relative_error(analytic, numeric, gradcheck.gradient_name(name))
        except ValueError:
            errors[name] = float("inf")
    hint = ""
    if max(errors.values()) >= tol:
        culprit = failing_component(model, loss, x, labels, tol)
        hint = (f"{culprit} fails its own gradient check, which this network check needs: fix it first"
                if culprit else "every layer and the loss pass their own gradient checks: look at how "
                "Sequential.forward and Sequential.backward chain the layers")
    if what is None:
        return _gradient_verdicts("network", pairs, tol, hint)
    worst = max(errors, key=errors.get)
    if errors[worst] < tol:
        print(f"PASS {what}: largest relative error {errors[worst]:.1e} (of {worst})")
    else:
        analytic, numeric = pairs[worst]
        try:
            detail = compare(analytic, numeric, atol=1e-9, rtol=1e-4, label="numerically") or ""
        except ValueError as problem:
            detail = str(problem)
        _fail(what, f"{gradcheck.gradient_name(worst)}: relative error {errors[worst]:.2e} >= {tol:.0e}\n{detail}",
              hint)
    return errors


def failing_component(model, loss: Loss, x: np.ndarray, labels: np.ndarray, tol: float = GRAD_TOLERANCE) -> str:
    """'layer 1 Sigmoid()': the first component that fails its own gradient check on the inputs it sees."""
    h = np.array(x, dtype=np.float64)
    for index, layer in enumerate(getattr(model, "layers", [])):
        try:
            errors = gradcheck.check_module(layer, h)
            h = layer.forward(h)
        except Exception:  # a crash is a failure of its own check too
            return f"layer {index} {layer!r} (its backward, or its forward)"
        if any(err >= tol for err in errors.values()):
            return f"layer {index} {layer!r} (its backward, or its forward)"
    try:
        if gradcheck.check_loss(loss, h, labels) >= tol:
            return f"the loss {loss!r} (its backward, or its forward)"
    except Exception:
        return f"the loss {loss!r}"
    return ""


__all__ = [
    "CheckFailed", "GRAD_TOLERANCE", "all_checks", "check", "check_close", "check_loss_gradient",
    "check_module_gradients", "check_network_gradients", "failing_component", "guard", "number",
]
