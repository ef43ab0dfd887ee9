"""What a run and a grid invocation record about where they ran: versions, machine, load, command."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import sys
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from mlp_core import __version__
from mlp_core.atomic import atomic_write_text

try:  # optional dependency: only to record the threads the BLAS really uses
    from threadpoolctl import threadpool_info
except ImportError:
    threadpool_info = None


def library_versions() -> dict[str, object]:
    """Python, numpy, mlp_core versions, the platform and this process's BLAS threads."""
    versions: dict[str, object] = {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "mlp_core": __version__,
        "platform": platform.platform(),
        "blas_threads_env": os.environ.get("OPENBLAS_NUM_THREADS"),
    }
    if threadpool_info is not None:
        versions["blas_threads"] = [
            {"api": i.get("internal_api"), "num_threads": i.get("num_threads")} for i in threadpool_info()
        ]
    return versions


def machine_info() -> dict[str, object]:
    """CPU model, logical CPU count, memory (GB) and OS, for the record."""
    info: dict[str, object] = {"cpus": os.cpu_count(), "system": platform.platform()}
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
    with contextlib.suppress(OSError, ValueError, IndexError):
        kb = int(Path("/proc/meminfo").read_text().split("\n")[0].split()[1])
        info["memory_gb"] = round(kb / 2**20, 1)
    return info


def load_average() -> list[float] | None:
    """The 1, 5 and 15 minute load averages (None where the system has none)."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def command_line() -> str | None:
    """How this process was started, as ``python -m mlp_core ...`` when it was."""
    if not sys.argv or not sys.argv[0]:
        return None
    if sys.argv[0].endswith(("__main__.py", "mlp_core")):
        return " ".join(["python -m mlp_core", *sys.argv[1:]])
    return " ".join(sys.argv)


def now() -> str:
    """The UTC time to the second, ISO 8601."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def log_invocation(out_dir: Path, invocation: dict) -> None:
    """Add one invocation of the runner to ``out_dir/grid.json`` (atomically; a missing or broken log starts anew)."""
    path = Path(out_dir) / "grid.json"
    try:
        log = json.loads(path.read_text())
    except (OSError, ValueError):
        log = {"invocations": []}
    log["invocations"].append(invocation)
    atomic_write_text(path, json.dumps(log, indent=1))
