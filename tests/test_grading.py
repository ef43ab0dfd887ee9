"""The autograder against hostile, faulty and oddly packed submissions.

One release of this repository is shared by every test (module fixture).
From it the tests write a class (``tests/grading_attacks.py``): the full
solution, ordinary faults, one submission per attack of issue 10 (each
implements nothing, so it deserves 0), and submissions packed badly (zips
with two kits, deep folders, names that are not UTF-8, links). All are
graded in one ``grade`` run, in sandboxes, as an instructor would; then the
tests check every score, that no file outside the sandboxes changed, that no
process outlived ``grade``, and that the gradebook stays as written.
"""
# instructor-only

from __future__ import annotations

import csv
import hashlib
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

import mlp_core
from mlp_core.training import accuracy, iterate_minibatches
from mlp_instructor.grading import GradingError
from mlp_instructor.grading.command import grade
from mlp_instructor.grading.documents import file_stem, md_inline, to_markdown
from mlp_instructor.grading.gradebook import write_gradebook
from mlp_instructor.grading.pages import feedback_blocks
from mlp_instructor.grading.results import CheckResult, SubmissionResult
from mlp_instructor.grading.rubric import DEFAULT_RUBRIC, Rubric, load_rubric
from mlp_instructor.hidden_checks.catalogue import build_checks
from mlp_instructor.hidden_checks.requests import activation_request, loss_request
from mlp_instructor.hidden_checks.verdicts import Check, Compare, reference_outputs, self_test, verdict
from mlp_instructor.notebooks import ANSWER_TAG
from mlp_instructor.sandbox import bwrap
from mlp_instructor.sandbox.limits import Cgroup, Limits
from mlp_instructor.sandbox.process import WorkerFailure, load_arrays, run_marker
from mlp_instructor.sandbox.uid import blocks_of
from mlp_instructor.worker import run_operation

from . import grading_attacks as attacks
from ._mnist import require_mnist
from .ordinary_user import run_processes

REPO = Path(__file__).resolve().parents[1]

#: Exact scores per rubric item that differ from full marks, and a phrase the feedback must contain.
EXPECTED = {
    "full_marks": ({}, None),
    "sigmoid_sign": ({"sigmoid": 1.67, "network_gradcheck": 6.67, "sequential": 2.5}, "Sigmoid.backward (dE/dy * y (1 - y)): the returned"),
    "ce_without_1_over_n": ({"cross_entropy": 2.0, "network_gradcheck": 6.67, "training": 7.5, "end_to_end": 0},
                            "SoftmaxCrossEntropyLoss.backward ((softmax(x) - t) / N): the returned gradient dE/dx: "
                            "wrong values"),
    "hinge_wrong_margin": ({"hinge": 0, "training": 7.5}, "HingeLoss(margin=2).forward (use self.margin): the loss value: wrong values"),
    "momentum_wrong": ({"sgd": 3.5, "training": 7.5, "end_to_end": 0}, "SGD.step with momentum 0.9, 3 steps"),
    "accuracy_after_update": ({"training": 5}, "train_epoch: one epoch of 47 samples in batches of 10, SGD with "
                              "momentum 0.9 (the mean batch loss and accuracy, and the weights after the epoch): the mean "
                              "of the batch accuracies (before each update): wrong values"),
    "infinite_loop": ({"early_stopping": 0}, "timed out: no answer within 10 s"),
    "syntax_error": ("all zero", "mlp_core does not import: SyntaxError"),
    "deleted_module": ("all zero", "mlp_core does not import: ModuleNotFoundError: No module named 'mlp_core.optim'"),
    "naive_sigmoid": ({"sigmoid": 3.33}, "numpy warned while your code ran (RuntimeWarning: overflow encountered in exp)"),
    "notebook_link": ({}, "notebooks/ (a symbolic link)"),
    "zip_deep": ({}, "graded the kit in the folder a/b/c/d/e/f/mlp-course/"),
    "zip_odd_names": ({}, "left out of the zip (2)"),
    **{name: ("all zero", None) for name in attacks.ATTACKS if name not in ("attack_symlinked_core",
                                                                              "attack_forged_report")},
    "attack_forged_report": ("all zero", "the sandbox did not start (the reply does not answer the request (the submission wrote into the channel?))"),
}
#: Submissions that cannot be graded at all, and the status the gradebook gives them.
NOT_GRADED = {
    "zip_two_kits": "the submission holds 2 copies of the kit (copy1/, copy2/): send one",
    "dup": "two submissions with this id ('dup' and 'dup.zip'): keep one and grade again",
    "attack_symlinked_core": "mlp_core is a symbolic link: a submission must contain its own code",
    "Zoë": "no mlp_core package (mlp_core/__init__.py) in the submission",
    "zoë": "no mlp_core package (mlp_core/__init__.py) in the submission",
    "ZOË <script>": "no mlp_core package (mlp_core/__init__.py) in the submission",
    "caf\\udce9": "no mlp_core package (mlp_core/__init__.py) in the submission",
}
STUDENT_ANSWER = "Because the hash is of the decompressed bytes <b>not</b> the gzip. ```"
#: What must never reach a student's feedback: lines of the checks, the rubric, the solution.
SECRETS = ("def build_checks", "[[item]]", "BEGIN SOLUTION", "np.matmul(x.T, grad_output, out=self.W.grad)")


def tree_digest(folder: Path) -> dict[str, str]:
    """Relative path -> hash of every file (links by target) under ``folder``."""
    found = {}
    for dirpath, dirnames, filenames in os.walk(folder):
        for name in filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
            path = Path(dirpath) / name
            key = os.fsencode(path.relative_to(folder)).decode("utf-8", "backslashreplace")
            if path.is_symlink():
                found[key] = "link:" + os.readlink(path)
            elif path.is_file():
                found[key] = hashlib.sha256(path.read_bytes()).hexdigest()
            else:  # a FIFO: opening it would wait for a writer
                found[key] = "special"
    return found


def sandbox_processes(pid: int | None = None) -> list[str]:
    """Processes of this run's sandboxes still alive (run by this process, or by the grader ``pid``).

    Another run on the machine (another class being graded) has its own
    sandbox uids and process titles: its processes are not counted.
    """
    pid = pid or os.getpid()
    run = run_marker().removeprefix("mlp-sandbox-") if pid == os.getpid() else str(pid)
    return run_processes(run, [uid for block in blocks_of(pid) for uid in block])


def answer_first_question(kit: Path) -> str:
    """Write STUDENT_ANSWER into the first answer cell of the released notebooks; return its key."""
    import nbformat

    for path in sorted((kit / "notebooks").glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            if ANSWER_TAG in cell.metadata.get("tags", []):
                cell.source = STUDENT_ANSWER
                nbformat.write(nb, path)
                return cell.metadata["mlp_course"]["question"]
    raise AssertionError("the release has no answer cell to fill in")


def zip_folder(folder: Path, archive_path: Path, prefix: str) -> None:
    with zipfile.ZipFile(archive_path, "w") as archive:
        for path in sorted(folder.rglob("*")):
            archive.write(path, f"{prefix}/{path.relative_to(folder).as_posix()}")


@pytest.fixture(scope="module")
def kit(tmp_path_factory) -> Path:
    """The student release of this repository, shared by every test here."""
    from mlp_instructor.release.command import release

    kit = tmp_path_factory.mktemp("release") / "kit"
    release(kit, import_check=False)
    return kit


def write_packing_cases(kit: Path, subs: Path, scratch: Path) -> None:
    """Submissions packed oddly: zips, deep folders, odd names, links, duplicates."""
    full = scratch / "full"
    shutil.copytree(kit, full)
    attacks.fill(full)
    zip_folder(full, subs / "zip_deep.zip", "a/b/c/d/e/f/mlp-course")
    with zipfile.ZipFile(subs / "zip_two_kits.zip", "w") as archive:
        for prefix in ("copy1", "copy2"):
            for path in sorted(full.rglob("*")):
                archive.write(path, f"{prefix}/{path.relative_to(full).as_posix()}")
    with zipfile.ZipFile(subs / "zip_odd_names.zip", "w") as archive:
        for path in sorted(full.rglob("*")):
            archive.write(path, f"kit/{path.relative_to(full).as_posix()}")
        archive.writestr("../escape.txt", "x")
        archive.writestr("kit/notebooks/10_extra.ipynb", b"\xff\xfe not json, not UTF-8")
        link = zipfile.ZipInfo("kit/mlp_core/extra.py")
        link.external_attr = 0o120777 << 16
        archive.writestr(link, "/etc/passwd")
        archive.writestr(zipfile.ZipInfo("kit/mlp_core/latin1.py"), b"# caf\xe9: not UTF-8, never imported\n")
    notebook_link = Path(shutil.copytree(full, subs / "notebook_link"))
    shutil.rmtree(notebook_link / "notebooks")
    (notebook_link / "notebooks").symlink_to(REPO / "notebooks", target_is_directory=True)
    os.mkfifo(notebook_link / "mlp_core" / "fifo.py")  # reading it would block the grader forever
    (subs / "dup").mkdir()
    shutil.copy(subs / "zip_deep.zip", subs / "dup.zip")
    for name in ("Zoë", "zoë", "ZOË <script>"):
        (subs / name).mkdir()
    os.mkdir(os.fsencode(subs) + b"/caf\xe9")
    link = subs / "attack_symlinked_core" / "mlp_core"
    link.unlink()
    link.symlink_to(REPO / "mlp_core", target_is_directory=True)


@pytest.fixture(scope="module")
def graded(kit, tmp_path_factory):
    """(report, gradebook rows, output folder, submissions folder, answered question key, digests)."""
    mnist = require_mnist()
    tmp = tmp_path_factory.mktemp("grading")
    subs = tmp / "submissions"
    attacks.write_class(kit, subs)
    question = answer_first_question(subs / "full_marks")
    write_packing_cases(kit, subs, tmp_path_factory.mktemp("scratch"))
    before = {"subs": tree_digest(subs), "repo": tree_digest(REPO / "mlp_instructor") | tree_digest(REPO / "mlp_core")}
    out = tmp / "gradebook"
    report = grade(subs, out, data_dir=mnist, memory_mb=1024, log=lambda line: None)
    at_return = {"processes": sandbox_processes(), "gradebook": (out / "gradebook.csv").read_text(),
                 "time": time.monotonic()}
    with open(out / "gradebook.csv", newline="") as f:
        rows = {row["student"]: row for row in csv.DictReader(f)}
    return report, rows, out, subs, question, before, at_return, tmp


def item_points() -> dict[str, float]:
    return {item.id: item.points for item in load_rubric(DEFAULT_RUBRIC).items}


def feedback_of(out: Path, student: str) -> str:
    return (out / "feedback" / f"{file_stem(student)}.md").read_text()


@pytest.mark.parametrize("student", sorted(EXPECTED))
def test_each_submission_gets_exactly_the_expected_score(graded, student):
    _, rows, out, *_ = graded
    changes, phrase = EXPECTED[student]
    points = item_points()
    expected = {i: 0.0 for i in points} if changes == "all zero" else {**points, **changes}
    row = rows[student]
    assert {i: float(row[i]) for i in points} == expected
    assert float(row["total"]) == pytest.approx(sum(expected.values()))
    assert row["status"] == "graded"
    feedback = feedback_of(out, student)
    total = re.search(r"^\*\*Total: ([0-9.]+) / 100\*\*$", feedback, re.M)
    assert total and float(total[1]) == pytest.approx(sum(expected.values())), feedback[:200]
    if phrase:
        assert grading_text(phrase) in feedback


def grading_text(phrase: str) -> str:
    """``phrase`` as the Markdown feedback writes it (Markdown punctuation escaped)."""
    return md_inline(phrase)


@pytest.mark.parametrize("student", sorted(NOT_GRADED))
def test_what_cannot_be_graded_gets_a_message_of_its_own(graded, student):
    _, rows, out, *_ = graded
    assert rows[student]["status"] == NOT_GRADED[student]
    assert float(rows[student]["total"]) == 0
    assert grading_text(NOT_GRADED[student]) in feedback_of(out, student)


def test_the_gradebook_and_the_feedback_write_points_alike(tmp_path):
    """Fractions of an item's points as hundredths, whole points without decimals, in the gradebook row,
    the total and the feedback's table and headings; a floating-point tail (0.1 + 0.2) never shows."""
    rubric = load_rubric(DEFAULT_RUBRIC)
    scores = {item.id: item.points for item in rubric.items} | {"sigmoid": 1.67, "network_gradcheck": 6.67,
                                                                   "sequential": 2.5, "l2": 0.1 + 0.2}
    result = SubmissionResult("ada", "0" * 64, checks=[CheckResult("sigmoid.forward", False, "wrong values")],
                              scores=scores, total=round(sum(scores.values()), 2))
    write_gradebook(tmp_path / "gradebook.csv", rubric, [result])
    with open(tmp_path / "gradebook.csv", newline="") as f:
        row = next(csv.DictReader(f))
    assert [row[k] for k in ("linear", "sigmoid", "sequential", "l2", "total")] == ["10", "1.67", "2.5", "0.3", "86.14"]
    page = to_markdown(feedback_blocks(result, rubric, {"sigmoid.forward": "Sigmoid.forward"}))
    assert "**Total: 86.14 / 100**" in page
    # (a cell's leading "1." escaped, as Markdown would start an ordered list there)
    assert "| Sigmoid: forward and backward, stable on large inputs | 1\\.67 / 5 | 0 / 1 |" in page
    assert "### Sequential: forward and backpropagation through the layer list (notebook 04): 2.5 / 5" in page
    assert "- FAIL Sigmoid.forward: wrong values" in page


def test_the_round_trip_gives_full_marks(graded):
    _, rows, out, *_ = graded
    assert float(rows["full_marks"]["total"]) == 100
    assert "FAIL" not in feedback_of(out, "full_marks")


def test_no_file_outside_the_sandboxes_changed(graded):
    _, _, out, subs, _, before, _, tmp = graded
    assert tree_digest(subs) == before["subs"], "a submission was changed during grading"
    assert tree_digest(REPO / "mlp_instructor") | tree_digest(REPO / "mlp_core") == before["repo"]
    marks = [p for p in tmp.rglob(f"*{attacks.MARK}*")] + [p for p in REPO.rglob(f"*{attacks.MARK}*")]
    assert marks == []


def test_no_process_outlives_grade_and_the_gradebook_stays_as_written(graded):
    _, _, out, _, _, _, at_return, _ = graded
    assert at_return["processes"] == []
    # The daemon attack would start rewriting gradebook.csv 5 s after it was started.
    time.sleep(max(0.0, at_return["time"] + 7 - time.monotonic()))
    assert sandbox_processes() == []
    assert (out / "gradebook.csv").read_text() == at_return["gradebook"]


def test_no_secret_reaches_any_feedback(graded):
    _, _, out, *_ = graded
    for page in (out / "feedback").iterdir():
        text = page.read_text()
        assert not [s for s in SECRETS if s in text], page.name
    assert "LEAK: nothing found" in feedback_of(out, "attack_leaks_secrets")


def test_limits_hold_for_the_whole_submission(graded):
    _, _, out, *_ = graded
    rubric = load_rubric(DEFAULT_RUBRIC)
    fork = feedback_of(out, "attack_fork_bomb")
    started = int(fork.split("ACHIEVED: ")[1].split(" child")[0])
    assert started < rubric.processes
    disk = feedback_of(out, "attack_disk_fill")
    assert int(disk.split("ACHIEVED: ")[1].split(" MB")[0]) <= rubric.disk_mb
    memory = feedback_of(out, "attack_memory_children")
    assert "ACHIEVED: 4 of 4" not in memory and "ACHIEVED: 3 of 4" not in memory


def test_feedback_file_names_are_unique_and_safe(graded):
    _, rows, out, *_ = graded
    names = [row["feedback"] for row in rows.values()]
    assert len(set(n.lower() for n in names)) == len(names)
    assert all(n.isascii() and " " not in n and "<" not in n for n in names)
    page = (out / "feedback" / f"{file_stem('ZOË <script>')}.html").read_text()
    assert "ZOË &lt;script&gt;" in page and "<script>" not in page


def test_skipped_entries_are_listed_in_the_feedback(graded):
    _, _, out, *_ = graded
    odd = feedback_of(out, "zip_odd_names")
    for phrase in ("../escape.txt (a path outside the folder)", "kit/mlp\\_core/extra.py (a symbolic link)",
                   "notebooks/10_extra.ipynb cannot be read (UnicodeDecodeError)"):
        assert phrase in odd or grading_text(phrase) in odd, phrase


def test_special_files_are_listed_not_read(graded):
    _, _, out, *_ = graded
    assert grading_text("mlp_core/fifo.py (not a regular file)") in feedback_of(out, "notebook_link")


def test_an_instructor_folder_inside_a_bound_tree_is_hidden(monkeypatch, tmp_path):
    monkeypatch.setattr(bwrap, "INSTRUCTOR_ROOT", Path("/usr/local/src/course"))
    command = bwrap.sandbox_command(tmp_path, 0, Limits(), "bwrap")
    assert command.index("/usr/local/src/course") > command.index("/usr") and \
        command[command.index("/usr/local/src/course") - 1] == "--tmpfs"
    monkeypatch.setattr(bwrap, "INSTRUCTOR_ROOT", REPO)
    assert str(REPO) not in bwrap.sandbox_command(tmp_path, 0, Limits(), "bwrap")


def test_replies_are_read_as_data():
    import io

    buffer = io.BytesIO()
    np.savez(buffer, y=np.array([{"a": 1}], dtype=object))
    with pytest.raises(WorkerFailure, match="cannot be read"):
        load_arrays(buffer.getvalue())
    buffer = io.BytesIO()
    np.savez(buffer, y=np.array(["text"]))
    with pytest.raises(WorkerFailure, match="not a number"):
        load_arrays(buffer.getvalue())
    with pytest.raises(WorkerFailure, match="cannot be read"):
        load_arrays(b"PK\x03\x04 not a zip")


def test_answers_are_collected_and_escaped_alike(graded):
    _, _, out, _, question, *_ = graded
    stem = question.replace("/", "-")
    page = (out / "answers" / f"{stem}.md").read_text()
    assert f"````\n{STUDENT_ANSWER}\n````" in page  # verbatim, in a fence longer than any run of backticks in it
    assert "## Model answer" in page and "### full\\_marks" in page and "(left blank)" in page
    html_page = (out / "answers" / f"{stem}.html").read_text()
    assert "&lt;b&gt;not&lt;/b&gt;" in html_page and "<b>not</b>" not in html_page


def test_feedback_html_and_markdown_come_from_one_structure(graded):
    _, _, out, *_ = graded
    md = feedback_of(out, "sigmoid_sign")
    page = (out / "feedback" / f"{file_stem('sigmoid_sign')}.html").read_text()
    assert md.count("- FAIL ") == page.count("<li class='FAIL'>") == 4
    every_check = len(build_checks(None)) + 1  # and the end-to-end check on MNIST
    assert md.count("- PASS ") == page.count("<li class='PASS'>") == every_check - 4
    assert "Use -v" not in md and "conftest" not in md


def test_rerun_grades_only_new_or_changed_submissions(graded):
    report, _, out, subs, *_ = graded
    assert report.unchanged == []
    again = grade(subs, out, data_dir=require_mnist(), memory_mb=1024, jobs=2, log=lambda line: None)
    assert again.graded == []
    training = subs / "infinite_loop" / "mlp_core" / "training.py"
    training.write_text(training.read_text().replace("        while True:\n            pass\n",
                                                     "        return self.epoch > 1000\n"))
    third = grade(subs, out, data_dir=require_mnist(), memory_mb=1024, jobs=2, log=lambda line: None)
    assert third.graded == ["infinite_loop"]
    with open(out / "gradebook.csv", newline="") as f:
        rows = {row["student"]: row for row in csv.DictReader(f)}
    assert float(rows["infinite_loop"]["early_stopping"]) == 0  # graded again: now wrong, no longer looping
    assert "timed out" not in feedback_of(out, "infinite_loop")
    assert float(rows["sigmoid_sign"]["total"]) == 90.84


def short_rubric(tmp_path: Path, timeout: float) -> Path:
    text = (REPO / "mlp_instructor" / "rubric.toml").read_text()
    rubric = tmp_path / "rubric.toml"
    rubric.write_text(text.replace("default_timeout = 10 ", f"default_timeout = {timeout} "))
    return rubric


def test_sigterm_keeps_finished_results_kills_every_sandbox_and_a_rerun_resumes(kit, tmp_path):
    subs = tmp_path / "subs"
    attacks.write_class(kit, subs, ["full_marks", "infinite_loop"])
    shutil.copytree(subs / "infinite_loop", subs / "loop2")
    out = tmp_path / "out"
    command = [sys.executable, "-m", "mlp_core", "grade", str(subs), "--out", str(out), "--jobs", "1",
               "--rubric", str(short_rubric(tmp_path, 3)), "--data-dir", str(require_mnist())]
    proc = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for line in proc.stdout:
        if "full_marks:" in line:
            break
    time.sleep(2)  # now inside infinite_loop's sandbox
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "finished submissions are kept" in err
    assert sandbox_processes(proc.pid) == []
    with open(out / "gradebook.csv", newline="") as f:
        assert [row["student"] for row in csv.DictReader(f)] == ["full_marks"]
    rerun = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert rerun.returncode == 0, rerun.stderr
    assert "graded 2 submission(s), 1 unchanged" in rerun.stdout


def test_without_bwrap_grading_refuses_unless_no_sandbox_which_says_so(kit, tmp_path, monkeypatch):
    subs = tmp_path / "subs"
    attacks.write_class(kit, subs, ["full_marks"])
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))  # a machine without bwrap
    with pytest.raises(GradingError, match="bwrap .* is not installed.*--no-sandbox"):
        grade(subs, tmp_path / "out", data_dir=require_mnist(), log=lambda line: None)
    lines: list[str] = []
    report = grade(subs, tmp_path / "out", data_dir=require_mnist(), sandbox=False, log=lines.append)
    assert report.results[0].total == 100
    assert any("NOT PROTECTED" in line for line in lines) and "WARNING: NOT PROTECTED" in report.summary()
    with open(tmp_path / "out" / "gradebook.csv", newline="") as f:
        assert "NOT PROTECTED" in next(csv.DictReader(f))["status"]
    assert "NOT PROTECTED" in feedback_of(tmp_path / "out", "full_marks")


def test_without_cgroups_the_rlimits_still_hold(kit, tmp_path, monkeypatch):
    """Where cgroups cannot be written: processes limited per sandbox user, memory per process."""
    subs = tmp_path / "subs"
    attacks.write_class(kit, subs, ["full_marks", "attack_fork_bomb", "attack_daemon"])
    monkeypatch.setattr(Cgroup, "available", classmethod(lambda cls: None))
    report = grade(subs, tmp_path / "out", data_dir=require_mnist(), log=lambda line: None)
    assert sandbox_processes() == []
    assert [r.total for r in report.results] == [0, 0, 100]
    fork = feedback_of(tmp_path / "out", "attack_fork_bomb")
    assert int(fork.split("ACHIEVED: ")[1].split(" child")[0]) < report_rubric().processes


def report_rubric() -> Rubric:
    return load_rubric(DEFAULT_RUBRIC)


def test_the_checks_cannot_pass_on_nothing():
    data = {"train_x": np.zeros((10, 784)), "train_y": np.zeros(10, int), "test_x": np.zeros((5, 784)),
            "test_y": np.zeros(5, int)}
    assert self_test(build_checks(data), seed=3) == []
    # A check on ReLU's gradient where every input is negative expects zeros: self_test refuses it.
    blind = Check("relu.blind", "ReLU.backward on negative inputs", "layer",
                  lambda rng: ({"layer": {"kind": "ReLU"}}, {"x": -1 - rng.random((2, 3)), "G": rng.random((2, 3))}),
                  (Compare("dx", "dE/dx"),))
    problems = self_test([blind])
    assert "relu.blind: a reply of zeros passes it" in problems
    assert "relu.blind: the expected dE/dx is (nearly) zero" in problems


def test_rubric_must_cover_every_check_and_fit_the_limits(tmp_path):
    text = (REPO / "mlp_instructor" / "rubric.toml").read_text()
    broken = tmp_path / "rubric.toml"
    broken.write_text(text.replace('checks = ["sgd.*"]', 'checks = ["sgd.plain"]'))
    rubric = load_rubric(broken)
    with pytest.raises(GradingError, match="check sgd.momentum belongs to 0 rubric items"):
        rubric.check_covers(["sgd.plain", "sgd.momentum"])
    broken.write_text(text.replace("points = 10", "points = -1", 1))
    with pytest.raises(GradingError, match="needs points > 0"):
        load_rubric(broken)
    broken.write_text(text.replace("timeout = 120", "timeout = 300"))
    with pytest.raises(GradingError, match="must be shorter than submission_timeout"):
        load_rubric(broken)


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


def test_stability_checks_overflow_a_naive_exp_whatever_the_seed():
    """The inputs of the stability checks are seeded by each submission: every seed must hold an
    entry beyond exp's float64 range (709.78), or a naive Sigmoid or softmax passes by luck."""
    for seed in range(500):
        rng = np.random.default_rng(seed)
        _, sigmoid_in = activation_request("Sigmoid", (4, 8), backward=True, large=True)(rng)
        _, softmax_in = loss_request("SoftmaxCrossEntropyLoss", 4, 5, backward=True, scale=600.0)(rng)
        assert (-sigmoid_in["x"]).max() > 709.78 and sigmoid_in["x"].max() > 709.78, seed
        assert softmax_in["x"].max() > 709.78, seed


def train_epoch_measuring_after_update(model, loss_fn, optimizer, images, labels, batch_size, rng, epoch=None):
    """A student's train_epoch with one mistake: each batch's accuracy measured after its update."""
    losses, accuracies = [], []
    for x, y in iterate_minibatches(images, labels, batch_size, rng):
        losses.append(loss_fn(model.forward(x), y))
        model.backward(loss_fn.backward())
        optimizer.step()
        accuracies.append(accuracy(model.forward(x), y))
    return float(np.mean(losses)), float(np.mean(accuracies))


def test_train_epoch_checks_catch_accuracy_measured_after_the_update_whatever_the_seed():
    """Each submission's inputs come from its own seed: on every seed, the train_epoch checks must fail a
    train_epoch that measures accuracy after each update (on small random networks the two orders often
    give the same mean, so that mistake's score would depend on luck)."""
    student = SimpleNamespace(**vars(mlp_core))
    student.train_epoch = train_epoch_measuring_after_update
    checks = [c for c in build_checks(None) if c.op == "train_epoch"]
    assert len(checks) == 2
    for check in checks:
        for seed in range(200):
            request = check.build(np.random.default_rng(seed))
            expected, _ = reference_outputs(check, request)
            params, arrays = request
            outputs, _ = run_operation(student, check.op, params, {k: v.copy() for k, v in arrays.items()})
            message = verdict(check, request, {"ok": True}, outputs, expected, {})
            assert "the mean of the batch accuracies (before each update): wrong values" in message, (seed, message)
