"""The pytest plugin the autograder loads (``-p mlp_grading_plugin``) into each grading run.

It is loaded from outside the submission with ``--noconftest``, so nothing a
student ships (a conftest.py, a pytest.ini, a tests/ folder) takes part.

It provides

* the fixture ``mlp``: the submitted ``mlp_core`` package, imported from the
  submission's copy and nowhere else. If it does not import, or comes from
  another place (the instructor's installed copy), every test fails with
  that reason;
* the fixture ``mnist_subset``: the fixed MNIST subset the grader prepared
  (read from ``$MLP_GRADING_DATA``);
* reference helpers the hidden tests use instead of the student's own
  (``numerical_gradient``, ``relative_error``): a submission cannot change
  how it is checked;
* a time limit per test (``signal.setitimer``): a test that loops forever
  fails with "timed out" and the next test runs;
* a report: one JSON line per test in ``$MLP_GRADING_REPORT``, written as
  each test finishes, so a run killed half-way still tells what passed.

Environment (set by ``mlp_instructor.grading``): ``MLP_GRADING_ROOT`` (the
submission's copy), ``MLP_GRADING_REPORT``, ``MLP_GRADING_DATA``,
``MLP_GRADING_TIMEOUTS`` (a JSON file: ``{"default": s, "tests": {nodeid: s}}``).
"""

from __future__ import annotations

import importlib
import importlib.machinery
import json
import os
import signal
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(os.environ.get("MLP_GRADING_ROOT", ".")).resolve()
MAX_MESSAGE = 600


class GradingTimeout(BaseException):
    """Raised in a test that ran past its time limit (a BaseException: ``except Exception`` cannot swallow it)."""


# ----------------------------------------------------------------------------
# Reference helpers for the hidden tests
# ----------------------------------------------------------------------------


def numerical_gradient(f, x: np.ndarray, h: float = 1e-6) -> np.ndarray:
    """Central differences of the scalar ``f()`` with respect to ``x`` (perturbed in place, restored)."""
    grad = np.zeros_like(x, dtype=np.float64)
    flat, out = x.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + h
        plus = f()
        flat[i] = old - h
        minus = f()
        flat[i] = old
        out[i] = (plus - minus) / (2 * h)
    return grad


def relative_error(a, n) -> float:
    """||a - n|| / max(||a|| + ||n||, 1e-12); inf when the shapes differ or a is not an array."""
    try:
        a = np.asarray(a, dtype=np.float64)
    except (TypeError, ValueError):
        return float("inf")
    n = np.asarray(n, dtype=np.float64)
    if a.shape != n.shape:
        return float("inf")
    return float(np.linalg.norm(a - n) / max(np.linalg.norm(a) + np.linalg.norm(n), 1e-12))


def as_array(value, what: str) -> np.ndarray:
    """``value`` as a numpy array, or a failed assertion saying what came back instead."""
    assert isinstance(value, np.ndarray), f"{what} returned {type(value).__name__}, expected a numpy array"
    return value


def assert_close(actual, expected, what: str, *, rtol: float = 1e-5, atol: float = 1e-6) -> None:
    """Element-wise comparison with a message that names ``what`` and the largest difference."""
    expected = np.asarray(expected)
    actual = np.asarray(actual) if not isinstance(actual, np.ndarray) else actual
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape}, expected {expected.shape}"
    ok = np.allclose(actual, expected, rtol=rtol, atol=atol)
    if not ok:
        diff = np.abs(np.asarray(actual, dtype=np.float64) - expected)
        worst = np.unravel_index(int(np.nanargmax(np.where(np.isnan(diff), np.inf, diff))), diff.shape)
        raise AssertionError(
            f"{what}: wrong values; at index {tuple(int(i) for i in worst)} got "
            f"{float(actual[worst]):.6g}, expected {float(expected[worst]):.6g}"
        )


# ----------------------------------------------------------------------------
# Fixtures
# ----------------------------------------------------------------------------


def _short(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}"
    return text.replace(f"{ROOT}{os.sep}", "")


class SubmissionOnlyFinder:
    """Finds ``mlp_core`` and its modules in the submission's copy and nowhere else.

    Put first on ``sys.meta_path``: without it, a module the student deleted
    would be found by the next finder, e.g. the instructor's editable install
    of ``mlp_core`` (whose finder maps every ``mlp_core.*`` name to the
    instructor's files), and graded as the student's.
    """

    @staticmethod
    def find_spec(fullname, path=None, target=None):
        if fullname != "mlp_core" and not fullname.startswith("mlp_core."):
            return None
        search = [str(ROOT)] if fullname == "mlp_core" else path
        spec = importlib.machinery.PathFinder.find_spec(fullname, search)
        origin = Path(spec.origin).resolve() if spec is not None and spec.origin else None
        if origin is None or ROOT not in origin.parents:
            raise ModuleNotFoundError(f"No module named {fullname!r}", name=fullname)
        return spec


def _outside_modules() -> list[str]:
    """Loaded mlp_core modules whose file is not in the submission."""
    outside = []
    for name, module in list(sys.modules.items()):
        if name == "mlp_core" or name.startswith("mlp_core."):
            where = getattr(module, "__file__", None)
            if not where or ROOT not in Path(where).resolve().parents:
                outside.append(f"{name} ({where})")
    return outside


@pytest.fixture(scope="session")
def _submission():
    """(module or None, reason) for the submitted mlp_core, imported once per run."""
    try:
        module = importlib.import_module("mlp_core")
    except BaseException as exc:  # noqa: BLE001 - a submission may raise anything at import
        if isinstance(exc, GradingTimeout):
            return None, "importing mlp_core took too long (an infinite loop at import time?)"
        return None, f"mlp_core does not import: {_short(exc)}"
    outside = _outside_modules()
    if outside:
        return None, f"mlp_core was imported from {', '.join(outside)}, not from the submission; grading refused"
    return module, ""


@pytest.fixture
def mlp(_submission):
    """The submitted ``mlp_core`` package (checked again: a test may not load modules from elsewhere)."""
    module, reason = _submission
    if module is None:
        pytest.fail(reason, pytrace=False)
    yield module
    outside = _outside_modules()
    if outside:
        pytest.fail(f"mlp_core modules were loaded from outside the submission: {', '.join(outside)}", pytrace=False)


@pytest.fixture(scope="session")
def mnist_subset():
    """(train_x (5000, 784), train_y, test_x (1000, 784), test_y): the grader's fixed MNIST subset."""
    path = os.environ.get("MLP_GRADING_DATA")
    if not path or not Path(path).is_file():
        pytest.fail("the MNIST subset the grader put in this run's folder is gone: the submission deleted it?",
                    pytrace=False)
    with np.load(path) as data:
        return data["train_x"], data["train_y"], data["test_x"], data["test_y"]


# ----------------------------------------------------------------------------
# Time limits and the report
# ----------------------------------------------------------------------------

_timeouts = {"default": 10.0, "tests": {}}
_results: dict[str, dict] = {}


def pytest_configure(config):
    sys.meta_path.insert(0, SubmissionOnlyFinder)
    path = os.environ.get("MLP_GRADING_TIMEOUTS")
    if path:
        _timeouts.update(json.loads(Path(path).read_text()))


def _on_alarm(signum, frame):
    # Re-arm: if the submission swallows this one with a bare except, it gets another.
    signal.setitimer(signal.ITIMER_REAL, 1.0)
    raise GradingTimeout()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    seconds = float(_timeouts["tests"].get(item.nodeid, _timeouts["default"]))
    item.grading_timeout = seconds
    previous = signal.signal(signal.SIGALRM, _on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _where(excinfo) -> str:
    """The deepest traceback line inside the submitted mlp_core, as 'mlp_core/x.py:12 in f'."""
    package = ROOT / "mlp_core"
    found = ""
    for entry in excinfo.traceback:
        path = Path(str(entry.path))
        try:
            rel = path.resolve().relative_to(package)
        except ValueError:
            continue
        found = f"mlp_core/{rel.as_posix()}:{entry.lineno + 1} in {entry.name}"
    return found


def _message(item, excinfo) -> str:
    if excinfo.errisinstance(GradingTimeout):
        text = (f"timed out: the test did not finish in {item.grading_timeout:g} s "
                "(an infinite loop, or far too slow)")
    elif excinfo.errisinstance(pytest.fail.Exception):
        text = str(excinfo.value)
    elif excinfo.errisinstance(AssertionError):
        lines = [l for l in str(excinfo.value).splitlines() if l.strip()]
        # pytest's rewritten asserts append "assert ..." lines after the message.
        head = [l for l in lines if not l.lstrip().startswith(("assert ", "+", "-", "where "))]
        text = "AssertionError: " + " ".join(head[:3] or lines[:1])
    else:
        text = _short(excinfo.value)
    where = _where(excinfo)
    text = text.replace(f"{ROOT}{os.sep}", "")
    if len(text) > MAX_MESSAGE:
        text = text[: MAX_MESSAGE - 3] + "..."
    return f"{text} [{where}]" if where else text


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    record = _results.setdefault(item.nodeid, {"nodeid": item.nodeid, "outcome": "passed", "message": ""})
    if report.failed and record["outcome"] == "passed":
        record["outcome"] = "failed"
        record["message"] = _message(item, call.excinfo) if call.excinfo else str(report.longrepr)[:MAX_MESSAGE]
    elif report.skipped and record["outcome"] == "passed":
        record["outcome"] = "skipped"
        record["message"] = "skipped"
    if call.when == "call":
        record["seconds"] = round(call.duration, 3)


def pytest_runtest_logfinish(nodeid, location):
    record = _results.get(nodeid)
    path = os.environ.get("MLP_GRADING_REPORT")
    if record is None or not path:
        return
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(record) + "\n")
        f.flush()


def pytest_collectreport(report):
    path = os.environ.get("MLP_GRADING_REPORT")
    if report.failed and path:
        with open(path, "a", encoding="utf-8") as f:
            message = str(report.longrepr).strip().splitlines()[-1:] or ["collection failed"]
            f.write(json.dumps({"collect_error": report.nodeid, "message": message[0][:MAX_MESSAGE]}) + "\n")


if sys.platform == "win32":  # pragma: no cover
    raise ImportError("the autograder needs a POSIX system (signals and resource limits)")
