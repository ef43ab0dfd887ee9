"""The autograder end to end: a round trip to full marks and faulty submissions with exact scores.

One release of this repository is shared by every test (module fixture).
From it the tests write a class of submissions: one filled in with the
solutions (full marks), and one per fault the issue lists, each filled in
with the solutions except for the faulty function. All are graded in one
``grade`` run, in parallel, as an instructor would; each submission's
pytest runs in its own process, so this file takes a while (about a
minute on two cores).
"""
# instructor-only

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from mlp_instructor import grading, release
from mlp_instructor.release import fill_in_solutions, find_regions

from ._mnist import require_mnist

REPO = Path(__file__).resolve().parents[1]

FAULTS = {
    # Sigmoid with the sign of the gradient flipped.
    "sigmoid_sign": {
        "Sigmoid.forward": "y = 0.5 * (1 + np.tanh(0.5 * x))\nself.cache = y\nreturn y",
        "Sigmoid.backward": "y = self.cache\nreturn -grad_output * y * (1 - y)",
    },
    # Cross-entropy whose gradient forgets to divide by the batch size N.
    "ce_without_1_over_n": {
        "SoftmaxCrossEntropyLoss.forward": (
            "z = x - x.max(axis=1, keepdims=True)\n"
            "log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))\n"
            "self.cache = (np.exp(log_p), labels)\n"
            "return float(-np.mean(log_p[np.arange(len(labels)), labels]))"
        ),
        "SoftmaxCrossEntropyLoss.backward": (
            "p, labels = self.cache\ngrad = p.copy()\ngrad[np.arange(len(labels)), labels] -= 1\nreturn grad"
        ),
    },
    # Hinge loss with the margin hard-coded to 1 instead of self.margin.
    "hinge_wrong_margin": {
        "HingeLoss.forward": (
            "rows = np.arange(len(labels))\n"
            "m = x - x[rows, labels][:, None] + 1.0\n"
            "m[rows, labels] = 0\n"
            "self.cache = (m > 0, labels)\n"
            "return float(np.sum(np.maximum(m, 0)) / len(labels))"
        ),
        "HingeLoss.backward": (
            "positive, labels = self.cache\n"
            "grad = positive.astype(np.float64)\n"
            "grad[np.arange(len(labels)), labels] = -positive.sum(axis=1)\n"
            "return grad / len(labels)"
        ),
    },
    # Momentum applied wrongly: v is rebound, so the stored velocity never changes.
    "momentum_wrong": {
        "SGD.step": "v = self.momentum * v + p.grad + decay * p.data\np.data -= self.lr * v",
    },
    # Early stopping that never returns.
    "infinite_loop": {"EarlyStopping.step": "while True:\n    pass"},
    # A syntax error in losses.py: the package does not import at all.
    "syntax_error": {"L2Loss.forward": "return (x -"},
}

#: Exact scores per rubric item that differ from full marks, and a phrase the feedback must contain.
EXPECTED = {
    "full_marks": ({}, None),
    "sigmoid_sign": ({"sigmoid": 2.5, "network_gradcheck": 10}, "FAIL `test_sigmoid_backward`: AssertionError: Sigmoid.backward"),
    "ce_without_1_over_n": ({"cross_entropy": 5, "network_gradcheck": 10, "end_to_end": 0},
                            "SoftmaxCrossEntropyLoss.backward ((softmax(x) - t) / N)"),
    "hinge_wrong_margin": ({"hinge": 2.5}, "HingeLoss(margin=2).forward: use self.margin"),
    "momentum_wrong": ({"sgd": 5, "end_to_end": 0}, "SGD.step with momentum 0.9, after 3 steps"),
    "infinite_loop": ({"early_stopping": 0}, "timed out: the test did not finish in 10 s"),
    "syntax_error": ("all zero", "mlp_core does not import: SyntaxError"),
    "deleted_module": ("all zero", "mlp_core does not import: ModuleNotFoundError: No module named 'mlp_core.optim'"),
    "own_conftest": ("all zero", "ignored (grading uses its own tests and settings): conftest.py"),
    "imports_instructor_copy": ("all zero", None),
    "deletes_files": ({"end_to_end": 0}, "the MNIST subset the grader put in this run's folder is gone"),
}

CHEATING_CONFTEST = '''
import pytest

@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    report.outcome = "passed"
    report.longrepr = None
'''

# Appended to a submission's mlp_core/__init__.py: writes a cheating conftest.py at import time.
WRITES_CONFTEST = f'''
import os as _os
for _folder in (".", "hidden_tests", "tests"):
    if _os.path.isdir(_folder):
        with open(_os.path.join(_folder, "conftest.py"), "w") as _f:
            _f.write({CHEATING_CONFTEST!r})
'''

# A whole mlp_core/__init__.py that swaps itself for the instructor's installed package, if any.
IMPORTS_INSTRUCTOR = '''
import importlib, os, sys
_here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
del sys.modules["mlp_core"]
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _here]
sys.modules["mlp_core"] = importlib.import_module("mlp_core")
'''

# Appended to a submission's mlp_core/__init__.py: deletes what it can find of the grading run.
DELETES_FILES = """
import os as _os, shutil as _shutil
for _path in (_os.environ.get("MLP_GRADING_DATA", ""), "hidden_tests", _os.environ.get("MNIST_DIR", "")):
    if _path and _os.path.isdir(_path):
        _shutil.rmtree(_path, ignore_errors=True)
    elif _path and _os.path.exists(_path):
        _os.remove(_path)
"""

STUDENT_ANSWER = "Because the hash is of the decompressed bytes <b>not</b> the gzip."


def fill(kit: Path, replacements: dict[str, str] | None = None) -> None:
    """Write the solutions into a released kit, except ``replacements`` (function -> code)."""
    replacements = dict(replacements or {})
    for path in sorted((REPO / "mlp_core").glob("*.py")):
        original = path.read_text()
        functions = {r.function for r in find_regions(original)}
        if not functions:
            continue
        mine = {f: replacements.pop(f) for f in list(replacements) if f in functions}
        target = kit / "mlp_core" / path.name
        target.write_text(fill_in_solutions(target.read_text(), original, path.name, replacements=mine))
    assert not replacements, f"no solution region for {sorted(replacements)}"


def answer_first_question(kit: Path) -> str:
    """Write STUDENT_ANSWER into the first answer cell of the released notebooks; return its key."""
    import nbformat

    for path in sorted((kit / "notebooks").glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            if release.ANSWER_TAG in cell.metadata.get("tags", []):
                cell.source = STUDENT_ANSWER
                nbformat.write(nb, path)
                return cell.metadata["mlp_course"]["question"]
    raise AssertionError("the release has no answer cell to fill in")


@pytest.fixture(scope="module")
def kit(tmp_path_factory) -> Path:
    """The student release of this repository, shared by every test here."""
    kit = tmp_path_factory.mktemp("release") / "kit"
    release.release(kit, import_check=False)
    return kit


@pytest.fixture(scope="module")
def graded(kit, tmp_path_factory):
    """(report, gradebook rows, output folder, submissions folder, answered question key)."""
    mnist = require_mnist()
    tmp = tmp_path_factory.mktemp("grading")
    subs = tmp / "submissions"
    subs.mkdir()

    def copy(name: str) -> Path:
        return Path(shutil.copytree(kit, subs / name))

    full = copy("full_marks")
    fill(full)
    question = answer_first_question(full)
    for name, replacements in FAULTS.items():
        fill(copy(name), replacements)
    deleted = copy("deleted_module")
    fill(deleted)
    (deleted / "mlp_core" / "optim.py").unlink()
    cheat = copy("own_conftest")  # the unfilled release, plus conftest files everywhere
    (cheat / "conftest.py").write_text(CHEATING_CONFTEST)
    (cheat / "tests" / "conftest.py").write_text(CHEATING_CONFTEST)
    (cheat / "pytest.ini").write_text("[pytest]\naddopts = -p no:mlp_grading_plugin\n")
    with open(cheat / "mlp_core" / "__init__.py", "a") as f:
        f.write(WRITES_CONFTEST)
    vandal = copy("deletes_files")
    fill(vandal)
    with open(vandal / "mlp_core" / "__init__.py", "a") as f:
        f.write(DELETES_FILES)
    instructor = copy("imports_instructor_copy")
    (instructor / "mlp_core" / "__init__.py").write_text(IMPORTS_INSTRUCTOR)
    # One submission arrives as a zip with its kit in a wrapping folder, as students often send it.
    momentum = subs / "momentum_wrong"
    with zipfile.ZipFile(subs / "momentum_wrong.zip", "w") as archive:
        for path in sorted(momentum.rglob("*")):
            archive.write(path, Path("mlp-course") / path.relative_to(momentum))
    shutil.rmtree(momentum)

    out = tmp / "gradebook"
    report = grading.grade(subs, out, data_dir=mnist, log=lambda line: None)
    with open(out / "gradebook.csv", newline="") as f:
        rows = {row["student"]: row for row in csv.DictReader(f)}
    return report, rows, out, subs, question


def item_points() -> dict[str, float]:
    return {item.id: item.points for item in grading.load_rubric(REPO / "mlp_instructor" / "rubric.toml").items}


@pytest.mark.parametrize("student", sorted(EXPECTED))
def test_each_submission_gets_exactly_the_expected_score(graded, student):
    report, rows, out, _, _ = graded
    changes, phrase = EXPECTED[student]
    points = item_points()
    expected = {i: 0.0 for i in points} if changes == "all zero" else {**points, **changes}
    row = rows[student]
    assert {i: float(row[i]) for i in points} == expected
    assert float(row["total"]) == pytest.approx(sum(expected.values()))
    feedback = (out / "feedback" / f"{student}.md").read_text()
    assert f"**Total: {grading._num(sum(expected.values()))} / 100**" in feedback
    if phrase:
        assert phrase in feedback


def test_the_round_trip_gives_full_marks(graded):
    report, rows, out, _, _ = graded
    assert float(rows["full_marks"]["total"]) == 100
    assert "FAIL" not in (out / "feedback" / "full_marks.md").read_text()


def test_faults_are_reported_where_they_are(graded):
    _, _, out, _, _ = graded
    loop = (out / "feedback" / "infinite_loop.md").read_text()
    assert "[mlp_core/training.py:" in loop and "in step]" in loop
    sigmoid = (out / "feedback" / "sigmoid_sign.md").read_text()
    assert "relative error" in sigmoid
    deleted = (out / "feedback" / "deleted_module.md").read_text()
    assert "missing from mlp_core (the released kit has them): optim.py" in deleted
    instructor = (out / "feedback" / "imports_instructor_copy.md").read_text()
    assert "not from the submission" in instructor or "does not import" in instructor


def test_a_submission_that_deletes_files_harms_only_itself(graded):
    _, rows, _, _, _ = graded
    mnist = require_mnist()
    assert sorted(p.name for p in mnist.iterdir() if "ubyte" in p.name), "the instructor's MNIST is gone"
    assert (REPO / "mlp_instructor" / "hidden_tests" / "test_linear.py").exists()
    assert float(rows["full_marks"]["total"]) == 100


def test_gradebook_has_one_row_per_student_and_one_column_per_item(graded):
    report, rows, out, _, _ = graded
    header = (out / "gradebook.csv").read_text().splitlines()[0].split(",")
    assert header == ["student", *item_points(), "total", "status"]
    assert sorted(rows) == sorted(EXPECTED)
    assert all(row["status"] == "graded" for row in rows.values())


def test_feedback_html_is_escaped(graded):
    _, _, out, _, _ = graded
    page = (out / "feedback" / "sigmoid_sign.html").read_text()
    assert "relative error" in page and "&gt;= 1e-06" in page and ">= 1e-06" not in page


def test_answers_are_collected_side_by_side_per_question(graded):
    _, _, out, _, question = graded
    stem = question.replace("/", "-")
    page = (out / "answers" / f"{stem}.md").read_text()
    assert STUDENT_ANSWER in page
    assert "## Model answer" in page and "### full_marks" in page and "### sigmoid_sign" in page
    assert "(left blank)" in page  # every other student left it as released
    html_page = (out / "answers" / f"{stem}.html").read_text()
    assert "&lt;b&gt;not&lt;/b&gt;" in html_page and "<b>not</b>" not in html_page


def test_rerun_grades_only_new_or_changed_submissions(graded):
    report, _, out, subs, _ = graded
    assert sorted(report.graded) == sorted(EXPECTED) and report.unchanged == []
    again = grading.grade(subs, out, data_dir=require_mnist(), jobs=1, log=lambda line: None)
    assert again.graded == [] and sorted(again.unchanged) == sorted(EXPECTED)
    # Fixing the infinite loop changes that submission only.
    training = subs / "infinite_loop" / "mlp_core" / "training.py"
    original = (REPO / "mlp_core" / "training.py").read_text()
    fixed = training.read_text().replace("        while True:\n            pass\n",
                                         "".join(r + "\n" for r in find_regions(original)[0].body(original.splitlines())))
    assert fixed != training.read_text()
    training.write_text(fixed)
    third = grading.grade(subs, out, data_dir=require_mnist(), jobs=1, log=lambda line: None)
    assert third.graded == ["infinite_loop"]
    with open(out / "gradebook.csv", newline="") as f:
        rows = {row["student"]: row for row in csv.DictReader(f)}
    assert float(rows["infinite_loop"]["total"]) == 100
    assert float(rows["sigmoid_sign"]["total"]) == 92.5


def test_a_run_that_ignores_the_per_test_limit_is_killed_at_the_submission_limit(kit, tmp_path):
    submission = Path(shutil.copytree(kit, tmp_path / "stubborn"))
    fill(submission, {"EarlyStopping.step": (
        "import signal\nsignal.signal(signal.SIGALRM, signal.SIG_IGN)\nwhile True:\n    pass"
    )})
    with grading.Grader(data_dir=require_mnist(), submission_timeout=20) as grader:
        result = grader.grade("stubborn", submission)
    assert result.seconds < 60
    assert "the test run was stopped at the time limit of 20 s" in result.notes
    by_test = {t.test: t for t in result.tests}
    assert by_test["test_early_stopping.py::test_early_stopping_on_accuracy"].message == (
        "not run: the test run was stopped at the time limit of 20 s"
    )
    assert not by_test["test_linear.py::test_linear_forward_batch"].passed
    assert result.scores["early_stopping"] == result.scores["linear"] == 0


def test_rubric_must_cover_every_hidden_test(tmp_path):
    text = (REPO / "mlp_instructor" / "rubric.toml").read_text()
    broken = tmp_path / "rubric.toml"
    broken.write_text(text.replace('tests = ["test_sgd.py::*"]', 'tests = ["test_sgd.py::test_sgd_plain_step"]'))
    rubric = grading.load_rubric(broken)
    with pytest.raises(grading.GradingError, match="test_sgd.py::test_sgd_momentum belongs to 0 rubric items"):
        rubric.check_covers(["test_sgd.py::test_sgd_plain_step", "test_sgd.py::test_sgd_momentum"])
    broken.write_text(text.replace("points = 10", "points = -1", 1))
    with pytest.raises(grading.GradingError, match="needs points > 0"):
        grading.load_rubric(broken)


def test_zip_extraction_refuses_paths_outside_the_folder(tmp_path):
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("../outside.txt", "x")
        z.writestr("/etc/absolute.txt", "x")
        z.writestr("kit/mlp_core/__init__.py", "")
    dest = tmp_path / "dest"
    dest.mkdir()
    grading.safe_extract(archive, dest)
    assert not (tmp_path / "outside.txt").exists()
    assert sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file()) == ["kit/mlp_core/__init__.py"]
    assert grading.find_kit_root(dest) == dest / "kit"


def test_cli_grade_reports_bad_input_in_one_line(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-m", "mlp_core", "grade", str(tmp_path / "nowhere"), "--out", str(tmp_path)],
                          capture_output=True, text=True, env=env, cwd=REPO)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        f"python -m mlp_core grade: error: submissions folder {tmp_path / 'nowhere'} does not exist"
    ]
    proc = subprocess.run([sys.executable, "-m", "mlp_core", "grade", str(tmp_path)],
                          capture_output=True, text=True, env=env, cwd=REPO)
    assert proc.returncode == 2 and "--out" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
