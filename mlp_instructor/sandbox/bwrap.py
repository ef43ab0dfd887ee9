"""The Bubblewrap command a submission's worker runs under, and what the code inside can see.

* new PID, network, IPC, UTS, mount (and cgroup) namespaces: no other
  process, no network, only the files bound in;
* visible, read-only: ``/usr`` (and the links /lib, /bin... the system
  makes), the Python installation, numpy's folder alone (never the whole
  site-packages, which may hold an installed copy of the course), the
  worker's folder and the submission's copy at ``/submission``;
  writable: a size-limited tmpfs at ``/tmp`` (the disk limit). No instructor
  file, no other submission, no gradebook;
* run as root, the judge starts ``bwrap`` privileged and the worker as an
  unprivileged user of its own (``uid`` :data:`SANDBOX_UID_BASE` + slot)
  with every capability dropped and ``no_new_privs``; as another user,
  ``bwrap`` makes a user namespace and the worker keeps that user's id;
* ``--die-with-parent`` and the PID namespace: when the judge kills ``bwrap``
  (or dies), every process of the sandbox dies with it.

Without ``bwrap`` (``--no-sandbox``) the same worker runs as a plain child
process (:func:`unsandboxed_command`) with the rlimits only: it can read and
write whatever the instructor's user can.
"""

from __future__ import annotations

import importlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

from mlp_instructor import repo_root
from mlp_instructor.worker import SUBMISSION_MOUNT
from mlp_lab.threads import blas_thread_env

from .limits import Limits

#: The worker: a package folder run as a script (``python -I -S WORKER ...``, its ``__main__.py``).
WORKER = Path(__file__).resolve().parents[1] / "worker"
#: Where the worker's folder is bound inside the sandbox (its name is the package's name there).
GRADER_MOUNT = "/opt/mlp-grader/worker"
#: The packages ``import mlp_core`` needs (pyproject.toml's dependencies minus
#: matplotlib, which only the lab uses): the only ones visible in the sandbox.
ENGINE_DEPENDENCIES: tuple[str, ...] = ("numpy", "tqdm")
#: The folder holding the instructor's package (the repository, or a site-packages): hidden when bound.
INSTRUCTOR_ROOT = repo_root()
#: Sandboxed workers run as uid/gid SANDBOX_UID_BASE + slot (when the judge is root).
SANDBOX_UID_BASE = 61000


class SandboxError(RuntimeError):
    """The sandbox cannot be started at all (bwrap missing or refusing): says what to do."""


def bwrap_path() -> str | None:
    """The ``bwrap`` program on PATH, or None."""
    return shutil.which("bwrap")


def _system_binds() -> list[str]:
    """Read-only binds of /usr and the top-level links or folders a program needs (/lib, /bin...)."""
    args = ["--ro-bind", "/usr", "/usr"]
    for name in ("lib", "lib64", "lib32", "libx32", "bin", "sbin"):
        path = Path("/") / name
        if path.is_symlink():
            args += ["--symlink", os.readlink(path), str(path)]
        elif path.is_dir():
            args += ["--ro-bind", str(path), str(path)]
    for name in ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime"):
        path = Path("/etc") / name
        if path.exists():
            args += ["--ro-bind", str(path), str(path)]
    return args


def _parents(*inside: str) -> list[str]:
    """``--dir`` arguments making every parent folder of the ``inside`` paths, readable by all.

    (bwrap would make missing parents itself, but owner-only when privileged.)
    """
    made: list[str] = []
    for path in inside:
        for parent in reversed(Path(path).parents):
            if str(parent) not in ("/", "/usr", "/tmp") and str(parent) not in made and not str(parent).startswith("/usr/"):
                made.append(str(parent))
    return [arg for d in made for arg in ("--perms", "0755", "--dir", d)]


def python_binds() -> tuple[list[str], str, str]:
    """(bwrap arguments, the interpreter to run, numpy's site folder as seen inside).

    The interpreter's installation is bound read-only where it is (outside
    /usr when it is, e.g., pyenv's or conda's), minus any ``site-packages``
    (``-S`` does not read them, but an installed copy of the course must not
    even be visible); numpy's own folder (and its bundled libraries) is bound
    alone at ``/opt/mlp-site`` with the engine's other dependencies
    (:data:`ENGINE_DEPENDENCIES`), each its own folder only.
    """
    base = Path(sys.base_prefix).resolve()
    executable = Path(sys.executable).resolve()
    args: list[str] = []
    if not str(base).startswith("/usr/"):
        args += _parents(str(base)) + ["--ro-bind", str(base), str(base)]
        for site in base.glob("lib*/python*/site-packages"):
            args += ["--tmpfs", str(site)]
    else:
        for site in base.glob("lib*/python*/*-packages"):
            if (site / "mlp_core").exists() or (site / "mlp_instructor").exists():
                args += ["--tmpfs", str(site)]
    site_inside = "/opt/mlp-site"
    args += _parents(f"{site_inside}/numpy", GRADER_MOUNT)
    for name in ENGINE_DEPENDENCIES:
        package_dir = Path(importlib.import_module(name).__file__).resolve().parent
        args += ["--ro-bind", str(package_dir), f"{site_inside}/{name}"]
        libs = package_dir.parent / f"{name}.libs"  # compiled libraries a wheel bundles (numpy.libs)
        if libs.is_dir():
            args += ["--ro-bind", str(libs), f"{site_inside}/{name}.libs"]
    return args, str(executable), site_inside


def worker_env() -> dict[str, str]:
    """The worker's whole environment: no variable of the judge's, one BLAS thread."""
    env = {"PATH": "/usr/bin:/bin", "HOME": "/tmp", "TMPDIR": "/tmp", "LANG": "C.UTF-8",
           "PYTHONDONTWRITEBYTECODE": "1", "PYTHONHASHSEED": "0"}
    env.update(blas_thread_env(1))
    return env


def sandbox_command(copy: Path, slot: int, limits: Limits, bwrap: str) -> list[str]:
    """The bwrap command running the worker on ``copy`` (bound read-only at /submission)."""
    binds, python, numpy_site = python_binds()
    command = [bwrap, "--die-with-parent", "--new-session"]
    privileged = os.geteuid() == 0
    if privileged:
        # No user namespace: bwrap sets up as root, then the worker drops to its own uid.
        command += ["--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try"]
    else:
        command += ["--unshare-all", "--cap-drop", "ALL"]
    command += _system_binds() + binds + hide_instructor(command + _system_binds() + binds)
    command += ["--proc", "/proc", "--dev", "/dev",
                "--perms", "1777", "--size", str(limits.disk_mb * 2**20), "--tmpfs", "/tmp",
                "--ro-bind", str(copy), SUBMISSION_MOUNT,
                "--ro-bind", str(WORKER), GRADER_MOUNT,
                "--chdir", "/tmp", "--clearenv"]
    for key, value in worker_env().items():
        command += ["--setenv", key, value]
    command.append("--")
    if privileged:
        uid = str(SANDBOX_UID_BASE + slot)
        command += ["/usr/bin/setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups",
                    "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs"]
    command += [python, "-I", "-S", GRADER_MOUNT, SUBMISSION_MOUNT, numpy_site]
    return command


def hide_instructor(args: list[str]) -> list[str]:
    """``--tmpfs`` over the instructor's folder if a read-only bind in ``args`` contains it.

    (A repository kept under /usr/local/src, say, or the course installed into
    the Python installation itself: its checks and solution must stay out.)
    """
    bound = [Path(args[i + 1]) for i, arg in enumerate(args[:-1]) if arg == "--ro-bind"]
    if any(INSTRUCTOR_ROOT == b or b in INSTRUCTOR_ROOT.parents for b in bound):
        return ["--tmpfs", str(INSTRUCTOR_ROOT)]
    return []


def unsandboxed_command(copy: Path) -> list[str]:
    numpy_site = str(Path(np.__file__).resolve().parent.parent)
    return [sys.executable, "-I", "-S", str(WORKER), str(copy), numpy_site]


def check_bwrap(bwrap: str) -> None:
    """Run ``true`` in a minimal sandbox; a SandboxError says why bwrap does not work here."""
    privileged = os.geteuid() == 0
    command = [bwrap, "--die-with-parent"] + (["--unshare-pid", "--unshare-net"] if privileged else ["--unshare-all"])
    command += _system_binds() + ["--proc", "/proc", "--dev", "/dev", "--", "/bin/true" if Path("/bin/true").exists()
                                  else "/usr/bin/true"]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=30)
    if proc.returncode != 0:
        raise SandboxError(f"bwrap is installed but cannot make a sandbox here: {proc.stderr.strip()[:300]} "
                           "(user namespaces disabled? run as root, or see the README's grading section)")
    if privileged and not Path("/usr/bin/setpriv").exists():
        raise SandboxError("the sandbox needs /usr/bin/setpriv (Debian package util-linux) to drop root")
