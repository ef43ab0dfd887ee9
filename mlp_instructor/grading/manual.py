"""Written answers scored by hand: the rubric's ``[[question]]`` points, and the manual-score sheet.

The rubric gives points to some of the notebooks' written questions::

    [[question]]
    key = "03_losses/Q1"      # notebook stem / Q<k>, as on the answer pages
    points = 1

``grade`` writes ``GRADEBOOK_DIR/written_scores.csv`` (:data:`SHEET`), one
row per student and scored question (:data:`COLUMNS`): the instructor reads
the answer pages and fills ``points`` (0 to ``max_points``, decimals allowed)
and ``comment``; the next ``grade`` checks the whole sheet before anything is
written, then adds those points to the student's total, and shows them with
the comment on the feedback page, in the gradebook's ``written`` column and
in the LMS files. A run never overwrites what the instructor filled in: it
adds rows for new students or questions and rewrites only the columns it owns
(``max_points``, ``answer_sha``).

An answer that changes after it was scored (the student resubmitted): the
row's ``answer_sha`` (the first 12 hex digits of the SHA-256 of the answer
the points were given for; ``-`` for no answer cell) no longer matches, so its points no longer count;
``grade`` moves them into ``previous_points`` (the comment stays) and leaves
``points`` empty for the instructor to score the new answer. Unchanged
answers keep their points through any resubmission or regrade; a row whose
``answer_sha`` is empty (a sheet made by hand) keeps its points whatever the
answer. A new row for
a blank or missing answer is filled with 0 and the comment "no answer"; an
instructor may change it.

A sheet that cannot be read (not CSV, a missing column), a row naming a
student who has no submission or a question the rubric does not score, a
second row of the same student and question, or points that are not a number
in range is one :class:`~mlp_instructor.grading.GradingError` naming the
file and line, raised before anything is written.

:class:`Extras` puts the written scores and the late policy (:mod:`.late`)
onto each :class:`~.results.SubmissionResult`: ``written``, ``late`` and the
final ``total`` (the rubric items + the written points, less the late
penalty).
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from mlp_core.atomic import atomic_write_text
from mlp_instructor.notebooks import Question, questions_of

from . import GradingError
from .documents import Block, Heading, Para, Table, csv_cell
from .gradebook import points_text
from .late import LatePolicy, load_late
from .results import SubmissionResult
from .roster import Roster
from .submissions import printable

SHEET = "written_scores.csv"
COLUMNS = ("student", "question", "max_points", "points", "comment", "answer_sha", "previous_points")
NO_ANSWER = "no answer"


@dataclass(frozen=True)
class WrittenQuestion:
    """A written question the rubric scores: its key (``"03_losses/Q1"``) and its points."""

    key: str
    points: float


def load_written_questions(rubric_path: Path, questions: dict[str, Question]) -> tuple[WrittenQuestion, ...]:
    """The rubric's ``[[question]]`` entries, checked against the notebooks' questions (``questions``, by key)."""
    try:
        data = tomllib.loads(Path(rubric_path).read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise GradingError(f"rubric {rubric_path} cannot be read: {exc}") from None
    scored: list[WrittenQuestion] = []
    for number, raw in enumerate(data.get("question", []), 1):
        where = f"rubric {rubric_path}: [[question]] {number}"
        if not isinstance(raw, dict) or set(raw) != {"key", "points"}:
            got = sorted(raw) if isinstance(raw, dict) else repr(raw)
            raise GradingError(f"{where} needs exactly key and points, got {got}")
        key, points = raw["key"], raw["points"]
        if key not in questions:
            raise GradingError(f"{where}: no notebook asks {key!r} (keys look like 03_losses/Q1, as on the answer "
                               "pages)")
        if any(q.key == key for q in scored):
            raise GradingError(f"{where}: {key!r} is given points twice")
        if isinstance(points, bool) or not isinstance(points, (int, float)) or not 0 < points <= 1000:
            raise GradingError(f"{where}: points must be a number > 0, got {points!r}")
        scored.append(WrittenQuestion(key, float(points)))
    return tuple(scored)


def answer_sha(text: str | None) -> str:
    """The short hash of an answer as the sheet records it (``-`` for a missing answer cell)."""
    return "-" if text is None else hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()[:12]


@dataclass
class Row:
    """One row of the sheet (``line``: its line in the file, 0 for a new row)."""

    student: str
    question: str
    points: float | None
    comment: str = ""
    answer_sha: str = ""
    previous_points: str = ""
    line: int = 0


def _number(text: str, where: str, top: float) -> float | None:
    text = text.strip()
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        raise GradingError(f"{where}: points {text!r} is not a number (write it like 1.5, or leave it empty)") from None
    if not math.isfinite(value) or not 0 <= value <= top:
        raise GradingError(f"{where}: points {text} out of range: this question is worth 0 to {points_text(top)}")
    return round(value, 2)


def read_sheet(path: Path, students: set[str], questions: tuple[WrittenQuestion, ...]) -> dict[tuple[str, str], Row]:
    """The filled sheet at ``path`` by (student, question), every row checked (module docstring); {} if none."""
    if not path.exists():
        return {}
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise GradingError(f"{path}: not UTF-8 text (byte {exc.start}): save it as CSV UTF-8") from None
    except OSError as exc:
        raise GradingError(f"{path} cannot be read: {exc.strerror}") from None
    first = text.split("\n", 1)[0]
    delimiter = ";" if first.count(";") > first.count(",") else ","  # a spreadsheet of a comma-decimal locale
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    worth = {q.key: q.points for q in questions}
    rows: dict[tuple[str, str], Row] = {}
    try:
        header = [h.strip().lower() for h in next(reader, [])]
        missing = [c for c in ("student", "question", "points", "comment") if c not in header]
        if missing:
            raise GradingError(f"{path}:1: the header lacks {', '.join(missing)} (it needs {', '.join(COLUMNS)}); "
                               f"delete the file and grade again to get a fresh one")
        for row in reader:
            line = reader.line_num
            where = f"{path}:{line}"
            if not any(cell.strip() for cell in row):
                continue
            if len(row) != len(header):
                raise GradingError(f"{where}: {len(row)} cells where the header has {len(header)} "
                                   "(a comma inside a comment needs the cell in quotes)")
            cells = dict(zip(header, row))
            student, key = cells["student"], cells["question"].strip()
            if student.startswith("'") and student[1:2] in ("=", "+", "-", "@", "\t", "\r"):
                student = student[1:]  # csv_cell's guard against spreadsheet formulas
            if student not in students and student.strip() in students:
                student = student.strip()  # spaces a spreadsheet added
            if student not in students:
                raise GradingError(f"{where}: no submission is named {student!r} (delete the row, or restore "
                                   "the submission)")
            if key not in worth:
                raise GradingError(f"{where}: the rubric scores no question {key!r} (scored: "
                                   f"{', '.join(worth) or 'none'})")
            if (student, key) in rows:
                raise GradingError(f"{where}: a second row for {student!r} and {key} (the first is on line "
                                   f"{rows[student, key].line}); keep one")
            rows[student, key] = Row(student, key, _number(cells["points"], where, worth[key]),
                                     cells["comment"].strip(), cells.get("answer_sha", "").strip(),
                                     cells.get("previous_points", "").strip(), line)
    except csv.Error as exc:
        raise GradingError(f"{path}:{reader.line_num}: not valid CSV ({exc})") from None
    return rows


@dataclass
class Extras:
    """What ``grade`` adds to the rubric items: written scores (the sheet) and the late policy.

    Built by :meth:`prepare` before anything is written (every input checked
    there); :meth:`apply` sets a result's ``written``, ``late`` and ``total``;
    :meth:`write_sheet` writes the sheet back after grading.
    """

    questions: tuple[WrittenQuestion, ...] = ()
    sheet_path: Path | None = None
    rows: dict[tuple[str, str], Row] = field(default_factory=dict)
    late: LatePolicy | None = None

    @classmethod
    def prepare(cls, *, rubric_path: Path, source_dir: Path, out_dir: Path, submissions: dict[str, Path],
                roster: Roster | None = None, late_file: Path | None = None,
                times_file: Path | None = None) -> "Extras":
        """Read and check the rubric's questions, the sheet in ``out_dir`` and the late policy (:mod:`.late`).

        ``submissions``: each submission's name and path; ``source_dir``: the
        instructor's repository (its notebooks ask the questions).
        """
        scored = load_written_questions(rubric_path, questions_of(Path(source_dir) / "notebooks"))
        sheet = Path(out_dir) / SHEET
        rows = read_sheet(sheet, set(submissions), scored) if scored else {}
        return cls(scored, sheet, rows, load_late(rubric_path, late_file, submissions, roster, times_file))

    def summary(self, results: list[SubmissionResult]) -> list[str]:
        """Lines on the written answers (how many are left to score, where the sheet is) and the late policy."""
        if not self.questions:
            lines = ["written answers: the rubric scores none"]
        else:
            pending = sum(w["points"] is None for r in results for w in r.written)
            lines = [f"written answers: {len(self.questions)} question(s), {points_text(self.written_max)} point(s); "
                     f"{pending} answer(s) to score in {self.sheet_path} (read them on the answer pages)"]
        if self.late is not None:
            late = sum(bool(r.late.get("days")) for r in results)
            source = self.late.source or "the files' modification times"
            lines.append(f"late policy: {late} of {len(results)} submission(s) late (submission times from {source})")
        return lines

    @property
    def written_max(self) -> float:
        return round(sum(q.points for q in self.questions), 2)

    def _row(self, result: SubmissionResult, question: WrittenQuestion) -> Row:
        """The sheet's row for this answer as it stands now (a new one if there is none)."""
        answer = result.answers.get(question.key)
        sha = answer_sha(answer)
        row = self.rows.get((result.student, question.key))
        if row is None:
            return Row(result.student, question.key, 0.0 if not answer else None, NO_ANSWER if not answer else "", sha)
        if row.answer_sha and row.answer_sha != sha and row.points is not None:  # scored, then the answer changed
            previous = f"{points_text(row.points)} (for an earlier answer)"
            return Row(row.student, row.question, None, row.comment, sha, previous, row.line)
        return Row(row.student, row.question, row.points, row.comment, sha, row.previous_points, row.line)

    def apply(self, result: SubmissionResult) -> SubmissionResult:
        """Set ``result.written``, ``result.late`` and ``result.total`` (items + written, less the penalty)."""
        result.written = []
        for question in self.questions:
            row = self._row(result, question)
            result.written.append({"question": question.key, "points": row.points, "max": question.points,
                                   "comment": row.comment, "changed": bool(row.previous_points and row.points is None)})
        earned = round(sum(result.scores.values()) + result.written_total, 2)
        result.late = self.late.outcome(result.student, earned) if self.late else {}
        result.total = round(earned - result.late.get("penalty", 0.0), 2)
        return result

    def write_sheet(self, results: list[SubmissionResult]) -> None:
        """Write the sheet (atomically): every graded student's rows, the instructor's cells as they were.

        The rows of a student without a result (a run stopped before their
        regrade finished) are written back as they were read.
        """
        if not self.questions or self.sheet_path is None:
            return
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(COLUMNS)
        by_student = {r.student: r for r in results}
        for student in sorted(set(by_student) | {s for s, _ in self.rows}):
            for question in self.questions:
                if student in by_student:
                    row = self._row(by_student[student], question)
                elif (student, question.key) in self.rows:
                    row = self.rows[student, question.key]
                else:
                    continue
                writer.writerow([csv_cell(row.student), row.question, points_text(question.points),
                                 "" if row.points is None else points_text(row.points), row.comment, row.answer_sha,
                                 row.previous_points])
        atomic_write_text(self.sheet_path, buffer.getvalue())


def possible_points(result: SubmissionResult, item_points: float) -> float:
    """The most a student can earn: the rubric items' ``item_points`` and the scored questions'."""
    return round(item_points + sum(w["max"] for w in result.written), 2)


def written_blocks(result: SubmissionResult) -> list[Block]:
    """The feedback page's section on the written answers: points and the instructor's comment per question."""
    if not result.written:
        return []
    pending = sum(w["points"] is None for w in result.written)
    top = sum(w["max"] for w in result.written)
    blocks: list[Block] = [Heading(2, f"Written answers: {points_text(result.written_total)} / {points_text(top)}")]
    if pending:
        blocks.append(Para(f"{pending} answer(s) not scored yet: they count 0 until your instructor scores them."))
    rows = []
    for w in result.written:
        if w["points"] is None:
            shown = "changed since it was scored: not scored yet" if w["changed"] else "not scored yet"
        else:
            shown = f"{points_text(w['points'])} / {points_text(w['max'])}"
        rows.append((w["question"], shown, printable(w["comment"])))
    blocks.append(Table(("Question", "Points", "Comment"), tuple(rows)))
    return blocks
