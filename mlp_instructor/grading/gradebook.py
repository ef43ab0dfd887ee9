"""The gradebook: one CSV row per student, one column per rubric item.

Columns: ``student``, each item's ``id`` (points earned), ``written`` (the
written answers' points from the manual-score sheet, :mod:`.manual`, when the
rubric scores questions), ``days_late`` and ``late_penalty`` (points
deducted, :mod:`.late`, when there is a late policy), ``total``,
``status`` ("graded", or why the submission could not be graded; a
``--no-sandbox`` run says NOT PROTECTED there) and ``feedback`` (the
student's feedback page). Points are written as :func:`points_text` writes
them, as everywhere the grader shows a score. A student id is data: a cell
a spreadsheet would run as a formula is quoted (:func:`~.documents.csv_cell`).

This is the place for other exports of the same results (an LMS's or
Gradescope's format): they read the same :class:`~.results.SubmissionResult`.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from mlp_core.atomic import atomic_write_text

from .documents import csv_cell
from .results import UNPROTECTED, SubmissionResult
from .rubric import Rubric


def points_text(value: float) -> str:
    """Points as the gradebook, the feedback and the summary show them: ``10``, ``6.67``, ``90.84``, ``2.5``.

    Rounded to hundredths (scores are; a sum may be off in its last bits),
    without trailing zeros.
    """
    return f"{value:.2f}".rstrip("0").rstrip(".")


def write_gradebook(path: Path, rubric: Rubric, results: list[SubmissionResult]) -> None:
    """Write ``gradebook.csv`` (atomically) with one row per result, in the order given."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    written, late = any(r.written for r in results), any(r.late for r in results)
    writer.writerow(["student", *(item.id for item in rubric.items), *(["written"] if written else []),
                     *(["days_late", "late_penalty"] if late else []), "total", "status", "feedback"])
    for r in results:
        status = r.status if r.sandboxed else f"{r.status}; {UNPROTECTED}"
        extra = [points_text(r.written_total)] if written else []
        extra += [str(r.late.get("days", "")), points_text(r.late.get("penalty", 0.0))] if late else []
        writer.writerow([csv_cell(r.student), *(points_text(r.scores.get(item.id, 0.0)) for item in rubric.items),
                         *extra, points_text(r.total), csv_cell(status), f"feedback/{r.feedback_name}.html"])
    atomic_write_text(path, buffer.getvalue())
