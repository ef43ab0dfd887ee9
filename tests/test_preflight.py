"""The preflight: ``grade`` grades the solution and the empty release first, and refuses a machine that cannot grade.

Each refusal is checked as an instructor meets it: ``python -m mlp_core grade``
exits 1 with one message naming what failed and why, and the gradebook
folder is left byte for byte as it was (or not made at all). The machines:

* a rootless container (``unshare --user --map-root-user``, as root and as
  the ordinary user of :mod:`tests.ordinary_user`): root there cannot become
  the sandbox's uid, so before the preflight every student got 0 from
  "the submission's code ended the process" (issue 21);
* a ``bwrap`` that cannot start the worker's sandbox (a fake on PATH that
  passes the grader's first probe, or that always exits 1);
* a ``bwrap`` that stops working mid-class: grading stops, the
  submission being graded gets no row (no zero), the ones before are kept;
* limits too tight for the solution (a check's time limit it cannot meet).
"""
# instructor-only

from __future__ import annotations

import csv
import hashlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mlp_instructor.grading import GradingError
from mlp_instructor.grading.command import grade
from mlp_instructor.grading.gradebook import points_text
from mlp_instructor.grading.preflight import RELEASE, SOLUTION, uid_map_hint, verdict_problems
from mlp_instructor.grading.results import CheckResult, SubmissionResult
from mlp_instructor.grading.rubric import DEFAULT_RUBRIC, load_rubric
from mlp_instructor.sandbox.bwrap import GRADER_MOUNT, SANDBOX_UID_BASE
from mlp_instructor.sandbox.uid import LOCKS, locks_dir

from . import grading_attacks as attacks
from ._mnist import require_mnist
from .ordinary_user import give, ordinary_user, run_as, workspace

REPO = Path(__file__).resolve().parents[1]
REAL_BWRAP = shutil.which("bwrap") or "/usr/bin/bwrap"
MACHINE = "an error of the grading machine, not of any submission"


def folder_state(folder: Path) -> dict[str, tuple]:
    """Every entry under ``folder``: (kind, content hash, mode, mtime), byte for byte."""
    found = {}
    for path in sorted(folder.rglob("*")):
        st = path.lstat()
        content = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else ""
        found[str(path.relative_to(folder))] = (path.is_dir(), content, st.st_mode, st.st_mtime_ns)
    return found


def earlier_gradebook(out: Path) -> None:
    """A gradebook folder as an earlier run left it (any run that got going would rewrite it)."""
    (out / "feedback").mkdir(parents=True)
    (out / "gradebook.csv").write_text("student,total,status\nalice,77,graded\n")
    (out / ".grading-state.json").write_text('{"grader": "an earlier grader", "results": {}}')
    (out / "feedback" / "alice.md").write_text("# alice: 77 / 100\n")


def require_unshare(user=None) -> None:
    """Skip (fail under CI) where this kernel does not let that user make a user namespace."""
    probe = ["unshare", "--user", "--map-root-user", "true"]
    if user is not None:
        probe = [shutil.which("runuser") or "/usr/sbin/runuser", "-u", user.pw_name, "--", *probe]
    if shutil.which("unshare") and subprocess.run(probe, capture_output=True).returncode == 0:
        return
    why = "this machine does not allow unshare --user --map-root-user" + (f" for {user.pw_name}" if user else "")
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"CI must run the rootless-container case: {why}")
    pytest.skip(why)


def fake_bwrap(folder: Path, starts: int | None) -> Path:
    """A folder holding a ``bwrap`` that passes the grader's probe but starts only ``starts`` workers (None: none).

    Its refusal is what bwrap says where it cannot make the worker's sandbox.
    ``starts=-1``: it refuses the probe too (a bwrap that always exits 1).
    """
    folder.mkdir(parents=True, exist_ok=True)
    tokens = folder / "starts"
    tokens.mkdir(exist_ok=True)
    allow = "" if starts is None else " ".join(str(n) for n in range(starts))
    script = f"""#!/bin/sh
worker=no
for arg in "$@"; do [ "$arg" = "{GRADER_MOUNT}" ] && worker=yes; done
if [ "{starts}" != "-1" ] && [ $worker = no ]; then exec {REAL_BWRAP} "$@"; fi
for n in {allow}; do mkdir "{tokens}/$n" 2>/dev/null && exec {REAL_BWRAP} "$@"; done
echo "bwrap: Creating new namespace failed: Operation not permitted" >&2
exit 1
"""
    (folder / "bwrap").write_text(script)
    (folder / "bwrap").chmod(0o755)
    os.chmod(tokens, 0o777)
    return folder


@pytest.fixture(scope="module")
def submissions(tmp_path_factory) -> Path:
    """A class of three: the solution twice and one fault (built from this repository's release)."""
    from mlp_instructor.release.command import release

    kit = tmp_path_factory.mktemp("release") / "kit"
    release(kit, import_check=False)
    subs = tmp_path_factory.mktemp("class") / "submissions"
    attacks.write_class(kit, subs, ["full_marks", "sigmoid_sign"])
    shutil.copytree(subs / "full_marks", subs / "another_full_marks")
    return subs


def grade_command(subs: Path, out: Path, *extra: str) -> list[str]:
    """``python`` arguments of ``grade`` (MNIST from ``subs``'s sibling ``mnist`` if there is one)."""
    mnist = subs.parent / "mnist" if (subs.parent / "mnist").is_dir() else require_mnist()
    return ["-m", "mlp_core", "grade", str(subs), "--out", str(out), "--data-dir", str(mnist), *extra]


def assert_refused(proc: subprocess.CompletedProcess, *phrases: str) -> None:
    assert proc.returncode == 1, proc.stdout[-2000:] + proc.stderr[-2000:]
    errors = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(errors) == 1 and errors[0].startswith("python -m mlp_core grade: error: "), proc.stderr
    for phrase in phrases:
        assert phrase in errors[0], errors[0]
    assert "submission(s) with" not in proc.stdout  # no submission was started ("grading N submission(s) with ...")


# ----------------------------------------------------------------------------
# A rootless container: root cannot become the sandbox's uid
# ----------------------------------------------------------------------------


def test_a_rootless_container_is_refused_as_root(submissions, tmp_path):
    if os.geteuid() != 0:
        pytest.skip("the rootless container is made by root here (the ordinary user's case is the next test)")
    require_unshare()
    out = tmp_path / "gradebook"
    earlier_gradebook(out)
    before = folder_state(out)
    proc = subprocess.run(["unshare", "--user", "--map-root-user", sys.executable, *grade_command(submissions, out)],
                          cwd=REPO, capture_output=True, text=True, timeout=600)
    assert_refused(proc, "preflight: the sandbox does not work here", MACHINE,
                   "setpriv: setresuid failed", f"the sandbox's own uid {SANDBOX_UID_BASE} does not exist here")
    assert folder_state(out) == before


def test_a_rootless_container_is_refused_as_an_ordinary_user(submissions):
    user = ordinary_user()
    require_unshare(user)
    home = workspace(user)
    try:
        subs = Path(shutil.copytree(submissions, home / "submissions"))
        shutil.copytree(require_mnist(), home / "mnist")
        out = home / "gradebook"
        earlier_gradebook(out)
        give(user, home)
        before = folder_state(out)
        script = ("import os, sys; os.execvp('unshare', ['unshare', '--user', '--map-root-user', sys.executable, "
                  f"*{grade_command(subs, out)!r}])")
        proc = run_as(user, ["-c", script], cwd=home, timeout=600)
        assert_refused(proc, MACHINE, "setpriv: setresuid failed", "rootless container")
        assert folder_state(out) == before
    finally:
        shutil.rmtree(home, ignore_errors=True)


# ----------------------------------------------------------------------------
# A bwrap that cannot start the worker's sandbox
# ----------------------------------------------------------------------------


@pytest.mark.parametrize("case", ["worker_refused", "always_exits_1"])
def test_a_sandbox_that_cannot_start_is_refused_as_root(submissions, tmp_path, case):
    fake = fake_bwrap(tmp_path / "fake", None if case == "worker_refused" else -1)
    earlier, new = tmp_path / "gradebook", tmp_path / "new-gradebook"
    earlier_gradebook(earlier)
    before = folder_state(earlier)
    env = {**os.environ, "PATH": f"{fake}:{os.environ.get('PATH', '/usr/bin:/bin')}"}
    for out in (earlier, new):
        proc = subprocess.run([sys.executable, *grade_command(submissions, out)], cwd=REPO, env=env,
                              capture_output=True, text=True, timeout=600)
        if case == "worker_refused":
            assert_refused(proc, MACHINE, "the sandbox did not start the worker: it exited with status 1",
                           "bwrap: Creating new namespace failed")
        else:
            assert_refused(proc, "bwrap is installed but cannot make a sandbox here")
    assert folder_state(earlier) == before
    assert not new.exists()


def test_a_sandbox_that_cannot_start_is_refused_as_an_ordinary_user(submissions):
    user = ordinary_user()
    home = workspace(user)
    try:
        subs = Path(shutil.copytree(submissions, home / "submissions"))
        shutil.copytree(require_mnist(), home / "mnist")
        fake = fake_bwrap(home / "fake", None)
        out = home / "gradebook"
        earlier_gradebook(out)
        give(user, home)
        before = folder_state(out)
        proc = run_as(user, grade_command(subs, out), cwd=home, timeout=600, env={"PATH": f"{fake}:/usr/bin:/bin"})
        assert_refused(proc, MACHINE, "it exited with status 1", "bwrap: Creating new namespace failed")
        assert "rootless" not in proc.stderr  # an ordinary user's sandbox keeps its own uid: no such hint
        assert folder_state(out) == before
    finally:
        shutil.rmtree(home, ignore_errors=True)


def test_a_sandbox_that_breaks_mid_class_stops_and_writes_no_zero(submissions, tmp_path):
    """Two workers for the preflight, one for the first student, then bwrap fails: the second gets no row."""
    fake = fake_bwrap(tmp_path / "fake", 3)
    out = tmp_path / "gradebook"
    env = {**os.environ, "PATH": f"{fake}:{os.environ.get('PATH', '/usr/bin:/bin')}"}
    proc = subprocess.run([sys.executable, *grade_command(submissions, out, "--jobs", "1")], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 1, proc.stdout[-2000:] + proc.stderr[-2000:]
    full = points_text(load_rubric(DEFAULT_RUBRIC).max_points)
    assert f"the instructor's solution gets {full} / {full} and the empty release 0 / {full}" in proc.stdout
    errors = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(errors) == 1 and "the sandbox stopped working while grading " in errors[0], proc.stderr
    assert MACHINE in errors[0] and "the 1 graded before are kept" in errors[0]
    with open(out / "gradebook.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [(row["total"], row["status"]) for row in rows] == [(full, "graded")]
    assert len(list((out / "feedback").glob("*.md"))) == 1


# ----------------------------------------------------------------------------
# Limits the solution cannot meet, and the verdict itself
# ----------------------------------------------------------------------------


def test_limits_the_solution_cannot_meet_are_refused(submissions, tmp_path):
    rubric = tmp_path / "rubric.toml"
    text = DEFAULT_RUBRIC.read_text()
    assert "timeout = 120\n" in text  # the end-to-end item's own limit
    rubric.write_text(text.replace("timeout = 120\n", "timeout = 0.05\n"))
    out = tmp_path / "gradebook"
    earlier_gradebook(out)
    before = folder_state(out)
    items = load_rubric(DEFAULT_RUBRIC)
    e2e = next(item.points for item in items.items if item.id == "end_to_end")
    full, short = points_text(items.max_points), points_text(items.max_points - e2e)
    with pytest.raises(GradingError, match=rf"the instructor's solution gets {re.escape(short)} / {re.escape(full)} "
                                           rf"\(under this run's limits and sandbox\): end_to_end 0 / "
                                           rf"{re.escape(points_text(e2e))}: end_to_end\.\S+ \S"):
        grade(submissions, out, rubric=rubric, data_dir=require_mnist(), log=lambda line: None)
    assert folder_state(out) == before


def result_of(rubric, passed: dict[str, bool], message: str = "wrong values") -> SubmissionResult:
    """A result whose checks pass or fail as ``passed`` says (one check per rubric item, scored as the judge does)."""
    result = SubmissionResult("kit", "0" * 64)
    result.checks = [CheckResult(f"{item.id}.one", passed[item.id], "" if passed[item.id] else message)
                     for item in rubric.items]
    result.scores = {item.id: item.points if passed[item.id] else 0.0 for item in rubric.items}
    result.total = round(sum(result.scores.values()), 2)
    return result


def test_the_verdict_wants_every_item_full_for_the_solution_and_zero_for_a_release_that_ran():
    rubric = load_rubric(DEFAULT_RUBRIC)
    everything = {item.id: True for item in rubric.items}
    nothing = {item.id: False for item in rubric.items}
    placeholders = result_of(rubric, nothing, "NotImplementedError: write this")
    assert verdict_problems(rubric, result_of(rubric, everything), placeholders) == []
    first = rubric.items[0]
    problems = verdict_problems(rubric, result_of(rubric, everything | {first.id: False}, "timed out"),
                                result_of(rubric, nothing | {first.id: True}))
    full = rubric.max_points
    assert problems[0].startswith(f"{SOLUTION} gets {full - first.points:g} / {full:g}") and "timed out" in problems[0]
    assert problems[1].startswith(f"{RELEASE} gets {first.points:g} / {full:g} (its placeholders pass checks")
    assert f"{first.id}.one passed" in problems[1]
    unrun = verdict_problems(rubric, result_of(rubric, everything),
                             result_of(rubric, nothing, "mlp_core does not import: ModuleNotFoundError: numpy"))
    assert len(unrun) == 1 and "gets its 0 without running" in unrun[0]


def test_the_rootless_hint_names_a_uid_the_namespace_lacks(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("the hint is for root")
    uid_map = tmp_path / "uid_map"
    uid_map.write_text("         0       1000          1\n")
    assert f"uid {SANDBOX_UID_BASE} does not exist here" in uid_map_hint(SANDBOX_UID_BASE, uid_map)
    uid_map.write_text("         0          0 4294967295\n")
    assert uid_map_hint(SANDBOX_UID_BASE, uid_map) == ""


def test_the_uid_locks_of_a_rootless_container_are_its_own(tmp_path):
    """Root of a user namespace sees the machine's lock folder owned by nobody: its runs lock a folder of their
    own (they hand out their namespace's uids), so the preflight, not the lock folder, says what is wrong."""
    uid_map = tmp_path / "uid_map"
    uid_map.write_text("         0          0 4294967295\n")
    assert locks_dir(uid_map) == LOCKS
    uid_map.write_text("         0       1000          1\n")
    assert locks_dir(uid_map) == LOCKS.with_name(f"{LOCKS.name}-ns1000")
