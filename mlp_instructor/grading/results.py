"""What the grader learnt about each submission, and the state file that lets a run resume.

A :class:`SubmissionResult` holds everything the gradebook, the feedback and
the answer pages are written from: each check's outcome, the points per
rubric item, notes, the written answers. :func:`item_results` reads it per
rubric item (score, maximum, passed, the line the student reads for each
check): the feedback page, Gradescope's ``results.json`` and the LMS exports
are all written from that one view. The results of a class are kept in
``GRADEBOOK_DIR/.grading-state.json`` (:data:`STATE_FILE`), rewritten
atomically after each submission, with the grader's fingerprint (a hash of
the rubric, the checks, the grader's code and the limits): the next run
keeps a result only if the fingerprint is the same and the submission's
content hash has not changed, so an interrupted run resumes and a changed
rubric regrades everyone.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from mlp_core.atomic import atomic_write_text

from .documents import file_stem

if TYPE_CHECKING:
    from .rubric import Rubric

STATE_FILE = ".grading-state.json"
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


def read_state(out_dir: Path, log: Callable[[str], None]) -> dict:
    """The state file of the last run into ``out_dir`` as JSON ({} when there is none, or it is damaged)."""
    path = out_dir / STATE_FILE
    try:
        return json.loads(path.read_text()) if path.is_file() else {}
    except ValueError:
        log(f"{path} is damaged: regrading everyone")
        return {}


def previous_results(state: dict, fingerprint: str, log: Callable[[str], None]) -> dict[str, dict]:
    """The results of ``state`` by student, if they were graded by the same grader (``fingerprint``); else {}."""
    previous = state.get("results", {}) if state.get("grader") == fingerprint else {}
    if state and not previous:
        log("the rubric, checks, grader or limits changed since the last run: regrading everyone")
    return previous


def write_state(out_dir: Path, fingerprint: str, results: list[SubmissionResult]) -> None:
    """Write the state file (atomically): the grader's fingerprint and every result."""
    atomic_write_text(out_dir / STATE_FILE, json.dumps(
        {"grader": fingerprint, "results": {r.student: asdict(r) for r in results}}, indent=1))
