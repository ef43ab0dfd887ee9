"""One running worker on one submission, and the channel the judge talks to it through.

A :class:`Sandbox` starts a small launcher as the judge's user (it joins the
submission's cgroup and sets the rlimits, then becomes ``bwrap``: both must
happen before any of the submission's code runs), keeps the worker's stdin and
stdout as the channel, and sends one request at a time
(:meth:`Sandbox.call`). Everything that comes back is data: the header is
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
from .limits import Cgroup, Limits, rlimits
from .replies import MAX_REPLY_BYTES, WorkerFailure, load_arrays, load_header

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
os.execv(spec["argv"][0], spec["argv"])
"""


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
                 bwrap: str | None = None, backend=None, stderr=None):
        self.cgroup = cgroup
        # Hook: ``backend`` isolates the worker some other way than bwrap (sandbox/uid.py, for containers
        # without user namespaces): it gives the argv and the folder to start in, and kills what is left.
        self.backend, self.slot = backend, slot
        if backend is not None:
            argv = backend.command(copy, slot, limits)
        else:
            argv = sandbox_command(copy, slot, limits, bwrap) if sandboxed else unsandboxed_command(copy)
        spec = {"cgroup_procs": cgroup.procs_files() if cgroup else [], "rlimits": rlimits(limits, cgroup, sandboxed),
                "argv": argv}
        self.proc = subprocess.Popen(
            [sys.executable, "-I", "-S", "-c", _LAUNCHER, json.dumps(spec)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL if stderr is None else stderr,  # a file: the preflight's diagnosis
            env=worker_env(), start_new_session=True, close_fds=True,
            cwd=backend.cwd(slot) if backend is not None else str(copy) if not sandboxed else "/",
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
        """Wait for the worker to start (SandboxBroken if it never does), then for its import of mlp_core.

        ``timeout`` counts from the start: it is the submission's import time.
        """
        self._started()
        self._cpu_budget = cpu_budget
        header, _ = self.receive(time.monotonic() + timeout, "importing mlp_core", 0)
        return header

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
        if self.backend is not None:
            self.backend.kill(self.slot)

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


def _signal_name(number: int) -> str:
    names = {signal.SIGXCPU: "SIGXCPU: the CPU time limit", signal.SIGKILL: "SIGKILL: out of memory, or killed",
             signal.SIGSEGV: "SIGSEGV: a crash", signal.SIGXFSZ: "SIGXFSZ: a file grew too large"}
    try:
        return names.get(number) or signal.Signals(number).name
    except ValueError:
        return f"signal {number}"
