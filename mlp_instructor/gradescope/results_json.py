"""A submission's result as Gradescope's ``results.json``.

The fields are those of Gradescope's specification ("Output format" in
``docs/specs.md`` of github.com/gradescope/autograder_samples): at the top
``score``, ``execution_time`` (seconds), ``output`` (for the whole
submission), the visibility settings and ``tests``, one per rubric item with
``name``, ``number``, ``score``, ``max_score``, ``status`` (``"passed"`` for
full marks, else ``"failed"``), ``output`` and ``visibility``. Every text is
declared plain text (``output_format``, ``test_output_format``,
``test_name_format``: ``"text"``), so that what a student's code wrote into
an error message is shown, never rendered.

Each test's ``output`` has the lines of the student's feedback page for that
item (:func:`~mlp_instructor.grading.results.item_results`): ``PASS`` or
``FAIL``, what the check computed and why it failed; never the hidden
inputs or expected values.
"""

from __future__ import annotations

import json
from pathlib import Path

from mlp_core.atomic import atomic_write_text
from mlp_instructor.grading.gradebook import points_text
from mlp_instructor.grading.pages import failure_summary
from mlp_instructor.grading.results import UNPROTECTED, SubmissionResult, item_results
from mlp_instructor.grading.rubric import Rubric

#: Gradescope's visibility settings (the specification's "Controlling Test Case Visibility").
VISIBILITIES = ("visible", "hidden", "after_due_date", "after_published")


def overall_output(result: SubmissionResult, rubric: Rubric) -> str:
    """The text for the whole submission: total, why it was not graded, notes, what went wrong."""
    lines = [f"Total: {points_text(result.total)} / {points_text(rubric.max_points)}"]
    if not result.sandboxed:
        lines.append(UNPROTECTED)
    if result.status != "graded":
        lines.append(f"Not graded: {result.status}.")
    if result.notes:
        lines += ["", "Notes:", *(f"- {note}" for note in result.notes)]
    problems = failure_summary(result)
    if problems:
        lines += ["", "What went wrong:", *(f"- {n} check(s): {m}" for m, n in problems)]
    lines += ["", "Each rubric item below lists its checks, passed or failed with the reason."]
    return "\n".join(lines)


def results_json(result: SubmissionResult, rubric: Rubric, descriptions: dict[str, str], *,
                 seconds: float, visibility: str = "visible") -> dict:
    """Gradescope's ``results.json`` for ``result`` (``descriptions``: check name -> what it computed)."""
    if visibility not in VISIBILITIES:
        raise ValueError(f"visibility must be one of {', '.join(VISIBILITIES)}, got {visibility!r}")
    tests = []
    for number, item in enumerate(item_results(result, rubric, descriptions), 1):
        where = f" (notebook {item.notebook})" if item.notebook else ""
        tests.append({
            "name": f"{item.title}{where}",
            "number": str(number),
            "score": item.score,
            "max_score": item.max_score,
            "status": "passed" if item.passed else "failed",
            "output": "\n".join(f"{'PASS' if passed else 'FAIL'} {text}" for passed, text in item.lines),
            "visibility": visibility,
        })
    return {
        "score": result.total,
        "execution_time": max(1, round(seconds)),
        "output": overall_output(result, rubric),
        "output_format": "text",
        "test_output_format": "text",
        "test_name_format": "text",
        "visibility": visibility,
        "stdout_visibility": "hidden",
        "tests": tests,
    }


def broken_results(reason: str) -> dict:
    """The ``results.json`` of a run where the machine could not grade: no score and no test, the reason.

    Gradescope's specification requires ``score`` or per-test scores; this
    holds neither, so nothing in it can be read as a 0 for the student, and
    its ``output`` says the autograder, not the submission, failed.
    """
    return {
        "output": ("The autograder is broken: it could not grade on this machine, an error of the autograder and "
                   "not of your submission. No score was given. Tell your instructor; submitting again will not "
                   f"help until it is fixed.\n\nWhat failed: {reason}"),
        "output_format": "text",
        "stdout_visibility": "hidden",
        "extra_data": {"autograder_broken": True},
    }


def write_results(path: Path, data: dict) -> None:
    """Write ``results.json`` atomically (a reader never sees half of it)."""
    atomic_write_text(path, json.dumps(data, indent=1, ensure_ascii=False) + "\n")
