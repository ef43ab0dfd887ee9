"""The autograder: grade a class's submissions of the kit from the command line.

    python -m mlp_core grade SUBMISSIONS_DIR --out GRADEBOOK_DIR [--force] [--jobs N] [--no-sandbox]

SUBMISSIONS_DIR holds one folder or ``.zip`` per student, each a filled-in
copy of the released kit (the student's id is the folder or zip name).

How one submission is graded: the judge outside, the code inside
-----------------------------------------------------------------------
1. The submission is read as data (:mod:`mlp_instructor.submissions`): its
   ``mlp_core/**/*.py`` and ``notebooks/*.ipynb`` regular files are copied
   into a private folder; no symbolic link is followed, skipped entries are
   listed in the feedback, and a kit whose ``mlp_core`` is a link is refused.
2. A sandbox (:mod:`mlp_instructor.sandbox`: Bubblewrap, own PID, network,
   IPC and mount namespaces, unprivileged, limits on memory, processes, CPU,
   disk and wall time for the whole submission) runs the fixed worker
   (:mod:`mlp_instructor.worker`) on that copy. It only computes: for each
   hidden check (:mod:`mlp_instructor.hidden_checks`) the judge, this process, sends
   an operation and its inputs, and gets the outputs back.
3. The judge runs the same operation on the instructor's solution and makes
   the verdict itself. Expected values, the checks, the rubric and the
   solution never enter the sandbox: whatever the submission does to its own
   interpreter, at worst its outputs are wrong and it loses those points.
   A check that times out, crashes or gets a malformed reply fails with the
   reason; a new sandbox is started for the checks left.

Outputs in GRADEBOOK_DIR, written as each submission is graded (atomically):
``gradebook.csv`` (one row per student, one column per rubric item, the
total, a status and the feedback file), ``feedback/<name>.md`` and ``.html``
(every check, passed or failed with the reason; ``<name>`` is a safe,
unique form of the student id), ``answers/<notebook>-Q<k>.md`` and ``.html``
(the question, the model answer, every student's answer) and
``.grading-state.json`` (what was graded, by content hash: a rerun, also
after Ctrl-C, grades only new or changed submissions; ``--force`` regrades
all; a change of the rubric, the checks, the grader or the limits regrades
everything).
"""

from __future__ import annotations

import argparse
import csv
import fnmatch
import hashlib
import io
import json
import os
import re
import shutil
import signal
import sys
import tempfile
import threading
import time
import tomllib
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from mlp_core.atomic import atomic_write_text
from mlp_core.data import DataError, load_dataset
from mlp_lab.argtypes import positive_int

from .feedback import Block, Heading, Items, Para, Table, Verbatim, csv_cell, file_stem, to_html, to_markdown
from .hidden_checks import Check, build_checks, reference_outputs, self_test, split_secrets, verdict
from .release import ANSWER_TAG, ANSWER_TEXT, SOLUTION_TAG, cell_tags, read_notebook, repo_root
from .sandbox import Cgroup, Limits, Sandbox, SandboxError, WorkerFailure, bwrap_path, check_bwrap, kill_all_sandboxes
from .submissions import (Submission, SubmissionError, content_hash, discover_submissions, find_kits, printable,
                          take_kit, unpack_zip)

STATE_FILE = ".grading-state.json"
#: The fixed MNIST subset of the end-to-end check: sizes and the seed that picks it.
SUBSET_TRAIN, SUBSET_TEST, SUBSET_SEED = 5000, 1000, 20261127
UNPROTECTED = ("NOT PROTECTED: graded with --no-sandbox; the submissions' code ran with the instructor's "
               "rights and could have changed any grade")


class GradingError(ValueError):
    """The class cannot be graded (bad rubric, no data, no sandbox); the message says why."""


class Interrupted(Exception):
    """Grading was stopped (Ctrl-C or SIGTERM) before this submission was finished."""


# ----------------------------------------------------------------------------
# The rubric
# ----------------------------------------------------------------------------


@dataclass(frozen=True)
class RubricItem:
    """One graded component: ``points`` shared by the checks whose names match ``checks``."""

    id: str
    title: str
    points: float
    checks: tuple[str, ...]
    notebook: str = ""
    timeout: float | None = None

    def matches(self, check_name: str) -> bool:
        return any(fnmatch.fnmatchcase(check_name, pattern) for pattern in self.checks)


@dataclass(frozen=True)
class Rubric:
    """The items, how partial credit is given, and the limits of a grading run."""

    items: tuple[RubricItem, ...]
    credit: str = "proportional"
    default_timeout: float = 10.0
    submission_timeout: float = 300.0
    memory_mb: int = 3072
    processes: int = 32
    disk_mb: int = 64

    @property
    def max_points(self) -> float:
        return round(sum(item.points for item in self.items), 2)

    def item_of(self, check_name: str) -> RubricItem:
        return next(item for item in self.items if item.matches(check_name))

    def timeout_of(self, check: Check) -> float:
        return check.timeout or self.item_of(check.name).timeout or self.default_timeout

    def check_covers(self, names: list[str]) -> None:
        """Every check in exactly one item, every item with at least one check."""
        for name in names:
            owners = [item.id for item in self.items if item.matches(name)]
            if len(owners) != 1:
                raise GradingError(
                    f"check {name} belongs to {len(owners)} rubric items {owners}; "
                    "every check must belong to exactly one (edit the checks patterns in the rubric)"
                )
        for item in self.items:
            if not any(item.matches(n) for n in names):
                raise GradingError(f"rubric item {item.id!r} matches no check (patterns {list(item.checks)})")

    def score(self, item: RubricItem, passed: int, total: int) -> float:
        if total == 0:
            return 0.0
        if self.credit == "all_or_nothing":
            return float(item.points) if passed == total else 0.0
        return round(item.points * passed / total, 2)


def load_rubric(path: str | Path) -> Rubric:
    """Read and check a rubric TOML file (see mlp_instructor/rubric.toml)."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise GradingError(f"rubric {path} does not exist; give --rubric PATH") from None
    except tomllib.TOMLDecodeError as exc:
        raise GradingError(f"rubric {path} is not valid TOML: {exc}") from None
    settings = data.get("grading", {})
    credit = settings.get("credit", "proportional")
    if credit not in ("proportional", "all_or_nothing"):
        raise GradingError(f"rubric {path}: credit must be 'proportional' or 'all_or_nothing', got {credit!r}")
    items, seen = [], set()
    for number, raw in enumerate(data.get("item", []), 1):
        missing = {"id", "title", "points", "checks"} - set(raw)
        if missing:
            raise GradingError(f"rubric {path}: item {number} lacks {sorted(missing)}")
        if raw["id"] in seen or not re.fullmatch(r"[a-z0-9_]+", raw["id"]):
            raise GradingError(f"rubric {path}: item id {raw['id']!r} is repeated or not lower_case_with_underscores")
        seen.add(raw["id"])
        if not (isinstance(raw["points"], (int, float)) and raw["points"] > 0):
            raise GradingError(f"rubric {path}: item {raw['id']!r} needs points > 0, got {raw['points']!r}")
        patterns = raw["checks"] if isinstance(raw["checks"], list) else [raw["checks"]]
        items.append(RubricItem(raw["id"], raw["title"], float(raw["points"]), tuple(patterns),
                                str(raw.get("notebook", "")), raw.get("timeout")))
    if not items:
        raise GradingError(f"rubric {path} has no [[item]] entries")
    rubric = Rubric(
        tuple(items), credit,
        float(settings.get("default_timeout", 10)),
        float(settings.get("submission_timeout", 300)),
        int(settings.get("memory_mb", 3072)),
        int(settings.get("processes", 32)),
        int(settings.get("disk_mb", 64)),
    )
    longest = max(item.timeout or rubric.default_timeout for item in items)
    if longest >= rubric.submission_timeout:
        raise GradingError(f"rubric {path}: a check's time limit ({longest:g} s) must be shorter than "
                           f"submission_timeout ({rubric.submission_timeout:g} s)")
    return rubric


# ----------------------------------------------------------------------------
# Results
# ----------------------------------------------------------------------------


@dataclass
class CheckResult:
    check: str  # the check's name, e.g. "linear.backward"
    passed: bool
    message: str = ""


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
        return file_stem(self.student)

    @classmethod
    def from_dict(cls, d: dict) -> "SubmissionResult":
        d = dict(d)
        d["checks"] = [CheckResult(**c) for c in d.get("checks", [])]
        return cls(**d)


# ----------------------------------------------------------------------------
# The grader
# ----------------------------------------------------------------------------


def judged(check: Check, sent, header: dict, outputs: dict, expected: dict, secrets: dict) -> str:
    """The verdict, also for replies no check foresaw (odd dtypes, shapes): never an exception."""
    try:
        return verdict(check, sent, header, outputs, expected, secrets)
    except Exception as exc:  # noqa: BLE001 - whatever came back, it is this check that fails
        return f"the output could not be compared ({type(exc).__name__}): check its type, dtype and shape"


class Grader:
    """Grades submissions against one rubric and the hidden checks, each in a sandbox.

    Args:
        rubric: a rubric file (default ``mlp_instructor/rubric.toml``).
        data_dir: the MNIST folder for the end-to-end check (default: as
            ``mlp_core.data`` finds it, e.g. ``$MNIST_DIR``).
        submission_timeout, memory_mb: override the rubric's limits.
        sandbox: False runs the code without a sandbox (``--no-sandbox``):
            grades are then not protected, and every result says so.
        source_dir: the instructor's repository (the notebooks' questions).
    """

    def __init__(self, *, rubric: Path | None = None, data_dir: Path | None = None,
                 submission_timeout: float | None = None, memory_mb: int | None = None,
                 sandbox: bool = True, source_dir: Path | None = None):
        self.source_dir = Path(source_dir) if source_dir else repo_root()
        self.rubric_path = Path(rubric) if rubric else Path(__file__).resolve().parent / "rubric.toml"
        self.rubric = load_rubric(self.rubric_path)
        self.timeout = float(submission_timeout or self.rubric.submission_timeout)
        self.limits = Limits(memory_mb=memory_mb or self.rubric.memory_mb, processes=self.rubric.processes,
                             disk_mb=self.rubric.disk_mb, cpu_seconds=self.timeout)
        self.sandboxed = sandbox
        self.bwrap = bwrap_path() if sandbox else None
        if sandbox:
            if self.bwrap is None:
                raise GradingError(
                    "bwrap (Bubblewrap) is not installed, and grading runs every submission in its sandbox. "
                    "Install it (Debian/Ubuntu: apt-get install bubblewrap), or pass --no-sandbox to grade "
                    "WITHOUT protection (only for code you trust: any submission could then change any grade)"
                )
            try:
                check_bwrap(self.bwrap)
            except SandboxError as exc:
                raise GradingError(str(exc)) from None
        self.cgroups = Cgroup.available() if sandbox else None
        self.data = self._prepare_data(data_dir)
        self.checks = build_checks(self.data)
        self.rubric.check_covers([c.name for c in self.checks])
        problems = self_test(self.checks)
        if problems:
            raise GradingError("the hidden checks are unsound: " + "; ".join(problems))
        self.fingerprint = self._fingerprint()
        self.questions = questions_of(self.source_dir / "notebooks")
        self.kit_modules = sorted(p.name for p in (self.source_dir / "mlp_core").glob("*.py"))
        self.workspace = Path(tempfile.mkdtemp(prefix="mlp-grading-"))
        self.stopping = threading.Event()
        self._slots = list(range(64))
        self._slots_lock = threading.Lock()

    def close(self) -> None:
        self.stopping.set()
        kill_all_sandboxes()
        if self.cgroups:
            Cgroup.remove_parents()
        shutil.rmtree(self.workspace, ignore_errors=True)

    def __enter__(self) -> "Grader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- set-up ---------------------------------------------------------------

    def _fingerprint(self) -> str:
        digest = hashlib.sha256()
        here = Path(__file__).resolve().parent
        for path in [self.rubric_path, *(here / name for name in
                                         ("grading.py", "hidden_checks.py", "worker.py", "sandbox.py", "submissions.py"))]:
            digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
        digest.update(f"{self.timeout}/{self.limits}/{SUBSET_TRAIN}/{SUBSET_TEST}/{SUBSET_SEED}/"
                      f"{self.sandboxed}".encode())
        return digest.hexdigest()

    @staticmethod
    def _prepare_data(data_dir: Path | None) -> dict:
        """The fixed MNIST subset of the end-to-end check (the test labels stay with the judge)."""
        try:
            train, test = load_dataset("mnist", data_dir, scaling="course", download=False)
        except DataError as exc:
            raise GradingError(f"the end-to-end check needs MNIST: {exc}") from None
        rng = np.random.default_rng(SUBSET_SEED)
        i = np.sort(rng.choice(len(train.labels), SUBSET_TRAIN, replace=False))
        j = np.sort(rng.choice(len(test.labels), SUBSET_TEST, replace=False))
        return {"train_x": train.images[i], "train_y": train.labels[i].astype(np.int64),
                "test_x": test.images[j], "test_y": test.labels[j].astype(np.int64)}

    # -- one submission -------------------------------------------------------

    def grade(self, student: str, path: Path, digest: str | None = None, problem: str = "") -> SubmissionResult:
        """Grade one submission (a folder or a zip). Raises Interrupted when grading is being stopped."""
        start = time.monotonic()
        result = SubmissionResult(student, digest or content_hash(path), sandboxed=self.sandboxed)
        if not self.sandboxed:
            result.notes.append(UNPROTECTED)
        base = Path(tempfile.mkdtemp(prefix="run-", dir=self.workspace))
        try:
            if problem:
                self._not_run(result, problem)
            else:
                self._grade_into(result, path, base)
        finally:
            shutil.rmtree(base, ignore_errors=True)
        if self.stopping.is_set():
            raise Interrupted(student)
        self._score(result)
        result.seconds = round(time.monotonic() - start, 2)
        return result

    def _grade_into(self, result: SubmissionResult, path: Path, base: Path) -> None:
        if path.is_file():
            unpacked = base / "unpacked"
            unpacked.mkdir()
            try:
                skipped = unpack_zip(path, unpacked)
            except SubmissionError as exc:
                return self._not_run(result, f"{printable(path.name)}: {exc}")
            if skipped:
                result.notes.append(f"left out of the zip ({len(skipped)}): " + "; ".join(skipped[:20])
                                    + (" ..." if len(skipped) > 20 else ""))
            path = unpacked
        kits = find_kits(path)
        if not kits:
            return self._not_run(result, "no mlp_core package (mlp_core/__init__.py) in the submission")
        if len(kits) > 1:
            where = ", ".join(printable(k.relative_to(path).as_posix()) + "/" for k in kits[:5])
            return self._not_run(result, f"the submission holds {len(kits)} copies of the kit ({where}): send one")
        root = kits[0]
        if root != path:
            result.notes.append(f"graded the kit in the folder {printable(root.relative_to(path).as_posix())}/")
        copy = base / "copy"
        try:
            report = take_kit(root, copy)
        except SubmissionError as exc:
            return self._not_run(result, str(exc))
        if report.skipped:
            result.notes.append(f"left out (never followed or copied) ({len(report.skipped)}): "
                                + "; ".join(report.skipped[:20]))
        missing = [m for m in self.kit_modules if not (copy / "mlp_core" / m).is_file()]
        if missing:
            result.notes.append("missing from mlp_core (the released kit has them): " + ", ".join(missing))
        result.answers, notes = collect_answers(copy / "notebooks")
        result.notes.extend(notes)
        if not (copy / "mlp_core" / "__init__.py").is_file():
            return self._not_run(result, "mlp_core/__init__.py is not a regular file of the submission")
        self._run_checks(result, copy)

    def _take_slot(self) -> int:
        with self._slots_lock:
            return self._slots.pop(0)

    def _give_slot(self, slot: int) -> None:
        with self._slots_lock:
            self._slots.append(slot)

    def _run_checks(self, result: SubmissionResult, copy: Path) -> None:
        """Every check, in sandboxes on ``copy`` (a new one after a failure that ends the worker)."""
        seed = int(hashlib.sha256(f"{self.fingerprint}/{result.hash}".encode()).hexdigest()[:16], 16)
        if (copy / "notebooks").exists():
            shutil.rmtree(copy / "notebooks")  # only the code enters the sandbox
        deadline = time.monotonic() + self.timeout
        slot = self._take_slot()
        cgroup = Cgroup.create(f"{os.getpid()}-{slot}-{time.monotonic_ns()}", self.limits) if self.cgroups else None
        if self.cgroups and cgroup is None:
            result.notes.append("cgroups could not be set up for this submission: limits per process only")
        box: Sandbox | None = None
        import_failure = ""
        outcomes: list[CheckResult] = []
        try:
            for index, check in enumerate(self.checks):
                if self.stopping.is_set():
                    return
                left = deadline - time.monotonic()
                if import_failure or left <= 0:
                    reason = import_failure or f"not run: the submission's time limit of {self.timeout:g} s ran out"
                    outcomes.append(CheckResult(check.name, False, reason))
                    continue
                if box is None:
                    box = Sandbox(copy, slot=slot, limits=self.limits, cgroup=cgroup, sandboxed=self.sandboxed,
                                  bwrap=self.bwrap)
                    try:
                        hello = box.hello(min(left, self.rubric.default_timeout), self.timeout)
                    except WorkerFailure as exc:
                        hello = {"ok": False, "error": f"the sandbox did not start ({exc.reason})"}
                    if not hello.get("ok"):
                        where = str(hello.get("where") or "")[:200]
                        import_failure = (f"mlp_core does not import: {str(hello.get('error', ''))[:400]}"
                                          + (f" [{where}]" if where else ""))
                        box.close()
                        box = None
                        outcomes.append(CheckResult(check.name, False, import_failure))
                        continue
                    left = deadline - time.monotonic()
                request = check.build(np.random.default_rng([seed, index]))
                sent, secrets = split_secrets(check, request)
                expected, _ = reference_outputs(check, request)
                limit = min(self.rubric.timeout_of(check), left)
                try:
                    header, outputs = box.call(check.op, *sent, timeout=limit, cpu_budget=self.timeout)
                    message = judged(check, sent, header, outputs, expected, secrets)
                except WorkerFailure as exc:
                    message = exc.reason
                    if exc.reason.startswith("timed out"):
                        message = f"timed out: no answer within {limit:g} s (an infinite loop, or far too slow)"
                    if exc.fatal:
                        box.close()
                        box = None
                outcomes.append(CheckResult(check.name, not message, message))
        finally:
            if box is not None:
                box.close()
            if cgroup is not None:
                cgroup.remove()
            self._give_slot(slot)
        result.checks = outcomes

    def _not_run(self, result: SubmissionResult, reason: str) -> None:
        result.status = reason
        result.checks = [CheckResult(c.name, False, f"not run: {reason}") for c in self.checks]

    def _score(self, result: SubmissionResult) -> None:
        by_item: dict[str, list[CheckResult]] = {item.id: [] for item in self.rubric.items}
        for outcome in result.checks:
            by_item[self.rubric.item_of(outcome.check).id].append(outcome)
        result.scores = {
            item.id: self.rubric.score(item, sum(c.passed for c in by_item[item.id]), len(by_item[item.id]))
            for item in self.rubric.items
        }
        result.total = round(sum(result.scores.values()), 2)

    def describe(self, check_name: str) -> str:
        return next((c.what for c in self.checks if c.name == check_name), check_name)


# ----------------------------------------------------------------------------
# Written answers
# ----------------------------------------------------------------------------

@dataclass
class Question:
    key: str  # "<notebook stem>/Q<k>"
    notebook: str
    text: str
    model_answer: str


def questions_of(notebooks: Path) -> dict[str, Question]:
    """The written questions of the instructor's notebooks, keyed as the release keys answer cells.

    The k-th cell tagged ``solution`` of ``NB.ipynb`` answers question ``NB/Qk``;
    its text is the Markdown cell just before it.
    """
    questions: dict[str, Question] = {}
    for path in sorted(notebooks.glob("*.ipynb")):
        nb = read_notebook(path)
        k, previous = 0, ""
        for cell in nb["cells"]:
            if SOLUTION_TAG in cell_tags(cell):
                k += 1
                key = f"{path.stem}/Q{k}"
                questions[key] = Question(key, path.name, previous, cell["source"])
            elif cell["cell_type"] == "markdown":
                previous = cell["source"]
    return questions


def collect_answers(notebooks: Path) -> tuple[dict[str, str], list[str]]:
    """A student's written answers (question key -> text) and notes on unreadable notebooks."""
    answers, notes = {}, []
    if not notebooks.is_dir():
        return answers, ["no notebooks/ folder: no written answers"]
    for path in sorted(notebooks.glob("*.ipynb")):
        try:
            nb = read_notebook(path)
        except Exception as exc:  # noqa: BLE001 - any broken file is the student's, reported
            notes.append(f"notebooks/{path.name} cannot be read ({type(exc).__name__}): its answers are missing")
            continue
        for cell in nb["cells"]:
            metadata = cell.get("metadata", {}) if isinstance(cell, dict) else {}
            course = metadata.get("mlp_course") if isinstance(metadata, dict) else None
            key = course.get("question") if isinstance(course, dict) else None
            if isinstance(key, str) and ANSWER_TAG in cell_tags(cell):
                text = str(cell.get("source", "")).strip()
                answers[key] = "" if text == ANSWER_TEXT else text
    return answers, notes


# ----------------------------------------------------------------------------
# The gradebook, feedback and answer pages
# ----------------------------------------------------------------------------


def write_gradebook(path: Path, rubric: Rubric, results: list[SubmissionResult]) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["student", *(item.id for item in rubric.items), "total", "status", "feedback"])
    for r in results:
        status = r.status if r.sandboxed else f"{r.status}; {UNPROTECTED}"
        writer.writerow([csv_cell(r.student), *(_num(r.scores.get(item.id, 0.0)) for item in rubric.items),
                         _num(r.total), csv_cell(status), f"feedback/{r.feedback_name}.html"])
    atomic_write_text(path, buffer.getvalue())


def _num(value: float) -> str:
    return f"{value:g}" if value == round(value, 2) else f"{value:.2f}"


def failure_summary(result: SubmissionResult) -> list[tuple[str, int]]:
    """Distinct reasons checks failed (without the code location), most frequent first."""
    counts: dict[str, int] = {}
    for outcome in result.checks:
        if not outcome.passed:
            reason = re.sub(r" \[mlp_core/[^\]]*\]$", "", outcome.message)
            counts[reason] = counts.get(reason, 0) + 1
    return sorted(counts.items(), key=lambda kv: -kv[1])


def feedback_blocks(result: SubmissionResult, grader: "Grader") -> list[Block]:
    """A student's feedback: scores per item, notes, then every check with the reason it failed."""
    rubric = grader.rubric
    blocks: list[Block] = [Heading(1, f"Feedback for {result.student}"),
                           Para(f"Total: {_num(result.total)} / {_num(rubric.max_points)}", strong=True)]
    if not result.sandboxed:
        blocks.append(Para(UNPROTECTED, strong=True))
    if result.status != "graded":
        blocks.append(Para(f"Not graded: {result.status}.", strong=True))
    by_item = {item.id: [c for c in result.checks if item.matches(c.check)] for item in rubric.items}
    blocks.append(Table(("Item", "Points", "Checks passed"), tuple(
        (item.title, f"{_num(result.scores.get(item.id, 0))} / {_num(item.points)}",
         f"{sum(c.passed for c in by_item[item.id])} / {len(by_item[item.id])}") for item in rubric.items)))
    if result.notes:
        blocks += [Heading(2, "Notes"), Items(tuple(("", note) for note in result.notes))]
    problems = failure_summary(result)
    if problems:
        blocks += [Heading(2, "What went wrong"), Items(tuple(("", f"{n} check(s): {m}") for m, n in problems))]
    blocks.append(Heading(2, "Checks"))
    for item in rubric.items:
        where = f" (notebook {item.notebook})" if item.notebook else ""
        blocks.append(Heading(3, f"{item.title}{where}: {_num(result.scores.get(item.id, 0))} / {_num(item.points)}"))
        blocks.append(Items(tuple(
            ("PASS", grader.describe(c.check)) if c.passed else ("FAIL", f"{grader.describe(c.check)}: {c.message}")
            for c in by_item[item.id])))
    return blocks


def answer_blocks(question: Question, results: list[SubmissionResult]) -> list[Block]:
    """One question: the question, the model answer, then every student's answer verbatim."""
    answers = [(r.student, r.answers.get(question.key)) for r in results]
    blocks: list[Block] = [Heading(1, question.key), Para(f"From notebooks/{question.notebook}."),
                           Heading(2, "Question"), Verbatim(question.text.strip()),
                           Heading(2, "Model answer"), Verbatim(question.model_answer.strip()),
                           Heading(2, f"Answers ({sum(bool(a) for _, a in answers)} of {len(answers)} students answered)")]
    for student, text in answers:
        blocks.append(Heading(3, student))
        if text is None:
            blocks.append(Para("(no answer cell found)"))
        elif not text:
            blocks.append(Para("(left blank)"))
        else:
            blocks.append(Verbatim(text))
    return blocks


def write_feedback(out_dir: Path, grader: "Grader", result: SubmissionResult) -> None:
    blocks = feedback_blocks(result, grader)
    stem = result.feedback_name
    atomic_write_text(out_dir / "feedback" / f"{stem}.md", to_markdown(blocks))
    atomic_write_text(out_dir / "feedback" / f"{stem}.html", to_html(blocks, f"Feedback for {result.student}"))


def write_answer_pages(out_dir: Path, grader: "Grader", results: list[SubmissionResult]) -> None:
    for question in grader.questions.values():
        blocks = answer_blocks(question, results)
        stem = re.sub(r"[^A-Za-z0-9._-]", "_", question.key.replace("/", "-"))
        atomic_write_text(out_dir / "answers" / f"{stem}.md", to_markdown(blocks))
        atomic_write_text(out_dir / "answers" / f"{stem}.html", to_html(blocks, question.key))


# ----------------------------------------------------------------------------
# Grading a class
# ----------------------------------------------------------------------------


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

    def summary(self) -> str:
        mean = sum(r.total for r in self.results) / len(self.results) if self.results else 0.0
        lines = [] if self.sandboxed else [f"WARNING: {UNPROTECTED}"]
        lines.append(f"graded {len(self.graded)} submission(s), {len(self.unchanged)} unchanged "
                     f"(--force regrades them); class mean {mean:.2f} / {_num(self.max_points)}")
        for r in self.results:
            flag = "" if r.status == "graded" else f"  ({r.status})"
            lines.append(f"  {printable(r.student):<24} {_num(r.total):>7}{flag}")
        lines.append(f"gradebook: {self.out_dir / 'gradebook.csv'}; feedback: {self.out_dir / 'feedback'}; "
                     f"written answers: {self.out_dir / 'answers'}")
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
    log: Callable[[str], None] = print,
) -> GradeReport:
    """Grade every submission in ``submissions_dir``; write the gradebook, feedback and answer pages.

    Each result is written (state, gradebook row, feedback) as soon as it is
    graded, atomically. Ctrl-C or SIGTERM stops every sandbox, keeps what was
    finished and re-raises KeyboardInterrupt; a rerun resumes. Submissions
    whose content hash matches the last run (same grader, rubric, checks and
    limits) keep their result unless ``force``.
    """
    submissions_dir, out_dir = Path(submissions_dir), Path(out_dir)
    if not submissions_dir.is_dir():
        raise GradingError(f"submissions folder {submissions_dir} does not exist")
    submissions = discover_submissions(submissions_dir)
    if not submissions:
        raise GradingError(f"no submissions (folders or .zip files) in {submissions_dir}")
    out_dir.mkdir(parents=True, exist_ok=True)
    if out_dir.resolve() == submissions_dir.resolve() or submissions_dir.resolve() in out_dir.resolve().parents:
        raise GradingError("--out must not be inside the submissions folder (it would be graded as a submission)")
    state_path = out_dir / STATE_FILE
    try:
        state = json.loads(state_path.read_text()) if state_path.is_file() else {}
    except ValueError:
        log(f"{state_path} is damaged: regrading everyone")
        state = {}
    previous_handler = None
    if threading.current_thread() is threading.main_thread():
        previous_handler = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        with Grader(rubric=Path(rubric) if rubric else None, data_dir=Path(data_dir) if data_dir else None,
                    submission_timeout=submission_timeout, memory_mb=memory_mb, sandbox=sandbox,
                    source_dir=Path(source_dir) if source_dir else None) as grader:
            if not sandbox:
                log(f"WARNING: {UNPROTECTED}")
            elif grader.cgroups is None:
                log("note: cgroups cannot be written here (not root, or read-only): memory and CPU time are "
                    "limited per process, processes per sandbox user (see the README's grading section)")
            return _grade_all(grader, submissions, out_dir, state, force, jobs, log)
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
    state_path = out_dir / STATE_FILE
    previous = state.get("results", {}) if state.get("grader") == grader.fingerprint else {}
    if state and not previous:
        log("the rubric, checks, grader or limits changed since the last run: regrading everyone")
    hashes = {s: _submission_hash(sub) for s, sub in submissions.items()}
    todo = [s for s in submissions if force or previous.get(s, {}).get("hash") != hashes[s]]
    results = {s: SubmissionResult.from_dict(previous[s]) for s in submissions if s not in todo}
    lock = threading.Lock()

    def save(result: SubmissionResult | None) -> None:
        with lock:
            if result is not None:
                results[result.student] = result
                write_feedback(out_dir, grader, result)
            ordered = [results[s] for s in sorted(results)]
            atomic_write_text(state_path, json.dumps(
                {"grader": grader.fingerprint, "results": {r.student: asdict(r) for r in ordered}}, indent=1))
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
                    result = SubmissionResult(student, hashes[student], sandboxed=grader.sandboxed,
                                              status=f"grader error ({type(exc).__name__}: {exc}); please report it")
                    grader._not_run(result, result.status)
                    grader._score(result)
                save(result)
                log(f"  {printable(result.student)}: {_num(result.total)} / {_num(grader.rubric.max_points)} "
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
    write_answer_pages(out_dir, grader, ordered)
    if interrupted:
        raise KeyboardInterrupt
    return GradeReport(out_dir, ordered, sorted(todo), sorted(set(submissions) - set(todo)),
                       grader.rubric.max_points, grader.sandboxed)


# ----------------------------------------------------------------------------
# Command line
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
    p.set_defaults(func=cmd_grade)


def cmd_grade(args: argparse.Namespace) -> int:
    try:
        report = grade(args.submissions, args.out, force=args.force, jobs=args.jobs, rubric=args.rubric,
                       data_dir=args.data_dir, submission_timeout=args.timeout, memory_mb=args.memory,
                       sandbox=not args.no_sandbox, log=lambda line: print(line, flush=True))
    except GradingError as exc:
        print(f"python -m mlp_core grade: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("python -m mlp_core grade: stopped; finished submissions are kept, run it again to resume",
              file=sys.stderr)
        return 130
    print(report.summary())
    return 0
