"""The limits of one submission: memory, processes, CPU time, disk, and how they are enforced.

Every process of a submission counts together, whoever grades:

* **CPU time, fairly shared.** Deadlines (per check and per submission) are
  counted in the CPU time of the sandbox's processes together, not in wall
  time, so a submission's score does not depend on who is graded beside it;
  the wall clock is only a backstop (:func:`wall_backstop`) for code that
  waits. While it runs, each sandbox gets its share of the CPU: a cgroup of
  its own in the ``cpu`` controller (v1 ``cpu.shares`` and a quota of one
  core; v2 ``cpu.weight`` and ``cpu.max``) where the judge may make one;
  elsewhere a session of its own, between which the kernel divides the CPU
  (``sched_autogroup``), and the seccomp filter (:mod:`.seccomp`) forbids
  ``setsid``, so a submission cannot make itself more of them.
* **Memory.** A cgroup's limit where there is one; elsewhere a watchdog
  (:func:`tree_usage`, polled by :class:`~.process.Sandbox`) sums the
  private memory of the sandbox's processes and kills the sandbox above the
  limit (a poll every :data:`POLL` seconds, :data:`FAST_POLL` above half the
  limit: a process may exceed it by what it allocates in that time), and
  ``RLIMIT_AS`` bounds each process.
* **Processes and threads.** A cgroup's ``pids.max``, and always
  ``RLIMIT_NPROC`` set inside the sandbox (:mod:`.bwrap`): as root each sandbox
  runs as a uid of its own (unique per run, :func:`~.uid.allocate_base`); as
  another user, each sandbox is a user namespace of its own, which Linux
  (5.14 and later) counts apart, and ``check_bwrap`` refuses a kernel that
  does not.
* **Disk.** Every writable filesystem of the sandbox is a tmpfs of the disk
  limit's size (:mod:`.bwrap`), the rest read-only; ``RLIMIT_FSIZE`` too.

:func:`describe` says which of these hold in a run: ``grade`` prints it.
"""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
#: How often the judge polls a sandbox's CPU time and (without a cgroup) memory, in seconds; every
#: FAST_POLL s once its memory is above half the limit.
POLL, FAST_POLL = 0.1, 0.02
#: The wall-clock backstop of a CPU-time limit: WALL_FACTOR x limit + WALL_GRACE seconds.
WALL_FACTOR, WALL_GRACE = 3.0, 5.0
_TICK = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


@dataclass(frozen=True)
class Limits:
    """Per-submission limits."""

    memory_mb: int = 3072
    processes: int = 32
    disk_mb: int = 64
    cpu_seconds: float = 300.0


def wall_backstop(cpu_seconds: float) -> float:
    """The wall-clock time after which code with a CPU-time limit of ``cpu_seconds`` is stopped anyway."""
    return cpu_seconds * WALL_FACTOR + WALL_GRACE


def rlimits(limits: Limits, cgroup: "Cgroup | None", sandboxed: bool) -> dict[str, int]:
    """The rlimits (``resource`` names -> values) the first process of a submission sets, inherited by all.

    As root (each sandbox its own uid) processes per uid; as another user
    ``RLIMIT_NPROC`` is set inside the sandbox instead (:func:`~.bwrap.sandbox_command`:
    set here it would count every process of the user). Without a cgroup,
    memory also per process (the watchdog sums them).
    """
    values = {"RLIMIT_CORE": 0, "RLIMIT_FSIZE": limits.disk_mb * 2**20, "RLIMIT_CPU": int(limits.cpu_seconds) + 1}
    if cgroup is None:
        values["RLIMIT_AS"] = limits.memory_mb * 2**20
    if sandboxed and os.geteuid() == 0:
        values["RLIMIT_NPROC"] = limits.processes  # counted per uid: each sandbox of each run has its own
    return values


def describe(cgroup_kind: str | None, sandboxed: bool, root: bool, bwrap: bool = True) -> str:
    """What this run enforces, in one line (``grade`` prints it); ``bwrap``: False for :mod:`.uid`'s sandboxes."""
    if not sandboxed:
        return "limits: per process only (RLIMIT_AS, RLIMIT_CPU, RLIMIT_FSIZE): no sandbox"
    cpu = ("CPU time of all its processes (per check and per submission; wall time only as a backstop), "
           + ("a CPU share and a one-core quota per sandbox (cgroup)" if cgroup_kind
              else "a CPU share per sandbox (a session of its own: the kernel's autogroup)" if bwrap and autogroup()
              else "no CPU share (no cgroup, no autogroup)"))
    memory = ("memory of all its processes (cgroup)" if cgroup_kind
              else f"memory of all its processes (a watchdog summing them every {POLL:g} s, {FAST_POLL:g} s above half "
              "the limit, and RLIMIT_AS)" if bwrap
              else f"memory per process (RLIMIT_AS) and of the worker's process tree (a watchdog every {POLL:g} s)")
    processes = ("processes (cgroup pids, and RLIMIT_NPROC per sandbox user)" if cgroup_kind else
                 "processes (RLIMIT_NPROC per sandbox " + ("user)" if root else "user namespace)"))
    if not bwrap:
        return f"limits per submission: {cpu}; {memory}; {processes}; disk (RLIMIT_FSIZE per file)"
    return (f"limits per submission: {cpu}; {memory}; {processes}; disk (sized tmpfs for every writable "
            "mount, / read-only); seccomp (no namespaces, mounts, ptrace or keyrings)")


def autogroup() -> bool:
    """Whether the kernel divides the CPU between sessions (``kernel.sched_autogroup_enabled``)."""
    try:
        return Path("/proc/sys/kernel/sched_autogroup_enabled").read_text().strip() == "1"
    except OSError:
        return False


def tree_usage(root_pid: int) -> tuple[float, int, list[int]]:
    """(CPU seconds, private resident bytes, pids) of ``root_pid`` and every process below it.

    CPU counts each live process's own time and what its reaped children
    used (``cutime``, ``cstime``: so an orphan reaped by the sandbox's init
    still counts); memory counts resident pages not backed by a file.
    """
    stats: dict[int, tuple[int, float]] = {}
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as f:
                raw = f.read()
        except OSError:
            continue
        fields = raw[raw.rfind(b")") + 2:].split()
        pid, ppid = int(entry.name), int(fields[1])
        stats[pid] = (ppid, sum(int(x) for x in fields[11:15]) / _TICK)
        children.setdefault(ppid, []).append(pid)
    if root_pid not in stats:
        return 0.0, 0, []
    found, stack, cpu, memory = [], [root_pid], 0.0, 0
    while stack:
        pid = stack.pop()
        found.append(pid)
        cpu += stats[pid][1]
        try:
            with open(f"/proc/{pid}/statm", "rb") as f:
                pages = f.read().split()
            memory += max(0, int(pages[1]) - int(pages[2])) * _PAGE
        except (OSError, IndexError, ValueError):
            pass
        stack.extend(children.get(pid, []))
    return cpu, memory, found


def own_cgroup(controller: str) -> str | None:
    """This process's cgroup path in ``controller``'s v1 hierarchy ("" for v2's), from /proc/self/cgroup."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        _, names, path = line.split(":", 2)
        if (controller == "" and names == "") or controller in names.split(","):
            return path.lstrip("/")
    return None


class Cgroup:
    """A cgroup (v2, or v1 memory+pids+cpuacct+cpu) holding every process of one submission.

    Made below the judge's own cgroup (``<own>/mlp-grading-<pid>/<name>``), so
    that a limit on the job running the judge covers its sandboxes too.
    :meth:`create` returns None where cgroups cannot be written (not root,
    read-only mount, controllers missing): the caller falls back to the
    watchdog (:func:`tree_usage`) and rlimits.
    """

    #: v1 controllers, in this order in :attr:`dirs`.
    V1 = ("memory", "pids", "cpuacct", "cpu")

    def __init__(self, kind: str, dirs: list[Path]):
        self.kind = kind  # "v2" or "v1"
        self.dirs = dirs

    @staticmethod
    def parent(controller: str) -> Path:
        """This run's parent cgroup in ``controller`` ("" for v2), below the judge's own cgroup."""
        base = CGROUP_ROOT / controller if controller else CGROUP_ROOT
        return base / (own_cgroup(controller) or "") / f"mlp-grading-{os.getpid()}"

    @classmethod
    def available(cls) -> str | None:
        """'v2', 'v1' or None: what this machine lets the judge use."""
        if os.geteuid() != 0:
            return None
        controllers = CGROUP_ROOT / "cgroup.controllers"
        if controllers.is_file():
            have = set(controllers.read_text().split())
            if {"memory", "pids", "cpu"} <= have and os.access(CGROUP_ROOT, os.W_OK):
                return "v2"
            return None
        if all(os.access(cls.parent(c).parent, os.W_OK) for c in cls.V1):
            return "v1"
        return None

    @classmethod
    def create(cls, name: str, limits: Limits) -> "Cgroup | None":
        kind = cls.available()
        made: list[Path] = []
        try:
            if kind == "v2":
                parent = cls.parent("")
                parent.mkdir(exist_ok=True)
                for where in (parent.parent, parent):  # fails in a judge's own non-root cgroup: no cgroups then
                    (where / "cgroup.subtree_control").write_text("+memory +pids +cpu")
                group = parent / name
                group.mkdir()
                made.append(group)
                (group / "memory.max").write_text(str(limits.memory_mb * 2**20))
                if (group / "memory.swap.max").exists():
                    (group / "memory.swap.max").write_text("0")
                (group / "pids.max").write_text(str(limits.processes))
                (group / "cpu.max").write_text("100000 100000")  # one core at most
                return cls("v2", [group])
            if kind == "v1":
                for controller in cls.V1:
                    group = cls.parent(controller) / name
                    group.mkdir(parents=True)
                    made.append(group)
                memory = str(limits.memory_mb * 2**20)
                (made[0] / "memory.limit_in_bytes").write_text(memory)
                if (made[0] / "memory.memsw.limit_in_bytes").exists():
                    (made[0] / "memory.memsw.limit_in_bytes").write_text(memory)
                (made[1] / "pids.max").write_text(str(limits.processes))
                (made[3] / "cpu.shares").write_text("1024")
                (made[3] / "cpu.cfs_period_us").write_text("100000")
                (made[3] / "cpu.cfs_quota_us").write_text("100000")  # one core at most
                return cls("v1", made)
        except OSError:
            for group in reversed(made):
                try:
                    group.rmdir()
                except OSError:
                    pass
            return None
        return None

    @classmethod
    def remove_parents(cls) -> None:
        """Remove this run's (empty) parent cgroups. Never raises."""
        for controller in ("", *cls.V1):
            try:
                cls.parent(controller).rmdir()
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

    def kill_all(self, timeout: float = 30.0) -> bool:
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
            for _ in range(250):  # an emptied group may stay busy a moment
                try:
                    d.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.02)
