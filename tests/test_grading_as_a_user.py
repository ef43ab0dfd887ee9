"""The hostile class graded by an ordinary user, as most instructors grade: the same scores as root.

One class (the solution, a fault, and every attack of ``tests/grading_attacks.py``)
is graded twice with ``python -m mlp_core grade``: by root, and by the
ordinary user ``.ci/run`` makes (:mod:`tests.ordinary_user`), whose sandboxes
are Bubblewrap's unprivileged ones (user namespaces). Every score of every
item must be the same, every attack must get 0, and the user's run must
leave nothing behind: no file outside its output changed, no process of
that user alive, the gradebook as written.
"""
# instructor-only

from __future__ import annotations

import csv
import hashlib
import os
import shutil
import time
from pathlib import Path

import pytest

from mlp_instructor.grading.command import grade
from mlp_instructor.grading.rubric import DEFAULT_RUBRIC, load_rubric

from . import grading_attacks as attacks
from ._mnist import require_mnist
from .ordinary_user import give, ordinary_user, run_as, workspace

REPO = Path(__file__).resolve().parents[1]
#: The class: the attacks (each deserves 0), the solution and one ordinary fault.
NAMES = ["full_marks", "sigmoid_sign", *attacks.ATTACKS]


def digest(folder: Path) -> dict[str, str]:
    found = {}
    for path in sorted(attacks.every_path(folder)):  # a submission nests 1,100 folders deep
        if path.is_symlink():
            found[str(path.relative_to(folder))] = "link:" + os.readlink(path)
        elif path.is_file():
            found[str(path.relative_to(folder))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def processes_of(uid: int) -> list[str]:
    """The live processes of ``uid`` (a zombie, dead and waiting for its parent to reap it, is not one)."""
    alive = []
    for pid in os.listdir("/proc"):
        try:
            status = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
                          if ":" in line)
        except (OSError, NotADirectoryError):
            continue
        if str(uid) in status.get("Uid", "").split() and not status.get("State", "").strip().startswith("Z"):
            alive.append(f"{pid}: {status.get('Name', '').strip()}")
    return alive


def gradebook(out: Path) -> dict[str, dict[str, str]]:
    with open(out / "gradebook.csv", newline="") as f:
        return {row["student"]: {k: v for k, v in row.items() if k != "feedback"} for row in csv.DictReader(f)}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """(root's gradebook, the user's gradebook, the user's run, digests before and after, leftovers)."""
    from mlp_instructor.release.command import release

    user = ordinary_user()
    kit = tmp_path_factory.mktemp("release") / "kit"
    release(kit, import_check=False)
    home = workspace(user)
    try:
        subs = home / "class" / "submissions"
        attacks.write_class(kit, subs, NAMES)
        shutil.copytree(require_mnist(), home / "mnist")
        give(user, home)
        before = {"subs": digest(subs), "repo": digest(REPO / "mlp_core") | digest(REPO / "mlp_instructor")}
        root_out = tmp_path_factory.mktemp("root") / "gradebook"
        grade(subs, root_out, data_dir=home / "mnist", jobs=2, log=lambda line: None)
        start = time.monotonic()
        proc = run_as(user, ["-m", "mlp_core", "grade", str(subs), "--out", str(home / "class" / "gradebook"),
                             "--data-dir", str(home / "mnist"), "--jobs", "2"], cwd=home)
        at_return = {"processes": processes_of(user.pw_uid), "gradebook": (home / "class" / "gradebook" /
                                                                           "gradebook.csv").read_bytes()}
        time.sleep(max(0.0, start + 7 - time.monotonic()))  # the daemon attack would be rewriting by now
        after = {"subs": digest(subs), "repo": digest(REPO / "mlp_core") | digest(REPO / "mlp_instructor")}
        marks = [str(p) for p in attacks.every_path(home) if attacks.MARK in p.name]
        yield {"root": gradebook(root_out), "user": gradebook(home / "class" / "gradebook"), "proc": proc,
               "before": before, "after": after, "marks": marks, "at_return": at_return, "home": home,
               "uid": user.pw_uid}
    finally:
        attacks.remove_tree(home)


def test_the_user_grades_the_class_with_the_same_scores_as_root(graded):
    proc = graded["proc"]
    assert proc.returncode == 0, proc.stdout[-1500:] + proc.stderr[-3000:]
    assert graded["user"] == graded["root"]
    assert set(graded["user"]) == set(NAMES)


@pytest.mark.parametrize("attack", sorted(attacks.ATTACKS))
def test_every_attack_gets_0_graded_by_the_user(graded, attack):
    assert float(graded["user"][attack]["total"]) == 0


def test_the_users_run_leaves_nothing_behind(graded):
    assert graded["after"] == graded["before"], "a submission or the instructor's code changed"
    assert graded["marks"] == []
    assert graded["at_return"]["processes"] == []
    assert processes_of(graded["uid"]) == []
    assert (graded["home"] / "class" / "gradebook" / "gradebook.csv").read_bytes() == graded["at_return"]["gradebook"]
    assert float(graded["user"]["full_marks"]["total"]) == load_rubric(DEFAULT_RUBRIC).max_points
