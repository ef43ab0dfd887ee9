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
import json
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
from mlp_instructor.grading.gradebook import points_text, write_gradebook
from mlp_instructor.grading.manual import load_written_questions
from mlp_instructor.grading.pages import feedback_blocks
from mlp_instructor.grading.results import CheckResult, SubmissionResult
from mlp_instructor.grading.rubric import DEFAULT_RUBRIC, Rubric, load_rubric
from mlp_instructor.hidden_checks.catalogue import build_checks
from mlp_instructor.hidden_checks.end_to_end import TRAINING, end_to_end_verdict, load_subset
from mlp_instructor.hidden_checks.exercises import EXERCISES
from mlp_instructor.hidden_checks.requests import activation_request, loss_request
from mlp_instructor.hidden_checks.verdicts import Check, Compare, reference_outputs, self_test, split_secrets, verdict
from mlp_instructor.notebooks import ANSWER_TAG, questions_of
from mlp_instructor.sandbox import bwrap
from mlp_instructor.sandbox.limits import Cgroup, Limits
from mlp_instructor.sandbox.process import WorkerFailure, load_arrays, run_marker
from mlp_instructor.sandbox.uid import blocks_of
from mlp_instructor.worker import run_operation

from . import grading_attacks as attacks
from ._mnist import require_mnist
from .ordinary_user import run_processes

REPO = Path(__file__).resolve().parents[1]
#: What a feedback page's total is out of: the rubric's items and its written questions (scored by hand).
POSSIBLE = load_rubric(DEFAULT_RUBRIC).max_points + sum(
    q.points for q in load_written_questions(DEFAULT_RUBRIC, questions_of(REPO / "notebooks")))

#: The feedback of a Sigmoid whose exp(-x) overflows (right values), whether numpy's warning is switched off or not.
NAIVE_SIGMOID = ("the outputs are right, but a floating-point overflow happened while your code ran (exp of a large "
                 "number?); switching numpy's warning off does not hide it from the grader")
#: Exact scores per rubric item that differ from full marks, and a phrase the feedback must contain.
EXPECTED = {
    "full_marks": ({}, None),
    "sigmoid_sign": ({"sigmoid": 1.17, "network_gradcheck": 4.67, "sequential": 1.75}, "Sigmoid.backward (dE/dy * y (1 - y)): the returned"),
    # (notebook 09's weight_gradient_norms runs on a network of the student's own mlp_core, cross-entropy included)
    "ce_without_1_over_n": ({"cross_entropy": 1.4, "network_gradcheck": 4.67, "training": 5.25, "end_to_end": 0,
                             "nb09_weight_gradient_norms": 0},
                            "SoftmaxCrossEntropyLoss.backward ((softmax(x) - t) / N): the returned gradient dE/dx: "
                            "wrong values"),
    "hinge_wrong_margin": ({"hinge": 0, "training": 5.25}, "HingeLoss(margin=2).forward (use self.margin): the loss value: wrong values"),
    "momentum_wrong": ({"sgd": 2.45, "training": 5.25, "end_to_end": 0}, "SGD.step with momentum 0.9, 3 steps"),
    "accuracy_after_update": ({"training": 3.5}, "train_epoch: one epoch of 47 samples in batches of 10, SGD with "
                              "momentum 0.9 (the mean batch loss and accuracy, and the weights after the epoch): the mean "
                              "of the batch accuracies (before each update): wrong values"),
    "infinite_loop": ({"early_stopping": 0}, "timed out: no answer within 10 s"),
    # mlp_core does not import: every mlp_core item 0, and the one notebook exercise run on a network of mlp_core;
    # the other notebook exercises need no mlp_core and are graded
    "syntax_error": ("no mlp_core", "mlp_core does not import: SyntaxError"),
    "deleted_module": ("no mlp_core", "mlp_core does not import: ModuleNotFoundError: No module named 'mlp_core.optim'"),
    "naive_sigmoid": ({"sigmoid": 2.33}, NAIVE_SIGMOID),
    "naive_sigmoid_silenced": ({"sigmoid": 2.33}, NAIVE_SIGMOID),
    # its notebooks/ is a link, never followed: no notebook exercise is read
    "notebook_link": ({e.item: 0 for e in EXERCISES}, "notebooks/ (a symbolic link)"),
    "zip_deep": ({}, "graded the kit in the folder a/b/c/d/e/f/mlp-course/"),
    "zip_odd_names": ({}, "left out of the zip (2)"),
    **{name: ("all zero", None) for name in attacks.ATTACKS if name not in ("attack_symlinked_core",
                                                                              "attack_forged_report",
                                                                              "attack_deep_folders", "attack_deep_zip",
                                                                              "attack_jos\u00e9")},
    "attack_forged_report": ("all zero", "the sandbox did not start (the reply does not answer the request (the submission wrote into the channel?))"),
    "attack_memorised_labels": ("all zero", "test accuracy after 5 epochs on the fixed MNIST subset; it must reach 80%"),
    "attack_answer_flood": ("all zero", f"has {attacks.FLOOD_ANSWER_CHARS} characters: only the first 10000 are kept"),
    "attack_npz_flood": ("all zero", "the reply lists 1427842 entries, more than 256"),
    "attack_deep_header": ("all zero", "the worker sent a reply header nested deeper than 16 levels"),
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
    "attack_deep_folders": "the submission has folders more than 32 levels deep (" + "/".join(["d"] * 33) + "): "
                           "remove them and submit again",
    "attack_deep_zip": "attack_deep_zip.zip: the zip has folders more than 32 levels deep (" + "d/" * 30 + "..."
                       + "/d" * 20 + "/notes.txt): remove them and submit again",
    "attack_jos\u00e9": "two submissions with this id ('attack_jose\u0301' and 'attack_jos\u00e9'; the same name in two "
                        "Unicode spellings, 'attack_jose\\u0301' and 'attack_jos\\xe9'): keep one and grade again",
}
STUDENT_ANSWER = "Because the hash is of the decompressed bytes <b>not</b> the gzip. ```"
#: What must never reach a student's feedback: lines of the checks, the rubric, the solution.
SECRETS = ("def build_checks", "[[item]]", "BEGIN SOLUTION", "np.matmul(x.T, grad_output, out=self.W.grad)")


def tree_digest(folder: Path) -> dict[str, str]:
    """Relative path -> hash of every file (links by target) under ``folder`` (walked without recursion)."""
    found = {}
    for path in attacks.every_path(folder):
        key = os.fsencode(path.relative_to(folder)).decode("utf-8", "backslashreplace")
        if path.is_symlink():
            found[key] = "link:" + os.readlink(path)
        elif path.is_dir():
            continue
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
    yield report, rows, out, subs, question, before, at_return, tmp
    attacks.remove_tree(subs / "attack_deep_folders")  # pytest's own clean-up walks with recursion


def item_points() -> dict[str, float]:
    return {item.id: item.points for item in load_rubric(DEFAULT_RUBRIC).items}


def feedback_of(out: Path, student: str) -> str:
    return (out / "feedback" / f"{file_stem(student)}.md").read_text()


@pytest.mark.parametrize("student", sorted(EXPECTED))
def test_each_submission_gets_exactly_the_expected_score(graded, student):
    _, rows, out, *_ = graded
    changes, phrase = EXPECTED[student]
    points = item_points()
    if changes == "all zero":
        expected = {i: 0.0 for i in points}
    elif changes == "no mlp_core":
        sections = {item.id: item.section for item in load_rubric(DEFAULT_RUBRIC).items}
        expected = {i: p if sections[i] == "notebooks" and i != "nb09_weight_gradient_norms" else 0.0
                    for i, p in points.items()}
    else:
        expected = {**points, **changes}
    row = rows[student]
    assert {i: float(row[i]) for i in points} == expected
    assert float(row["total"]) == pytest.approx(sum(expected.values()))
    assert row["status"] == "graded"
    feedback = feedback_of(out, student)
    total = re.search(rf"^\*\*Total: ([0-9.]+) / {points_text(POSSIBLE)}\*\*$", feedback, re.M)
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
    assert [row[k] for k in ("linear", "sigmoid", "sequential", "l2", "total")] == ["7", "1.67", "2.5", "0.3", "83.64"]
    page = to_markdown(feedback_blocks(result, rubric, {"sigmoid.forward": "Sigmoid.forward"}))
    assert "**Total: 83.64 / 90**" in page
    # (a number is no list marker: written as it is, no backslash)
    assert "| Sigmoid: forward and backward, stable on large inputs | 1.67 / 3.5 | 0 / 1 |" in page
    assert "### Sequential: forward and backpropagation through the layer list (notebook 04): 2.5 / 3.5" in page
    assert "- FAIL Sigmoid.forward: wrong values" in page


def test_the_round_trip_gives_full_marks(graded):
    _, rows, out, *_ = graded
    assert float(rows["full_marks"]["total"]) == load_rubric(DEFAULT_RUBRIC).max_points
    assert "FAIL" not in feedback_of(out, "full_marks")


def test_no_file_outside_the_sandboxes_changed(graded):
    _, _, out, subs, _, before, _, tmp = graded
    assert tree_digest(subs) == before["subs"], "a submission was changed during grading"
    assert tree_digest(REPO / "mlp_instructor") | tree_digest(REPO / "mlp_core") == before["repo"]
    marks = [p for p in attacks.every_path(tmp) if attacks.MARK in p.name] + [p for p in REPO.rglob(f"*{attacks.MARK}*")]
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
    for phrase in ("../escape.txt (a path outside the folder)", "kit/mlp_core/extra.py (a symbolic link)",
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
    assert "## Model answer" in page and "### full_marks" in page and "(left blank)" in page
    html_page = (out / "answers" / f"{stem}.html").read_text()
    assert "&lt;b&gt;not&lt;/b&gt;" in html_page and "<b>not</b>" not in html_page


def test_feedback_html_and_markdown_come_from_one_structure(graded):
    _, _, out, *_ = graded
    md = feedback_of(out, "sigmoid_sign")
    page = (out / "feedback" / f"{file_stem('sigmoid_sign')}.html").read_text()
    assert md.count("- FAIL ") == page.count("<li class='FAIL'>") == 4
    every_check = len(build_checks(None)) + 1 + len(EXERCISES)  # the end-to-end check, the notebook exercises
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
    assert float(rows["sigmoid_sign"]["total"]) == 83.59


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
    assert report.results[0].total == load_rubric(DEFAULT_RUBRIC).max_points
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
    assert [r.total for r in report.results] == [0, 0, load_rubric(DEFAULT_RUBRIC).max_points]
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
    broken.write_text(text.replace("points = 7", "points = -1", 1))
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


def memorised_predictions(table: dict[str, int], images: np.ndarray) -> tuple[np.ndarray, int]:
    """attack_memorised_labels' predictions (the public label of each image found by a hash of its bytes, else 0)
    and how many images it found."""
    keys = [hashlib.sha1(np.ascontiguousarray(row).tobytes()).hexdigest()[:16] for row in images]
    return np.array([table.get(key, 0) for key in keys]), sum(key in table for key in keys)


def test_no_table_of_public_labels_passes_the_end_to_end_check():
    """The end-to-end check's images are MNIST's, whose test labels are public: each submission meets them with
    its pixels permuted (one permutation per submission, for the training and the test images alike, never
    sent). A table of public labels keyed by each image's bytes knows every test image of the unpermuted subset,
    and none of the permuted ones; the solution, which does not see the pixels' order, still passes."""
    mnist = require_mnist()
    subset = load_subset(mnist)
    table = attacks.public_label_table(mnist)
    check = next(c for c in build_checks(subset) if c.name == "end_to_end.mlp1_mnist")
    predictions, found = memorised_predictions(table, subset["test_x"])
    assert found == len(subset["test_x"])
    assert end_to_end_verdict(None, {"predictions": predictions}, {"test_y": subset["test_y"]}) == ""
    orders = set()
    for seed in range(3):
        request = check.build(np.random.default_rng([seed, len(build_checks(None))]))
        (params, sent), kept = split_secrets(check, request)
        assert sorted(sent) == ["test_x", "train_x", "train_y"] and params == TRAINING
        assert np.array_equal(sent["train_y"], subset["train_y"]) and np.array_equal(kept["test_y"], subset["test_y"])
        for key in ("train_x", "test_x"):  # every image keeps its pixel values, in another order
            assert not np.array_equal(sent[key], subset[key])
            assert np.array_equal(np.sort(sent[key], axis=1), np.sort(subset[key], axis=1))
        orders.add(sent["test_x"][0].tobytes())
        predictions, found = memorised_predictions(table, sent["test_x"])
        assert found == 0
        assert "it must reach 80%" in check.verdict((params, sent), {"predictions": predictions}, kept)
        outputs, _ = run_operation(mlp_core, check.op, params, dict(sent))
        assert check.verdict((params, sent), outputs, kept) == "", seed
    assert len(orders) == 3


#: Sigmoid.forward, naive (exp(-x) overflows for x below about -709.78), with numpy's overflow warning switched
#: off in each way numpy offers.
SILENCED_SIGMOIDS = {
    "errstate": "with np.errstate(over='ignore'):\n    y = 1 / (1 + np.exp(-x))",
    "errstate_all": "with np.errstate(all='ignore'):\n    y = 1 / (1 + np.exp(-x))",
    "seterr": "old = np.seterr(all='ignore')\ny = 1 / (1 + np.exp(-x))\nnp.seterr(**old)",
    "seterrcall": "np.seterrcall(None)\nwith np.errstate(all='ignore', call=None):\n    y = 1 / (1 + np.exp(-x))",
    "raise_then_ignore": ("try:\n    with np.errstate(over='raise'):\n        y = 1 / (1 + np.exp(-x))\n"
                          "except FloatingPointError:\n"
                          "    with np.errstate(over='ignore'):\n        y = 1 / (1 + np.exp(-x))"),
}
#: A Sigmoid that tries the naive formula with overflow raising, and falls back on a stable one: nothing overflows
#: past the raise, so it passes.
RAISE_THEN_STABLE = ("try:\n    with np.errstate(over='raise'):\n        y = 1 / (1 + np.exp(-x))\n"
                     "except FloatingPointError:\n    y = 0.5 * (1 + np.tanh(0.5 * x))")

#: Run in a fresh interpreter as the sandbox's worker runs (numpy's error settings kept by the worker): the
#: feedback of sigmoid.large_inputs for each Sigmoid of SILENCED_SIGMOIDS (and the solution's), on 20 seeds.
_SILENCED_RUN = r'''
import json, sys, textwrap
from types import SimpleNamespace
import numpy as np
from mlp_instructor import worker
worker.keep_overflow_reported(np)
import mlp_core
from mlp_instructor.hidden_checks.catalogue import build_checks
from mlp_instructor.hidden_checks.verdicts import reference_outputs, verdict
check = next(c for c in build_checks(None) if c.name == "sigmoid.large_inputs")
found = {}
for name, code in json.loads(sys.argv[1]).items():
    namespace = {"np": np}
    exec("def forward(self, x):\n" + textwrap.indent(code + "\nself.cache = y\nreturn y", "    "), namespace)
    student = SimpleNamespace(**vars(mlp_core))
    student.Sigmoid = mlp_core.Sigmoid
    if code:
        student.Sigmoid = type("Sigmoid", (mlp_core.Sigmoid,), {"forward": namespace["forward"]})
    found[name] = set()
    for seed in range(20):
        request = check.build(np.random.default_rng(seed))
        expected, _ = reference_outputs(check, request)
        arrays = {k: v.copy() for k, v in request[1].items()}
        outputs, texts = worker.run_operation(student, check.op, request[0], arrays)
        found[name].add(verdict(check, request, {"ok": True, "warnings": texts}, outputs, expected, {}))
print(json.dumps({name: sorted(messages) for name, messages in found.items()}))
'''


def test_a_naive_sigmoid_fails_its_stability_check_whether_numpy_warns_or_not():
    """A naive Sigmoid, 1 / (1 + exp(-x)), returns the right values on large inputs (1 / (1 + inf) is the right 0):
    only its overflow tells it from a stable one. In the sandbox numpy reports every overflow to the worker,
    however the submission's code asks numpy to keep quiet, so switching the warning off changes nothing."""
    check = next(c for c in build_checks(None) if c.name == "sigmoid.large_inputs")
    request = check.build(np.random.default_rng(0))
    expected, _ = reference_outputs(check, request)
    # Here, outside the sandbox, numpy obeys the code: silenced, the naive Sigmoid leaves no trace and passes.
    student = SimpleNamespace(**vars(mlp_core))
    namespace = {"np": np}
    exec("def forward(self, x):\n    with np.errstate(over='ignore'):\n        y = 1 / (1 + np.exp(-x))\n"
         "    self.cache = y\n    return y", namespace)
    student.Sigmoid = type("Sigmoid", (mlp_core.Sigmoid,), {"forward": namespace["forward"]})
    outputs, texts = run_operation(student, check.op, request[0], {k: v.copy() for k, v in request[1].items()})
    assert texts == [] and verdict(check, request, {"ok": True, "warnings": texts}, outputs, expected, {}) == ""
    proc = subprocess.run([sys.executable, "-c", _SILENCED_RUN,
                           json.dumps(SILENCED_SIGMOIDS | {"solution": "", "raise_then_stable": RAISE_THEN_STABLE})],
                          capture_output=True, text=True, cwd=REPO, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    found = json.loads(proc.stdout)
    assert found.pop("solution") == found.pop("raise_then_stable") == [""]
    assert all(messages == [found["errstate"][0]] for messages in found.values()), found
    assert NAIVE_SIGMOID in found["errstate"][0]


class _LogOfSoftmax:
    """A cross-entropy that subtracts the max but takes the log of the softmax, numpy's warnings switched off."""

    def __call__(self, x, labels):
        return self.forward(x, labels)

    def forward(self, x, labels):
        with np.errstate(all="ignore"):
            e = np.exp(x - x.max(axis=1, keepdims=True))
            p = e / e.sum(axis=1, keepdims=True)
            self.cache = (p, labels)
            return float(-np.mean(np.log(p[np.arange(len(labels)), labels])))

    def backward(self):
        p, labels = self.cache
        grad = p.copy()
        grad[np.arange(len(labels)), labels] -= 1
        return grad / len(labels)


def _naive_softmax(x):
    with np.errstate(all="ignore"):
        e = np.exp(x)
        return e / e.sum(axis=1, keepdims=True)


def test_softmax_and_cross_entropy_stability_is_judged_by_values_whatever_the_seed():
    """No warning decides softmax.large_scores and cross_entropy.large_logits: on every seed, a naive softmax
    (no max subtracted) and a cross-entropy that takes the log of a softmax fail by their outputs (NaN, inf),
    numpy's warnings switched off, and the solution passes."""
    checks = {c.name: c for c in build_checks(None)}
    cases = [("softmax.large_scores", "softmax", _naive_softmax),
             ("cross_entropy.large_logits", "SoftmaxCrossEntropyLoss", _LogOfSoftmax)]
    for name, attribute, naive in cases:
        student = SimpleNamespace(**vars(mlp_core))
        setattr(student, attribute, naive)
        check = checks[name]
        for seed in range(200):
            request = check.build(np.random.default_rng(seed))
            expected, warned = reference_outputs(check, request)
            assert verdict(check, request, {"ok": True, "warnings": warned}, expected, expected, {}) == ""
            outputs, texts = run_operation(student, check.op, request[0], {k: v.copy() for k, v in request[1].items()})
            assert texts == []
            message = verdict(check, request, {"ok": True}, outputs, expected, {})
            assert "contains NaN or infinity" in message, (name, seed, message)


def test_the_summary_gives_every_student_one_line_and_obeys_no_escape(graded):
    """A folder named with a newline cannot forge a line, nor one with an ANSI escape clear the screen."""
    report, rows, *_ = graded
    summary = report.summary()
    assert "\x1b" not in summary and not re.search(r"^\s*victim", summary, re.M)
    assert "  attack_newline\\n  victim" in summary and "attack_ansi\\x1b[2J\\x1b[H" in summary
    assert len(summary.splitlines()) == len(rows) + 2  # the count, one line per student, where the files are
