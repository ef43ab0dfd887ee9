"""The judge: grades one submission at a time against the rubric and the hidden checks.

A :class:`Grader` is set up once per grading run: it reads the rubric, makes
sure the sandbox works (or that ``--no-sandbox`` was asked for), loads the
end-to-end check's MNIST subset, builds the checks (``mlp_core``'s, and the
notebook exercises', their solutions taken out of the instructor's notebooks)
and refuses to start if they are unsound (:func:`~mlp_instructor.hidden_checks.verdicts.self_test`)
or the rubric does not cover each exactly once. Then :meth:`Grader.grade`
takes one submission: unpack it as data, copy out its code, take each
notebook exercise's function out of its notebooks (:mod:`.notebook_code`,
read with ``ast``, never run here), run every check in a sandbox on that
copy (a new sandbox after any failure that ends the worker; a notebook
function goes in as source), judge each reply against the solution's
outputs, and score.

The inputs of each check are drawn from a seed that mixes the grader's
fingerprint and the submission's content hash: every student meets other
numbers, and a regrade of an unchanged submission meets the same.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from mlp_core.data import DataError
from mlp_instructor import repo_root
from mlp_instructor.hidden_checks.catalogue import build_checks
from mlp_instructor.hidden_checks.end_to_end import SUBSET_SEED, SUBSET_TEST, SUBSET_TRAIN, TRAINING, load_subset
from mlp_instructor.hidden_checks.exercises import EXERCISES, build_exercise_checks, student_request
from mlp_instructor.hidden_checks.verdicts import reference_outputs, self_test, split_secrets, verdict
from mlp_instructor.notebooks import collect_answers, questions_of
from mlp_instructor.sandbox.bwrap import SandboxError, bwrap_path, check_bwrap
from mlp_instructor.sandbox.limits import Cgroup, Limits, describe, wall_backstop
from mlp_instructor.sandbox.process import Sandbox, SandboxBroken, WorkerFailure, kill_all_sandboxes
from mlp_instructor.sandbox.uid import allocate_base
from mlp_instructor.worker import WITHOUT_MLP_CORE

from . import GradingError
from .results import UNPROTECTED, CheckResult, SubmissionResult
from .rubric import DEFAULT_RUBRIC, load_rubric
from .notebook_code import ExtractionError, NotebookCode
from .submissions import SubmissionError, content_hash, find_kits, printable, remove_tree, take_kit, unpack_zip

#: The instructor's code a result depends on (relative to mlp_instructor/; a folder: its modules).
JUDGING_CODE: tuple[str, ...] = ("grading", "hidden_checks", "sandbox", "worker", "notebooks.py")


class Interrupted(Exception):
    """Grading was stopped (Ctrl-C or SIGTERM) before this submission was finished."""


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
        backend: isolate the code some other way than bwrap (hook: an
            :class:`~mlp_instructor.sandbox.uid.UidSandboxes`, which Gradescope's
            ``run_autograder`` uses where bwrap cannot run); None: bwrap.
    """

    def __init__(self, *, rubric: Path | None = None, data_dir: Path | None = None,
                 submission_timeout: float | None = None, memory_mb: int | None = None,
                 sandbox: bool = True, source_dir: Path | None = None, backend=None):
        self.source_dir = Path(source_dir) if source_dir else repo_root()
        self.rubric_path = Path(rubric) if rubric else DEFAULT_RUBRIC
        self.rubric = load_rubric(self.rubric_path)
        self.timeout = float(submission_timeout or self.rubric.submission_timeout)
        self.limits = Limits(memory_mb=memory_mb or self.rubric.memory_mb, processes=self.rubric.processes,
                             disk_mb=self.rubric.disk_mb, cpu_seconds=self.timeout)
        self.sandboxed = sandbox
        self.backend = backend if sandbox else None
        self.bwrap = bwrap_path() if sandbox and self.backend is None else None
        if sandbox and self.backend is None:
            if self.bwrap is None:
                raise GradingError(
                    "bwrap (Bubblewrap) is not installed, and grading runs every submission in its sandbox "
                    "(Linux only). Ways out: install it (Debian/Ubuntu: apt-get install bubblewrap); on macOS "
                    "or Windows, grade in a Linux VM or container that has bwrap; grade on Gradescope instead "
                    "(python -m mlp_core gradescope autograder.zip writes its autograder); or pass --no-sandbox "
                    "to grade WITHOUT protection, only code you trust (any submission could then change any grade)"
                )
            try:
                check_bwrap(self.bwrap)
            except SandboxError as exc:
                raise GradingError(str(exc)) from None
        self.cgroups = Cgroup.available() if sandbox else None
        #: What this run enforces (``grade`` prints it).
        self.enforced = describe(self.cgroups, sandbox, os.geteuid() == 0, bwrap=self.backend is None)
        self._uids: tuple[int, int] | None = None  # (first uid, lock): root's bwrap sandboxes, unique per run
        try:
            self.data = load_subset(data_dir)
        except DataError as exc:
            raise GradingError(f"the end-to-end check needs MNIST: {exc}") from None
        try:
            exercise_checks = build_exercise_checks(self.source_dir / "notebooks")
        except (ValueError, OSError) as exc:
            raise GradingError(f"the notebook exercises cannot be graded: {exc}") from None
        self.checks = build_checks(self.data) + exercise_checks
        #: check name -> the notebook exercise it runs (the student's source is extracted per submission)
        self.exercises = {f"{e.item}.values": e for e in EXERCISES}
        self.descriptions = {c.name: c.what for c in self.checks}
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
        if sandbox and self.backend is None and os.geteuid() == 0:
            try:
                self._uids = allocate_base("bwrap")
            except SandboxError as exc:
                raise GradingError(str(exc)) from None

    def close(self) -> None:
        self.stopping.set()
        kill_all_sandboxes()
        if self.cgroups:
            Cgroup.remove_parents()
        if self._uids is not None:
            os.close(self._uids[1])  # frees this run's block of sandbox uids
            self._uids = None
        remove_tree(self.workspace)

    def __enter__(self) -> "Grader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- set-up ---------------------------------------------------------------

    def _fingerprint(self) -> str:
        """A hash of everything a result depends on besides the submission: a rerun keeps results only if it matches.

        The rubric, the code of the judge, the checks, the sandbox and the
        worker (every module of :data:`JUDGING_CODE`), the notebook exercises'
        solutions (as taken out of the instructor's notebooks), the end-to-end check's
        data and settings, the limits, and whether the code was sandboxed.
        """
        digest = hashlib.sha256()
        package = Path(__file__).resolve().parents[1]
        files = sorted(p for entry in JUDGING_CODE for p in
                       ([package / entry] if entry.endswith(".py") else (package / entry).glob("*.py")))
        for path in [self.rubric_path, *files]:
            name = path.relative_to(package).as_posix() if path.is_relative_to(package) else path.name
            digest.update(name.encode() + b"\0" + path.read_bytes() + b"\0")
        for check in self.checks:  # the notebook exercises' solutions, as taken out of the instructor's notebooks
            if check.op == "notebook":
                digest.update(check.build(np.random.default_rng(0))[0]["source"].encode() + b"\0")
        digest.update(f"{self.timeout}/{self.limits}/{SUBSET_TRAIN}/{SUBSET_TEST}/{SUBSET_SEED}/"
                      f"{json.dumps(TRAINING, sort_keys=True)}/{self.sandboxed}/{getattr(self.backend, 'name', 'bwrap')}".encode())
        return digest.hexdigest()

    # -- one submission -------------------------------------------------------

    def grade(self, student: str, path: Path, digest: str | None = None, problem: str = "") -> SubmissionResult:
        """Grade one submission (a folder or a zip). Raises Interrupted when grading is being stopped.

        Raises SandboxBroken when a sandbox never started the submission's code
        (the grading machine's failure: no result may be written from it).
        """
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
        except SandboxBroken:
            if self.stopping.is_set():
                raise Interrupted(student) from None
            raise
        except SubmissionError as exc:  # past a limit of the walk (too deep, too many entries): this one only
            self._not_run(result, str(exc))
        finally:
            remove_tree(base)
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
        self._run_checks(result, copy, self._notebook_sources(copy / "notebooks"))

    def _notebook_sources(self, notebooks: Path) -> dict[str, str | ExtractionError]:
        """Check name -> the student's source of its notebook function, or why it cannot be had (read, never run)."""
        sources: dict[str, str | ExtractionError] = {}
        read: dict[str, NotebookCode] = {}
        for name, exercise in self.exercises.items():
            try:
                if exercise.notebook not in read:
                    read[exercise.notebook] = NotebookCode(notebooks / exercise.notebook)
                sources[name] = read[exercise.notebook].function(exercise.function, exercise.provide).source
            except ExtractionError as exc:
                sources[name] = exc
            except Exception as exc:  # noqa: BLE001 - whatever the notebook holds, it costs only this item
                sources[name] = ExtractionError(f"{exercise.function} cannot be taken out of notebooks/"
                                                f"{exercise.notebook} ({type(exc).__name__})")
        return sources

    def _take_slot(self) -> int:
        with self._slots_lock:
            return self._slots.pop(0)

    def _give_slot(self, slot: int) -> None:
        with self._slots_lock:
            self._slots.append(slot)

    def _run_checks(self, result: SubmissionResult, copy: Path, sources: dict[str, str | ExtractionError]) -> None:
        """Every check, in sandboxes on ``copy`` (a new one after a failure that ends the worker).

        A notebook exercise's check sends the student's source from ``sources``
        (or fails with the reason it could not be extracted, without a sandbox).
        When ``mlp_core`` does not import, the worker still runs the checks that
        do not need it (``WITHOUT_MLP_CORE``); a worker that does not start at all fails every check left.
        """
        seed = int(hashlib.sha256(f"{self.fingerprint}/{result.hash}".encode()).hexdigest()[:16], 16)
        if (copy / "notebooks").exists():
            shutil.rmtree(copy / "notebooks")  # only the code enters the sandbox
        # The submission's time is the CPU time of its sandboxes' processes; the wall clock is a backstop.
        wall_deadline = time.monotonic() + wall_backstop(self.timeout)
        cpu_used = 0.0  # by its sandboxes already ended
        slot = self._take_slot()
        uid = self._uids[0] + slot if self._uids is not None else None
        cgroup = Cgroup.create(f"{os.getpid()}-{slot}-{time.monotonic_ns()}", self.limits) if self.cgroups else None
        if self.cgroups and cgroup is None:
            result.notes.append("cgroups could not be set up for this submission: limits per process only")
        box: Sandbox | None = None
        import_failure, started = "", True
        outcomes: list[CheckResult] = []
        try:
            for index, check in enumerate(self.checks):
                if self.stopping.is_set():
                    return
                source = sources.get(check.name, "")
                if isinstance(source, ExtractionError):
                    outcomes.append(CheckResult(check.name, False, str(source)))
                    continue
                left = self.timeout - cpu_used - (box.cpu_seconds() if box is not None else 0.0)
                if ((import_failure and (not started or check.op not in WITHOUT_MLP_CORE)) or left <= 0
                        or time.monotonic() > wall_deadline):
                    reason = import_failure or (
                        f"not run: the submission's time limit of {self.timeout:g} s of CPU time ran out" if left <= 0
                        else f"not run: the submission's wall-clock backstop of {wall_backstop(self.timeout):g} s "
                             "ran out")
                    outcomes.append(CheckResult(check.name, False, reason))
                    continue
                if box is None:
                    box = Sandbox(copy, slot=slot, limits=self.limits, cgroup=cgroup, sandboxed=self.sandboxed,
                                  bwrap=self.bwrap, backend=self.backend, uid=uid)
                    try:
                        hello = box.hello(min(left, self.rubric.default_timeout), left)
                    except WorkerFailure as exc:
                        hello, started = {"ok": False, "error": f"the sandbox did not start ({exc.reason})"}, False
                    if not hello.get("ok") and not import_failure:
                        where = str(hello.get("where") or "")[:200]
                        import_failure = (f"mlp_core does not import: {str(hello.get('error', ''))[:400]}"
                                          + (f" [{where}]" if where else ""))
                    if not hello.get("ok") and (not started or check.op not in WITHOUT_MLP_CORE):
                        if not started or not any(c.op in WITHOUT_MLP_CORE for c in self.checks[index:]):
                            box.close()
                            cpu_used += box.cpu_seconds()
                            box = None
                        outcomes.append(CheckResult(check.name, False, import_failure))
                        continue
                    left = self.timeout - cpu_used - box.cpu_seconds()
                request = check.build(np.random.default_rng([seed, index]))
                sent, secrets = split_secrets(check, request)
                expected, _ = reference_outputs(check, request)
                if check.op == "notebook":
                    sent = student_request(sent, source)
                limit = min(self.rubric.timeout_of(check), left)
                try:
                    header, outputs = box.call(check.op, *sent, timeout=limit, cpu_budget=self.timeout - cpu_used)
                    message = verdict(check, sent, header, outputs, expected, secrets)
                except WorkerFailure as exc:
                    message = exc.reason
                    if exc.fatal:
                        box.close()
                        cpu_used += box.cpu_seconds()
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

    def failed(self, student: str, digest: str, reason: str) -> SubmissionResult:
        """The result of a submission that could not be graded at all: every check fails with ``reason``."""
        result = SubmissionResult(student, digest, sandboxed=self.sandboxed, status=reason)
        self._not_run(result, reason)
        self._score(result)
        return result
