"""An ordinary (non-root) user for the tests that grade as one, as most instructors do.

CI runs as root, so ``.ci/run`` makes a user of no privilege (``useradd``)
and names it in ``MLP_ORDINARY_USER``; :func:`ordinary_user` finds it. Without
one the tests that need it skip, saying how to make it, except under CI
(``CI`` true), where a missing user fails: CI must provide it.

That user runs a command (:func:`run_as`) through ``runuser``, with the
Python other users may run (the system's of this version when this one lives
in root's home, as pyenv's does) and this repository and its virtual
environment's packages on ``PYTHONPATH``; it works in a folder of its own
(:func:`workspace`), since pytest's temporary folders are root's alone.
"""
# instructor-only

from __future__ import annotations

import os
import pwd
import shutil
import site
import subprocess
import tempfile
from pathlib import Path

import pytest

from mlp_instructor.sandbox.uid import other_users_python

REPO = Path(__file__).resolve().parents[1]
VARIABLE = "MLP_ORDINARY_USER"


def ordinary_user() -> pwd.struct_passwd:
    """The user named by ``MLP_ORDINARY_USER`` (skip, or fail under CI, when there is none)."""
    name = os.environ.get(VARIABLE, "").strip()
    under_ci = os.environ.get("CI", "").lower() in ("1", "true", "yes")
    why = ""
    if os.geteuid() != 0:
        why = "these tests run a command as another user: run them as root"
    elif not name:
        why = (f"no ordinary user to grade as: set {VARIABLE} to a user without privileges "
               "(.ci/run makes one: useradd --system --no-create-home mlp-ci-grader)")
    else:
        try:
            user = pwd.getpwnam(name)
        except KeyError:
            why = f"{VARIABLE}={name}, but there is no such user (useradd --system --no-create-home {name})"
        else:
            if user.pw_uid == 0:
                why = f"{VARIABLE}={name} is root"
            else:
                return user
    if under_ci:
        pytest.fail(f"CI must provide an ordinary user: {why}")
    pytest.skip(why)


def workspace(user: pwd.struct_passwd) -> Path:
    """A new folder in the system's temporary folder, the user's alone (the caller removes it)."""
    folder = Path(tempfile.mkdtemp(prefix="mlp-ordinary-user-"))
    os.chown(folder, user.pw_uid, user.pw_gid)
    return folder


def give(user: pwd.struct_passwd, folder: Path) -> None:
    """Make everything under ``folder`` the user's (walked without recursion: a submission may nest 1,100 deep)."""
    stack = [str(folder)]
    os.chown(folder, user.pw_uid, user.pw_gid, follow_symlinks=False)
    while stack:
        with os.scandir(stack.pop()) as entries:
            for entry in entries:
                os.chown(entry.path, user.pw_uid, user.pw_gid, follow_symlinks=False)
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)


def command_as(user: pwd.struct_passwd, args: list[str], cwd: Path, env: dict[str, str] | None = None) -> list[str]:
    """The command running ``python ARGS`` as ``user``, in ``cwd``, with this repository and its packages importable."""
    packages = [p for p in site.getsitepackages() if Path(p).is_dir()]
    environment = {"PATH": "/usr/bin:/bin", "HOME": str(cwd), "LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1",
                   "MPLCONFIGDIR": str(cwd / ".matplotlib"), "PYTHONPATH": os.pathsep.join([str(REPO), *packages]),
                   **(env or {})}
    return [shutil.which("runuser") or "/usr/sbin/runuser", "-u", user.pw_name, "--", "/usr/bin/env", "-i",
            *(f"{k}={v}" for k, v in environment.items()), other_users_python(), *args]


def run_as(user: pwd.struct_passwd, args: list[str], cwd: Path, timeout: float = 1800,
           env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """``python ARGS`` as ``user``, in ``cwd``, with this repository and its packages importable."""
    return subprocess.run(command_as(user, args, cwd, env), cwd=cwd, capture_output=True, text=True, timeout=timeout)


def run_processes(run: str, uids: list[int] | range = ()) -> list[str]:
    """The live processes of one grading run's sandboxes, and of no other run's.

    Those titled ``mlp-sandbox-<run>`` (its ``bwrap`` processes:
    :func:`mlp_instructor.sandbox.process.run_marker`), those in the PID
    namespace of one of them (everything inside its sandboxes), and those
    running as one of ``uids`` (a root run's block of sandbox uids,
    :func:`mlp_instructor.sandbox.uid.blocks_of`). A zombie, dead and waiting
    for its parent to reap it, is not one.
    """
    marker, uids = f"mlp-sandbox-{run}".encode(), set(uids)
    seen: dict[str, tuple[bytes, str, set[int], str]] = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            status = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
                          if ":" in line)
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            namespace = os.readlink(f"/proc/{pid}/ns/pid")
        except OSError:
            continue
        if not status.get("State", "").strip().startswith("Z"):
            seen[pid] = (cmdline, namespace, {int(u) for u in status.get("Uid", "").split()}, status.get("Name", ""))
    marked = {namespace for cmdline, namespace, _, _ in seen.values() if cmdline.split(b"\0")[0] == marker}
    return [f"{pid} (uids {sorted(ids)}): {name.strip()}" for pid, (cmdline, namespace, ids, name) in seen.items()
            if cmdline.split(b"\0")[0] == marker or namespace in marked and namespace != _HOST_PID_NS or ids & uids]


_HOST_PID_NS = os.readlink("/proc/self/ns/pid")
