"""One running worker on one submission, and the channel the judge talks to it through.

A :class:`Sandbox` starts a small launcher as the judge's user (it joins the
submission's cgroup and sets the rlimits, then becomes ``bwrap``: both must
happen before any of the submission's code runs), keeps the worker's stdin and
stdout as the channel, and sends one request at a time
(:meth:`Sandbox.call`). Time limits are CPU time of the sandbox's processes
together (their cgroup's, or :func:`~.limits.tree_usage`'s), polled every
:data:`~.limits.POLL` seconds by a watchdog thread that also stops the
sandbox above its memory limit where no cgroup does; wall time is only a
backstop (:func:`~.limits.wall_backstop`). Everything that comes back is data: the header is
JSON of bounded size and nesting, the arrays an ``.npz`` read without
pickles, its entry count checked before any entry is built (:mod:`.replies`);
a reply that is late, malformed, too large or for another request ends the worker (:class:`WorkerFailure`), and the judge
starts a new one for the checks left.

A worker that never sends its start mark (:data:`~mlp_instructor.worker.STARTED`,
written before the submission's code is imported) is :class:`SandboxBroken`:
the grading machine's failure, which the judge never scores.

Ending a sandbox kills its whole process group and, where there is a cgroup,
whatever is left in it; :func:`kill_all_sandboxes` does that for every
sandbox of this process (Ctrl-C, SIGTERM).
"""

from __future__ import annotations

import json
import os
import select
import signal
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

from mlp_instructor.worker import MAX_HEADER, REPLY, REQUEST, STARTED, encode

from .bwrap import SandboxError, sandbox_command, unsandboxed_command, worker_env
from .limits import FAST_POLL, POLL, Cgroup, Limits, rlimits, tree_usage, wall_backstop
from .replies import MAX_REPLY_BYTES, WorkerFailure, load_arrays, load_header
from .seccomp import filter_program

#: How long a new worker may take to start (the sandbox, the interpreter and numpy, before any of the
#: submission's code): not the submission's time, and longer than any machine that can grade needs.
START_SECONDS = 60.0


class SandboxBroken(SandboxError):
    """The worker never started the submission's code: an error of the grading machine, never the student's.

    (The sandbox program, the uid switch, the interpreter or numpy failed, or
    took longer than :data:`START_SECONDS`.) No grade may be given from it.
    """


#: Runs first, as the judge's user: joins the cgroup, sets the rlimits, then becomes bwrap.
_LAUNCHER = """
import json, os, resource, sys
spec = json.loads(sys.argv[1])
for path in spec["cgroup_procs"]:
    with open(path, "w") as f:
        f.write(str(os.getpid()))
for name, value in spec["rlimits"].items():
    resource.setrlimit(getattr(resource, name), (value, value))
os.execv(spec["path"], spec["argv"])
"""


def run_marker() -> str:
    """``mlp-sandbox-<run>``: the process title of this run's ``bwrap`` processes (and so of each sandbox's
    ``/proc/1``): ``<run>`` is ``$MLP_GRADING_RUN`` (letters, digits, ``-``, ``_``) or the judge's pid.
    Tools and tests tell one run's sandboxes from another's by it."""
    run = os.environ.get("MLP_GRADING_RUN", "")
    if not (0 < len(run) <= 40 and all(c.isascii() and (c.isalnum() or c in "-_") for c in run)):
        run = str(os.getpid())
    return f"mlp-sandbox-{run}"


_LIVE: set["Sandbox"] = set()
_LIVE_LOCK = threading.Lock()


def kill_all_sandboxes() -> None:
    """Kill every sandbox this process started (on Ctrl-C or SIGTERM)."""
    with _LIVE_LOCK:
        live = list(_LIVE)
    for box in live:
        box.kill()


def _memfd(name: str, data: bytes) -> int:
    fd = os.memfd_create(name)
    os.write(fd, data)
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


class Sandbox:
    """A running worker on one submission; :meth:`call` sends one request and waits for its reply.

    ``uid``: the worker's own uid when the judge is root (bwrap only).
    """

    def __init__(self, copy: Path, *, slot: int, limits: Limits, cgroup: Cgroup | None, sandboxed: bool,
                 bwrap: str | None = None, backend=None, uid: int | None = None, stderr=None):
        self.cgroup, self.limits = cgroup, limits
        # Hook: ``backend`` isolates the worker some other way than bwrap (sandbox/uid.py, for containers
        # without user namespaces): it gives the argv and the folder to start in, and kills what is left.
        self.backend, self.slot = backend, slot
        fds: list[int] = []
        if backend is not None:
            argv = backend.command(copy, slot, limits)
        elif sandboxed:
            fds.append(_memfd("mlp-seccomp", filter_program()))
            full = sandbox_command(copy, uid if uid is not None else 65534, limits, bwrap, seccomp_fd=fds[0])
            cut = full.index("--")
            # bwrap reads its options from a descriptor: the sandbox's /proc/1/cmdline shows no host path.
            fds.append(_memfd("mlp-bwrap-args", b"".join(a.encode() + b"\0" for a in full[1:cut])))
            argv = [full[0], "--args", str(fds[1]), *full[cut:]]
        else:
            argv = unsandboxed_command(copy)
        spec = {"cgroup_procs": cgroup.procs_files() if cgroup else [], "rlimits": rlimits(limits, cgroup, sandboxed),
                "path": argv[0], "argv": [run_marker() if sandboxed and backend is None else argv[0], *argv[1:]]}
        self._cpu_start = cgroup.cpu_seconds() if cgroup is not None else 0.0
        self._cpu = 0.0
        self._stopped = ""  # why the watchdog ended the sandbox
        self._cpu_budget: float | None = None
        self._cpu_limit = (float("inf"), float("inf"), float("inf"))  # deadline, limit, wall backstop
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-I", "-S", "-c", _LAUNCHER, json.dumps(spec)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL if stderr is None else stderr,  # a file: the preflight's diagnosis
                env=worker_env(), start_new_session=True, close_fds=True, pass_fds=fds,
                cwd=backend.cwd(slot) if backend is not None else str(copy) if not sandboxed else "/",
            )
        finally:
            for fd in fds:
                os.close(fd)
        with _LIVE_LOCK:
            _LIVE.add(self)
        self.closed = False
        self._requests = 0
        self._watchdog = threading.Thread(target=self._watch, name=f"sandbox-watchdog-{self.proc.pid}", daemon=True)
        self._watchdog.start()

    # -- the watchdog -----------------------------------------------------------

    def _measure(self) -> int:
        """Update the CPU time used; return the memory of the processes (0 where a cgroup limits it)."""
        if self.cgroup is not None:
            self._cpu = max(self._cpu, self.cgroup.cpu_seconds() - self._cpu_start)
            return 0
        cpu, memory, _ = tree_usage(self.proc.pid)
        self._cpu = max(self._cpu, cpu)
        return memory

    def _watch(self) -> None:
        """Every POLL s (FAST_POLL above half the memory limit) until the sandbox ends: stop it above its
        memory limit or its CPU budget."""
        while not self.closed and self.proc.poll() is None:
            memory = self._measure()
            if memory > self.limits.memory_mb * 2**20:
                self._stop(f"killed: the submission went over its memory limit ({memory >> 20} MB in its "
                           f"processes together, more than {self.limits.memory_mb} MB)")
            elif self._cpu_budget is not None and self._cpu > self._cpu_budget:
                self._stop("stopped at the CPU time limit of the submission")
            time.sleep(FAST_POLL if memory > self.limits.memory_mb * 2**19 else POLL)

    def _stop(self, reason: str) -> None:
        if not self._stopped:
            self._stopped = reason
        self.kill()

    def cpu_seconds(self) -> float:
        """CPU time used by this sandbox's processes together, so far (measured every POLL s)."""
        if not self.closed and self.proc.poll() is None:
            self._measure()
        return self._cpu

    # -- the channel ----------------------------------------------------------

    def _limit(self, cpu_seconds: float, cpu_budget: float | None) -> float:
        """Start the limits of one request: ``cpu_seconds`` of CPU from now; its wall-clock deadline."""
        self._cpu_budget = cpu_budget
        self._cpu_limit = (self.cpu_seconds() + cpu_seconds, cpu_seconds, wall_backstop(cpu_seconds))
        return time.monotonic() + wall_backstop(cpu_seconds)

    def _read(self, n: int, deadline: float, what: str) -> bytes:
        """``n`` bytes of the reply, within the request's CPU time and its wall-clock backstop (``deadline``)."""
        fd = self.proc.stdout.fileno()
        chunks, got = [], 0
        cpu_deadline, cpu_limit, wall_limit = self._cpu_limit
        while got < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise WorkerFailure(f"timed out: no answer within {wall_limit:g} s of wall-clock time, the "
                                    f"backstop of its {cpu_limit:g} s of CPU time (it waited, or was stopped)")
            if self._cpu > cpu_deadline:
                raise WorkerFailure(f"timed out: no answer within {cpu_limit:g} s of CPU time "
                                    "(an infinite loop, or far too slow)")
            if self._stopped:
                raise WorkerFailure(self._stopped)
            ready, _, _ = select.select([fd], [], [], min(left, POLL))
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
        if self._stopped:
            return self._stopped
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
        header = load_header(self._read(n, deadline, what))
        if header.get("id") != request_id:
            raise WorkerFailure("the reply does not answer the request (the submission wrote into the channel?)")
        (m,) = struct.unpack(">Q", self._read(8, deadline, what))
        if m > MAX_REPLY_BYTES:
            raise WorkerFailure(f"the reply is larger than {MAX_REPLY_BYTES >> 20} MB")
        blob = self._read(m, deadline, what)
        failure = None
        try:
            arrays = load_arrays(blob)
        except WorkerFailure as exc:  # raised again below, without its traceback: it would keep the blob alive
            failure = (exc.reason, exc.fatal)
        del blob  # a flood of replies is never held twice
        if failure is not None:
            raise WorkerFailure(*failure)
        return header, arrays

    def call(self, op: str, params: dict, arrays: dict, timeout: float, cpu_budget: float | None = None
             ) -> tuple[dict, dict]:
        """Send one request; its reply (header, arrays), or WorkerFailure.

        ``timeout``: CPU seconds of the sandbox's processes for this request (the
        wall clock stops it at :func:`~.limits.wall_backstop` of that);
        ``cpu_budget``: the most CPU seconds this sandbox may use in all.
        """
        self._requests += 1
        message = encode(REQUEST, {"id": self._requests, "op": op, "params": params}, arrays)
        deadline = self._limit(timeout, cpu_budget)
        try:
            _write_all(self.proc.stdin.fileno(), message, deadline)
        except (BrokenPipeError, OSError):
            raise WorkerFailure(self._death_reason()) from None
        except TimeoutError:
            raise WorkerFailure("timed out: the worker did not take the request within the time limit") from None
        return self.receive(deadline, op, self._requests)

    def hello(self, timeout: float, cpu_budget: float | None = None) -> dict:
        """Wait for the worker to start (SandboxBroken if it never does), then for its first message
        (mlp_core imported, or why not), within ``timeout`` CPU seconds."""
        self._started()
        header, _ = self.receive(self._limit(timeout, cpu_budget), "importing mlp_core", 0)
        return header

    # -- ending ---------------------------------------------------------------

    def _started(self) -> None:
        """Read the worker's STARTED mark: sent before any of the submission's code, so its absence is the machine's."""
        try:
            mark = self._read(len(STARTED), time.monotonic() + START_SECONDS, "starting the worker")
        except WorkerFailure:
            mark = b""
        if mark == STARTED:
            return
        code = self.proc.poll()
        if mark:
            why = f"it wrote {mark!r} before the worker's start mark"
        elif code is None:
            why = f"it was still not running the worker after {START_SECONDS:g} s"
        elif code < 0:
            why = f"it was killed ({_signal_name(-code)}) before the worker ran"
        else:
            why = f"it exited with status {code} before the worker ran"
        self.kill()
        raise SandboxBroken(f"the sandbox did not start the worker: {why}")

    def kill(self) -> None:
        """Kill bwrap (the PID namespace and every process in it dies) and empty the cgroup.

        Returns once every process of the sandbox is gone (a zombie is gone), for
        at most :data:`GONE_WITHIN` s: a process freeing much memory takes a while
        to die after SIGKILL, and nothing of a sandbox may outlive it.
        """
        try:
            tree = tree_usage(self.proc.pid)[2] if self.proc.poll() is None else []
        except OSError:
            tree = []
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
            self.cgroup.kill_all(GONE_WITHIN)
        if self.backend is not None:
            self.backend.kill(self.slot)
        _wait_gone(tree, GONE_WITHIN)

    def close(self) -> None:
        if self.closed:
            return
        self.cpu_seconds()  # the last measure, before its processes are gone
        self.closed = True
        self.kill()
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                stream.close()
            except OSError:
                pass
        with _LIVE_LOCK:
            _LIVE.discard(self)


#: How long killing a sandbox waits for its processes to be gone.
GONE_WITHIN = 30.0


def _wait_gone(pids: list[int], timeout: float) -> None:
    """Wait until none of ``pids`` is a live process (gone, or a zombie), for at most ``timeout`` s."""
    end = time.monotonic() + timeout
    while pids and time.monotonic() < end:
        alive = []
        for pid in pids:
            try:
                with open(f"/proc/{pid}/stat", "rb") as f:
                    raw = f.read()
            except OSError:
                continue
            if raw[raw.rfind(b")") + 2:][:1] not in (b"Z", b"X"):
                alive.append(pid)
        pids = alive
        if pids:
            time.sleep(0.02)


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


def _signal_name(number: int) -> str:
    names = {signal.SIGXCPU: "SIGXCPU: the CPU time limit", signal.SIGKILL: "SIGKILL: out of memory, or killed",
             signal.SIGSEGV: "SIGSEGV: a crash", signal.SIGXFSZ: "SIGXFSZ: a file grew too large"}
    try:
        return names.get(number) or signal.Signals(number).name
    except ValueError:
        return f"signal {number}"
