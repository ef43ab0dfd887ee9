"""What ``run_autograder`` runs for each submission on Gradescope: grade it, write ``results.json``.

Gradescope's layout (its specification, "File hierarchy"): the autograder
zip unpacked in ``/autograder/source``, the student's files in
``/autograder/submission``, the result expected in
``/autograder/results/results.json``; ``run_autograder`` starts as root in
``/autograder``. Every path here hangs off ``--root`` (default
``/autograder``), so the tests lay the same tree out in a temporary folder.

As root, in order:

1. **Lock the instructor's files away**: ``source`` (the kit with its
   solution, the rubric, MNIST) and ``submission`` become root's alone
   (0700), ``results`` root's and writable by root alone (0755).
2. **Choose the sandbox** (``--sandbox auto``): Bubblewrap where it runs in
   this container, else the worker as a user of its own
   (:mod:`mlp_instructor.sandbox.uid`). The first that passes the preflight
   (:mod:`mlp_instructor.grading.preflight`: the instructor's solution gets
   full marks in it, the empty release 0) is used; if none does, or a
   sandbox stops working while the submission is graded, the machine cannot
   grade: ``run_autograder`` exits 1 and its ``results.json``
   (:func:`.results_json.broken_results`) says the autograder is broken and
   holds no score, never a 0 for the student.
3. **Grade** ``submission`` (a kit at any depth, or one zip of it) with the
   judge outside the sandbox; every sandbox is ended and every process of
   its users killed before anything is written.
4. **Write** ``results/results.json`` (:mod:`.results_json`).

``--check`` does 1-2 only: ``setup.sh`` runs it when Gradescope builds the
image, so that a container that cannot grade fails the build, before any
student submits.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from mlp_instructor.grading import GradingError
from mlp_instructor.grading.judge import Grader
from mlp_instructor.grading.preflight import preflight
from mlp_instructor.sandbox.bwrap import SandboxError, bwrap_path, check_bwrap
from mlp_instructor.sandbox.uid import UidSandboxes

from .results_json import broken_results, results_json, write_results

#: The autograder's settings, written into the zip by :mod:`.autograder`.
SETTINGS = "autograder.json"


@dataclass(frozen=True)
class Layout:
    """Gradescope's folders under ``root``."""

    root: Path

    @property
    def source(self) -> Path:
        return self.root / "source"

    @property
    def submission(self) -> Path:
        return self.root / "submission"

    @property
    def results(self) -> Path:
        return self.root / "results" / "results.json"

    @property
    def metadata(self) -> Path:
        return self.root / "submission_metadata.json"


def lock_down(layout: Layout) -> None:
    """The instructor's files and the submission root's alone; the results folder writable by root alone."""
    for folder in (layout.source, layout.submission):
        if folder.is_dir():
            os.chown(folder, 0, 0)
            folder.chmod(0o700)
    layout.results.parent.mkdir(parents=True, exist_ok=True)
    os.chown(layout.results.parent, 0, 0)
    layout.results.parent.chmod(0o755)


def student_name(layout: Layout) -> str:
    """The submitters' names from Gradescope's ``submission_metadata.json``, or "submission"."""
    try:
        users = json.loads(layout.metadata.read_text())["users"]
        names = [str(u["name"]) for u in users if u.get("name")]
    except (OSError, ValueError, KeyError, TypeError):
        return "submission"
    return ", ".join(names)[:200] or "submission"


def submitted_path(submission: Path) -> Path:
    """The folder Gradescope unpacked, or the one zip in it when the student uploaded the kit zipped."""
    entries = [p for p in submission.iterdir() if not p.name.startswith(".")] if submission.is_dir() else []
    zips = [p for p in entries if p.suffix.lower() == ".zip" and p.is_file() and not p.is_symlink()]
    if len(zips) == 1 and not any((p / "mlp_core").exists() for p in [submission, *entries] if p.is_dir()):
        return zips[0]
    return submission


def open_grader(settings: dict, source: Path, sandbox: str, log) -> tuple[Grader, UidSandboxes | None]:
    """A Grader on the first sandbox that passes the preflight here (solution full marks, empty release 0).

    Raises GradingError (the machine cannot grade) when none does.
    """
    kit = source / settings["kit"]
    common = dict(rubric=source / settings["rubric"], data_dir=source / settings["mnist"], source_dir=kit,
                  submission_timeout=settings.get("timeout"), memory_mb=settings.get("memory_mb"))
    tried = []
    for kind in (["bwrap", "uid"] if sandbox == "auto" else [sandbox]):
        backend = None
        try:
            if kind == "bwrap":
                if bwrap_path() is None:
                    raise SandboxError("bwrap is not installed")
                check_bwrap(bwrap_path())
            else:
                backend = UidSandboxes()
                backend.check()
            grader = Grader(**common, backend=backend)
        except (SandboxError, GradingError, OSError) as exc:
            if backend is not None:
                backend.close()
            tried.append(f"{kind}: {exc}")
            continue
        try:
            log(f"sandbox: {kind} ({preflight(grader, log=lambda line: None, parallel=False).line()})")
            return grader, backend
        except GradingError as exc:
            tried.append(f"{kind}: {exc}")
        grader.close()
        if backend is not None:
            backend.close()
    raise GradingError("no sandbox works in this container, so no submission is graded: " + "; ".join(tried))


def run(root: Path, *, sandbox: str = "auto", check_only: bool = False, log=print) -> dict | None:
    """Grade ``root/submission`` and write ``root/results/results.json``; its content (None with ``check_only``)."""
    start = time.monotonic()
    layout = Layout(Path(root))
    settings = json.loads((layout.source / SETTINGS).read_text())
    lock_down(layout)
    grader, backend = open_grader(settings, layout.source, sandbox, log)
    try:
        if check_only:
            return None
        result = grader.grade(student_name(layout), submitted_path(layout.submission))
    finally:
        grader.close()
        if backend is not None:
            backend.close()
    data = results_json(result, grader.rubric, grader.descriptions, seconds=time.monotonic() - start,
                        visibility=settings.get("visibility", "visible"))
    write_results(layout.results, data)
    log(f"graded: {result.total:g} / {grader.rubric.max_points:g} ({result.status}); "
        f"{layout.results} written in {time.monotonic() - start:.1f} s")
    return data


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="run_autograder", description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path("/autograder"), help="Gradescope's folder (default /autograder)")
    parser.add_argument("--sandbox", choices=("auto", "bwrap", "uid"), default="auto",
                        help="auto: Bubblewrap where it runs here, else a user of its own")
    parser.add_argument("--check", action="store_true",
                        help="only check that the instructor's solution gets full marks here (setup.sh runs it)")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        print("run_autograder: error: run it as root (Gradescope does): it locks the instructor's files away "
              "and runs the student's code as another user", file=sys.stderr)
        return 1
    try:
        run(args.root, sandbox=args.sandbox, check_only=args.check, log=lambda line: print(line, flush=True))
    except (GradingError, SandboxError, OSError, ValueError, KeyError) as exc:
        message = f"run_autograder: error of the grading machine, not of the submission: {exc}"
        print(message, flush=True)
        print(message, file=sys.stderr)
        if not args.check:  # Gradescope shows the student results.json: it must say the autograder broke
            try:
                results = Layout(args.root).results
                results.parent.mkdir(parents=True, exist_ok=True)
                write_results(results, broken_results(str(exc)))
            except OSError as error:
                print(f"run_autograder: results.json cannot be written either: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
