"""What a hidden check is, and how the judge decides whether a submission passed it.

A :class:`Check` runs one operation of the worker on inputs its builder
draws (:mod:`.requests`). The judge runs the same operation on the
instructor's solution (:func:`reference_outputs`, in its own process) and
compares the submission's outputs with those (:func:`compare`: shapes, NaN,
relative and absolute tolerance, exact for booleans and integers), unless
the check has a verdict of its own (the end-to-end check scores predictions
against labels the sandbox never saw). The outputs decide; numpy's
warnings, which the student's code can switch off, never do (a check may
also refuse a floating-point overflow, :attr:`Check.no_overflow`, which the
worker reports whatever the student's code asks of numpy). :func:`verdict`
never quotes an input or an expected value: the feedback says what is
wrong, not what is right.

:func:`self_test` is what makes the checks trustworthy: run before anyone is
graded, it refuses checks that the solution fails, that a reply of zeros
passes, whose expected outputs are (nearly) zero, or whose reference
gradients disagree with central differences.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

import mlp_core as reference_solution
from mlp_core.gradcheck import numerical_gradient  # the instructor's own: this runs in the trusted process
from mlp_instructor.worker import OVERFLOW, run_operation

from .requests import Builder, Request


@dataclass(frozen=True)
class Compare:
    """Compare the output ``key`` (called ``label`` in messages) with the reference's."""

    key: str
    label: str
    rtol: float = 1e-5
    atol: float = 1e-7
    exact: bool = False  # booleans and integers: equal, element by element


@dataclass(frozen=True)
class Check:
    """One hidden check: the worker's operation ``op`` on the inputs ``build`` draws, judged by ``compare``."""

    name: str  # "<rubric item>.<what>", e.g. "linear.backward"
    what: str  # shown to the student: what was computed, never with which numbers
    op: str
    build: Builder
    compare: tuple[Compare, ...] = ()
    #: Fail when a floating-point overflow happens in the student's code, even with right outputs (a
    #: naive Sigmoid's exp(-x) overflows to inf, and 1 / (1 + inf) is the right 0). The worker sees every
    #: overflow: np.errstate and np.seterr in the student's code cannot hide one (worker.keep_overflow_reported).
    no_overflow: bool = False
    #: Seconds for this check (None: the rubric's default).
    timeout: float | None = None
    #: A verdict of its own, for checks without a reference output: (request, outputs, secrets) -> message or "".
    verdict: Callable[[Request, dict, dict], str] | None = None
    #: Inputs the judge keeps (never sent), given to ``verdict``.
    secret_keys: tuple[str, ...] = field(default=())


def split_secrets(check: Check, request: Request) -> tuple[Request, dict]:
    """(what is sent to the sandbox, what the judge keeps)."""
    params, arrays = request
    kept = {k: arrays[k] for k in check.secret_keys}
    sent = {k: v for k, v in arrays.items() if k not in check.secret_keys}
    return (params, sent), kept


def reference_outputs(check: Check, request: Request) -> tuple[dict, list[str]]:
    """The instructor's solution on the same inputs (in the trusted process): outputs and numpy warnings.

    None for a check judged against what the judge kept (``secret_keys``: the end-to-end check).
    """
    if check.secret_keys:
        return {}, []
    return run_operation(reference_solution, check.op, *request)


def compare(check: Check, outputs: dict, expected: dict) -> str:
    """'' when every compared output matches, else what is wrong (no values quoted)."""
    for c in check.compare:
        want = expected[c.key]
        got = outputs.get(c.key)
        if got is None:
            return f"{c.label}: nothing came back"
        if got.shape != want.shape:
            return f"{c.label}: shape {got.shape}, expected {want.shape}"
        if c.exact:
            if not np.array_equal(got, want):
                wrong = int(np.sum(got != want))
                return f"{c.label}: {wrong} of {want.size} wrong"
            continue
        got = got.astype(np.float64)
        if not np.all(np.isfinite(got)):
            return f"{c.label}: contains NaN or infinity"
        if not np.all(np.abs(got - want) <= c.atol + c.rtol * np.abs(want)):
            err = float(np.linalg.norm(got - want) / max(float(np.linalg.norm(want)), 1e-12))
            return f"{c.label}: wrong values (relative error {err:.1e})"
    return ""


def verdict(check: Check, request: Request, header: dict, outputs: dict, expected: dict, secrets: dict) -> str:
    """'' when the check passes, else the reason it failed, for the student's feedback.

    ``header`` is the worker's reply header (``ok``, ``error``, ``where``,
    ``warnings``), ``outputs`` its arrays, ``expected`` the reference's outputs
    and ``secrets`` what the judge kept of the inputs. Never raises: a reply no
    check foresaw (an odd dtype or shape) fails the check with a reason.
    """
    try:
        return _verdict(check, request, header, outputs, expected, secrets)
    except Exception as exc:  # noqa: BLE001 - whatever came back, it is this check that fails
        return f"the output could not be compared ({type(exc).__name__}): check its type, dtype and shape"


def _verdict(check: Check, request: Request, header: dict, outputs: dict, expected: dict, secrets: dict) -> str:
    if not header.get("ok"):
        where = header.get("where") or ""
        error = str(header.get("error", "an unknown error"))[:400]
        return f"raised {error}" + (f" [{where[:200]}]" if where else "")
    wrong = check.verdict(request, outputs, secrets) if check.verdict is not None else compare(check, outputs, expected)
    if OVERFLOW not in header.get("warnings", []):
        return wrong
    if wrong:  # the overflow only explains: the outputs decide
        return f"{wrong} (a floating-point overflow happened while your code ran: use a numerically stable formula)"
    if check.no_overflow:
        return ("the outputs are right, but a floating-point overflow happened while your code ran (exp of a "
                "large number?); switching numpy's warning off does not hide it from the grader: use a formula "
                "that never overflows")
    return ""


# ----------------------------------------------------------------------------
# The self-test of the checks (once per grading run, before anyone is graded)
# ----------------------------------------------------------------------------


def _reference_gradient_errors(check: Check, request: Request) -> list[tuple[str, float]]:
    """Relative errors of the reference's analytic gradients against numerical ones."""
    params, arrays = request
    arrays = {k: v.copy() for k, v in arrays.items()}
    outputs = run_operation(reference_solution, check.op, params, arrays)[0]

    def f() -> float:
        out = run_operation(reference_solution, check.op, params, arrays)[0]
        if check.op in ("layer", "sequential"):
            return float(np.sum(out["y"] * arrays["G"]))
        return float(out["value"])

    pairs = []
    if check.op == "layer" and "G" in arrays:
        pairs = [("dx", "x")] if "dx" in outputs else []
        pairs += [("W_grad", "W"), ("b_grad", "b")] if "W_grad" in outputs else []
    elif check.op == "loss" and "dx" in outputs:
        pairs = [("dx", "x")]
    elif check.op == "network":
        pairs = [(k, k.replace("_grad", "")) for k in outputs if k.endswith("_grad")]
    elif check.op == "sequential":
        pairs = [("dx", "x")] + [(k, k.replace("_grad", "")) for k in outputs if k.endswith("_grad")]
    errors = []
    for out_key, in_key in pairs:
        numeric = numerical_gradient(f, arrays[in_key])
        analytic = outputs[out_key]
        errors.append((out_key, float(np.linalg.norm(analytic - numeric) /
                                      max(np.linalg.norm(analytic) + np.linalg.norm(numeric), 1e-12))))
    return errors


def self_test(checks: list[Check], seed: int = 0) -> list[str]:
    """Problems with the checks themselves (an empty list when they are sound).

    For each check: the reference passes it; a reply of zeros (every output
    zeroed, booleans False) fails it; every compared float output is clearly
    non-zero; and in float64, the reference's analytic gradients match
    central differences (relative error < 1e-6). A check with a verdict of
    its own (judged by properties) takes the first two tests; one judged
    against secrets (the end-to-end check) none.
    """
    problems = []
    for index, check in enumerate(checks):
        if check.secret_keys:
            continue
        request = check.build(np.random.default_rng([seed, index]))
        expected, warned = reference_outputs(check, request)
        if verdict(check, request, {"ok": True, "warnings": warned}, expected, expected, {}):
            problems.append(f"{check.name}: the reference solution fails it")
        zeros = {k: np.zeros_like(v) for k, v in expected.items()}
        if not verdict(check, request, {"ok": True}, zeros, expected, {}):
            problems.append(f"{check.name}: a reply of zeros passes it")
        for c in check.compare:
            value = expected[c.key]
            if not c.exact and float(np.max(np.abs(value))) < 1e-3:
                problems.append(f"{check.name}: the expected {c.label} is (nearly) zero")
        if check.op in ("layer", "loss", "network", "sequential") and request[0].get("layer", {}).get("dtype", "float64") == "float64":
            for key, err in _reference_gradient_errors(check, request):
                if err > 1e-6:
                    problems.append(f"{check.name}: the reference's {key} differs from the numerical gradient ({err:.1e})")
    return problems
