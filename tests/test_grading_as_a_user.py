"""The hostile class graded by an ordinary user, as most instructors grade: the same scores and limits as root.

One class (the solution, a fault, and every attack of ``tests/grading_attacks.py``)
is graded twice with ``python -m mlp_core grade``: by root, and by the
ordinary user ``.ci/run`` makes (:mod:`tests.ordinary_user`), whose sandboxes
are Bubblewrap's unprivileged ones (user namespaces). Every score of every
item must be the same, every attack must get 0, the limits must hold for
both (processes, memory, every writable filesystem, the seccomp filter, no
host path in the sandbox), and the user's run must leave nothing behind: no
file outside its output changed, no process of its sandboxes alive, the
gradebook as written.

Then fairness and concurrent runs (issue 23): an honest solution graded while
another run's CPU hog is being graded gets its full marks, with check limits
so short that only a fair share of the CPU and limits in CPU time let it; and
the first run's processes are told from the other's.
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
import uuid
from pathlib import Path

import pytest

from mlp_instructor.grading.command import grade
from mlp_instructor.grading.documents import file_stem
from mlp_instructor.grading.rubric import DEFAULT_RUBRIC, load_rubric
from mlp_instructor.sandbox.limits import Cgroup
from mlp_instructor.sandbox.process import run_marker
from mlp_instructor.sandbox.uid import blocks_of

from . import grading_attacks as attacks
from ._mnist import require_mnist
from .ordinary_user import command_as, give, ordinary_user, run_as, run_processes, workspace

REPO = Path(__file__).resolve().parents[1]
#: The class: the attacks (each deserves 0), the solution and one ordinary fault.
NAMES = ["full_marks", "sigmoid_sign", *attacks.ATTACKS]
RUBRIC = load_rubric(DEFAULT_RUBRIC)


def digest(folder: Path) -> dict[str, str]:
    found = {}
    for path in sorted(attacks.every_path(folder)):  # a submission nests 1,100 folders deep
        if path.is_symlink():
            found[str(path.relative_to(folder))] = "link:" + os.readlink(path)
        elif path.is_file():
            found[str(path.relative_to(folder))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def own_run_processes() -> list[str]:
    """The processes of the sandboxes of the grading runs of this process (root's, in-process)."""
    return run_processes(run_marker().removeprefix("mlp-sandbox-"),
                         [uid for block in blocks_of(os.getpid()) for uid in block])


def gradebook(out: Path) -> dict[str, dict[str, str]]:
    with open(out / "gradebook.csv", newline="") as f:
        return {row["student"]: {k: v for k, v in row.items() if k != "feedback"} for row in csv.DictReader(f)}


def achieved(out: Path, student: str) -> str:
    """What an attack reports it achieved (the message of its ACHIEVED error), from its feedback."""
    text = (out / "feedback" / f"{file_stem(student)}.md").read_text()
    found = re.search(r"ACHIEVED: ([^\[\n]*)", text)
    return found.group(1).replace("\\", "").strip() if found else text


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """(root's gradebook, the user's gradebook, the user's run, digests before and after, leftovers)."""
    from mlp_instructor.release.command import release

    user = ordinary_user()
    kit = tmp_path_factory.mktemp("release") / "kit"
    release(kit, import_check=False)
    home = workspace(user)
    run = f"user-{uuid.uuid4().hex[:12]}"
    try:
        subs = home / "class" / "submissions"
        attacks.write_class(kit, subs, NAMES)
        shutil.copytree(require_mnist(), home / "mnist")
        give(user, home)
        before = {"subs": digest(subs), "repo": digest(REPO / "mlp_core") | digest(REPO / "mlp_instructor")}
        root_out = tmp_path_factory.mktemp("root") / "gradebook"
        root_lines: list[str] = []
        grade(subs, root_out, data_dir=home / "mnist", jobs=2, log=root_lines.append)
        root_left = own_run_processes()
        start = time.monotonic()
        proc = run_as(user, ["-m", "mlp_core", "grade", str(subs), "--out", str(home / "class" / "gradebook"),
                             "--data-dir", str(home / "mnist"), "--jobs", "2"], cwd=home,
                      env={"MLP_GRADING_RUN": run})
        at_return = {"processes": run_processes(run) + root_left,
                     "gradebook": (home / "class" / "gradebook" / "gradebook.csv").read_bytes()}
        time.sleep(max(0.0, start + 7 - time.monotonic()))  # the daemon attack would be rewriting by now
        after = {"subs": digest(subs), "repo": digest(REPO / "mlp_core") | digest(REPO / "mlp_instructor")}
        marks = [str(p) for p in attacks.every_path(home) if attacks.MARK in p.name]
        yield {"root": gradebook(root_out), "user": gradebook(home / "class" / "gradebook"), "proc": proc,
               "before": before, "after": after, "marks": marks, "at_return": at_return, "home": home,
               "run": run, "outs": {"root": root_out, "user": home / "class" / "gradebook"},
               "printed": {"root": "\n".join(root_lines), "user": proc.stdout}}
    finally:
        attacks.remove_tree(home)


def test_the_user_grades_the_class_with_the_same_scores_as_root(graded):
    proc = graded["proc"]
    assert proc.returncode == 0, proc.stdout[-1500:] + proc.stderr[-3000:]
    assert graded["user"] == graded["root"]
    assert set(graded["user"]) == set(NAMES)


@pytest.mark.parametrize("who", ["root", "user"])
def test_grade_prints_the_limits_it_enforces(graded, who):
    line = next(line for line in graded["printed"][who].splitlines() if line.startswith("limits per submission"))
    by_cgroup = who == "root" and Cgroup.available() is not None  # an ordinary user writes no cgroup
    expected = (["memory of all its processes (cgroup)", "a CPU share and a one-core quota per sandbox (cgroup)"]
                if by_cgroup else ["a watchdog summing them", "RLIMIT_NPROC per sandbox user namespace"])
    for enforced in ["CPU time of all its processes", *expected, "sized tmpfs for every writable mount", "seccomp"]:
        assert enforced in line


@pytest.mark.parametrize("attack", sorted(attacks.ATTACKS))
def test_every_attack_gets_0_graded_by_the_user(graded, attack):
    assert float(graded["user"][attack]["total"]) == 0


@pytest.mark.parametrize("who", ["root", "user"])
def test_the_limits_hold_for_root_and_for_the_user(graded, who):
    out = graded["outs"][who]
    started = achieved(out, "attack_fork_bomb")
    assert int(started.split(" child")[0]) < RUBRIC.processes, started
    assert int(achieved(out, "attack_disk_fill").split(" MB")[0]) <= RUBRIC.disk_mb
    memory = achieved(out, "attack_memory_children")  # "N of 4 children held 900 MB at once", or how it was killed
    held = int(memory.split(" of 4")[0]) if re.match(r"\d of 4", memory) else 0
    assert held * 900 <= RUBRIC.memory_mb, memory
    assert held or "went over its memory limit" in memory or "0 of 4" in memory, memory
    written = dict(part.split("=") for part in achieved(out, "attack_fills_filesystems").split(", "))
    assert written == {"/": "0 MB", "/dev": "0 MB", "/opt/mlp-site": "0 MB", "/opt/mlp-grader": "0 MB",
                       "/submission": "0 MB", "/dev/shm": f"{RUBRIC.disk_mb} MB", "/tmp": f"{RUBRIC.disk_mb} MB"}


@pytest.mark.parametrize("who", ["root", "user"])
def test_the_seccomp_filter_holds_and_no_host_path_is_visible(graded, who):
    tried = achieved(graded["outs"][who], "attack_escapes")
    assert tried == ("unshare -Urm=refused, unshare(CLONE_NEWUSER)=refused, mount=refused, ptrace=refused, "
                     "keyctl=refused, setsid=refused, host paths in /proc/*/cmdline: 0")


def test_the_users_run_leaves_nothing_behind(graded):
    assert graded["after"] == graded["before"], "a submission or the instructor's code changed"
    assert graded["marks"] == []
    assert graded["at_return"]["processes"] == []
    assert run_processes(graded["run"]) == []
    assert (graded["home"] / "class" / "gradebook" / "gradebook.csv").read_bytes() == graded["at_return"]["gradebook"]
    assert float(graded["user"]["full_marks"]["total"]) == load_rubric(DEFAULT_RUBRIC).max_points


# -- fairness, and two runs at once ------------------------------------------------------------------------

def fairness_rubric(folder: Path) -> Path:
    """The rubric with limits so short that the solution passes only with a fair share of the CPU.

    2 CPU-seconds per check (the hog answers after HOG_DELAY s), 3 for the
    end-to-end check (the solution's needs about a second of CPU), 10 for
    the submission.
    """
    text = DEFAULT_RUBRIC.read_text()
    for old, new in (("default_timeout = 10 ", "default_timeout = 2 "), ("submission_timeout = 300 ",
                                                                          "submission_timeout = 10 ")):
        assert old in text
        text = text.replace(old, new)
    text, n = re.subn(r"(?m)^timeout = \d+", "timeout = 3", text)
    assert n >= 1
    (folder / "rubric.toml").write_text(text)
    return folder / "rubric.toml"


def wait_for_sandbox(run: str, timeout: float = 120) -> None:
    """Until a sandbox of the run ``run`` is up (a process inside its PID namespace)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if any("mlp-sandbox" not in p and "bwrap" not in p for p in run_processes(run)):
            return
        time.sleep(0.2)
    raise AssertionError(f"the other run ({run}) started no sandbox in {timeout} s")


@pytest.mark.parametrize("who", ["root", "user"])
def test_the_solution_gets_full_marks_beside_another_runs_cpu_hog_and_each_run_sees_its_own(tmp_path_factory, who):
    """Another class (a CPU hog: 29 busy loops) is being graded; this run's solution still gets 100.

    Without a CPU share per sandbox and limits counted in CPU time, the hog
    would leave the solution a fifteenth of the CPU and its checks would time
    out. The two runs have their own sandbox users, and this run's check for
    leftovers counts only its own processes while the other run goes on.
    """
    from mlp_instructor.release.command import release

    user = ordinary_user() if who == "user" else None
    kit = tmp_path_factory.mktemp("release") / "kit"
    release(kit, import_check=False)
    home = workspace(user) if user else tmp_path_factory.mktemp("fair")
    other, mine = f"hog-{uuid.uuid4().hex[:12]}", f"fair-{uuid.uuid4().hex[:12]}"
    try:
        attacks.write_class(kit, home / "hog", ["attack_cpu_hog"])
        attacks.write_class(kit, home / "honest", ["full_marks"])
        rubric = fairness_rubric(home)
        shutil.copytree(require_mnist(), home / "mnist")
        args = ["-m", "mlp_core", "grade", "--rubric", str(rubric), "--data-dir", str(home / "mnist"), "--jobs", "1"]
        if user:
            give(user, home)
        # The hog's run has a longer budget (60 CPU-s): it must still be going when this run ends.
        hog_args = args + [str(home / "hog"), "--out", str(home / "hog-out"), "--timeout", "60"]
        if user:
            hog_command = command_as(user, hog_args, home, {"MLP_GRADING_RUN": other})
        else:
            hog_command = [sys.executable, *hog_args]
        hog = subprocess.Popen(hog_command, cwd=home, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               env={**os.environ, "MLP_GRADING_RUN": other}, start_new_session=True)
        try:
            wait_for_sandbox(other)
            if user:
                proc = run_as(user, args + [str(home / "honest"), "--out", str(home / "out")], home,
                              env={"MLP_GRADING_RUN": mine})
                assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
                left = run_processes(mine)
            else:
                grade(home / "honest", home / "out", rubric=rubric, data_dir=home / "mnist", jobs=1,
                      log=lambda line: None)
                left = own_run_processes()
                assert not set(blocks_of(os.getpid())) & set(blocks_of(hog.pid)), "the runs share sandbox users"
            still_going = run_processes(other)
        finally:
            os.killpg(hog.pid, signal.SIGTERM)
            output, _ = hog.communicate(timeout=120)
        row = gradebook(home / "out")["full_marks"]
        failed = (home / "out" / "feedback" / f"{file_stem('full_marks')}.md").read_text()
        assert float(row["total"]) == load_rubric(DEFAULT_RUBRIC).max_points, failed[:3000]
        assert left == []
        assert still_going, f"the hog's run ended before this run did: nothing was graded beside it\n{output[-2000:]}"
    finally:
        shutil.rmtree(home, ignore_errors=True)
