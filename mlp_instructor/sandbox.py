"""The sandbox a submission's code runs in, and the channel the judge talks to it through.

A :class:`Sandbox` is one ``bwrap`` (Bubblewrap) process running
:mod:`mlp_instructor.worker` on one submission's copy. What the code inside
can see and do:

* new PID, network, IPC, UTS, mount (and cgroup) namespaces: no other
  process, no network, only the files bound in;
* visible, read-only: ``/usr`` (and the links /lib, /bin... the system
  makes), the Python installation, numpy's folder alone (never the whole
  site-packages, which may hold an installed copy of the course), the
  worker script and the submission's copy at ``/submission``;
  writable: a size-limited tmpfs at ``/tmp`` (the disk limit). No instructor
  file, no other submission, no gradebook;
* run as root, the judge starts ``bwrap`` privileged and the worker as an
  unprivileged user of its own (``uid`` :data:`SANDBOX_UID_BASE` + slot)
  with every capability dropped and ``no_new_privs``; as another user,
  ``bwrap`` makes a user namespace and the worker keeps that user's id;
* limits for the whole submission, all its processes together, where cgroups
  can be written (root): memory, number of processes and CPU time (polled by
  the judge); otherwise per process (``RLIMIT_AS``, ``RLIMIT_CPU``) and per
  user (``RLIMIT_NPROC``). Always: wall time (the judge kills), file size.
* ``--die-with-parent`` and the PID namespace: when the judge kills ``bwrap``
  (or dies), every process of the sandbox dies with it; where a cgroup
  exists the judge also kills whatever is left in it and checks it is empty.

Without ``bwrap`` (``--no-sandbox``) the same worker runs as a plain child
process with the rlimits only: it can read and write whatever the
instructor's user can. Grades are then not protected, and the grader says so.
"""

from __future__ import annotations

import importlib
import io
import json
import os
import select
import shutil
import signal
import struct
import subprocess
import sys
import threading
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mlp_lab.threads import blas_thread_env

from .worker import MAX_HEADER, REPLY, REQUEST, SUBMISSION_MOUNT, encode

WORKER = Path(__file__).resolve().parent / "worker.py"
#: The packages ``import mlp_core`` needs (pyproject.toml's dependencies minus
#: matplotlib, which only the lab uses): the only ones visible in the sandbox.
ENGINE_DEPENDENCIES: tuple[str, ...] = ("numpy", "tqdm")
#: The folder holding this package (the instructor's repository, or a site-packages): hidden when bound.
INSTRUCTOR_ROOT = Path(__file__).resolve().parents[1]
#: Sandboxed workers run as uid/gid SANDBOX_UID_BASE + slot (when the judge is root).
SANDBOX_UID_BASE = 61000
#: Largest reply the judge reads (the biggest real one, the predictions, is 8 kB).
MAX_REPLY_BYTES = 64 * 2**20
CGROUP_ROOT = Path("/sys/fs/cgroup")
#: Where the worker script is bound inside the sandbox.
GRADER_MOUNT = "/opt/mlp-grader/worker.py"


class SandboxError(RuntimeError):
    """The sandbox cannot be started at all (bwrap missing or refusing): says what to do."""


class WorkerFailure(Exception):
    """The worker did not answer properly: timed out, died, or sent a malformed reply."""

    def __init__(self, reason: str, fatal: bool = True):
        super().__init__(reason)
        self.reason = reason
        self.fatal = fatal  # the worker is gone or unusable: start a new one


@dataclass(frozen=True)
class Limits:
    """Per-submission limits."""

    memory_mb: int = 3072
    processes: int = 32
    disk_mb: int = 64
    cpu_seconds: float = 300.0


def bwrap_path() -> str | None:
    return shutil.which("bwrap")


# ----------------------------------------------------------------------------
# cgroups: one per submission
# ----------------------------------------------------------------------------


class Cgroup:
    """A cgroup (v2, or v1 memory+pids+cpuacct) holding every process of one submission.

    :meth:`create` returns None where cgroups cannot be written (not root,
    read-only mount, controllers missing): the caller falls back to rlimits.
    """

    def __init__(self, kind: str, dirs: list[Path]):
        self.kind = kind  # "v2" or "v1"
        self.dirs = dirs

    @classmethod
    def available(cls) -> str | None:
        """'v2', 'v1' or None: what this machine lets the judge use."""
        if os.geteuid() != 0:
            return None
        controllers = CGROUP_ROOT / "cgroup.controllers"
        if controllers.is_file():
            have = set(controllers.read_text().split())
            if {"memory", "pids"} <= have and os.access(CGROUP_ROOT, os.W_OK):
                return "v2"
            return None
        if all(os.access(CGROUP_ROOT / c, os.W_OK) for c in ("memory", "pids", "cpuacct")):
            return "v1"
        return None

    @classmethod
    def create(cls, name: str, limits: Limits) -> "Cgroup | None":
        kind = cls.available()
        try:
            if kind == "v2":
                parent = CGROUP_ROOT / "mlp-grading"
                parent.mkdir(exist_ok=True)
                for where in (CGROUP_ROOT, parent):
                    (where / "cgroup.subtree_control").write_text("+memory +pids +cpu")
                group = parent / name
                group.mkdir()
                (group / "memory.max").write_text(str(limits.memory_mb * 2**20))
                if (group / "memory.swap.max").exists():
                    (group / "memory.swap.max").write_text("0")
                (group / "pids.max").write_text(str(limits.processes))
                return cls("v2", [group])
            if kind == "v1":
                dirs = []
                for controller in ("memory", "pids", "cpuacct"):
                    group = CGROUP_ROOT / controller / "mlp-grading" / name
                    group.mkdir(parents=True)
                    dirs.append(group)
                memory = str(limits.memory_mb * 2**20)
                (dirs[0] / "memory.limit_in_bytes").write_text(memory)
                if (dirs[0] / "memory.memsw.limit_in_bytes").exists():
                    (dirs[0] / "memory.memsw.limit_in_bytes").write_text(memory)
                (dirs[1] / "pids.max").write_text(str(limits.processes))
                return cls("v1", dirs)
        except OSError:
            return None
        return None

    @staticmethod
    def remove_parents() -> None:
        """Remove the grader's (empty) parent cgroups; one still in use by another run stays."""
        for parent in [CGROUP_ROOT / "mlp-grading",
                       *(CGROUP_ROOT / c / "mlp-grading" for c in ("memory", "pids", "cpuacct"))]:
            try:
                parent.rmdir()
            except OSError:
                pass

    def procs_files(self) -> list[str]:
        return [str(d / "cgroup.procs") for d in self.dirs]

    def pids(self) -> list[int]:
        found: set[int] = set()
        for d in self.dirs:
            try:
                found.update(int(p) for p in (d / "cgroup.procs").read_text().split())
            except OSError:
                pass
        return sorted(found)

    def cpu_seconds(self) -> float:
        try:
            if self.kind == "v2":
                for line in (self.dirs[0] / "cpu.stat").read_text().splitlines():
                    if line.startswith("usage_usec"):
                        return int(line.split()[1]) / 1e6
                return 0.0
            return int((self.dirs[2] / "cpuacct.usage").read_text()) / 1e9
        except (OSError, ValueError, IndexError):
            return 0.0

    def out_of_memory(self) -> bool:
        try:
            if self.kind == "v2":
                events = (self.dirs[0] / "memory.events").read_text()
                return any(line.split()[0] in ("oom", "oom_kill") and int(line.split()[1]) > 0
                           for line in events.splitlines())
            return int((self.dirs[0] / "memory.failcnt").read_text()) > 0
        except (OSError, ValueError, IndexError):
            return False

    def kill_all(self, timeout: float = 5.0) -> bool:
        """SIGKILL every process left in the group; True once it is empty."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pids = self.pids()
            if not pids:
                return True
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.02)
        return not self.pids()

    def remove(self) -> None:
        self.kill_all()
        for d in self.dirs:
            for _ in range(50):
                try:
                    d.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.02)


# ----------------------------------------------------------------------------
# The command line
# ----------------------------------------------------------------------------

#: Runs first, as the judge's user: joins the cgroup, sets the rlimits, then becomes bwrap.
_LAUNCHER = """
import json, os, resource, sys
spec = json.loads(sys.argv[1])
for path in spec["cgroup_procs"]:
    with open(path, "w") as f:
        f.write(str(os.getpid()))
for name, value in spec["rlimits"].items():
    resource.setrlimit(getattr(resource, name), (value, value))
os.execv(spec["argv"][0], spec["argv"])
"""


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


# ----------------------------------------------------------------------------
# One sandboxed worker
# ----------------------------------------------------------------------------

_LIVE: set["Sandbox"] = set()
_LIVE_LOCK = threading.Lock()


def kill_all_sandboxes() -> None:
    """Kill every sandbox this process started (on Ctrl-C or SIGTERM)."""
    with _LIVE_LOCK:
        live = list(_LIVE)
    for box in live:
        box.kill()


class Sandbox:
    """A running worker on one submission; :meth:`call` sends one request and waits for its reply."""

    def __init__(self, copy: Path, *, slot: int, limits: Limits, cgroup: Cgroup | None, sandboxed: bool,
                 bwrap: str | None = None):
        self.cgroup = cgroup
        rlimits = {"RLIMIT_CORE": 0, "RLIMIT_FSIZE": limits.disk_mb * 2**20,
                   "RLIMIT_CPU": int(limits.cpu_seconds) + 1}
        if cgroup is None:
            rlimits["RLIMIT_AS"] = limits.memory_mb * 2**20
            if sandboxed and os.geteuid() == 0:
                rlimits["RLIMIT_NPROC"] = limits.processes  # counted per uid: each slot has its own
        argv = sandbox_command(copy, slot, limits, bwrap) if sandboxed else unsandboxed_command(copy)
        spec = {"cgroup_procs": cgroup.procs_files() if cgroup else [], "rlimits": rlimits, "argv": argv}
        self.proc = subprocess.Popen(
            [sys.executable, "-I", "-S", "-c", _LAUNCHER, json.dumps(spec)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            env=worker_env(), start_new_session=True, close_fds=True,
            cwd=str(copy) if not sandboxed else "/",
        )
        with _LIVE_LOCK:
            _LIVE.add(self)
        self.closed = False
        self._requests = 0
        self._cpu_budget: float | None = None

    # -- the channel ----------------------------------------------------------

    def _read(self, n: int, deadline: float, what: str) -> bytes:
        fd = self.proc.stdout.fileno()
        chunks, got = [], 0
        while got < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise WorkerFailure(f"timed out: no answer within the time limit ({what})")
            if self.cgroup is not None and self._cpu_budget is not None and self.cgroup.cpu_seconds() > self._cpu_budget:
                raise WorkerFailure("stopped at the CPU time limit of the submission")
            ready, _, _ = select.select([fd], [], [], min(left, 0.25))
            if not ready:
                continue
            chunk = os.read(fd, min(n - got, 1 << 20))
            if not chunk:
                raise WorkerFailure(self._death_reason())
            chunks.append(chunk)
            got += len(chunk)
        return b"".join(chunks)

    def _death_reason(self) -> str:
        try:
            code = self.proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            return "the worker closed its channel (the submission's code closed or wrote into it)"
        if self.cgroup is not None and self.cgroup.out_of_memory():
            return "killed: the submission went over its memory limit"
        if code < 0 or code >= 128:
            number = -code if code < 0 else code - 128
            return f"the worker died ({_signal_name(number)})"
        return f"the worker exited (status {code}) instead of answering: the submission's code ended the process?"

    def receive(self, deadline: float, what: str, request_id: int) -> tuple[dict, dict]:
        """The reply to request ``request_id``: (header, arrays), read with size limits and no pickles."""
        if self._read(4, deadline, what) != REPLY:
            raise WorkerFailure("the worker sent a malformed reply (the submission wrote into the channel?)")
        (n,) = struct.unpack(">I", self._read(4, deadline, what))
        if n > MAX_HEADER:
            raise WorkerFailure("the worker sent a reply header that is too large")
        try:
            header = json.loads(self._read(n, deadline, what))
        except ValueError:
            raise WorkerFailure("the worker sent a malformed reply header") from None
        if not isinstance(header, dict) or header.get("id") != request_id:
            raise WorkerFailure("the reply does not answer the request (the submission wrote into the channel?)")
        (m,) = struct.unpack(">Q", self._read(8, deadline, what))
        if m > MAX_REPLY_BYTES:
            raise WorkerFailure(f"the reply is larger than {MAX_REPLY_BYTES >> 20} MB")
        return header, load_arrays(self._read(m, deadline, what))

    def call(self, op: str, params: dict, arrays: dict, timeout: float, cpu_budget: float | None = None
             ) -> tuple[dict, dict]:
        """Send one request; its reply (header, arrays), or WorkerFailure."""
        self._cpu_budget = cpu_budget
        self._requests += 1
        message = encode(REQUEST, {"id": self._requests, "op": op, "params": params}, arrays)
        deadline = time.monotonic() + timeout
        try:
            _write_all(self.proc.stdin.fileno(), message, deadline)
        except (BrokenPipeError, OSError):
            raise WorkerFailure(self._death_reason()) from None
        except TimeoutError:
            raise WorkerFailure("timed out: the worker did not take the request within the time limit") from None
        return self.receive(deadline, op, self._requests)

    def hello(self, timeout: float, cpu_budget: float | None = None) -> dict:
        self._cpu_budget = cpu_budget
        header, _ = self.receive(time.monotonic() + timeout, "importing mlp_core", 0)
        return header

    # -- ending ---------------------------------------------------------------

    def kill(self) -> None:
        """Kill bwrap (the PID namespace and every process in it dies) and empty the cgroup."""
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.proc.kill()
        except ProcessLookupError:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        if self.cgroup is not None:
            self.cgroup.kill_all()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.kill()
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                stream.close()
            except OSError:
                pass
        with _LIVE_LOCK:
            _LIVE.discard(self)


def _write_all(fd: int, data: bytes, deadline: float) -> None:
    view = memoryview(data)
    while view:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError
        _, ready, _ = select.select([], [fd], [], min(left, 0.25))
        if ready:
            written = os.write(fd, view[: 1 << 16])
            view = view[written:]


def load_arrays(blob: bytes) -> dict:
    """The arrays of an .npz reply: no pickles, numeric or bool dtypes only, bounded sizes."""
    try:
        with zipfile.ZipFile(io.BytesIO(blob)) as archive:
            infos = archive.infolist()
            if len(infos) > 256 or sum(i.file_size for i in infos) > MAX_REPLY_BYTES:
                raise WorkerFailure("the reply holds too many or too large arrays", fatal=False)
        with np.load(io.BytesIO(blob), allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except WorkerFailure:
        raise
    except Exception:  # noqa: BLE001 - whatever the bytes are, it is a malformed reply
        raise WorkerFailure("the worker sent arrays that cannot be read", fatal=False) from None
    for key, value in arrays.items():
        if value.dtype.kind not in "biuf":
            raise WorkerFailure(f"the reply's {key!r} has dtype {value.dtype}, not a number", fatal=False)
    return arrays


def _signal_name(number: int) -> str:
    names = {signal.SIGXCPU: "SIGXCPU: the CPU time limit", signal.SIGKILL: "SIGKILL: out of memory, or killed",
             signal.SIGSEGV: "SIGSEGV: a crash", signal.SIGXFSZ: "SIGXFSZ: a file grew too large"}
    try:
        return names.get(number) or signal.Signals(number).name
    except ValueError:
        return f"signal {number}"
