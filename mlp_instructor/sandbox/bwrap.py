"""The Bubblewrap command a submission's worker runs under, and what the code inside can see.

* new PID, network, IPC, UTS, mount (and cgroup) namespaces: no other
  process, no network, only the files bound in;
* visible, read-only: ``/usr`` (and the links /lib, /bin... the system
  makes), the Python installation, numpy's folder alone (never the whole
  site-packages, which may hold an installed copy of the course), the
  worker's folder and the submission's copy at ``/submission``;
  writable: ``/tmp`` and ``/dev/shm`` only, each a tmpfs of the disk limit's
  size; ``/`` (so every folder bwrap makes, e.g. ``/opt/mlp-site``) and
  ``/dev`` are remounted read-only, and the folders hidden by an empty tmpfs
  too. No instructor file, no other submission, no gradebook;
* the seccomp filter of :mod:`.seccomp` (``--seccomp``): no new namespace,
  no mount, no ptrace, no keyring, no new session;
* ``RLIMIT_NPROC`` set inside (``prlimit``), where it counts this sandbox's
  processes alone: as root, the judge starts ``bwrap`` privileged and the
  worker as an unprivileged uid of its own (``setpriv``: the run's block,
  :func:`~.uid.allocate_base`, + slot) with every capability dropped and
  ``no_new_privs``; as another user, ``bwrap`` makes a user namespace (the
  worker keeps that user's id) and Linux counts processes per namespace;
* bwrap's options are read from a file descriptor (``--args``), so the
  sandbox's ``/proc/1/cmdline`` shows only the worker's command, paths as
  seen inside (the mount table, ``/proc/self/mountinfo``, still names the
  folders bound: the kernel shows them);
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
from .seccomp import UnsupportedArchitecture, filter_program

#: The worker: a package folder run as a script (``python -I -S WORKER ...``, its ``__main__.py``).
WORKER = Path(__file__).resolve().parents[1] / "worker"
#: Where the worker's folder is bound inside the sandbox (its name is the package's name there).
GRADER_MOUNT = "/opt/mlp-grader/worker"
#: The packages ``import mlp_core`` needs (pyproject.toml's dependencies minus
#: matplotlib, which only the lab uses): the only ones visible in the sandbox.
ENGINE_DEPENDENCIES: tuple[str, ...] = ("numpy", "tqdm")
#: The folder holding the instructor's package (the repository, or a site-packages): hidden when bound.
INSTRUCTOR_ROOT = repo_root()
#: Sandboxed workers run as uid/gid base + slot when the judge is root, each run its own block of
#: :data:`~.uid.SLOTS` uids from SANDBOX_UID_BASE (:func:`~.uid.allocate_base`, ``kind="bwrap"``); below
#: it, 61000-61063, the uids every run of earlier graders shared (61000 + slot, no lock): never these.
SANDBOX_UID_BASE, SANDBOX_RUNS = 61064, 14
PRLIMIT, SETPRIV = "/usr/bin/prlimit", "/usr/bin/setpriv"


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
            args += empty(str(site))
    else:
        for site in base.glob("lib*/python*/*-packages"):
            if (site / "mlp_core").exists() or (site / "mlp_instructor").exists():
                args += empty(str(site))
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


def empty(path: str) -> list[str]:
    """bwrap arguments hiding ``path`` under an empty, read-only tmpfs."""
    return ["--perms", "0555", "--size", "4096", "--tmpfs", path, "--remount-ro", path]


def sandbox_command(copy: Path, uid: int, limits: Limits, bwrap: str, seccomp_fd: int | None = None) -> list[str]:
    """The bwrap command running the worker on ``copy`` (bound read-only at /submission).

    ``uid``: the worker's uid when the judge is root (ignored otherwise);
    ``seccomp_fd``: a descriptor the bwrap process inherits, holding
    :func:`~.seccomp.filter_program`. The options (everything before ``--``)
    are meant to be passed through ``--args`` (:class:`~.process.Sandbox` does).
    """
    binds, python, numpy_site = python_binds()
    command = [bwrap, "--die-with-parent", "--new-session"]
    privileged = os.geteuid() == 0
    if privileged:
        # No user namespace: bwrap sets up as root, then the worker drops to its own uid.
        command += ["--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try"]
    else:
        command += ["--unshare-all", "--cap-drop", "ALL"]
    command += _system_binds() + binds + hide_instructor(command + _system_binds() + binds)
    size = str(limits.disk_mb * 2**20)
    command += ["--proc", "/proc", "--dev", "/dev",
                "--perms", "1777", "--size", size, "--tmpfs", "/dev/shm", "--remount-ro", "/dev",
                "--perms", "1777", "--size", size, "--tmpfs", "/tmp",
                "--ro-bind", str(copy), SUBMISSION_MOUNT,
                "--ro-bind", str(WORKER), GRADER_MOUNT,
                "--remount-ro", "/", "--chdir", "/tmp", "--clearenv"]
    for key, value in worker_env().items():
        command += ["--setenv", key, value]
    if seccomp_fd is not None:
        command += ["--seccomp", str(seccomp_fd)]
    command += ["--", PRLIMIT, f"--nproc={limits.processes}:{limits.processes}", "--"]
    if privileged:
        command += [SETPRIV, f"--reuid={uid}", f"--regid={uid}", "--clear-groups",
                    "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs"]
    command += [python, "-I", "-S", GRADER_MOUNT, SUBMISSION_MOUNT, numpy_site]
    return command


def hide_instructor(args: list[str]) -> list[str]:
    """An empty tmpfs over the instructor's folder if a read-only bind in ``args`` contains it.

    (A repository kept under /usr/local/src, say, or the course installed into
    the Python installation itself: its checks and solution must stay out.)
    """
    bound = [Path(args[i + 1]) for i, arg in enumerate(args[:-1]) if arg == "--ro-bind"]
    if any(INSTRUCTOR_ROOT == b or b in INSTRUCTOR_ROOT.parents for b in bound):
        return empty(str(INSTRUCTOR_ROOT))
    return []


def unsandboxed_command(copy: Path) -> list[str]:
    numpy_site = str(Path(np.__file__).resolve().parent.parent)
    return [sys.executable, "-I", "-S", str(WORKER), str(copy), numpy_site]


def check_bwrap(bwrap: str) -> None:
    """Run a minimal sandbox with the seccomp filter; a SandboxError says what does not work here.

    As another user than root it also checks that ``RLIMIT_NPROC`` set inside
    counts the sandbox's processes alone (Linux 5.14 and later count them
    per user namespace): without that, no process limit would hold, and
    grading refuses.
    """
    privileged = os.geteuid() == 0
    for tool in (PRLIMIT, *([SETPRIV] if privileged else [])):
        if not Path(tool).exists():
            raise SandboxError(f"the sandbox needs {tool} (Debian package util-linux)")
    try:
        program = filter_program()
    except UnsupportedArchitecture as exc:
        raise SandboxError(f"{exc}: no sandbox without it") from None
    probe = ("for i in 1 2 3 4 5 6 7 8; do sleep 0.3 & done; echo forked-all; "
             "if /usr/bin/unshare -U true 2>/dev/null; then echo unshared; fi")
    command = [bwrap, "--die-with-parent"] + (["--unshare-pid", "--unshare-net"] if privileged else ["--unshare-all"])
    fd = os.memfd_create("mlp-seccomp")
    try:
        os.write(fd, program)
        os.lseek(fd, 0, os.SEEK_SET)
        command += _system_binds() + ["--proc", "/proc", "--dev", "/dev", "--seccomp", str(fd), "--",
                                      PRLIMIT, "--nproc=4:4", "--", "/bin/sh", "-c", probe]
        proc = subprocess.run(command, capture_output=True, text=True, timeout=30, pass_fds=(fd,))
    finally:
        os.close(fd)
    if "unshared" in proc.stdout:
        raise SandboxError("bwrap's --seccomp filter did not stop a new user namespace here: no sandbox without it")
    if not privileged and "forked-all" in proc.stdout:
        raise SandboxError("RLIMIT_NPROC does not count a sandbox's processes apart here (Linux before 5.14?), so "
                           "no process limit would hold: grade as root, or on a newer kernel")
    if "forked-all" not in proc.stdout and "ork" not in proc.stderr:
        raise SandboxError(f"bwrap is installed but cannot make a sandbox here: {proc.stderr.strip()[:300]} "
                           "(user namespaces disabled? run as root, or see the README's grading section)")
