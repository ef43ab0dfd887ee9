"""Grades for the LMS: Canvas's and Moodle's gradebook imports, and feedback files named by LMS id.

Written by ``grade ... --roster roster.csv`` into ``GRADEBOOK_DIR/lms/``, from
the same results as ``gradebook.csv`` (one row per roster student):

* ``canvas.csv``, for Canvas's Gradebook import. The layout Canvas's
  importer reads (``GradebookImporter`` in canvas-lms, and Canvas's guide
  "How do I import grades in the Gradebook?"): the header ``Student, ID,
  SIS User ID, SIS Login ID, Section``, then the assignment's column; a
  second row starting ``Points Possible`` gives the assignment's points.
  Canvas finds each student by ``ID`` (its user id: the roster's lms_id),
  else by ``SIS User ID`` (student_id), else ``SIS Login ID`` (login_id, or
  the email), else by name; the assignment column ``Title (id)`` updates
  that assignment, a bare title creates one (or updates the one so titled).
  A blank cell changes nothing in Canvas.
* ``moodle.csv``, for Moodle's "Import grades from CSV file": on its form
  the instructor maps one identifier column ("Email address" to email, "ID
  number" to the ID number, "LMS ID" to the user id) and the assignment's
  column to a grade item. Moodle stops the whole import at a row whose user
  it cannot find, so only roster students are written; a blank cell is "no
  grade".
* ``not_in_roster.csv``: every submission no roster row names (or a second
  one of the same student), with its total and why: an error to resolve
  (rename the submission or add the student), never dropped silently;
  ``grade`` says so and exits 1.
* ``feedback/<lms_id>.html`` and ``.md`` (``--lms-feedback``): each
  student's feedback page named by the roster's lms_id, for bulk upload.

A roster student without a submission gets a blank cell, or 0 with
``missing="zero"``.
"""

from __future__ import annotations

import csv
import io
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from mlp_core.atomic import atomic_write_text

from . import GradingError
from .documents import csv_cell
from .gradebook import points_text
from .results import SubmissionResult
from .roster import Roster, Student
from .rubric import Rubric
from .submissions import printable

LMS_DIR = "lms"
CANVAS_COLUMNS = ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")
MOODLE_COLUMNS = ("Full name", "Email address", "ID number", "LMS ID")
MISSING = ("blank", "zero")
DEFAULT_ASSIGNMENT = "Neural network from scratch"


@dataclass
class LmsReport:
    """What the LMS files hold: graded roster students, those without a submission, submissions not in the roster."""

    folder: Path
    graded: int = 0
    without_submission: list[Student] = field(default_factory=list)
    not_in_roster: list[tuple[SubmissionResult, str]] = field(default_factory=list)
    missing: str = "blank"

    def lines(self) -> list[str]:
        lines = [f"LMS files: {self.folder} (canvas.csv, moodle.csv): {self.graded} roster student(s) graded"]
        if self.without_submission:
            shown = ", ".join(printable(s.student_id) for s in self.without_submission[:10])
            more = " ..." if len(self.without_submission) > 10 else ""
            lines.append(f"  {len(self.without_submission)} roster student(s) without a submission, exported as "
                         f"{'0' if self.missing == 'zero' else 'blank'}: {shown}{more}")
        if self.not_in_roster:
            lines.append(f"ERROR: {len(self.not_in_roster)} submission(s) not in the roster, so not in the LMS files "
                         f"(listed in {self.folder / 'not_in_roster.csv'}; rename each after a student_id, email or "
                         f"lms_id of the roster, or add the student): "
                         + "; ".join(f"{printable(r.student)} ({why})" for r, why in self.not_in_roster))
        return lines


def match(roster: Roster, results: list[SubmissionResult]) -> tuple[list[tuple[Student, SubmissionResult | None]],
                                                                     list[tuple[SubmissionResult, str]]]:
    """(each roster student with their result or None, in roster order; the results left out, each with why)."""
    by_student: dict[int, SubmissionResult] = {}
    left_out = []
    for result in results:
        student = roster.match(result.student)
        if student is None:
            left_out.append((result, "no roster row has this student_id, email or lms_id"))
        elif id(student) in by_student:
            left_out.append((result, f"a second submission of roster line {student.line} "
                                     f"(the first, {by_student[id(student)].student!r}, is exported)"))
        else:
            by_student[id(student)] = result
    return [(s, by_student.get(id(s))) for s in roster.students], left_out


def _grade_cell(result: SubmissionResult | None, missing: str) -> str:
    if result is None:
        return "0" if missing == "zero" else ""
    return points_text(result.total)


def _csv(rows: list[list[str]]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    return buffer.getvalue()


def canvas_csv(rows: list[tuple[Student, SubmissionResult | None]], assignment: str, max_points: float,
               missing: str) -> str:
    """Canvas's gradebook import: the student columns, the assignment's, and the Points Possible row."""
    lines = [[*CANVAS_COLUMNS, assignment], ["Points Possible", "", "", "", "", points_text(max_points)]]
    for student, result in rows:
        lines.append([csv_cell(student.name), student.lms_id, student.student_id, student.login_id or student.email,
                      csv_cell(student.section), _grade_cell(result, missing)])
    return _csv(lines)


def moodle_csv(rows: list[tuple[Student, SubmissionResult | None]], assignment: str, missing: str) -> str:
    """Moodle's grade import: identifier columns (one is mapped on its form) and the assignment's grade."""
    lines = [[*MOODLE_COLUMNS, assignment]]
    for student, result in rows:
        lines.append([csv_cell(student.name), student.email, student.student_id, student.lms_id,
                      _grade_cell(result, missing)])
    return _csv(lines)


def write_lms(out_dir: Path, roster: Roster, results: list[SubmissionResult], rubric: Rubric, *,
              assignment: str = DEFAULT_ASSIGNMENT, missing: str = "blank", feedback: bool = False,
              max_points: float | None = None) -> LmsReport:
    """Write ``out_dir/lms/`` (module docstring) from the results; what it holds.

    ``max_points``: the points possible (default the rubric items'; ``grade``
    adds the written questions' points, :mod:`.manual`).
    """
    if missing not in MISSING:
        raise GradingError(f"missing must be one of {', '.join(MISSING)}, got {missing!r}")
    rows, unmatched = match(roster, results)
    folder = out_dir / LMS_DIR
    possible = rubric.max_points if max_points is None else max_points
    atomic_write_text(folder / "canvas.csv", canvas_csv(rows, assignment, possible, missing))
    atomic_write_text(folder / "moodle.csv", moodle_csv(rows, assignment, missing))
    atomic_write_text(folder / "not_in_roster.csv", _csv(
        [["submission", "total", "why"]]
        + [[csv_cell(r.student), points_text(r.total), why] for r, why in unmatched]))
    if feedback:
        for student, result in rows:
            if result is not None and student.lms_id:
                for suffix in (".html", ".md"):
                    target = folder / "feedback" / f"{student.lms_id}{suffix}"
                    target.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(out_dir / "feedback" / f"{result.feedback_name}{suffix}", target)
    return LmsReport(folder, sum(r is not None for _, r in rows), [s for s, r in rows if r is None], unmatched,
                     missing)
