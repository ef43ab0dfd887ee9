"""benchmarks/grading_time.py: its --quick run grades a complete submission and every table comes out whole.
# instructor-only

No timing is asserted (on a shared machine timed tests flake): each part must have been seen (a clock that
missed its step would leave it at 0), the parts and the rest must add up to the submission, and the class
of 300 must be there for this machine's cores and for 16.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from mlp_instructor.sandbox.bwrap import bwrap_path
from mlp_instructor.sandbox.limits import Cgroup

from ._mnist import REPO, in_ci, require_mnist

SCRIPT = REPO / "benchmarks" / "grading_time.py"
PARTS = ("sandbox start and stop", "checks in the sandbox", "end-to-end training", "judging",
         "reading the submission", "writing")


def rows(text: str, header: str) -> list[list[str]]:
    """The rows of the Markdown table whose header row starts with ``header``."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"| {header} |"))
    found = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        found.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    return found


def test_quick_run_grades_a_complete_submission_and_accounts_for_its_time():
    mnist = require_mnist()
    if bwrap_path() is None or not Cgroup.available():
        if in_ci():
            pytest.fail("CI must run the grading benchmark: it needs bwrap and writable cgroups (root)")
        pytest.skip("the grading benchmark needs bwrap and writable cgroups (as root), to grade and to read CPU time")
    env = {**os.environ, "MNIST_DIR": str(mnist)}
    result = subprocess.run([sys.executable, str(SCRIPT), "--quick"], capture_output=True, text=True, cwd=REPO,
                            env=env, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    assert "class: 1 complete submission(s)" in out and "load average at start" in out
    parts = {row[0].strip("*"): float(row[1].strip("*")) for row in rows(out, "part")}
    total = parts.pop("one submission")
    assert all(parts[part] > 0 for part in PARTS), parts
    assert sum(parts[p] for p in PARTS) + parts["the rest"] == pytest.approx(total, abs=0.005)
    assert parts["the rest"] >= -0.005  # the clocks never count a second twice
    throughput = rows(out, "jobs")
    assert [r[0] for r in throughput] == ["1"] and float(throughput[0][4]) > 0  # CPU seconds, sandboxes included
    assert float(throughput[0][2]) == pytest.approx(total, abs=0.005)
    estimates = {r[0].split()[0]: r for r in rows(out, "cores")}
    assert set(estimates) == {str(os.cpu_count()), "16"} and all(float(r[1]) > 0 for r in estimates.values())
    assert re.search(r"answer pages [0-9.]+ s for 1 submission", out)


@pytest.mark.parametrize("args, expected", [(["--jobs", "0"], "each must be a whole number >= 1"),
                                            (["--submissions", "two"], "is not a comma-separated list")])
def test_bad_arguments_give_one_line(args, expected):
    result = subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, cwd=REPO,
                            timeout=120)
    assert result.returncode == 2 and expected in result.stderr
