"""``python -m mlp_core grade``: grade a class, resumably and in parallel, and its command line.

:func:`grade` finds the submissions, sets up one :class:`~.judge.Grader`,
keeps the results of the last run that still hold (:mod:`.results`: same
grader, same content), grades the rest several at a time, and writes each
result the moment it is ready (state, gradebook row, feedback page), so
Ctrl-C or SIGTERM loses at most the submissions being graded: it stops every
sandbox, keeps what is finished, and the same command resumes. The answer
pages are written last, from every result.

Every step taken for one student (hashing, grading, writing the result) is
inside one error boundary: whatever goes wrong costs that student a status
saying so, and the class is graded to the end. Every line printed is
:func:`~.documents.terminal_text`: a student id cannot forge a line or move
the cursor.
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

from mlp_instructor import repo_root
from mlp_instructor.sandbox.process import SandboxBroken, kill_all_sandboxes
from mlp_lab.argtypes import positive_int

from . import GradingError
from .documents import terminal_text
from .gradebook import points_text, write_gradebook
from .judge import Grader, Interrupted
from .lms import DEFAULT_ASSIGNMENT, MISSING, LmsReport, write_lms
from .manual import Extras
from .pages import write_answer_pages, write_feedback
from .preflight import broken_mid_class, preflight
from .results import (UNPROTECTED, SubmissionResult, append_result, bounded, previous_results, read_state,
                      write_state)
from .roster import read_roster
from .rubric import DEFAULT_RUBRIC
from .submissions import Submission, content_hash, discover_submissions


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
            lines.append(f"  {terminal_text(r.student):<24} {points_text(r.total):>7}{flag}")
        lines.append(f"gradebook: {self.out_dir / 'gradebook.csv'}; feedback: {self.out_dir / 'feedback'}; "
                     f"written answers: {self.out_dir / 'answers'}")
        if self.lms is not None:
            lines += self.lms.lines()
        return "\n".join(terminal_text(line) for line in lines)


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
    late: str | Path | None = None,
    submission_times: str | Path | None = None,
    log: Callable[[str], None] = print,
) -> GradeReport:
    """Grade every submission in ``submissions_dir``; write the gradebook, feedback and answer pages.

    Each result is written (state, gradebook row, feedback) as soon as it is
    graded, atomically. Ctrl-C or SIGTERM stops every sandbox, keeps what was
    finished and re-raises KeyboardInterrupt; a rerun resumes. Submissions
    whose content hash matches the last run (same grader, rubric, checks and
    limits) keep their result unless ``force``.

    Before anything is written, :func:`~.preflight.preflight` grades the
    instructor's solution and the empty release (GradingError unless they get
    full marks and 0); a sandbox that stops working later stops the run with a
    GradingError (the grading machine's), keeping only what was graded before.

    ``roster``: the class roster (:mod:`.roster`, checked before anything is
    written); the LMS files (:mod:`.lms`) are written from the results, a
    roster student without a submission getting a blank or 0 (``missing``).

    The written answers' points come from ``GRADEBOOK_DIR/written_scores.csv``
    (:mod:`.manual`, written after grading), the late policy from the
    rubric's ``[late]`` and ``late`` (:mod:`.late`; submission times from
    ``submission_times`` or the files' times): both checked before anything
    is written.
    """
    submissions_dir, out_dir = Path(submissions_dir), Path(out_dir)
    log = _one_line_each(log)
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
    extras = Extras.prepare(rubric_path=Path(rubric) if rubric else DEFAULT_RUBRIC,
                            source_dir=Path(source_dir) if source_dir else repo_root(), out_dir=out_dir,
                            submissions={s: sub.path for s, sub in submissions.items()}, roster=class_roster,
                            late_file=late, times_file=submission_times)
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
            try:
                preflight(grader, log, parallel=(jobs or os.cpu_count() or 1) > 1)
            except _Terminated:
                raise KeyboardInterrupt from None  # nothing graded yet: stopped like Ctrl-C
            out_dir.mkdir(parents=True, exist_ok=True)
            report = _grade_all(grader, submissions, out_dir, state, force, jobs, log, extras)
            for line in extras.summary(report.results):
                log(line)
            if class_roster is not None:
                report.lms = write_lms(out_dir, class_roster, report.results, grader.rubric, assignment=assignment,
                                       missing=missing, feedback=lms_feedback, max_points=report.max_points)
            return report
    finally:
        if previous_handler is not None:
            signal.signal(signal.SIGTERM, previous_handler)


def _one_line_each(log: Callable[[str], None]) -> Callable[[str], None]:
    """``log``, each line shown as :func:`~.documents.terminal_text` (a student's text cannot add a line)."""
    return lambda line: log(terminal_text(line))


def _submission_hash(submission: Submission) -> str:
    """The content hash, mixed with the reason it cannot be graded (if any): fixing that regrades it."""
    digest = content_hash(submission.path)
    if submission.problem:
        digest = hashlib.sha256(f"{submission.problem}/{digest}".encode()).hexdigest()
    return digest


def _grade_all(grader: Grader, submissions: dict[str, Submission], out_dir: Path, state: dict,
               force: bool, jobs: int | None, log: Callable[[str], None], extras: Extras) -> GradeReport:
    previous = previous_results(state, grader.fingerprint, log)
    hashes: dict[str, str] = {}
    results: dict[str, SubmissionResult] = {}
    failed: dict[str, SubmissionResult] = {}  # could not even be hashed: a result of its own, not graded
    for s, sub in submissions.items():
        try:
            hashes[s] = _submission_hash(sub)
        except Exception as exc:  # noqa: BLE001 - one submission's problem is its own
            hashes[s] = ""
            failed[s] = grader.failed(s, "", _grader_error(exc))  # hash "": always graded again
            continue
        kept = previous.get(s)
        if not force and isinstance(kept, dict) and kept.get("hash") == hashes[s]:
            try:
                results[s] = bounded(SubmissionResult.from_dict(kept), grader.questions)
            except (TypeError, ValueError, AttributeError):  # a damaged line of the state file: graded again
                pass
    todo = [s for s in submissions if s not in results and s not in failed]
    possible = round(grader.rubric.max_points + extras.written_max, 2)  # the items and the written answers
    for kept in results.values():  # the written scores or the late policy may have changed since
        extras.apply(kept)
        write_feedback(out_dir, kept, grader.rubric, grader.descriptions)
    lock = threading.Lock()

    def save(result: SubmissionResult) -> None:
        with lock:
            try:
                result = extras.apply(bounded(result, grader.questions))  # + written answers, late penalty
                write_feedback(out_dir, result, grader.rubric, grader.descriptions)
            except Exception as exc:  # noqa: BLE001 - its pages could not be written: it says so, the class goes on
                result = grader.failed(result.student, "", _grader_error(exc))
                write_feedback(out_dir, result, grader.rubric, grader.descriptions)
            results[result.student] = result
            append_result(out_dir, result)
            write_gradebook(out_dir / "gradebook.csv", grader.rubric, [results[s] for s in sorted(results)])

    write_state(out_dir, grader.fingerprint, [results[s] for s in sorted(results)])
    write_gradebook(out_dir / "gradebook.csv", grader.rubric, [results[s] for s in sorted(results)])
    for result in failed.values():
        save(result)
    workers = max(1, min(jobs or os.cpu_count() or 1, len(todo) or 1, 64))
    if todo:
        log(f"grading {len(todo)} submission(s) with {workers} at a time...")
    interrupted = False
    broken: tuple[str, SandboxBroken] | None = None  # the first submission whose sandbox never started
    pool = ThreadPoolExecutor(max_workers=workers)
    try:
        futures = {pool.submit(grader.grade, s, submissions[s].path, hashes[s], submissions[s].problem): s
                   for s in todo}
        pending = set(futures)
        while pending and broken is None:
            done, pending = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
            for future in done:
                student = futures[future]
                try:
                    result = future.result()
                except Interrupted:
                    continue
                except SandboxBroken as exc:  # the machine's failure: stop, and never score it
                    broken = broken or (futures[future], exc)
                    continue
                except Exception as exc:  # noqa: BLE001 - a grader bug costs one submission, never the run
                    result = grader.failed(student, "", _grader_error(exc))
                save(result)
                log(f"  {result.student}: {points_text(result.total)} / {points_text(possible)} "
                    f"({result.seconds:.1f} s)")
        if broken is not None:
            grader.stopping.set()
            kill_all_sandboxes()
            pool.shutdown(wait=True, cancel_futures=True)
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
    write_state(out_dir, grader.fingerprint, ordered)  # compacted: one line per student
    try:
        write_answer_pages(out_dir, grader.questions, ordered, jobs=jobs or os.cpu_count() or 1)
    except Exception as exc:  # noqa: BLE001 - the gradebook and the feedback are written; say what is missing
        log(f"the answer pages could not be written ({_grader_error(exc)})")
    extras.write_sheet(ordered)
    if interrupted:
        raise KeyboardInterrupt
    if broken is not None:
        raise GradingError(broken_mid_class(broken[0], broken[1], len([s for s in todo if s in results]), len(todo)))
    graded = sorted(set(todo) | set(failed))
    return GradeReport(out_dir, ordered, graded, sorted(set(submissions) - set(graded)),
                       possible, grader.sandboxed)


def _grader_error(exc: BaseException) -> str:
    return f"grader error ({type(exc).__name__}: {str(exc)[:300]}); please report it"


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
    p.add_argument("--late", type=Path, default=None, metavar="LATE.toml",
                   help="the due date, extensions and penalty rule (replacing the rubric's [late]); see the README")
    p.add_argument("--submission-times", type=Path, default=None, metavar="FILE",
                   help="when each submission came in: Canvas's submissions JSON, Moodle's grading worksheet, or a "
                        "CSV student,submitted_at (default: the files' modification times)")
    p.set_defaults(func=cmd_grade)


def cmd_grade(args: argparse.Namespace) -> int:
    try:
        report = grade(args.submissions, args.out, force=args.force, jobs=args.jobs, rubric=args.rubric,
                       data_dir=args.data_dir, submission_timeout=args.timeout, memory_mb=args.memory,
                       sandbox=not args.no_sandbox, roster=args.roster, missing=args.missing,
                       assignment=args.assignment, lms_feedback=args.lms_feedback, late=args.late,
                       submission_times=args.submission_times, log=lambda line: print(line, flush=True))
    except GradingError as exc:
        # its lines kept (a message may list ways out), each line's control characters shown as escapes
        text = "\n".join(terminal_text(line) for line in str(exc).splitlines())
        print(f"python -m mlp_core grade: error: {text}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("python -m mlp_core grade: stopped; finished submissions are kept, run it again to resume",
              file=sys.stderr)
        return 130
    print(report.summary())
    return 1 if report.lms is not None and report.lms.not_in_roster else 0
