"""Your pytest, speaking to where you are: what is written, what is right, and the command that shows why.

* A test that stops at a function you have not written yet (its ``raise
  NotImplementedError("...: write this (see notebooks/...)")`` line, or
  ``mlp_core.progress.NotWrittenYet``) is reported as **skipped, "not written
  yet"**, not as a failure; so is a failing test that ran such a function
  (whoever caught its error), or whose training ran in other processes and
  recorded that error in the files it wrote.
* The summary comes first, before the details of any failure: notebook by
  notebook, what is written, and for each function you wrote whether the
  tests that run it pass, with the one command that shows why when they do
  not. Which tests run which function is seen, not guessed: each function of
  ``mlp_core.progress.exercises()`` is wrapped (transparently) to note the
  tests that call it. A failing test that runs several of your functions is
  blamed on the one no other failure explains (the latest in the course's
  order when several remain).
* Under a failure of ``numpy.testing.assert_allclose`` (and its relatives),
  a section "diagnosis" says what the numbers look like (``mlp_core.diagnosis``):
  got and expected at the worst entry, and the pattern when one fits.
"""

from __future__ import annotations

import functools
import importlib
import sys
from pathlib import Path

import pytest

from mlp_core import progress

_calls: dict[str, set[str]] = {}  # test id -> the functions of the exercises it ran
_current: set[str] | None = None
_results: dict[str, tuple[str, str]] = {}  # test id -> (outcome, first line of its failure)
_not_written: dict[str, set[str]] = {}  # function -> ids of the tests skipped because it is not written
_crashed_in: dict[str, str] = {}  # test id -> the function its crash is blamed on (mlp_core.diagnosis.explain_crash)


def _wrap(function: str, original):
    @functools.wraps(original)
    def noted(*args, **kwargs):
        if _current is not None:
            _current.add(function)
        return original(*args, **kwargs)

    noted.__mlp_exercise__ = function
    return noted


def pytest_configure(config):
    """Wrap every function of the exercises, wherever mlp_core holds it, so that each test notes what it ran."""
    for exercise in progress.exercises():
        module = importlib.import_module(f"mlp_core.{exercise.module}")
        *owners, name = exercise.function.split(".")
        owner = functools.reduce(getattr, owners, module)
        original = owner.__dict__.get(name) if isinstance(owner, type) else getattr(owner, name, None)
        if original is None or hasattr(original, "__mlp_exercise__"):
            continue
        wrapped = _wrap(exercise.function, original)
        setattr(owner, name, wrapped)
        if not owners:  # a module function: also where mlp_core re-exports it (mlp_core.softmax, ...)
            for loaded in list(sys.modules.values()):
                if getattr(loaded, "__name__", "").startswith("mlp_") and getattr(loaded, name, None) is original:
                    setattr(loaded, name, wrapped)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item, nextitem):
    global _current
    _current = _calls.setdefault(item.nodeid, set())
    try:
        return (yield)
    finally:
        _current = None


def _written_records(item) -> str:
    """The text files a test wrote into its tmp_path (run records of training done in other processes)."""
    folder = getattr(item, "funcargs", {}).get("tmp_path")
    if folder is None:
        return ""
    texts = []
    for path in sorted(folder.rglob("*"))[:500]:
        if path.suffix in (".json", ".md", ".txt", ".log") and path.is_file() and path.stat().st_size < 200_000:
            texts.append(path.read_text(errors="replace"))
    return "\n".join(texts)


def _unwritten_function(exception: BaseException | None, text: str) -> str | None:
    """The function not written yet that stopped a test, or None: from the exception (and its causes) or the text
    (the report, or the records the test wrote: a run trained in another process records its error there)."""
    todo = progress.still_to_write()
    seen = set()
    while exception is not None and id(exception) not in seen:
        seen.add(id(exception))
        if isinstance(exception, progress.NotWrittenYet):
            return ", ".join(e.function for e in todo if f" {e.function}" in str(exception)) or "a function"
        if isinstance(exception, NotImplementedError):
            for e in todo:
                if str(exception).startswith(f"{e.function}:"):
                    return e.function
        exception = exception.__cause__ or exception.__context__
    for e in todo:  # a subprocess or a notebook that stopped at the placeholder
        if f"{e.function}: write this" in text:
            return e.function
    return None


def _numbers_diagnosis(excinfo) -> str:
    """What the arrays of a failed numpy.testing comparison look like, or ''."""
    from mlp_core.diagnosis import compare

    for entry in reversed(excinfo.traceback):
        local = entry.locals
        if entry.name in ("assert_allclose", "assert_array_almost_equal", "assert_array_equal"):
            actual, desired = local.get("actual", local.get("x")), local.get("desired", local.get("y"))
            try:
                return compare(actual, desired, atol=float(local.get("atol", 0) or 0),
                               rtol=float(local.get("rtol", 1e-7) or 1e-7)) or ""
            except Exception:  # a diagnosis must never hide the failure itself
                return ""
    return ""


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.when == "teardown":
        return report
    if report.failed:
        excinfo = call.excinfo
        text = str(report.longrepr) + "\n".join(content for _, content in report.sections)
        function = _unwritten_function(excinfo.value if excinfo else None, text)
        todo = [e.function for e in progress.still_to_write()]
        if not function and todo:  # it ran (and something caught) a placeholder, or its records show one
            ran = [f for f in todo if f in _calls.get(item.nodeid, ())]
            function = ", ".join(ran) or _unwritten_function(None, _written_records(item))
        if function:
            first = function.split(", ")[0]
            notebook = next((e.notebook for e in progress.exercises() if e.function == first), "its notebook")
            report.outcome = "skipped"
            report.longrepr = (str(item.path), item.location[1], f"not written yet: {function} ({notebook})")
            _results[item.nodeid] = ("not written", function)
            for name in function.split(", "):
                _not_written.setdefault(name, set()).add(item.nodeid)
            return report
        line = excinfo.exconly().strip().splitlines()[0] if excinfo else "failed"
        diagnosis = _numbers_diagnosis(excinfo) if excinfo else ""
        if excinfo and not isinstance(excinfo.value, AssertionError):
            from mlp_core.diagnosis import explain_crash

            blamed, crash = explain_crash(excinfo.value)
            if blamed in {e.function for e in progress.exercises()}:
                _crashed_in[item.nodeid] = blamed
                diagnosis = crash
            else:
                diagnosis = "\n".join([line] + [l for l in crash.splitlines() if l.startswith("likely cause")])
        if diagnosis:
            report.sections.append(("diagnosis (mlp_core.diagnosis)", diagnosis))
            line = "; ".join(l for l in diagnosis.splitlines() if not l.startswith("shapes:"))
        _results[item.nodeid] = ("failed", line)
    elif report.when == "call":
        _results[item.nodeid] = (report.outcome, "")
    return report


def _blame() -> dict[str, list[str]]:
    """function -> the failing tests blamed on it, most specific first.

    A failing test is explained by a function already blamed; the others are
    blamed on the one function they ran that no blame explains yet, or, when
    several remain, on the latest of them in the course's order.
    """
    order = {e.function: i for i, e in enumerate(progress.exercises())}
    failing = {t: _calls.get(t, set()) for t, (outcome, _) in _results.items() if outcome == "failed"}
    bad = {f for t, f in _crashed_in.items() if t in failing}
    open_tests = {t: c for t, c in failing.items() if c and t not in _crashed_in and not c & bad}
    while open_tests:
        single = [next(iter(c - bad)) for c in open_tests.values() if len(c - bad) == 1]
        if single:
            bad.update(single)
        else:
            fewest = min(open_tests.values(), key=lambda c: len(c - bad))
            bad.add(max(fewest - bad, key=lambda f: order.get(f, -1)))
        open_tests = {t: c for t, c in open_tests.items() if not c & bad}
    blamed = {f: sorted((t for t, c in failing.items() if f in c or _crashed_in.get(t) == f),
                        key=lambda t: (_crashed_in.get(t) != f, len(failing[t]))) for f in bad}
    return blamed


def summary_lines() -> list[str]:
    """The per-notebook summary: one head line per notebook, then one line per function written."""
    blamed = _blame()
    lines = []
    notebooks = list(dict.fromkeys(e.notebook for e in progress.exercises()))
    heads = progress.progress_lines()
    for notebook in notebooks:
        lines += [h for h in heads if h.startswith(f"{Path(notebook).stem}:")]
        for exercise in progress.exercises(notebook):
            name = exercise.function
            if not exercise.written:
                skipped = len(_not_written.get(name, ()))
                if skipped:
                    lines.append(f"  {name}: not written yet ({skipped} test{'s' if skipped != 1 else ''} skipped)")
                continue
            ran = [t for t, c in _calls.items() if name in c and t in _results]
            failed = [t for t in ran if _results[t][0] == "failed"]
            if name in blamed:
                first = blamed[name][0]
                lines.append(f"  {name}: written, FAILING ({len(failed)} of the {len(ran)} tests that run it fail); "
                             f"why: python -m pytest \"{first}\"")
                lines.append(f"      {_results[first][1]}")
            elif ran:
                lines.append(f"  {name}: written, correct (the {len(ran)} test{'s' if len(ran) != 1 else ''} that run it pass"
                             + (f", or fail because of another function" if failed else "") + ")")

    others = [t for t, (outcome, _) in _results.items() if outcome == "failed" and not _calls.get(t)]
    if others:
        lines.append(f"{len(others)} failing test{'s run' if len(others) != 1 else ' runs'} none of your functions; "
                     f"the first: python -m pytest \"{others[0]}\"")
    return lines


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_terminal_summary(terminalreporter):
    """Before the details of the failures: the summary, notebook by notebook."""
    if _results:
        terminalreporter.section("your mlp_core, notebook by notebook (mlp_core.progress)")
        for line in summary_lines():
            terminalreporter.write_line(line)
    return (yield)

