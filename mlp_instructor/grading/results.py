"""What the grader learnt about each submission, and the state file that lets a run resume.

A :class:`SubmissionResult` holds everything the gradebook, the feedback and
the answer pages are written from: each check's outcome, the points per
rubric item, notes, the written answers. :func:`item_results` reads it per
rubric item (score, maximum, passed, the line the student reads for each
check): the feedback page, Gradescope's ``results.json`` and the LMS exports
are all written from that one view. :func:`bounded` cuts a result to the
judge's limits (:data:`MAX_MESSAGE_CHARS` and the others) before anything
is written from it, so what one student's code or notebooks say costs the
gradebook a bounded size.

The results of a class are kept in ``GRADEBOOK_DIR/.grading-state.json``
(:data:`STATE_FILE`), with the grader's fingerprint (a hash of the rubric,
the checks, the grader's code and the limits): the next run keeps a result
only if the fingerprint is the same and the submission's content hash has
not changed, so an interrupted run resumes and a changed rubric regrades
everyone. It is JSON Lines: the first line the fingerprint, then one result
per line (a later line replaces an earlier one of the same student). A run
rewrites it atomically at its start and end (:func:`write_state`) and
appends one line per submission graded in between (:func:`append_result`):
its writes grow with the class, not with its square. A line cut short by a
crash is skipped on reading: that student is graded again.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable

from mlp_core.atomic import atomic_write_text

from .documents import file_stem

if TYPE_CHECKING:
    from .rubric import Rubric

STATE_FILE = ".grading-state.json"
#: The most one result keeps of each text (the rest is cut, saying so): a check's message, a note, the
#: status; and the most notes. Answers: MAX_ANSWER_CHARS each (mlp_instructor.notebooks), known questions
#: only, MAX_ANSWERS_TOTAL_CHARS for all of one student's answers together.
MAX_MESSAGE_CHARS, MAX_NOTE_CHARS, MAX_STATUS_CHARS, MAX_NOTES = 1000, 2000, 500, 40
MAX_ANSWERS_TOTAL_CHARS = 100_000
#: Said wherever a result of ``--no-sandbox`` appears (gradebook, feedback, summary).
UNPROTECTED = ("NOT PROTECTED: graded with --no-sandbox; the submissions' code ran with the instructor's "
               "rights and could have changed any grade")


@dataclass
class CheckResult:
    check: str  # the check's name, e.g. "linear.backward"
    passed: bool
    message: str = ""  # why it failed ("" when it passed)


@dataclass
class SubmissionResult:
    """Everything the grader learnt about one submission (saved in the state file)."""

    student: str
    hash: str
    status: str = "graded"  # "graded", or a short reason it could not be run at all
    checks: list[CheckResult] = field(default_factory=list)
    scores: dict[str, float] = field(default_factory=dict)
    total: float = 0.0
    notes: list[str] = field(default_factory=list)
    answers: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    sandboxed: bool = True
    #: Set by :meth:`.manual.Extras.apply`: one dict per scored written question (question, points or None
    #: before the instructor scores it, max, comment, changed), and the late outcome ({} without a policy).
    written: list[dict] = field(default_factory=list)
    late: dict = field(default_factory=dict)

    @property
    def written_total(self) -> float:
        """The points the instructor gave the written answers (an answer not scored yet counts 0)."""
        return round(sum(w["points"] or 0.0 for w in self.written), 2)

    @property
    def feedback_name(self) -> str:
        """The file name (without suffix) of this student's feedback pages."""
        return file_stem(self.student)

    @classmethod
    def from_dict(cls, d: dict) -> "SubmissionResult":
        d = dict(d)
        d["checks"] = [CheckResult(**c) for c in d.get("checks", [])]
        return cls(**d)


@dataclass(frozen=True)
class ItemResult:
    """One rubric item of one submission, as every report of it shows it.

    ``lines``: one ``(passed, text)`` per check of the item, ``text`` being what
    the check computed (its description) and, when it failed, why
    (``"<description>: <reason>"``): never the hidden inputs or expected values.
    """

    id: str
    title: str
    notebook: str
    score: float
    max_score: float
    lines: tuple[tuple[bool, str], ...]

    @property
    def passed(self) -> bool:
        """Full marks on this item."""
        return self.score >= self.max_score

    @property
    def checks_passed(self) -> int:
        return sum(passed for passed, _ in self.lines)


def item_results(result: SubmissionResult, rubric: "Rubric", descriptions: dict[str, str]) -> list[ItemResult]:
    """The rubric's items for ``result``, in the rubric's order (``descriptions``: check name -> what it computed)."""
    items = []
    for item in rubric.items:
        lines = tuple((c.passed, descriptions.get(c.check, c.check) if c.passed
                       else f"{descriptions.get(c.check, c.check)}: {c.message}")
                      for c in result.checks if item.matches(c.check))
        items.append(ItemResult(item.id, item.title, item.notebook, result.scores.get(item.id, 0.0),
                                float(item.points), lines))
    return items


def _cut(text: str, limit: int) -> str:
    text = str(text)
    return text if len(text) <= limit else f"{text[:limit]} [... {len(text) - limit} more characters cut]"


def bounded(result: SubmissionResult, questions: Iterable[str]) -> SubmissionResult:
    """``result`` within the judge's limits: each text cut to its maximum, at most :data:`MAX_NOTES` notes,
    answers only to the ``questions`` (keys), each at most MAX_ANSWER_CHARS (as read) and all together at
    most :data:`MAX_ANSWERS_TOTAL_CHARS` (the later ones cut first). ``result`` itself is not changed."""
    from mlp_instructor.notebooks import MAX_ANSWER_CHARS

    notes = [_cut(n, MAX_NOTE_CHARS) for n in result.notes[:MAX_NOTES]]
    if len(result.notes) > MAX_NOTES:
        notes.append(f"{len(result.notes) - MAX_NOTES} more notes cut")
    keep, answers, left = set(questions), {}, MAX_ANSWERS_TOTAL_CHARS
    for key, text in result.answers.items():
        if key in keep:
            limit = min(left, MAX_ANSWER_CHARS + 20)
            answers[key] = _cut(text, limit)
            left -= min(len(text), limit)
    return replace(result, status=_cut(result.status, MAX_STATUS_CHARS), notes=notes,
                   checks=[replace(c, message=_cut(c.message, MAX_MESSAGE_CHARS)) for c in result.checks],
                   answers=answers)


def read_state(out_dir: Path, log: Callable[[str], None]) -> dict:
    """The state file of the last run into ``out_dir``: ``{"grader": fingerprint, "results": {student: dict}}``.

    {} when there is none or its first line is damaged; a damaged result line
    is skipped (that student is graded again). Also reads the older format
    (one JSON object).
    """
    path = out_dir / STATE_FILE
    if not path.is_file():
        return {}
    with open(path, encoding="utf-8", errors="replace") as f:
        first = f.readline()
        try:
            head = json.loads(first)
        except ValueError:
            head = None
        if not isinstance(head, dict) or "grader" not in head:
            f.seek(0)
            try:
                state = json.load(f)  # the older format: one object with every result
                return state if isinstance(state, dict) else {}
            except ValueError:
                log(f"{path} is damaged: regrading everyone")
                return {}
        results, damaged = {}, 0
        for line in f:
            try:
                result = json.loads(line)
                results[result["student"]] = result
            except (ValueError, TypeError, KeyError):
                damaged += 1
    if damaged:
        log(f"{path}: {damaged} damaged line(s) skipped (a run was cut short?): those submissions are graded again")
    return {"grader": head["grader"], "results": results}


def previous_results(state: dict, fingerprint: str, log: Callable[[str], None]) -> dict[str, dict]:
    """The results of ``state`` by student, if they were graded by the same grader (``fingerprint``); else {}."""
    previous = state.get("results", {}) if state.get("grader") == fingerprint else {}
    if state and not previous:
        log("the rubric, checks, grader or limits changed since the last run: regrading everyone")
    return previous


def write_state(out_dir: Path, fingerprint: str, results: list[SubmissionResult]) -> None:
    """Write the whole state file (atomically): the grader's fingerprint, then every result, one per line."""
    lines = [json.dumps({"grader": fingerprint})] + [json.dumps(asdict(r)) for r in results]
    atomic_write_text(out_dir / STATE_FILE, "\n".join(lines) + "\n")


def append_result(out_dir: Path, result: SubmissionResult) -> None:
    """Append one result to the state file :func:`write_state` wrote (one line, flushed to disk)."""
    with open(out_dir / STATE_FILE, "a", encoding="utf-8") as f:
        f.write(json.dumps(asdict(result)) + "\n")
        f.flush()
        os.fsync(f.fileno())
