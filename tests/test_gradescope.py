"""The Gradescope autograder, run as Gradescope runs it, in a copy of Gradescope's tree.

``python -m mlp_core gradescope`` writes the zip; the tests unpack it into
``ROOT/source`` of a temporary ``ROOT`` laid out as Gradescope's
``/autograder`` (its specification: ``docs/specs.md`` of
github.com/gradescope/autograder_samples), run its ``setup.sh`` (a virtual
environment with the kit installed from the zip, at the pinned versions)
and then its ``run_autograder`` on a perfect, a faulty and a hostile
submission (and two of ``grading_attacks``: a naive Sigmoid with numpy's
overflow warning switched off, a table of MNIST's public test labels),
with the student's code as a user of its own (the sandbox
Gradescope's containers leave when they refuse Bubblewrap's namespaces)
and in Bubblewrap. Each ``results.json`` is checked against the documented
fields, and its scores against the local gradebook's for the same
submissions. The hostile one tries to rewrite ``results.json``, read the
rubric and the hidden checks, signal the judge and leave a daemon behind.
"""
# instructor-only

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import pytest

from mlp_instructor.gradescope.autograder import build_autograder
from mlp_instructor.grading import GradingError
from mlp_instructor.grading.command import grade
from mlp_instructor.grading.judge import Grader
from mlp_instructor.grading.rubric import DEFAULT_RUBRIC, load_rubric
from mlp_instructor.sandbox.uid import RUNS, SLOTS, UID_BASE

from . import grading_attacks as attacks
from ._mnist import require_mnist

#: Names what the hostile submission leaves wherever it manages to write.
MARK = "mlp-gradescope-attack"

#: Appended to mlp_core/__init__.py of a released kit (it implements nothing: it deserves 0). It finds the
#: autograder's root from the judge's command line, tries what a student could try on Gradescope, leaves a
#: daemon and a file behind, and reports what worked in every check's failure message.
HOSTILE = r'''
import os as _os, time as _time
_got = []
def _find_root():
    for pid in _os.listdir("/proc"):
        try:
            args = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")
        except OSError:
            continue
        if b"mlp_instructor.gradescope.run" in args and b"--root" in args:
            return args[args.index(b"--root") + 1].decode(), int(pid)
    return "/autograder", 0
_ROOT, _JUDGE = _find_root()
def _try(what, action):
    try:
        action()
        _got.append(what)
    except Exception:
        pass
def _forge():
    with open(_ROOT + "/results/results.json", "w") as f:
        f.write('{"score": 100, "tests": []}')
_try("rewrote results.json", _forge)
_try("wrote into results/", lambda: open(_ROOT + "/results/@MARK@", "w").close())
_try("read the rubric", lambda: open(_ROOT + "/source/rubric.toml").read())
_try("read the hidden checks", lambda: open(_ROOT + "/source/kit/mlp_instructor/hidden_checks/catalogue.py").read())
_try("read the solution", lambda: open(_ROOT + "/source/kit/mlp_core/layers.py").read())
_try("listed the autograder's source", lambda: _os.listdir(_ROOT + "/source"))
_try("read the judge's environment", lambda: open(f"/proc/{_JUDGE}/environ", "rb").read())
_try("may signal the judge", lambda: _os.kill(_JUDGE, 0) if _JUDGE else 1 / 0)
try:
    open("/tmp/@MARK@-left-behind", "w").close()
except OSError:
    pass
if not _os.environ.get("MLP_GRADESCOPE_CANARY") and _os.fork() == 0:  # a daemon: it keeps trying for 30 s
    try:
        _os.setsid()
    except OSError:  # bwrap's seccomp filter refuses new sessions
        pass
    if _os.fork() == 0:
        for _ in range(150):
            try:
                with open(_ROOT + "/results/results.json", "w") as f:
                    f.write('{"score": 100, "tests": []}')
            except OSError:
                pass
            _time.sleep(0.2)
    _os._exit(0)
from . import layers as _layers
def _report(self, x):
    raise RuntimeError("ACHIEVED: " + ("; ".join(_got) or "nothing") + f" (aimed at {_ROOT})")
_layers.Linear.forward = _report
'''.replace("@MARK@", MARK)

#: The fields of results.json the specification documents ("Output format"), and the values it allows.
TOP_FIELDS = {"score", "execution_time", "output", "output_format", "test_output_format", "test_name_format",
              "visibility", "stdout_visibility", "extra_data", "tests", "leaderboard"}
TEST_FIELDS = {"score", "max_score", "status", "name", "name_format", "number", "output", "output_format", "tags",
               "visibility", "extra_data"}
VISIBILITY = {"hidden", "after_due_date", "after_published", "visible"}
FORMATS = {"text", "html", "simple_format", "md", "ansi"}


def check_results_format(data: dict) -> None:
    """``data`` holds only documented fields, of the documented kinds, one test per rubric item."""
    assert set(data) <= TOP_FIELDS, set(data) - TOP_FIELDS
    assert isinstance(data["score"], (int, float)) and isinstance(data["execution_time"], (int, float))
    assert isinstance(data["output"], str) and data["visibility"] in VISIBILITY
    assert data["stdout_visibility"] in VISIBILITY
    assert {data[k] for k in ("output_format", "test_output_format", "test_name_format")} <= FORMATS
    rubric = load_rubric(DEFAULT_RUBRIC)
    assert len(data["tests"]) == len(rubric.items)
    for test, item in zip(data["tests"], rubric.items):
        assert set(test) <= TEST_FIELDS, set(test) - TEST_FIELDS
        assert test["name"].startswith(item.title) and test["max_score"] == item.points
        assert isinstance(test["score"], (int, float)) and 0 <= test["score"] <= test["max_score"]
        assert test["status"] == ("passed" if test["score"] == test["max_score"] else "failed")
        assert test["visibility"] in VISIBILITY and isinstance(test["output"], str) and test["output"]
        assert all(line.startswith(("PASS ", "FAIL ")) for line in test["output"].splitlines())
    assert data["score"] == pytest.approx(sum(t["score"] for t in data["tests"]), abs=0.011)


def tree_digest(folder: Path) -> dict[str, tuple]:
    """Relative path -> (content, mode) of every file under ``folder``."""
    return {str(p.relative_to(folder)): (p.read_bytes(), p.stat().st_mode) for p in sorted(folder.rglob("*"))
            if p.is_file() and not p.is_symlink()}


def sandbox_uid_processes() -> list[str]:
    """Processes running as any uid the uid sandboxes hand out (none may outlive run_autograder)."""
    alive = []
    for pid in os.listdir("/proc"):
        try:
            status = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
                          if ":" in line)
        except (OSError, NotADirectoryError):
            continue
        uids = status.get("Uid", "").split()[:3]
        if any(UID_BASE <= int(u) < UID_BASE + RUNS * SLOTS for u in uids) and \
                not status.get("State", "").strip().startswith("Z"):  # a zombie is dead already
            alive.append(f"{pid} (uids {' '.join(uids)})")
    return alive


@pytest.fixture(scope="module")
def submissions(tmp_path_factory) -> Path:
    """A perfect, a faulty and a hostile submission, each a filled-in copy of this repository's release."""
    from mlp_instructor.release.command import release

    kit = tmp_path_factory.mktemp("release") / "kit"
    release(kit, import_check=False)
    subs = tmp_path_factory.mktemp("class") / "submissions"
    attacks.write_class(kit, subs, ["full_marks", "sigmoid_sign", "naive_sigmoid_silenced", "attack_memorised_labels"])
    hostile = Path(shutil.copytree(kit, subs / "hostile"))
    with open(hostile / "mlp_core" / "__init__.py", "a") as f:
        f.write(HOSTILE)
    return subs


@pytest.fixture(scope="module")
def autograder(tmp_path_factory) -> Path:
    """Gradescope's /autograder under a temporary ROOT: the zip in ROOT/source, after its setup.sh ran."""
    if os.geteuid() != 0:
        pytest.skip("run_autograder runs as root, as Gradescope runs it (it runs the student's code as another user)")
    zip_path = build_autograder(tmp_path_factory.mktemp("zip") / "autograder.zip", data_dir=require_mnist())
    root = Path(tempfile.mkdtemp(prefix="mlp-gradescope-root-"))  # not under pytest's owner-only folders
    root.chmod(0o755)
    try:
        with zipfile.ZipFile(zip_path) as archive:
            archive.extractall(root / "source")
        for name in ("setup.sh", "run_autograder"):
            (root / "source" / name).chmod(0o755)
        (root / "submission").mkdir()
        (root / "results").mkdir()
        env = {**os.environ, "MLP_AUTOGRADER_SOURCE": str(root / "source"), "MLP_AUTOGRADER_VENV": str(root / "venv")}
        setup = subprocess.run(["bash", str(root / "source" / "setup.sh")], env=env, capture_output=True, text=True,
                               timeout=900)
        assert setup.returncode == 0, setup.stdout[-2000:] + setup.stderr[-3000:]
        full = load_rubric(DEFAULT_RUBRIC).max_points
        assert f"the instructor's solution gets {full:g} / {full:g}" in setup.stdout
        shutil.copy(root / "source" / "run_autograder", root / "run_autograder")  # where Gradescope puts it
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


def run_autograder(root: Path, submission: Path, *args: str) -> tuple[dict, subprocess.CompletedProcess]:
    """Put ``submission`` in ROOT/submission and run ROOT/run_autograder as Gradescope would."""
    shutil.rmtree(root / "submission")
    shutil.copytree(submission, root / "submission", symlinks=True)
    (root / "results" / "results.json").unlink(missing_ok=True)
    env = {**os.environ, "MLP_AUTOGRADER_ROOT": str(root), "MLP_AUTOGRADER_VENV": str(root / "venv")}
    proc = subprocess.run([str(root / "run_autograder"), *args], cwd=root, env=env, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    return json.loads((root / "results" / "results.json").read_text()), proc


@pytest.fixture(scope="module")
def gradebook(submissions, tmp_path_factory) -> dict[str, dict[str, str]]:
    """The local gradebook of the same three submissions (``grade``, in Bubblewrap)."""
    out = tmp_path_factory.mktemp("gradebook")
    grade(submissions, out, data_dir=require_mnist(), log=lambda line: None)
    with open(out / "gradebook.csv", newline="") as f:
        return {row["student"]: row for row in csv.DictReader(f)}


def scores_of(data: dict) -> list[float]:
    return [t["score"] for t in data["tests"]]


def gradebook_scores(row: dict[str, str]) -> list[float]:
    return [float(row[item.id]) for item in load_rubric(DEFAULT_RUBRIC).items]


@pytest.mark.parametrize("sandbox", ["uid", "auto"])
@pytest.mark.parametrize("student", ["full_marks", "sigmoid_sign"])
def test_results_json_follows_the_specification_and_equals_the_gradebook(autograder, submissions, gradebook,
                                                                        student, sandbox):
    data, proc = run_autograder(autograder, submissions / student, "--sandbox", sandbox)
    check_results_format(data)
    assert scores_of(data) == gradebook_scores(gradebook[student])
    assert data["score"] == float(gradebook[student]["total"])
    assert f"sandbox: {'uid' if sandbox == 'uid' else 'bwrap'}" in proc.stdout
    if student == "sigmoid_sign":
        sigmoid = data["tests"][1]
        assert sigmoid["status"] == "failed" and sigmoid["score"] == 1.17
        assert ("FAIL Sigmoid.backward (dE/dy * y (1 - y)): the returned gradient dE/dx: wrong values"
                in sigmoid["output"])
        full = load_rubric(DEFAULT_RUBRIC).max_points
        assert "What went wrong:" in data["output"] and data["output"].startswith(f"Total: 83.59 / {full:g}")
    else:
        rubric = load_rubric(DEFAULT_RUBRIC)
        assert data["score"] == rubric.max_points
        assert all(t["status"] == "passed" for t in data["tests"])
        notebook_items = [i for i, item in enumerate(rubric.items) if item.section == "notebooks"]
        assert len(notebook_items) >= 16  # the notebook exercises, graded in Gradescope's sandbox too
        assert sum(data["tests"][i]["score"] for i in notebook_items) == 20


#: What a Sigmoid that overflows (its warning silenced) scores: full marks but a third of the sigmoid item.
SILENCED_TOTAL = round(load_rubric(DEFAULT_RUBRIC).max_points
                       - next(i.points for i in load_rubric(DEFAULT_RUBRIC).items if i.id == "sigmoid") / 3, 2)


@pytest.mark.parametrize("sandbox", ["uid", "auto"])
@pytest.mark.parametrize("student, total", [("attack_memorised_labels", 0), ("naive_sigmoid_silenced", SILENCED_TOTAL)])
def test_public_labels_and_a_silenced_overflow_score_as_in_grade(autograder, submissions, gradebook, student, total,
                                                                 sandbox):
    """The judge and the worker are grade's: a table of MNIST's public test labels earns nothing (the end-to-end
    images are permuted per submission), and a naive Sigmoid loses its stability check with numpy's overflow
    warning switched off (the worker still sees the overflow)."""
    data, _ = run_autograder(autograder, submissions / student, "--sandbox", sandbox)
    assert data["score"] == total == float(gradebook[student]["total"])
    assert scores_of(data) == gradebook_scores(gradebook[student])


@pytest.mark.parametrize("sandbox", ["uid", "auto"])
def test_a_hostile_submission_scores_0_and_cannot_touch_the_results_or_the_secrets(autograder, submissions,
                                                                                   gradebook, sandbox):
    source_before = tree_digest(autograder / "source")
    data, _ = run_autograder(autograder, submissions / "hostile", "--sandbox", sandbox)
    written = (autograder / "results" / "results.json").read_text()
    check_results_format(data)
    assert data["score"] == 0 and scores_of(data) == gradebook_scores(gradebook["hostile"]) == [0.0] * len(data["tests"])
    aimed_at = autograder if sandbox == "uid" else "/autograder"  # (bwrap's PID namespace hides the judge)
    assert f"ACHIEVED: nothing (aimed at {aimed_at})" in data["tests"][0]["output"], data["tests"][0]["output"][:600]
    assert sorted(p.name for p in (autograder / "results").iterdir()) == ["results.json"]
    assert tree_digest(autograder / "source") == source_before
    assert sandbox_uid_processes() == []
    assert not list(Path(tempfile.gettempdir()).glob(f"{MARK}*"))
    time.sleep(3)  # the daemon, had it survived, would be rewriting results.json now
    assert (autograder / "results" / "results.json").read_text() == written


def test_the_hostile_submission_gets_what_it_tries_where_nothing_stops_it(submissions, tmp_path):
    """The control: the same attacks, run by root beside a fake judge, achieve each thing they try."""
    root = tmp_path / "root"
    for name in ("source/rubric.toml", "source/kit/mlp_instructor/hidden_checks/catalogue.py",
                 "source/kit/mlp_core/layers.py", "results/results.json"):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text("secret")
    judge = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "mlp_instructor.gradescope.run",
                              "--root", str(root)])
    try:
        proc = subprocess.run([sys.executable, "-c", "import mlp_core; mlp_core.Linear.forward(None, None)"],
                              cwd=submissions / "hostile", capture_output=True, text=True, timeout=120,
                              env={**os.environ, "MLP_GRADESCOPE_CANARY": "1"})
    finally:
        judge.kill()
        judge.wait()
        Path(tempfile.gettempdir(), f"{MARK}-left-behind").unlink(missing_ok=True)
    assert (f"ACHIEVED: rewrote results.json; wrote into results/; read the rubric; read the hidden checks; "
            f"read the solution; listed the autograder's source; read the judge's environment; may signal the judge "
            f"(aimed at {root})") in proc.stderr, proc.stderr[-1000:]
    assert json.loads((root / "results" / "results.json").read_text())["score"] == 100


def test_the_instructors_files_are_roots_alone_after_setup(autograder):
    assert oct((autograder / "source").stat().st_mode & 0o777) == "0o700"
    rubric = autograder / "source" / "rubric.toml"
    assert rubric.stat().st_mode & 0o077 == 0
    worker = autograder / "source" / "kit" / "mlp_instructor" / "worker"
    assert all(p.stat().st_mode & 0o004 for p in worker.glob("*.py")) and worker.stat().st_mode & 0o005 == 0o005  # no secret


def test_a_kit_uploaded_as_one_zip_is_graded(autograder, submissions, tmp_path):
    upload = tmp_path / "upload"
    upload.mkdir()
    with zipfile.ZipFile(upload / "my-kit.zip", "w") as archive:
        for path in sorted((submissions / "sigmoid_sign").rglob("*")):
            archive.write(path, f"mlp-course/{path.relative_to(submissions / 'sigmoid_sign').as_posix()}")
    data, _ = run_autograder(autograder, upload, "--sandbox", "uid")
    assert data["score"] == 83.59


def check_broken_results(data: dict) -> None:
    """``results.json`` of a machine that cannot grade: documented fields only, no score, no test, says so."""
    assert set(data) <= TOP_FIELDS, set(data) - TOP_FIELDS
    assert "score" not in data and "tests" not in data  # nothing Gradescope could record as a 0
    assert data["output"].startswith("The autograder is broken") and "not of your submission" in data["output"]
    assert data["output_format"] in FORMATS and data["stdout_visibility"] in VISIBILITY


def run_broken(autograder: Path, submission: Path, *prefix: str, sandbox: str = "auto"
               ) -> tuple[dict, subprocess.CompletedProcess]:
    """Run ``run_autograder`` (under ``prefix``, e.g. unshare) where it cannot grade: exit 1, results.json read."""
    shutil.rmtree(autograder / "submission")
    shutil.copytree(submission, autograder / "submission")
    (autograder / "results" / "results.json").unlink(missing_ok=True)
    env = {**os.environ, "MLP_AUTOGRADER_ROOT": str(autograder), "MLP_AUTOGRADER_VENV": str(autograder / "venv")}
    proc = subprocess.run([*prefix, str(autograder / "run_autograder"), "--sandbox", sandbox], cwd=autograder, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 1, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert "error of the grading machine, not of the submission" in proc.stderr
    data = json.loads((autograder / "results" / "results.json").read_text())
    check_broken_results(data)
    return data, proc


def test_a_machine_that_cannot_grade_says_so_in_results_json_never_a_0(autograder, submissions):
    """A sandbox that cannot start the worker is the machine's error: exit 1, and a results.json without a score
    that says the autograder is broken (never a 0 for the student)."""
    worker = autograder / "source" / "kit" / "mlp_instructor" / "worker"
    mode = worker.stat().st_mode
    worker.chmod(0o700)  # bwrap's sandbox user can no longer read the worker: every check would "crash"
    try:
        data, proc = run_broken(autograder, submissions / "full_marks", sandbox="bwrap")
    finally:
        worker.chmod(mode)
    assert "preflight: the sandbox does not work here" in data["output"]
    assert "the sandbox did not start the worker" in proc.stderr
    assert "can't find '__main__' module" in proc.stderr  # what the sandbox wrote: the worker folder is unreadable


def test_a_rootless_container_says_so_in_results_json_never_a_0(autograder, submissions):
    """Root of a user namespace that maps uid 0 alone: neither sandbox can become its uid (issue 21)."""
    if subprocess.run(["unshare", "--user", "--map-root-user", "true"], capture_output=True).returncode != 0:
        pytest.skip("this machine does not allow unshare --user --map-root-user")
    data, proc = run_broken(autograder, submissions / "full_marks", "unshare", "--user", "--map-root-user")
    assert "no sandbox works in this container" in data["output"]
    assert "bwrap: preflight: the sandbox does not work here" in proc.stderr
    assert "setpriv: setresuid failed" in proc.stderr and "rootless container" in proc.stderr


def test_the_autograder_zip_has_what_gradescope_needs_and_refuses_bad_input(tmp_path):
    out = build_autograder(tmp_path / "autograder.zip", data_dir=require_mnist(), visibility="after_due_date",
                           memory_mb=1024)
    with zipfile.ZipFile(out) as archive:
        names = set(archive.namelist())
        settings = json.loads(archive.read("autograder.json"))
        modes = {i.filename: i.external_attr >> 16 for i in archive.infolist()}
    assert {"setup.sh", "run_autograder", "rubric.toml", "kit/constraints.txt", "kit/pyproject.toml",
            "kit/mlp_core/layers.py", "kit/mlp_instructor/worker/__main__.py",
            "kit/notebooks/09_vanishing_gradients.ipynb"} <= names
    assert len([n for n in names if n.startswith("mnist/")]) == 4
    assert not [n for n in names if "__pycache__" in n or n.startswith("kit/tests/")
                or (n.startswith("kit/notebooks/") and not n.endswith(".ipynb"))]
    assert modes["run_autograder"] & 0o111 and modes["setup.sh"] & 0o111
    assert settings["visibility"] == "after_due_date" and settings["memory_mb"] == 1024
    assert out.stat().st_mode & 0o077 == 0  # it holds the solution
    for bad, message in [(tmp_path / "a.tar", "must be a .zip"), (tmp_path / "missing" / "a.zip", "does not exist")]:
        with pytest.raises(GradingError, match=message):
            build_autograder(bad, data_dir=require_mnist())
    with pytest.raises(GradingError, match="carries MNIST"):
        build_autograder(tmp_path / "b.zip", data_dir=tmp_path)
    assert not (tmp_path / "b.zip").exists()


def test_without_bwrap_the_refusal_names_every_way_out(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))  # a machine without bwrap
    with pytest.raises(GradingError) as caught:
        Grader(data_dir=require_mnist())
    message = str(caught.value)
    assert "\n" not in message
    for way_out in ("apt-get install bubblewrap", "Linux VM or container", "Gradescope",
                    "python -m mlp_core gradescope", "--no-sandbox"):
        assert way_out in message, way_out
