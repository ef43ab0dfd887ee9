"""The limits of one submission: memory, processes, CPU time, disk, and how they are enforced.

Where the judge runs as root and ``/sys/fs/cgroup`` is writable, every
process of a submission goes into one :class:`Cgroup` (v2, or v1 memory +
pids + cpuacct): memory and the number of processes are limited for all of
them together, and the judge polls their CPU time. Elsewhere the limits fall
back to rlimits (:func:`rlimits`), set on the first process and inherited by
the rest: memory and CPU time per process (``RLIMIT_AS``, ``RLIMIT_CPU``),
processes per user (``RLIMIT_NPROC``: each sandbox slot has its own uid when
the judge is root). The file size limit (the disk) and no core files hold
either way; the wall time is the judge's own (it kills).
"""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")


@dataclass(frozen=True)
class Limits:
    """Per-submission limits."""

    memory_mb: int = 3072
    processes: int = 32
    disk_mb: int = 64
    cpu_seconds: float = 300.0


def rlimits(limits: Limits, cgroup: "Cgroup | None", sandboxed: bool) -> dict[str, int]:
    """The rlimits (``resource`` names -> values) the first process of a submission sets.

    Without a cgroup, memory is limited per process and, in a sandbox run by
    root (each slot its own uid), processes per user.
    """
    values = {"RLIMIT_CORE": 0, "RLIMIT_FSIZE": limits.disk_mb * 2**20, "RLIMIT_CPU": int(limits.cpu_seconds) + 1}
    if cgroup is None:
        values["RLIMIT_AS"] = limits.memory_mb * 2**20
        if sandboxed and os.geteuid() == 0:
            values["RLIMIT_NPROC"] = limits.processes  # counted per uid: each slot has its own
    return values


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
