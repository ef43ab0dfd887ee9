"""A sandbox without namespaces: the worker as a user of its own, where Bubblewrap cannot run.

Gradescope runs ``run_autograder`` as root in a container that may refuse
the namespaces Bubblewrap needs (Docker's default profile does). There the
judge keeps its secrets out of the code's reach with ordinary Unix
permissions instead (:class:`UidSandboxes`, chosen by the judge's
``backend`` parameter; ``grade`` never uses it):

* the worker runs as uid and gid ``base + slot`` (``setpriv``: no
  supplementary group, every capability dropped, ``no_new_privs``), users
  nobody else is: ``base`` is taken per run under a lock
  (:func:`allocate_base`, which gives :mod:`.bwrap`'s runs their blocks too,
  apart from these);
* it reads a copy of the submission's code and of the worker made for its
  slot (owned by root, group the slot's gid, modes 0750/0640: no other slot
  reads it) and writes only a home of its own (``HOME``, ``TMPDIR``, 0700)
  and what every user may write (``/tmp``, ``/dev/shm``...);
* its limits are :func:`~.limits.rlimits`' (as root: processes per slot
  uid, memory and CPU time per process, file size), or a cgroup where the
  judge may write one;
* when its sandbox ends, every process of that uid is killed (no PID
  namespace holds them: a daemon is found by its uid) and every file it
  owns in the world-writable folders is deleted.

What it does not do, unlike :mod:`.bwrap`: hide the filesystem (the code
reads whatever any user may read, so the instructor's files must be
readable by root alone: the Gradescope autograder's ``setup.sh`` makes
``/autograder/source`` so) and cut the network.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .bwrap import ENGINE_DEPENDENCIES, WORKER, SandboxError, worker_env
from .limits import Limits

SETPRIV = "/usr/bin/setpriv"
#: The first uid of these sandboxes: above :mod:`.bwrap`'s blocks (SANDBOX_UID_BASE + 64 x run), 64 slots per run.
UID_BASE, RUNS, SLOTS = 62000, 48, 64
#: Folders any user may write: what a slot's uid leaves there is deleted when its sandbox ends.
SHARED_WRITABLE = ("/tmp", "/var/tmp", "/dev/shm", "/run/lock", "/dev/mqueue")
LOCKS = Path(tempfile.gettempdir()) / "mlp-grading-uid-locks"


def locks_dir(uid_map: Path = Path("/proc/self/uid_map")) -> Path:
    """The folder of the uid locks: :data:`LOCKS` for the machine's root, one of its own for the root of
    a user namespace (a rootless container's root is another uid outside, and sees LOCKS owned by nobody;
    the uids it may hand out are its namespace's, so its runs need only agree among themselves)."""
    try:
        inside, outside, count = (int(x) for x in uid_map.read_text().split()[:3])
    except (OSError, ValueError):
        return LOCKS
    if (inside, outside, count) == (0, 0, 4294967295):
        return LOCKS
    return LOCKS.with_name(f"{LOCKS.name}-ns{outside}")


def allocate_base(kind: str = "uid") -> tuple[int, int]:
    """(first uid, the lock's file descriptor) of a block of :data:`SLOTS` uids no other run holds.

    ``kind``: "uid" (these sandboxes: :data:`RUNS` blocks from :data:`UID_BASE`)
    or "bwrap" (:mod:`.bwrap`'s, as root: ``SANDBOX_RUNS`` blocks from
    ``SANDBOX_UID_BASE``). The block is this run's while the lock's descriptor
    is open (``flock``: released when the run ends, however it ends); the lock
    file holds the run's pid (:func:`blocks_of`).
    """
    from .bwrap import SANDBOX_RUNS, SANDBOX_UID_BASE

    first, runs, prefix = (UID_BASE, RUNS, "") if kind == "uid" else (SANDBOX_UID_BASE, SANDBOX_RUNS, "bwrap-")
    locks = locks_dir()
    locks.mkdir(mode=0o700, exist_ok=True)
    st = os.lstat(locks)
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != 0 or stat.S_IMODE(st.st_mode) & 0o077:
        raise SandboxError(f"{locks} must be a folder of root's, mode 0700 (someone else made it): remove it")
    for run in range(runs):
        fd = os.open(locks / f"{prefix}{run}.lock", os.O_CREAT | os.O_RDWR | os.O_NOFOLLOW, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        return first + run * SLOTS, fd
    raise SandboxError(f"{runs} grading runs hold every block of sandbox uids on this machine")


def blocks_of(pid: int, kind: str = "bwrap") -> list[range]:
    """The uid blocks whose lock file names run ``pid`` (held now, or last held by it)."""
    from .bwrap import SANDBOX_RUNS, SANDBOX_UID_BASE

    first, runs, prefix = (UID_BASE, RUNS, "") if kind == "uid" else (SANDBOX_UID_BASE, SANDBOX_RUNS, "bwrap-")
    found = []
    for run in range(runs):
        try:
            owner = (locks_dir() / f"{prefix}{run}.lock").read_text().strip()
        except OSError:
            continue
        if owner == str(pid):
            found.append(range(first + run * SLOTS, first + (run + 1) * SLOTS))
    return found


class UidSandboxes:
    """Each slot's worker as a uid of its own (see the module's docstring); one per grading run, as root.

    Used by :class:`~mlp_instructor.sandbox.process.Sandbox` through three
    calls: :meth:`command` (the worker's argv, its copy of the code made),
    :meth:`cwd` and :meth:`kill` (every process of the slot's uid, and its
    files in the shared folders). :meth:`close` ends the run.
    """

    name = "uid"

    def __init__(self):
        if os.geteuid() != 0:
            raise SandboxError("running the code as a user of its own needs root (Gradescope's run_autograder is)")
        if not os.access(SETPRIV, os.X_OK):
            raise SandboxError(f"{SETPRIV} is missing (Debian/Ubuntu package util-linux)")
        self.base, self._lock = allocate_base()
        self.root = Path(tempfile.mkdtemp(prefix="mlp-uid-"))
        self.root.chmod(0o711)  # traversable, not listable: each slot's folder is its own gid's
        self.site = self.root / "site"
        self.site.mkdir(mode=0o755)
        for name in ENGINE_DEPENDENCIES:
            package = Path(__import__(name).__file__).resolve().parent
            (self.site / name).symlink_to(package, target_is_directory=True)
            if (package.parent / f"{name}.libs").is_dir():  # the libraries a wheel bundles (numpy.libs)
                (self.site / f"{name}.libs").symlink_to(package.parent / f"{name}.libs", target_is_directory=True)
        self.python = other_users_python()
        self.used: set[int] = set()

    def uid(self, slot: int) -> int:
        if not 0 <= slot < SLOTS:
            raise ValueError(f"slot {slot} is outside 0..{SLOTS - 1}")
        return self.base + slot

    def _slot_dir(self, slot: int) -> Path:
        return self.root / f"slot-{slot}"

    def command(self, copy: Path, slot: int, limits: Limits) -> list[str]:
        """The worker's argv on a copy of ``copy`` that only this slot's uid (and root) can read."""
        uid = self.uid(slot)
        self.kill(slot)  # nothing of an earlier sandbox of this slot survives into this one
        here = self._slot_dir(slot)
        shutil.rmtree(here, ignore_errors=True)
        here.mkdir()
        shutil.copytree(copy, here / "code", symlinks=True)
        shutil.copytree(WORKER, here / "worker", ignore=shutil.ignore_patterns("__pycache__"))
        (here / "home").mkdir()
        for path in [here, *here.rglob("*")]:
            if path.is_symlink():
                continue
            if path.is_relative_to(here / "home"):
                os.chown(path, uid, uid)
                path.chmod(0o700)
            else:
                os.chown(path, 0, uid)
                path.chmod(0o750 if path.is_dir() else 0o640)
        self.used.add(slot)
        env = worker_env() | {"HOME": str(here / "home"), "TMPDIR": str(here / "home")}
        # The worker first volunteers to be the one the kernel's OOM killer takes (a container's memory
        # is shared with the judge), then becomes the slot's uid.
        return (["/bin/sh", "-c", 'echo 1000 > /proc/self/oom_score_adj && exec "$@"', "sh",
                 SETPRIV, f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--inh-caps=-all",
                 "--bounding-set=-all", "--no-new-privs", "--", "/usr/bin/env", "-i",
                 *(f"{k}={v}" for k, v in env.items()),
                 self.python, "-I", "-S", str(here / "worker"), str(here / "code"), str(self.site)])

    def cwd(self, slot: int) -> str:
        return str(self._slot_dir(slot) / "home")

    def kill(self, slot: int) -> None:
        """SIGKILL every process of the slot's uid (until none is left), then delete its files in shared folders."""
        uid = self.uid(slot)
        for _ in range(100):
            pids = processes_of(uid)
            if not pids:
                break
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.02)
        for folder in SHARED_WRITABLE:
            remove_owned(Path(folder), uid)

    def close(self) -> None:
        """Kill and clean every slot used, free the uids, delete the copies. Never raises."""
        for slot in sorted(self.used):
            try:
                self.kill(slot)
            except OSError:
                pass
        shutil.rmtree(self.root, ignore_errors=True)
        try:
            os.close(self._lock)
        except OSError:
            pass

    def check(self) -> None:
        """Start the interpreter with numpy as slot 0's uid; a SandboxError says what failed."""
        empty = Path(tempfile.mkdtemp(prefix="mlp-uid-check-"))
        argv = self.command(empty, 0, Limits())
        empty.rmdir()
        python_at = argv.index(self.python)
        probe = argv[:python_at + 3] + ["-c", f"import sys; sys.path[:0] = [{str(self.site)!r}]; import numpy; "
                                             "import os; print(os.getuid())"]
        try:
            proc = subprocess.run(probe, capture_output=True, text=True, timeout=60, cwd=self.cwd(0))
        finally:
            self.kill(0)
        if proc.returncode != 0 or proc.stdout.strip() != str(self.uid(0)):
            raise SandboxError(f"the worker cannot start as uid {self.uid(0)}: {proc.stderr.strip()[-300:]}")


def other_users_python() -> str:
    """This interpreter, or the system's of the same version when other users cannot run this one (pyenv's in /root)."""
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    for candidate in (Path(sys.executable).resolve(), Path(f"/usr/bin/python{version}"),
                      Path(f"/usr/local/bin/python{version}")):
        if candidate.is_file() and all(os.stat(p).st_mode & stat.S_IXOTH for p in [candidate, *candidate.parents]):
            return str(candidate)
    raise SandboxError(f"no Python {version} that other users may run (this one is {sys.executable}): install "
                       f"python{version} from the system's packages")


def processes_of(uid: int) -> list[int]:
    """The processes whose real, effective or saved uid is ``uid``."""
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/status") as f:
                for line in f:
                    if line.startswith("Uid:"):
                        if str(uid) in line.split()[1:4]:
                            found.append(int(entry.name))
                        break
        except OSError:
            pass
    return found


def remove_owned(top: Path, uid: int, limit: int = 100_000) -> None:
    """Delete every entry under ``top`` owned by ``uid``: no link followed, no recursion.

    Only the folders where ``uid`` could have written are searched (``top``
    and the world-writable folders in it; a folder it owns goes whole), at
    most ``limit`` entries.
    """
    if not top.is_dir():
        return
    stack, seen = [top], 0
    while stack and seen < limit:
        folder = stack.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            seen += 1
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            if st.st_uid == uid:
                if stat.S_ISDIR(st.st_mode):
                    _remove_tree(Path(entry.path))
                else:
                    try:
                        os.unlink(entry.path)
                    except OSError:
                        pass
            elif stat.S_ISDIR(st.st_mode) and st.st_mode & 0o002:
                stack.append(Path(entry.path))


def _remove_tree(path: Path) -> None:
    """Delete a folder of any depth without recursion."""
    stack, folders = [path], []
    while stack:
        folder = stack.pop()
        folders.append(folder)
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                stack.append(Path(entry.path))
            else:
                try:
                    os.unlink(entry.path)
                except OSError:
                    pass
    for folder in reversed(folders):
        try:
            os.rmdir(folder)
        except OSError:
            pass
