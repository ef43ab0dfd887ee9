"""The autograder: grade a class's submissions of the kit from the command line.

    python -m mlp_core grade SUBMISSIONS_DIR --out GRADEBOOK_DIR [--force] [--jobs N]

SUBMISSIONS_DIR holds one folder or ``.zip`` per student, each a filled-in
copy of the released kit (the student's id is the folder or zip name).

How one submission is graded, and why it is safe
------------------------------------------------
1. Only the student's ``mlp_core/**/*.py`` files are copied into a fresh
   temporary folder (so no ``conftest.py``, ``pytest.ini``, ``tests/``,
   ``sitecustomize.py``, compiled module or stale bytecode of theirs takes
   part), then the hidden tests (``mlp_instructor/hidden_tests``) beside them, the
   grader's pytest plugin outside them, and a private copy of a fixed MNIST
   subset (the instructor's data folder is never visible to the submission).
2. ``python -m pytest`` runs in its own process and process group, in that
   folder, with a clean environment (``PYTHONPATH`` = the copy: the
   student's ``mlp_core`` is imported, never the instructor's; the plugin
   fails every test if ``mlp_core.__file__`` is elsewhere), ``--noconftest``,
   no plugin autoloading, one BLAS thread, and limits: address space
   (``RLIMIT_AS``), CPU time (``RLIMIT_CPU``), file size, a wall-clock
   timeout that kills the whole process group, and a time limit per test.
3. The plugin writes one JSON line per test as it finishes; the grader maps
   the test ids to rubric items (``mlp_instructor/rubric.toml``). A test that did
   not run (the process crashed, was killed, or the package does not
   import) counts as failed, with the reason.

What a submission can and cannot do: it can fail its own tests in any way
(crash, loop, exhaust memory, delete files in its folder) and lose only its
own points, with the reason in its feedback. Its shipped tests and conftest
files are ignored. Grading runs the student's code with the grader's user
rights, like any test run: it is not a sandbox against code written to
attack the grader (read a surprising submission's code before trusting its
score).

Outputs in GRADEBOOK_DIR
------------------------
* ``gradebook.csv``: one row per student, one column per rubric item, the
  total and a status;
* ``feedback/<student>.md`` and ``.html``: the score per item, every test
  passed or failed with the failing assertion's message and the line of the
  student's code where it failed;
* ``answers/<notebook>-Q<k>.md`` and ``.html``: one page per written
  question: the question, the model answer, then every student's answer;
* ``.grading-state.json``: what was graded, by content hash. A rerun grades
  only new or changed submissions (``--force`` regrades all); a change of
  the rubric, the hidden tests or the limits regrades everything.
"""

from __future__ import annotations

import argparse
import csv
import fnmatch
import hashlib
import html
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from mlp_core._io import atomic_write_text
from mlp_lab.argtypes import positive_int

from .release import ANSWER_TAG, ANSWER_TEXT, SOLUTION_TAG, cell_tags, read_notebook, repo_root

STATE_FILE = ".grading-state.json"
PLUGIN = "mlp_grading_plugin"
HIDDEN_DIR = "hidden_tests"
#: The fixed MNIST subset of the end-to-end check: sizes and the seed that picks it.
SUBSET_TRAIN, SUBSET_TEST, SUBSET_SEED = 5000, 1000, 20261127
#: Limits on a zip submission (a zip bomb or a whole disk image costs only its own grade).
MAX_ZIP_BYTES, MAX_ZIP_FILES = 200 * 2**20, 5000
#: Folders a submission may be wrapped in before its kit starts (e.g. alice.zip -> mlp-course/).
MAX_WRAP_DEPTH = 3
IGNORED_NAMES = ("conftest.py", "pytest.ini", "tox.ini", "setup.cfg", "sitecustomize.py", "usercustomize.py")


class GradingError(ValueError):
    """The class cannot be graded (bad rubric, missing hidden tests, no data); the message says why."""


# ----------------------------------------------------------------------------
# The rubric
# ----------------------------------------------------------------------------


@dataclass(frozen=True)
class RubricItem:
    """One graded component: ``points`` shared by the hidden tests matching ``tests``."""

    id: str
    title: str
    points: float
    tests: tuple[str, ...]
    notebook: str = ""
    timeout: float | None = None

    def matches(self, test_id: str) -> bool:
        return any(fnmatch.fnmatchcase(test_id, pattern) for pattern in self.tests)


@dataclass(frozen=True)
class Rubric:
    """The items, how partial credit is given, and the limits of a grading run."""

    items: tuple[RubricItem, ...]
    credit: str = "proportional"
    default_timeout: float = 10.0
    submission_timeout: float = 300.0
    memory_mb: int = 3072

    @property
    def max_points(self) -> float:
        return round(sum(item.points for item in self.items), 2)

    def item_of(self, test_id: str) -> RubricItem:
        return next(item for item in self.items if item.matches(test_id))

    def timeouts(self, test_ids: list[str]) -> dict[str, float]:
        """Per-test time limits: the item's ``timeout`` or the default."""
        return {t: self.item_of(t).timeout or self.default_timeout for t in test_ids}

    def check_covers(self, test_ids: list[str]) -> None:
        """Every test in exactly one item, every item with at least one test."""
        for test_id in test_ids:
            owners = [item.id for item in self.items if item.matches(test_id)]
            if len(owners) != 1:
                raise GradingError(
                    f"hidden test {test_id} belongs to {len(owners)} rubric items {owners}; "
                    "every test must belong to exactly one (edit the tests patterns in the rubric)"
                )
        for item in self.items:
            if not any(item.matches(t) for t in test_ids):
                raise GradingError(f"rubric item {item.id!r} matches no hidden test (patterns {list(item.tests)})")

    def score(self, item: RubricItem, passed: int, total: int) -> float:
        if total == 0:
            return 0.0
        if self.credit == "all_or_nothing":
            return float(item.points) if passed == total else 0.0
        return round(item.points * passed / total, 2)


def load_rubric(path: str | Path) -> Rubric:
    """Read and check a rubric TOML file (see mlp_instructor/rubric.toml)."""
    try:
        import tomllib
    except ImportError:  # pragma: no cover - Python 3.10
        raise GradingError("reading the rubric needs Python 3.11 or newer (tomllib)") from None
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
        missing = {"id", "title", "points", "tests"} - set(raw)
        if missing:
            raise GradingError(f"rubric {path}: item {number} lacks {sorted(missing)}")
        if raw["id"] in seen or not re.fullmatch(r"[a-z0-9_]+", raw["id"]):
            raise GradingError(f"rubric {path}: item id {raw['id']!r} is repeated or not lower_case_with_underscores")
        seen.add(raw["id"])
        if not (isinstance(raw["points"], (int, float)) and raw["points"] > 0):
            raise GradingError(f"rubric {path}: item {raw['id']!r} needs points > 0, got {raw['points']!r}")
        tests = raw["tests"] if isinstance(raw["tests"], list) else [raw["tests"]]
        items.append(RubricItem(raw["id"], raw["title"], float(raw["points"]), tuple(tests),
                                str(raw.get("notebook", "")), raw.get("timeout")))
    if not items:
        raise GradingError(f"rubric {path} has no [[item]] entries")
    return Rubric(
        tuple(items), credit,
        float(settings.get("default_timeout", 10)),
        float(settings.get("submission_timeout", 300)),
        int(settings.get("memory_mb", 3072)),
    )


# ----------------------------------------------------------------------------
# Results
# ----------------------------------------------------------------------------


@dataclass
class TestResult:
    test: str  # id relative to the hidden tests folder, e.g. "test_linear.py::test_linear_forward_batch"
    passed: bool
    message: str = ""


@dataclass
class SubmissionResult:
    """Everything the grader learnt about one submission (saved in the state file)."""

    student: str
    hash: str
    status: str = "graded"  # "graded", or a short reason it could not be run at all
    tests: list[TestResult] = field(default_factory=list)
    scores: dict[str, float] = field(default_factory=dict)
    total: float = 0.0
    notes: list[str] = field(default_factory=list)
    answers: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    log_tail: str = ""

    @classmethod
    def from_dict(cls, d: dict) -> "SubmissionResult":
        d = dict(d)
        d["tests"] = [TestResult(**t) for t in d.get("tests", [])]
        return cls(**d)


# ----------------------------------------------------------------------------
# Submissions: finding, hashing, unpacking
# ----------------------------------------------------------------------------


def discover_submissions(folder: Path) -> dict[str, Path]:
    """Student id -> folder or zip, for every entry of ``folder`` (hidden entries skipped)."""
    if not folder.is_dir():
        raise GradingError(f"submissions folder {folder} does not exist")
    found: dict[str, Path] = {}
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith((".", "__")):
            continue
        if entry.is_dir():
            student = entry.name
        elif entry.suffix.lower() == ".zip" and entry.is_file():
            student = entry.stem
        else:
            continue
        if student in found:
            raise GradingError(f"two submissions for {student!r}: {found[student].name} and {entry.name}; keep one")
        found[student] = entry
    return found


def content_hash(path: Path) -> str:
    """SHA-256 of a submission: a zip's bytes, or a folder's relative paths and file contents."""
    digest = hashlib.sha256()
    if path.is_file():
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
        return digest.hexdigest()
    for dirpath, dirnames, filenames in os.walk(path):
        dirnames[:] = sorted(d for d in dirnames if d not in ("__pycache__", ".ipynb_checkpoints", ".pytest_cache"))
        for name in sorted(filenames):
            full = Path(dirpath) / name
            digest.update(full.relative_to(path).as_posix().encode() + b"\0")
            if full.is_symlink():
                digest.update(b"symlink:" + os.readlink(full).encode())
            else:
                with open(full, "rb") as f:
                    for block in iter(lambda: f.read(1 << 20), b""):
                        digest.update(block)
            digest.update(b"\0")
    return digest.hexdigest()


def safe_extract(zip_path: Path, dest: Path) -> None:
    """Extract a zip, refusing absolute paths, '..', symlinks and more than the size limits."""
    try:
        with zipfile.ZipFile(zip_path) as archive:
            members = archive.infolist()
            if len(members) > MAX_ZIP_FILES:
                raise GradingError(f"the zip holds {len(members)} files, more than {MAX_ZIP_FILES}")
            if sum(m.file_size for m in members) > MAX_ZIP_BYTES:
                raise GradingError(f"the zip unpacks to more than {MAX_ZIP_BYTES >> 20} MB")
            for member in members:
                name = Path(member.filename)
                if name.is_absolute() or ".." in name.parts or (member.external_attr >> 16) & 0o170000 == 0o120000:
                    continue
                target = dest / name
                if member.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                with archive.open(member) as src, open(target, "wb") as out:
                    shutil.copyfileobj(src, out)
    except (zipfile.BadZipFile, OSError, RuntimeError, NotImplementedError) as exc:
        raise GradingError(f"the zip cannot be read: {exc}") from None


def find_kit_root(folder: Path) -> Path | None:
    """The folder holding ``mlp_core/__init__.py``: ``folder`` itself or one a few levels down."""
    level = [folder]
    for _ in range(MAX_WRAP_DEPTH + 1):
        hits = [d for d in level if (d / "mlp_core" / "__init__.py").is_file()]
        if hits:
            return sorted(hits)[0]
        level = [c for d in level for c in sorted(d.iterdir())
                 if c.is_dir() and not c.is_symlink() and c.name not in ("__MACOSX", ".git")]
    return None


# ----------------------------------------------------------------------------
# The grader
# ----------------------------------------------------------------------------

_LAUNCHER = """
import os, resource, sys
memory, cpu, fsize = (int(v) for v in sys.argv[1:4])
resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 5))
resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
os.execv(sys.argv[4], sys.argv[4:])
"""
#: One file a submission writes may not exceed this (a runaway print loop fills no disk).
MAX_FILE_BYTES = 256 * 2**20
LOG_TAIL = 3000


def _thread_env(home: Path) -> dict[str, str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "TMPDIR": str(home / "tmp"),
        "LANG": "C.UTF-8",
        "PYTHONNOUSERSITE": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONHASHSEED": "0",
        "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",
        "MPLBACKEND": "Agg",
    }
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = "1"
    return env


class Grader:
    """Grades submissions against one rubric and one set of hidden tests.

    Args:
        grading_dir: the folder holding ``rubric.toml``, ``hidden_tests/``
            and the pytest plugin (default: this package's folder).
        rubric: a rubric file (default ``grading_dir/rubric.toml``).
        data_dir: the MNIST folder for the end-to-end check (default: as
            ``mlp_core.data`` finds it, e.g. ``$MNIST_DIR``).
        submission_timeout, memory_mb: override the rubric's limits.
    """

    def __init__(self, grading_dir: Path | None = None, *, rubric: Path | None = None,
                 data_dir: Path | None = None, submission_timeout: float | None = None,
                 memory_mb: int | None = None, source_dir: Path | None = None):
        self.source_dir = Path(source_dir) if source_dir else repo_root()
        self.grading_dir = Path(grading_dir) if grading_dir else Path(__file__).resolve().parent
        self.hidden = self.grading_dir / HIDDEN_DIR
        self.plugin = self.grading_dir / f"{PLUGIN}.py"
        for needed in (self.hidden, self.plugin):
            if not needed.exists():
                raise GradingError(
                    f"{needed} does not exist: grading runs from the instructor's repository, "
                    "whose mlp_instructor/ folder holds the hidden tests"
                )
        self.rubric_path = Path(rubric) if rubric else self.grading_dir / "rubric.toml"
        self.rubric = load_rubric(self.rubric_path)
        self.timeout = submission_timeout or self.rubric.submission_timeout
        self.memory_mb = memory_mb or self.rubric.memory_mb
        self.data_dir = data_dir
        self.workspace = Path(tempfile.mkdtemp(prefix="mlp-grading-"))
        try:
            self.test_ids = self._collect()
            self.rubric.check_covers(self.test_ids)
            self.data_file = self._prepare_data()
        except BaseException:
            self.close()
            raise
        self.fingerprint = self._fingerprint()
        self.questions = questions_of(self.source_dir / "notebooks")
        self.kit_modules = sorted(p.name for p in (self.source_dir / "mlp_core").glob("*.py"))

    def close(self) -> None:
        shutil.rmtree(self.workspace, ignore_errors=True)

    def __enter__(self) -> "Grader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- set-up ---------------------------------------------------------------

    def _hidden_files(self) -> list[Path]:
        return sorted(p for p in self.hidden.glob("*.py"))

    def _fingerprint(self) -> str:
        digest = hashlib.sha256()
        for path in [self.rubric_path, self.plugin, Path(__file__), *self._hidden_files()]:
            digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
        digest.update(f"{self.timeout}/{self.memory_mb}/{SUBSET_TRAIN}/{SUBSET_TEST}/{SUBSET_SEED}".encode())
        return digest.hexdigest()

    def _pytest_command(self, plugin_dir: Path, sub: Path, extra: list[str]) -> list[str]:
        ini = plugin_dir / "pytest.ini"
        return [sys.executable, "-m", "pytest", HIDDEN_DIR, "-p", PLUGIN, "--noconftest",
                "-p", "no:cacheprovider", "-c", str(ini), "--rootdir", str(sub),
                "-q", "--tb=no", "--color=no", *extra]

    def _lay_out(self, base: Path) -> tuple[Path, Path]:
        """A grading folder: base/sub (the run's cwd) with the hidden tests, base/plugin."""
        sub, plugin_dir = base / "sub", base / "plugin"
        (sub / HIDDEN_DIR).mkdir(parents=True)
        plugin_dir.mkdir()
        (base / "tmp").mkdir()
        for path in self._hidden_files():
            shutil.copy2(path, sub / HIDDEN_DIR / path.name)
        shutil.copy2(self.plugin, plugin_dir / self.plugin.name)
        (plugin_dir / "pytest.ini").write_text("[pytest]\n")
        return sub, plugin_dir

    def _collect(self) -> list[str]:
        """The ids of the hidden tests, collected once (no student code is needed for that)."""
        base = self.workspace / "collect"
        sub, plugin_dir = self._lay_out(base)
        env = _thread_env(base) | {"PYTHONPATH": f"{sub}{os.pathsep}{plugin_dir}"}
        proc = subprocess.run(self._pytest_command(plugin_dir, sub, ["--collect-only"]),
                              cwd=sub, env=env, capture_output=True, text=True, timeout=300)
        ids = [_relative_id(line.strip()) for line in proc.stdout.splitlines() if "::" in line]
        if proc.returncode != 0 or not ids:
            tail = (proc.stdout + proc.stderr).strip().splitlines()[-5:]
            raise GradingError(f"the hidden tests in {self.hidden} do not collect: {' | '.join(tail)}")
        return ids

    def _prepare_data(self) -> Path:
        """The fixed MNIST subset of the end-to-end check, as one .npz the runs get a copy of."""
        import numpy as np

        from mlp_core.data import DataError, load_dataset

        try:
            train, test = load_dataset("mnist", self.data_dir, scaling="course", download=False)
        except DataError as exc:
            raise GradingError(f"the end-to-end check needs MNIST: {exc}") from None
        rng = np.random.default_rng(SUBSET_SEED)
        i = np.sort(rng.choice(len(train.labels), SUBSET_TRAIN, replace=False))
        j = np.sort(rng.choice(len(test.labels), SUBSET_TEST, replace=False))
        path = self.workspace / "grading_data.npz"
        np.savez(path, train_x=train.images[i], train_y=train.labels[i], test_x=test.images[j], test_y=test.labels[j])
        return path

    # -- one submission -----------------------------------------------------------

    def grade(self, student: str, path: Path, digest: str | None = None) -> SubmissionResult:
        """Grade one submission (a folder or a zip) in its own temporary folder and process."""
        start = time.monotonic()
        result = SubmissionResult(student, digest or content_hash(path))
        base = Path(tempfile.mkdtemp(prefix="run-", dir=self.workspace))
        try:
            self._grade_into(result, path, base)
        finally:
            shutil.rmtree(base, ignore_errors=True)
        self._score(result)
        result.seconds = round(time.monotonic() - start, 2)
        return result

    def _grade_into(self, result: SubmissionResult, path: Path, base: Path) -> None:
        if path.is_file():
            unpacked = base / "unpacked"
            unpacked.mkdir()
            try:
                safe_extract(path, unpacked)
            except GradingError as exc:
                return self._not_run(result, f"{path.name}: {exc}")
            path = unpacked
        root = find_kit_root(path)
        if root is None:
            return self._not_run(result, "no mlp_core package (mlp_core/__init__.py) in the submission")
        result.answers, notes = collect_answers(root / "notebooks")
        result.notes.extend(notes)
        sub, plugin_dir = self._lay_out(base)
        result.notes.extend(self._copy_package(root, sub))
        (plugin_dir / "timeouts.json").write_text(
            json.dumps({"default": self.rubric.default_timeout,
                        "tests": {f"{HIDDEN_DIR}/{k}": v for k, v in self.rubric.timeouts(self.test_ids).items()}})
        )
        data = base / "data" / "grading_data.npz"
        data.parent.mkdir()
        shutil.copy2(self.data_file, data)
        data.chmod(0o444)
        report = base / "report.jsonl"
        env = _thread_env(base) | {
            "PYTHONPATH": f"{sub}{os.pathsep}{plugin_dir}",
            "MLP_GRADING_ROOT": str(sub),
            "MLP_GRADING_REPORT": str(report),
            "MLP_GRADING_DATA": str(data),
            "MLP_GRADING_TIMEOUTS": str(plugin_dir / "timeouts.json"),
        }
        command = [sys.executable, "-c", _LAUNCHER, str(self.memory_mb * 2**20),
                   str(int(self.timeout)), str(MAX_FILE_BYTES),
                   *self._pytest_command(plugin_dir, sub, [])]
        log_path = base / "log.txt"
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(command, cwd=sub, env=env, stdout=log, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, start_new_session=True)
            try:
                returncode = proc.wait(timeout=self.timeout)
                ended = None
            except subprocess.TimeoutExpired:
                returncode = None
                ended = f"the test run was stopped at the time limit of {self.timeout:g} s"
            finally:
                _kill_group(proc)
        if ended is None and returncode is not None and returncode < 0:
            ended = f"the test run was killed by {_signal_name(-returncode)}"
        elif ended is None and returncode not in (0, 1):
            ended = f"the test run ended early (exit status {returncode})"
        result.log_tail = _tail(log_path).replace(f"{sub}{os.sep}", "")
        self._read_report(result, report, ended)

    def _copy_package(self, root: Path, sub: Path) -> list[str]:
        """Copy the student's mlp_core/**/*.py into ``sub``; notes on what was left out or missing."""
        notes, skipped = [], []
        package = root / "mlp_core"
        for dirpath, dirnames, filenames in os.walk(package):
            dirnames[:] = [d for d in dirnames if d != "__pycache__" and not (Path(dirpath) / d).is_symlink()]
            for name in filenames:
                src = Path(dirpath) / name
                rel = src.relative_to(root)
                if name.endswith(".py") and name not in IGNORED_NAMES and not src.is_symlink():
                    (sub / rel).parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(src, sub / rel)
                elif not name.endswith((".pyc", ".ipynb")):
                    skipped.append(rel.as_posix())
        ignored = sorted(
            p.relative_to(root).as_posix() for p in root.rglob("*")
            if p.name in IGNORED_NAMES and ".ipynb_checkpoints" not in p.parts
        )
        if ignored:
            notes.append(f"ignored (grading uses its own tests and settings): {', '.join(ignored)}")
        if skipped:
            notes.append(f"ignored (only .py files of mlp_core are graded): {', '.join(skipped[:10])}")
        missing = [m for m in self.kit_modules if not (package / m).is_file()]
        if missing:
            notes.append("missing from mlp_core (the released kit has them): " + ", ".join(missing))
        return notes

    def _not_run(self, result: SubmissionResult, reason: str) -> None:
        result.status = reason
        result.tests = [TestResult(t, False, f"not run: {reason}") for t in self.test_ids]

    def _read_report(self, result: SubmissionResult, report: Path, ended: str | None) -> None:
        records: dict[str, dict] = {}
        collect_errors: dict[str, str] = {}
        if report.is_file():
            for line in report.read_text(encoding="utf-8", errors="replace").splitlines():
                try:
                    record = json.loads(line)
                except ValueError:
                    continue
                if not isinstance(record, dict):
                    continue
                if "collect_error" in record:
                    collect_errors[_relative_id(str(record["collect_error"]))] = str(record.get("message", ""))
                elif "nodeid" in record:
                    records[_relative_id(str(record["nodeid"]))] = record
        if ended:
            result.notes.append(ended)
        tests = []
        for test_id in self.test_ids:
            record = records.get(test_id)
            if record is not None:
                passed = record.get("outcome") == "passed"
                tests.append(TestResult(test_id, passed, "" if passed else str(record.get("message", ""))))
                continue
            module = test_id.split("::")[0]
            reason = collect_errors.get(module) or ended or "the test run ended before this test (see the log)"
            tests.append(TestResult(test_id, False, f"not run: {reason}"))
        result.tests = tests

    def _score(self, result: SubmissionResult) -> None:
        by_item: dict[str, list[TestResult]] = {item.id: [] for item in self.rubric.items}
        for test in result.tests:
            by_item[self.rubric.item_of(test.test).id].append(test)
        result.scores = {
            item.id: self.rubric.score(item, sum(t.passed for t in by_item[item.id]), len(by_item[item.id]))
            for item in self.rubric.items
        }
        result.total = round(sum(result.scores.values()), 2)


def _relative_id(nodeid: str) -> str:
    """'hidden_tests/test_x.py::test_y' -> 'test_x.py::test_y'."""
    return nodeid.split("/", 1)[1] if nodeid.startswith(f"{HIDDEN_DIR}/") else nodeid


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()


def _signal_name(number: int) -> str:
    names = {signal.SIGXCPU: "SIGXCPU (the CPU time limit)", signal.SIGKILL: "SIGKILL (out of memory?)",
             signal.SIGSEGV: "SIGSEGV (a crash)", signal.SIGXFSZ: "SIGXFSZ (a file grew too large)"}
    try:
        return names.get(number) or signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _tail(path: Path) -> str:
    with open(path, "rb") as f:
        f.seek(max(0, path.stat().st_size - LOG_TAIL))
        return f.read().decode("utf-8", errors="replace")


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
# Writing the gradebook, feedback and answer pages
# ----------------------------------------------------------------------------


def safe_name(student: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", student) or "_"


def write_gradebook(path: Path, rubric: Rubric, results: list[SubmissionResult]) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["student", *(item.id for item in rubric.items), "total", "status"])
    for r in results:
        writer.writerow([r.student, *(_num(r.scores.get(item.id, 0.0)) for item in rubric.items), _num(r.total), r.status])
    atomic_write_text(path, buffer.getvalue())


def _num(value: float) -> str:
    return f"{value:g}" if value == round(value, 2) else f"{value:.2f}"


def _tests_by_item(result: SubmissionResult, rubric: Rubric) -> dict[str, list]:
    return {item.id: [t for t in result.tests if item.matches(t.test)] for item in rubric.items}


def _item_rows(result: SubmissionResult, rubric: Rubric, by_item: dict) -> list[tuple[str, str, str]]:
    """(item title, "points / max", "tests passed / tests") per rubric item, for the feedback tables."""
    return [
        (item.title, f"{_num(result.scores.get(item.id, 0))} / {_num(item.points)}",
         f"{sum(t.passed for t in by_item[item.id])} / {len(by_item[item.id])}")
        for item in rubric.items
    ]


def feedback_markdown(result: SubmissionResult, rubric: Rubric) -> str:
    """A student's feedback: scores per item, then every test with the reason it failed."""
    out = [f"# Feedback for {result.student}", "",
           f"**Total: {_num(result.total)} / {_num(rubric.max_points)}**", ""]
    if result.status != "graded":
        out += [f"**Not graded: {result.status}.**", ""]
    out += ["| Item | Points | Tests passed |", "| --- | --- | --- |"]
    by_item = _tests_by_item(result, rubric)
    out += [f"| {title} | {points} | {passed} |" for title, points, passed in _item_rows(result, rubric, by_item)]
    out.append("")
    if result.notes:
        out += ["## Notes", ""] + [f"- {note}" for note in result.notes] + [""]
    problems = failure_summary(result)
    if problems:
        out += ["## What went wrong", ""] + [f"- {n} test(s): {m}" for m, n in problems] + [""]
    out += ["## Tests", ""]
    for item in rubric.items:
        where = f" (notebook {item.notebook})" if item.notebook else ""
        out += [f"### {item.title}{where}: {_num(result.scores.get(item.id, 0))} / {_num(item.points)}", ""]
        for test in by_item[item.id]:
            name = test.test.split("::")[-1]
            out.append(f"- PASS `{name}`" if test.passed else f"- FAIL `{name}`: {test.message}")
        out.append("")
    if _show_log(result):
        out += ["## End of the test log", "", "```", result.log_tail.strip()[-LOG_TAIL:], "```", ""]
    return "\n".join(out)


def failure_summary(result: SubmissionResult) -> list[tuple[str, int]]:
    """Distinct reasons tests failed (without the code location), most frequent first."""
    counts: dict[str, int] = {}
    for test in result.tests:
        if not test.passed:
            reason = re.sub(r" \[mlp_core/[^\]]*\]$", "", test.message)
            counts[reason] = counts.get(reason, 0) + 1
    return sorted(counts.items(), key=lambda kv: -kv[1])


def _show_log(result: SubmissionResult) -> bool:
    """The log helps only when the run itself went wrong (tests that never ran)."""
    return bool(result.log_tail) and any(t.message.startswith("not run:") for t in result.tests)


_STYLE = ("body{font-family:sans-serif;max-width:60em;margin:2em auto;line-height:1.4}"
          "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.3em .6em;vertical-align:top}"
          ".pass{color:#060}.fail{color:#a00}pre{white-space:pre-wrap;background:#f6f6f6;padding:.5em}")


def feedback_html(result: SubmissionResult, rubric: Rubric) -> str:
    e = html.escape
    out = [f"<!doctype html><html><head><meta charset='utf-8'><title>Feedback for {e(result.student)}</title>",
           f"<style>{_STYLE}</style></head><body>", f"<h1>Feedback for {e(result.student)}</h1>",
           f"<p><b>Total: {_num(result.total)} / {_num(rubric.max_points)}</b></p>"]
    if result.status != "graded":
        out.append(f"<p class='fail'><b>Not graded: {e(result.status)}.</b></p>")
    out.append("<table><tr><th>Item</th><th>Points</th><th>Tests passed</th></tr>")
    by_item = _tests_by_item(result, rubric)
    out += [f"<tr><td>{e(title)}</td><td>{points}</td><td>{passed}</td></tr>"
            for title, points, passed in _item_rows(result, rubric, by_item)]
    out.append("</table>")
    if result.notes:
        out.append("<h2>Notes</h2><ul>" + "".join(f"<li>{e(n)}</li>" for n in result.notes) + "</ul>")
    problems = failure_summary(result)
    if problems:
        out.append("<h2>What went wrong</h2><ul>"
                   + "".join(f"<li>{n} test(s): {e(m)}</li>" for m, n in problems) + "</ul>")
    out.append("<h2>Tests</h2>")
    for item in rubric.items:
        where = f" (notebook {e(item.notebook)})" if item.notebook else ""
        out.append(f"<h3>{e(item.title)}{where}: {_num(result.scores.get(item.id, 0))} / {_num(item.points)}</h3><ul>")
        for test in by_item[item.id]:
            name = e(test.test.split("::")[-1])
            if test.passed:
                out.append(f"<li class='pass'>PASS <code>{name}</code></li>")
            else:
                out.append(f"<li class='fail'>FAIL <code>{name}</code>: {e(test.message)}</li>")
        out.append("</ul>")
    if _show_log(result):
        out.append(f"<h2>End of the test log</h2><pre>{e(result.log_tail.strip())}</pre>")
    out.append("</body></html>")
    return "\n".join(out)


def answer_pages(question: Question, results: list[SubmissionResult]) -> tuple[str, str]:
    """(Markdown, HTML) of one question: the question, the model answer, every student's answer."""
    answers = [(r.student, r.answers.get(question.key)) for r in results]

    def shown(text: str | None) -> str:
        return "(no answer cell found)" if text is None else (text or "(left blank)")

    md = [f"# {question.key}", "", f"From `notebooks/{question.notebook}`.", "", "## Question", "",
          question.text.strip(), "", "## Model answer", "", question.model_answer.strip(), "",
          f"## Answers ({sum(bool(a) for _, a in answers)} of {len(answers)} students answered)", ""]
    for student, text in answers:
        md += [f"### {student}", "", shown(text), ""]
    e = html.escape
    rows = "".join(f"<tr><td>{e(s)}</td><td><pre>{e(shown(t))}</pre></td><td></td></tr>" for s, t in answers)
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>{e(question.key)}</title>"
            f"<style>{_STYLE}</style></head><body><h1>{e(question.key)}</h1>"
            f"<p>From <code>notebooks/{e(question.notebook)}</code>.</p>"
            f"<h2>Question</h2><pre>{e(question.text.strip())}</pre>"
            f"<h2>Model answer</h2><pre>{e(question.model_answer.strip())}</pre>"
            f"<h2>Answers</h2><table><tr><th>Student</th><th>Answer</th><th>Points</th></tr>{rows}</table>"
            "</body></html>")
    return "\n".join(md), page


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

    def summary(self) -> str:
        mean = sum(r.total for r in self.results) / len(self.results) if self.results else 0.0
        lines = [f"graded {len(self.graded)} submission(s), {len(self.unchanged)} unchanged "
                 f"(--force regrades them); class mean {mean:.2f} / {_num(self.max_points)}"]
        for r in self.results:
            flag = "" if r.status == "graded" else f"  ({r.status})"
            lines.append(f"  {r.student:<24} {_num(r.total):>7}{flag}")
        lines.append(f"gradebook: {self.out_dir / 'gradebook.csv'}; feedback: {self.out_dir / 'feedback'}; "
                     f"written answers: {self.out_dir / 'answers'}")
        return "\n".join(lines)


def grade(
    submissions_dir: str | Path,
    out_dir: str | Path,
    *,
    force: bool = False,
    jobs: int | None = None,
    grading_dir: str | Path | None = None,
    rubric: str | Path | None = None,
    data_dir: str | Path | None = None,
    submission_timeout: float | None = None,
    memory_mb: int | None = None,
    source_dir: str | Path | None = None,
    log: Callable[[str], None] = print,
) -> GradeReport:
    """Grade every submission in ``submissions_dir``; write the gradebook, feedback and answer pages.

    Submissions whose content hash matches the last run (and the grader's
    rubric, hidden tests and limits are unchanged) keep their result unless
    ``force``. ``jobs`` submissions are graded at once (default: all cores).
    """
    submissions_dir, out_dir = Path(submissions_dir), Path(out_dir)
    submissions = discover_submissions(submissions_dir)
    if not submissions:
        raise GradingError(f"no submissions (folders or .zip files) in {submissions_dir}")
    out_dir.mkdir(parents=True, exist_ok=True)
    state_path = out_dir / STATE_FILE
    try:
        state = json.loads(state_path.read_text()) if state_path.is_file() else {}
    except ValueError:
        log(f"{state_path} is damaged: regrading everyone")
        state = {}
    with Grader(Path(grading_dir) if grading_dir else None, rubric=Path(rubric) if rubric else None,
                data_dir=Path(data_dir) if data_dir else None, submission_timeout=submission_timeout,
                memory_mb=memory_mb, source_dir=Path(source_dir) if source_dir else None) as grader:
        previous = state.get("results", {}) if state.get("grader") == grader.fingerprint else {}
        if state and not previous:
            log("the rubric, hidden tests or limits changed since the last run: regrading everyone")
        hashes = {student: content_hash(path) for student, path in submissions.items()}
        todo = [s for s in submissions if force or previous.get(s, {}).get("hash") != hashes[s]]
        results = {s: SubmissionResult.from_dict(previous[s]) for s in submissions if s not in todo}
        workers = max(1, min(jobs or os.cpu_count() or 1, len(todo) or 1))
        if todo:
            log(f"grading {len(todo)} submission(s) with {workers} at a time...")
        with ThreadPoolExecutor(max_workers=workers) as pool:
            futures = {pool.submit(grader.grade, s, submissions[s], hashes[s]): s for s in todo}
            for future in as_completed(futures):
                result = future.result()
                results[result.student] = result
                log(f"  {result.student}: {_num(result.total)} / {_num(grader.rubric.max_points)} "
                    f"({result.seconds:.1f} s)")
        ordered = [results[s] for s in sorted(results)]
        _write_outputs(out_dir, grader, ordered)
        atomic_write_text(state_path, json.dumps(
            {"grader": grader.fingerprint, "results": {r.student: asdict(r) for r in ordered}}, indent=1))
        return GradeReport(out_dir, ordered, sorted(todo), sorted(set(submissions) - set(todo)),
                           grader.rubric.max_points)


def _write_outputs(out_dir: Path, grader: Grader, results: list[SubmissionResult]) -> None:
    write_gradebook(out_dir / "gradebook.csv", grader.rubric, results)
    for result in results:
        name = safe_name(result.student)
        atomic_write_text(out_dir / "feedback" / f"{name}.md", feedback_markdown(result, grader.rubric))
        atomic_write_text(out_dir / "feedback" / f"{name}.html", feedback_html(result, grader.rubric))
    for question in grader.questions.values():
        md, page = answer_pages(question, results)
        stem = safe_name(question.key.replace("/", "-"))
        atomic_write_text(out_dir / "answers" / f"{stem}.md", md)
        atomic_write_text(out_dir / "answers" / f"{stem}.html", page)


# ----------------------------------------------------------------------------
# Command line
# ----------------------------------------------------------------------------


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "grade", help="grade a folder of student submissions: gradebook, feedback, answer pages",
        description="Grade every folder or .zip in SUBMISSIONS_DIR against the hidden tests and the rubric.",
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
    p.set_defaults(func=cmd_grade)


def cmd_grade(args: argparse.Namespace) -> int:
    try:
        report = grade(args.submissions, args.out, force=args.force, jobs=args.jobs, rubric=args.rubric,
                       data_dir=args.data_dir, submission_timeout=args.timeout, memory_mb=args.memory)
    except GradingError as exc:
        print(f"python -m mlp_core grade: error: {exc}", file=sys.stderr)
        return 1
    print(report.summary())
    return 0
