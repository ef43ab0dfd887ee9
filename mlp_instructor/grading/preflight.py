"""Preflight: before anyone is graded, the grader grades two kits it knows the answer for.

:func:`preflight` grades, with the run's own :class:`~.judge.Grader` (its
sandbox, its limits, its rubric: every item the rubric holds, whatever kind),

* the instructor's solution (the source kit's ``mlp_core`` and notebooks):
  it must get every item's full points;
* the empty release, built by :func:`mlp_instructor.release.build.build_release`
  as students receive it (a placeholder in every student function, an answer
  cell for every written answer): it must get 0 on every item, and its
  ``mlp_core`` must import in the sandbox (a 0 from a kit that never ran
  would prove nothing about the checks).

Anything else raises :class:`PreflightError` (a :class:`~mlp_instructor.grading.GradingError`:
``grade`` prints its one message and exits 1) before the gradebook folder is
touched. A sandbox that never started the worker
(:class:`~mlp_instructor.sandbox.process.SandboxBroken`) is named an error
of the grading machine; the message adds what the failing sandbox wrote
(run once more with its error output kept) and, for root inside a user
namespace that lacks the sandbox's uid (a rootless container), says so.
Mid-class, :func:`broken_mid_class` words the same failure when a sandbox
stops working after the preflight passed: ``grade`` stops, no zero is written.

Why it runs every time, in full, uncached: it costs about as much as grading
one submission, and what it proves depends on more than the grader's
fingerprint (:meth:`~.judge.Grader._fingerprint`: rubric, grader code,
limits): on the machine, the user, the namespace (a rootless container), the
kernel's settings, the ``bwrap`` program and the instructor's solution. A
verdict cached in the gradebook's state would follow the folder onto a
machine where it no longer holds, which is how issue 21's class got zeros.
A reduced set of checks would leave out the end-to-end check, the one that
meets the real memory and time limits.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from mlp_instructor.release import ReleaseError
from mlp_instructor.release.build import build_release
from mlp_instructor.sandbox.bwrap import SANDBOX_UID_BASE, SandboxError
from mlp_instructor.sandbox.limits import Cgroup
from mlp_instructor.sandbox.process import Sandbox, SandboxBroken, WorkerFailure

from . import GradingError
from .gradebook import points_text
from .results import SubmissionResult
from .submissions import SubmissionError, content_hash, take_kit

SOLUTION = "the instructor's solution"
RELEASE = "the empty release"
#: How a check fails when the kit's mlp_core did not import (judge.py's wording).
IMPORT_FAILURE = "mlp_core does not import"
MACHINE = "an error of the grading machine, not of any submission"


class PreflightError(GradingError):
    """The grader cannot be trusted on this machine: the message says what failed and why."""


@dataclass(frozen=True)
class PreflightReport:
    """The two kits' results and how long the preflight took (wall clock, seconds)."""

    solution: SubmissionResult
    release: SubmissionResult
    max_points: float
    seconds: float

    def line(self) -> str:
        return (f"{SOLUTION} gets {points_text(self.solution.total)} / {points_text(self.max_points)} and "
                f"{RELEASE} {points_text(self.release.total)} / {points_text(self.max_points)} "
                f"(preflight, {self.seconds:.1f} s)")


def preflight(grader, log: Callable[[str], None] = print, parallel: bool = True) -> PreflightReport:
    """Grade the solution and the empty release with ``grader``; PreflightError unless they get full marks and 0.

    ``parallel``: both at once (two sandboxes together); False: one after the
    other (a run limited to one sandbox at a time, e.g. ``--jobs 1`` or
    Gradescope's container).
    """
    start = time.monotonic()
    scratch = Path(tempfile.mkdtemp(prefix="preflight-", dir=grader.workspace))
    try:
        kits = {SOLUTION: solution_kit(grader.source_dir, scratch / "solution"),
                RELEASE: release_kit(grader.source_dir, scratch / "release")}
        with ThreadPoolExecutor(max_workers=len(kits) if parallel else 1) as pool:
            futures = {name: pool.submit(grader.grade, name, path, content_hash(path)) for name, path in kits.items()}
            outcomes = {}
            for name, future in futures.items():
                try:
                    outcomes[name] = future.result()
                except SandboxBroken as exc:
                    outcomes[name] = exc
        broken = next((exc for exc in outcomes.values() if isinstance(exc, SandboxBroken)), None)
        if broken is not None:
            raise PreflightError(machine_message(grader, broken, kits[RELEASE], scratch))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    report = PreflightReport(outcomes[SOLUTION], outcomes[RELEASE], grader.rubric.max_points,
                             time.monotonic() - start)
    problems = verdict_problems(grader.rubric, report.solution, report.release)
    if problems:
        raise PreflightError(f"preflight: the grader does not grade right here, so no submission is graded: "
                             f"{'; '.join(problems)}")
    log(report.line())
    return report


def solution_kit(source_dir: Path, dest: Path) -> Path:
    """What the grader reads of the instructor's kit (``mlp_core``, notebooks), copied to ``dest``."""
    try:
        take_kit(source_dir, dest)
    except SubmissionError as exc:
        raise PreflightError(f"preflight: {SOLUTION} in {source_dir} cannot be read: {exc}") from None
    return dest


def release_kit(source_dir: Path, dest: Path) -> Path:
    """The student release of ``source_dir``, built into ``dest`` as ``release`` builds it."""
    dest.mkdir()
    try:
        build_release(source_dir, dest)
    except ReleaseError as exc:
        raise PreflightError(f"preflight: {RELEASE} cannot be built from {source_dir}: {exc}") from None
    return dest


def verdict_problems(rubric, solution: SubmissionResult, release: SubmissionResult) -> list[str]:
    """What is wrong with the two results: each item not at full points for the solution, not at 0 for the release."""
    problems = []
    for name, result, wanted in ((SOLUTION, solution, "full"), (RELEASE, release, "zero")):
        if result.status != "graded":
            problems.append(f"{name} could not be graded ({result.status})")
            continue
        wrong = [item for item in rubric.items
                 if (result.scores.get(item.id, 0.0) < item.points if wanted == "full"
                     else result.scores.get(item.id, 0.0) > 0)]
        if wrong:
            details = []
            for item in wrong[:4]:
                checks = [c for c in result.checks if item.matches(c.check) and c.passed != (wanted == "full")]
                first = checks[0] if checks else None
                why = "" if first is None else (f": {first.check} {first.message[:200]}" if wanted == "full"
                                                else f": {first.check} passed")
                details.append(f"{item.id} {points_text(result.scores.get(item.id, 0.0))} / "
                               f"{points_text(item.points)}{why}")
            more = f" and {len(wrong) - 4} more item(s)" if len(wrong) > 4 else ""
            what = ("under this run's limits and sandbox" if wanted == "full"
                    else "its placeholders pass checks, which are unsound")
            problems.append(f"{name} gets {points_text(result.total)} / {points_text(rubric.max_points)} "
                            f"({what}): {'; '.join(details)}{more}")
        if wanted == "zero":
            unimported = next((c.message for c in result.checks if c.message.startswith(IMPORT_FAILURE)), None)
            if unimported:
                problems.append(f"{name} gets its 0 without running (its {unimported[:300]}), "
                                "so its placeholders were never checked")
    return problems


def machine_message(grader, broken: SandboxBroken, kit: Path, scratch: Path) -> str:
    """The refusal for a sandbox that never started: what failed, what it wrote, and a known cause."""
    parts = [f"preflight: the sandbox does not work here, so no submission is graded ({MACHINE}): {broken}"]
    said = diagnose(grader, kit, scratch)
    if said:
        parts.append(f"it wrote: {said}")
    hint = uid_map_hint(getattr(grader.backend, "base", SANDBOX_UID_BASE))
    if hint:
        parts.append(hint)
    return "; ".join(parts)


def diagnose(grader, kit: Path, scratch: Path) -> str:
    """Start one sandbox on ``kit`` as the grader does, its error output kept; the output's end ("" if it started)."""
    copy = scratch / "diagnosis"
    log_path = scratch / "diagnosis.log"
    cgroup = Cgroup.create(f"{os.getpid()}-preflight-{time.monotonic_ns()}", grader.limits) if grader.cgroups else None
    try:
        take_kit(kit, copy)
        with open(log_path, "wb") as log:
            box = Sandbox(copy, slot=0, limits=grader.limits, cgroup=cgroup, sandboxed=grader.sandboxed,
                          bwrap=grader.bwrap, backend=grader.backend, stderr=log)
            try:
                box.hello(grader.rubric.default_timeout)
                return ""
            except (SandboxBroken, WorkerFailure):
                pass
            finally:
                box.close()
        text = log_path.read_bytes()[-2000:].decode("utf-8", "replace")
    except (OSError, SandboxError, SubmissionError):  # the diagnosis is extra: the refusal stands without it
        return ""
    finally:
        if cgroup is not None:
            cgroup.remove()
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return " | ".join(lines[-4:])[:600]


def broken_mid_class(student: str, broken: SandboxBroken, kept: int, todo: int) -> str:
    """The message when a sandbox stops working while the class is graded (after a preflight that passed)."""
    return (f"the sandbox stopped working while grading {student}: {broken}. This is {MACHINE}: grading stopped "
            f"and no grade was written for {student} nor for the {todo - kept - 1} other submission(s) not "
            f"finished; the {kept} graded before are kept. Fix the machine (run the same command again: its "
            "preflight says what fails) and the run resumes where it stopped")


def uid_map_hint(uid: int, uid_map: Path = Path("/proc/self/uid_map")) -> str:
    """For root in a user namespace where ``uid`` (the sandbox's) does not exist: what that means; else ""."""
    if os.geteuid() != 0:
        return ""
    try:
        ranges = [tuple(int(x) for x in line.split()) for line in uid_map.read_text().splitlines() if line.strip()]
    except (OSError, ValueError):
        return ""
    if any(inside <= uid < inside + count for inside, _, count in ranges):
        return ""
    mapped = ", ".join(f"{inside}-{inside + count - 1}" for inside, _, count in ranges) or "none"
    return (f"this root is root of a user namespace that maps only uid(s) {mapped} (a rootless container, e.g. "
            f"unshare --user --map-root-user or rootless podman): the sandbox's own uid {uid} does not exist "
            "here, so the code cannot be run as it; grade where root is the machine's root (a VM, or a "
            "container that maps that uid), or as an ordinary user outside the container")
