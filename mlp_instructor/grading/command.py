"""``python -m mlp_core grade``: grade a class, resumably and in parallel, and its command line.

:func:`grade` finds the submissions, sets up one :class:`~.judge.Grader`,
keeps the results of the last run that still hold (:mod:`.results`: same
grader, same content), grades the rest several at a time, and writes each
result the moment it is ready (state, gradebook row, feedback page), so
Ctrl-C or SIGTERM loses at most the submissions being graded: it stops every
sandbox, keeps what is finished, and the same command resumes. The answer
pages are written last, from every result.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import signal
import sys
import threading
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from mlp_instructor.sandbox.process import kill_all_sandboxes
from mlp_lab.argtypes import positive_int

from . import GradingError
from .gradebook import points_text, write_gradebook
from .judge import Grader, Interrupted
from .lms import DEFAULT_ASSIGNMENT, MISSING, LmsReport, write_lms
from .pages import write_answer_pages, write_feedback
from .results import UNPROTECTED, SubmissionResult, previous_results, read_state, write_state
from .roster import read_roster
from .submissions import Submission, content_hash, discover_submissions, printable


@dataclass
class GradeReport:
    """What a ``grade`` run did."""

    out_dir: Path
    results: list[SubmissionResult]
    graded: list[str]
    unchanged: list[str]
    max_points: float
    sandboxed: bool = True
    interrupted: bool = False
    lms: LmsReport | None = None  # with --roster: the LMS files written

    def summary(self) -> str:
        mean = sum(r.total for r in self.results) / len(self.results) if self.results else 0.0
        lines = [] if self.sandboxed else [f"WARNING: {UNPROTECTED}"]
        lines.append(f"graded {len(self.graded)} submission(s), {len(self.unchanged)} unchanged "
                     f"(--force regrades them); class mean {mean:.2f} / {points_text(self.max_points)}")
        for r in self.results:
            flag = "" if r.status == "graded" else f"  ({r.status})"
            lines.append(f"  {printable(r.student):<24} {points_text(r.total):>7}{flag}")
        lines.append(f"gradebook: {self.out_dir / 'gradebook.csv'}; feedback: {self.out_dir / 'feedback'}; "
                     f"written answers: {self.out_dir / 'answers'}")
        if self.lms is not None:
            lines += self.lms.lines()
        return "\n".join(lines)


class _Terminated(BaseException):
    """SIGTERM, turned into an exception in the main thread (handled like Ctrl-C)."""


def _on_sigterm(signum, frame):
    raise _Terminated()


def grade(
    submissions_dir: str | Path,
    out_dir: str | Path,
    *,
    force: bool = False,
    jobs: int | None = None,
    rubric: str | Path | None = None,
    data_dir: str | Path | None = None,
    submission_timeout: float | None = None,
    memory_mb: int | None = None,
    sandbox: bool = True,
    source_dir: str | Path | None = None,
    roster: str | Path | None = None,
    missing: str = "blank",
    assignment: str = DEFAULT_ASSIGNMENT,
    lms_feedback: bool = False,
    log: Callable[[str], None] = print,
) -> GradeReport:
    """Grade every submission in ``submissions_dir``; write the gradebook, feedback and answer pages.

    Each result is written (state, gradebook row, feedback) as soon as it is
    graded, atomically. Ctrl-C or SIGTERM stops every sandbox, keeps what was
    finished and re-raises KeyboardInterrupt; a rerun resumes. Submissions
    whose content hash matches the last run (same grader, rubric, checks and
    limits) keep their result unless ``force``.

    ``roster``: the class roster (:mod:`.roster`, checked before anything is
    written); the LMS files (:mod:`.lms`) are written from the results, a
    roster student without a submission getting a blank or 0 (``missing``).
    """
    submissions_dir, out_dir = Path(submissions_dir), Path(out_dir)
    if missing not in MISSING:
        raise GradingError(f"--missing must be one of {', '.join(MISSING)}, got {missing!r}")
    if roster is None and (missing != "blank" or assignment != DEFAULT_ASSIGNMENT or lms_feedback):
        raise GradingError("--missing, --assignment and --lms-feedback are for the LMS files: give --roster ROSTER.csv")
    class_roster = read_roster(roster, file_ids=lms_feedback) if roster is not None else None
    if not submissions_dir.is_dir():
        raise GradingError(f"submissions folder {submissions_dir} does not exist")
    submissions = discover_submissions(submissions_dir)
    if not submissions:
        raise GradingError(f"no submissions (folders or .zip files) in {submissions_dir}")
    out_dir.mkdir(parents=True, exist_ok=True)
    if out_dir.resolve() == submissions_dir.resolve() or submissions_dir.resolve() in out_dir.resolve().parents:
        raise GradingError("--out must not be inside the submissions folder (it would be graded as a submission)")
    state = read_state(out_dir, log)
    previous_handler = None
    if threading.current_thread() is threading.main_thread():
        previous_handler = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        with Grader(rubric=Path(rubric) if rubric else None, data_dir=Path(data_dir) if data_dir else None,
                    submission_timeout=submission_timeout, memory_mb=memory_mb, sandbox=sandbox,
                    source_dir=Path(source_dir) if source_dir else None) as grader:
            if not sandbox:
                log(f"WARNING: {UNPROTECTED}")
            else:
                log(grader.enforced)  # what this run enforces, as it enforces it (sandbox/limits.py)
            report = _grade_all(grader, submissions, out_dir, state, force, jobs, log)
            if class_roster is not None:
                report.lms = write_lms(out_dir, class_roster, report.results, grader.rubric, assignment=assignment,
                                       missing=missing, feedback=lms_feedback)
            return report
    finally:
        if previous_handler is not None:
            signal.signal(signal.SIGTERM, previous_handler)


def _submission_hash(submission: Submission) -> str:
    """The content hash, mixed with the reason it cannot be graded (if any): fixing that regrades it."""
    digest = content_hash(submission.path)
    if submission.problem:
        digest = hashlib.sha256(f"{submission.problem}/{digest}".encode()).hexdigest()
    return digest


def _grade_all(grader: Grader, submissions: dict[str, Submission], out_dir: Path, state: dict,
               force: bool, jobs: int | None, log: Callable[[str], None]) -> GradeReport:
    previous = previous_results(state, grader.fingerprint, log)
    hashes = {s: _submission_hash(sub) for s, sub in submissions.items()}
    todo = [s for s in submissions if force or previous.get(s, {}).get("hash") != hashes[s]]
    results = {s: SubmissionResult.from_dict(previous[s]) for s in submissions if s not in todo}
    lock = threading.Lock()

    def save(result: SubmissionResult | None) -> None:
        with lock:
            if result is not None:
                results[result.student] = result
                write_feedback(out_dir, result, grader.rubric, grader.descriptions)
            ordered = [results[s] for s in sorted(results)]
            write_state(out_dir, grader.fingerprint, ordered)
            write_gradebook(out_dir / "gradebook.csv", grader.rubric, ordered)

    save(None)
    workers = max(1, min(jobs or os.cpu_count() or 1, len(todo) or 1, 64))
    if todo:
        log(f"grading {len(todo)} submission(s) with {workers} at a time...")
    interrupted = False
    pool = ThreadPoolExecutor(max_workers=workers)
    try:
        futures = {pool.submit(grader.grade, s, submissions[s].path, hashes[s], submissions[s].problem): s
                   for s in todo}
        pending = set(futures)
        while pending:
            done, pending = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
            for future in done:
                try:
                    result = future.result()
                except Interrupted:
                    continue
                except Exception as exc:  # noqa: BLE001 - a grader bug costs one submission, never the run
                    student = futures[future]
                    result = grader.failed(student, hashes[student],
                                           f"grader error ({type(exc).__name__}: {exc}); please report it")
                save(result)
                log(f"  {printable(result.student)}: {points_text(result.total)} / {points_text(grader.rubric.max_points)} "
                    f"({result.seconds:.1f} s)")
    except (KeyboardInterrupt, _Terminated):
        interrupted = True
        grader.stopping.set()
        kill_all_sandboxes()
        pool.shutdown(wait=True, cancel_futures=True)
        kill_all_sandboxes()
        log(f"interrupted: {len([s for s in todo if s in results])} of {len(todo)} submission(s) graded and kept; "
            "run the same command again to grade the rest")
    finally:
        pool.shutdown(wait=True)
    ordered = [results[s] for s in sorted(results)]
    write_answer_pages(out_dir, grader.questions, ordered)
    if interrupted:
        raise KeyboardInterrupt
    return GradeReport(out_dir, ordered, sorted(todo), sorted(set(submissions) - set(todo)),
                       grader.rubric.max_points, grader.sandboxed)


# ----------------------------------------------------------------------------
# The command line
# ----------------------------------------------------------------------------


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "grade", help="grade a folder of student submissions: gradebook, feedback, answer pages",
        description="Grade every folder or .zip in SUBMISSIONS_DIR: each submission's code runs in a "
                    "Bubblewrap sandbox, the hidden checks and the rubric stay outside it.",
    )
    p.add_argument("submissions", type=Path, metavar="SUBMISSIONS_DIR", help="one folder or .zip per student")
    p.add_argument("--out", type=Path, required=True, metavar="GRADEBOOK_DIR",
                   help="where gradebook.csv, feedback/ and answers/ go")
    p.add_argument("--force", action="store_true", help="regrade every submission, changed or not")
    p.add_argument("--jobs", type=positive_int, default=None, help="submissions graded at once (default: all cores)")
    p.add_argument("--rubric", type=Path, default=None, help="rubric TOML (default mlp_instructor/rubric.toml)")
    p.add_argument("--data-dir", type=Path, default=None, help="MNIST folder (default: $MNIST_DIR, then data/)")
    p.add_argument("--timeout", type=positive_int, default=None,
                   help="seconds per submission (default: the rubric's submission_timeout)")
    p.add_argument("--memory", type=positive_int, default=None, metavar="MB",
                   help="memory limit per submission in MB (default: the rubric's memory_mb)")
    p.add_argument("--no-sandbox", action="store_true",
                   help="run submissions WITHOUT the sandbox (where bwrap is missing): grades are NOT protected "
                        "against a hostile submission, and the gradebook says so")
    p.add_argument("--roster", type=Path, default=None, metavar="ROSTER.csv",
                   help="the class roster (student_id, name, email, lms_id, section): also write lms/canvas.csv and "
                        "lms/moodle.csv for the LMS's gradebook import")
    p.add_argument("--missing", choices=MISSING, default="blank",
                   help="with --roster: what a roster student without a submission gets (default blank: no change)")
    p.add_argument("--assignment", default=DEFAULT_ASSIGNMENT, metavar="NAME",
                   help="with --roster: the LMS assignment's column name (Canvas: 'Title (id)' updates that one, "
                        f"a bare title creates it; default {DEFAULT_ASSIGNMENT!r})")
    p.add_argument("--lms-feedback", action="store_true",
                   help="with --roster: also write lms/feedback/<lms_id>.html and .md for bulk upload")
    p.set_defaults(func=cmd_grade)


def cmd_grade(args: argparse.Namespace) -> int:
    try:
        report = grade(args.submissions, args.out, force=args.force, jobs=args.jobs, rubric=args.rubric,
                       data_dir=args.data_dir, submission_timeout=args.timeout, memory_mb=args.memory,
                       sandbox=not args.no_sandbox, roster=args.roster, missing=args.missing,
                       assignment=args.assignment, lms_feedback=args.lms_feedback,
                       log=lambda line: print(line, flush=True))
    except GradingError as exc:
        print(f"python -m mlp_core grade: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("python -m mlp_core grade: stopped; finished submissions are kept, run it again to resume",
              file=sys.stderr)
        return 130
    print(report.summary())
    return 1 if report.lms is not None and report.lms.not_in_roster else 0
