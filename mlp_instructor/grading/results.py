"""What the grader learnt about each submission, and the state file that lets a run resume.

A :class:`SubmissionResult` holds everything the gradebook, the feedback and
the answer pages are written from: each check's outcome, the points per
rubric item, notes, the written answers. The results of a class are kept in
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
from typing import Callable

from mlp_core.atomic import atomic_write_text

from .documents import file_stem

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

    @property
    def feedback_name(self) -> str:
        """The file name (without suffix) of this student's feedback pages."""
        return file_stem(self.student)

    @classmethod
    def from_dict(cls, d: dict) -> "SubmissionResult":
        d = dict(d)
        d["checks"] = [CheckResult(**c) for c in d.get("checks", [])]
        return cls(**d)


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
