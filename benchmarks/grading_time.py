"""How long does grading take? Seconds per submission, where they go, and a class of 300 from them.
# instructor-only

    MNIST_DIR=/path/to/mnist python benchmarks/grading_time.py      # 4 submissions, --jobs 1 then all cores
    python benchmarks/grading_time.py --submissions 8 --jobs 1,2
    python benchmarks/grading_time.py --quick                        # smoke run (tests/test_benchmark.py)

The class is made as a course makes it: the release of this repository
(``python -m mlp_core release``), every function and notebook exercise filled
in with the solution, every "YOUR ANSWER HERE" cell with the model answer
(Markdown and math), zipped as the student README says (``mlp_core/`` and
``notebooks/``), one copy per student. Each ``--jobs`` value grades the whole
class with :func:`mlp_instructor.grading.command.grade` (sandboxes, checks,
feedback, gradebook, answer pages), into a fresh folder, with clocks around
what it calls (wrapped in this process only, while it runs):

    sandbox start and stop        Sandbox() and its hello (the submission's mlp_core imported), close
    checks in the sandbox         every call into the worker but the end-to-end check's
    end-to-end training           the worker's call that trains MLP1 on the MNIST subset
    judging                       the inputs drawn, the solution's outputs, the verdicts (outside)
    reading the submission        content hash, unzip, finding the kit, copying it out, the answers
    writing                       each result's feedback page, gradebook and state (rewritten per result)
    the rest                      the submission's time minus the parts (scoring, threads, Python)

and, once per class, the grader's set-up (sandbox check, MNIST subset, the
checks' self-test) and the answer pages (every formula drawn anew: the
formula cache is off, as if no two students wrote the same one). With
``--jobs 1`` the parts add up to a submission's time, but for the writing,
which the main thread does while the next submission is graded (so the rest
can come out a little below zero); with more jobs they are summed over the
parallel submissions, so only the wall clock counts there. CPU seconds per
submission are this process's (judging, reading, writing, threads) and the
sandboxes' own, read from their cgroups (so the benchmark runs where the
grader has cgroups: as root).

A class of 300 is estimated from the measured rates, never timed: set-up +
300 x seconds per submission at the given jobs + the answer pages scaled to
300 + the state and gradebook rewrites, which grow with the class (one
rewrite of 300 results is timed here; a run does one per result, half as
large on average, one at a time). For more cores than this machine has, the
estimate assumes the jobs scale as the ones measured here did.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import shutil
import sys
import tempfile
import threading
import time
import zipfile
from collections import defaultdict
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from mlp_lab.experiments.provenance import load_average, machine_info  # noqa: E402

PARTS = ("sandbox start and stop", "checks in the sandbox", "end-to-end training", "judging",
         "reading the submission", "writing")
CLASS_SIZE = 300
OTHER_CORES = 16


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    def counts(text: str) -> list[int]:
        try:
            values = [int(x) for x in text.split(",")]
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of whole numbers") from None
        if not values or min(values) < 1:
            raise argparse.ArgumentTypeError(f"{text!r}: each must be a whole number >= 1")
        return values

    def positive(text: str) -> int:
        value = counts(text)
        if len(value) != 1:
            raise argparse.ArgumentTypeError(f"{text!r} is not one whole number")
        return value[0]

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--submissions", type=positive, default=4, help="complete submissions in the class (default 4)")
    p.add_argument("--jobs", type=counts, default=None,
                   help="comma-separated --jobs values to grade the class with (default: 1 and all cores)")
    p.add_argument("--data-dir", default=None, help="MNIST folder (default: as the grader finds it, e.g. $MNIST_DIR)")
    p.add_argument("--quick", action="store_true", help="one submission, one job: a smoke run, measuring nothing")
    args = p.parse_args(argv)
    if args.quick:
        args.submissions, args.jobs = 1, [1]
    args.jobs = args.jobs or sorted({1, os.cpu_count() or 1})
    return args


# ----------------------------------------------------------------------------
# The class
# ----------------------------------------------------------------------------


def make_class(folder: Path, n: int) -> Path:
    """``n`` complete submissions, zipped as the student README says, in ``folder/submissions``."""
    from mlp_instructor.notebooks import ANSWER_TAG, cell_tags, questions_of, read_notebook, write_notebook
    from mlp_instructor.release.command import release
    from tests._mistakes import completed_kit

    release(folder / "release", import_check=False)
    kit = completed_kit(folder / "release", folder / "kit")
    questions = questions_of(REPO / "notebooks")
    for path in sorted((kit / "notebooks").glob("*.ipynb")):
        nb = read_notebook(path)
        for cell in nb["cells"]:
            key = cell.get("metadata", {}).get("mlp_course", {}).get("question")
            if ANSWER_TAG in cell_tags(cell) and key in questions:
                cell["source"] = questions[key].model_answer
        write_notebook(nb, path)
    submissions = folder / "submissions"
    submissions.mkdir()
    first = submissions / "student-001.zip"
    with zipfile.ZipFile(first, "w", zipfile.ZIP_DEFLATED) as archive:  # what python -m zipfile -c writes
        for top in ("mlp_core", "notebooks"):
            for path in sorted((kit / top).rglob("*")):
                if path.is_file() and "__pycache__" not in path.parts:
                    archive.write(path, path.relative_to(kit).as_posix())
    for k in range(2, n + 1):
        shutil.copyfile(first, submissions / f"student-{k:03d}.zip")
    return submissions


# ----------------------------------------------------------------------------
# The clocks
# ----------------------------------------------------------------------------


def cpu_seconds(children: bool = True) -> float:
    """CPU seconds of this process, and of its children that have ended (the answer pages' writers)."""
    t = os.times()
    return t.user + t.system + ((t.children_user + t.children_system) if children else 0.0)


class Clocks:
    """Seconds per part, summed over every thread that ran it; CPU seconds of the parts run once per class."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.cpu: dict[str, float] = defaultdict(float)
        self._lock = threading.Lock()

    def once(self, part: str, function):
        """``function`` (run by one thread, nothing else running) with its wall and CPU seconds added to ``part``."""
        def wrapper(*args, **kwargs):
            cpu, own = cpu_seconds(), cpu_seconds(children=False)
            try:
                return self.timed(part, function)(*args, **kwargs)
            finally:
                self.cpu[part] += cpu_seconds() - cpu
                self.cpu[f"{part}, this process"] += cpu_seconds(children=False) - own
        return wrapper

    def timed(self, part, function):
        """``function`` with its time added to ``part`` (a name, or a function of the call's arguments)."""
        def wrapper(*args, **kwargs):
            start = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                name = part(*args, **kwargs) if callable(part) else part
                with self._lock:
                    self.seconds[name] += time.perf_counter() - start
        return wrapper


def _wrap(stack: contextlib.ExitStack, owner, name: str, replacement) -> None:
    if not hasattr(owner, name):
        raise SystemExit(f"grading_time.py: {getattr(owner, '__name__', owner)} has no {name} any more: "
                         "update the clocks of this benchmark to the grader's code")
    original = getattr(owner, name)
    setattr(owner, name, replacement(original))
    stack.callback(setattr, owner, name, original)


@contextlib.contextmanager
def clocked(clocks: Clocks):
    """The grader's steps wrapped in ``clocks`` (and the formula cache off) while the block runs."""
    from dataclasses import replace

    from mlp_instructor.grading import command, judge, markup
    from mlp_instructor.sandbox.limits import Cgroup
    from mlp_instructor.sandbox.process import Sandbox

    with contextlib.ExitStack() as stack:
        end_to_end_ops: set[str] = set()

        def timed_checks(build_checks):
            def build(*args, **kwargs):
                checks = build_checks(*args, **kwargs)
                end_to_end_ops.update(c.op for c in checks if c.name.startswith("end_to_end"))
                return [replace(c, build=clocks.timed("judging", c.build)) for c in checks]
            return build

        def call_part(box, op, *args, **kwargs):
            return "end-to-end training" if op in end_to_end_ops else "checks in the sandbox"

        _wrap(stack, judge, "build_checks", timed_checks)
        for name in ("__init__", "hello", "close"):
            _wrap(stack, Sandbox, name, lambda f: clocks.timed("sandbox start and stop", f))
        _wrap(stack, Sandbox, "call", lambda f: clocks.timed(call_part, f))
        for name in ("split_secrets", "reference_outputs", "verdict"):
            _wrap(stack, judge, name, lambda f: clocks.timed("judging", f))
        for name in ("unpack_zip", "find_kits", "take_kit", "collect_answers"):
            _wrap(stack, judge, name, lambda f: clocks.timed("reading the submission", f))
        _wrap(stack, command, "content_hash", lambda f: clocks.timed("reading the submission", f))
        for name in ("write_feedback", "write_gradebook", "write_state"):
            _wrap(stack, command, name, lambda f: clocks.timed("writing", f))
        _wrap(stack, command, "write_answer_pages", lambda f: clocks.once("answer pages", f))
        def setup(init):
            def run(*args, **kwargs):  # the checks' self-test draws inputs too: that is set-up, not judging
                judging = clocks.seconds["judging"]
                try:
                    return clocks.once("set-up", init)(*args, **kwargs)
                finally:
                    clocks.seconds["judging"] = judging
            return run

        _wrap(stack, judge.Grader, "__init__", setup)
        _wrap(stack, markup, "math_html", lambda f: f.__wrapped__)  # every formula drawn anew

        def remove(cgroup_remove):
            def run(cgroup):  # the CPU seconds of every process the sandbox ran, read before its cgroup goes
                with clocks._lock:
                    clocks.cpu["sandboxes"] += cgroup.cpu_seconds()
                return cgroup_remove(cgroup)
            return run

        _wrap(stack, Cgroup, "remove", remove)
        yield


def grade_class(submissions: Path, out: Path, jobs: int, data_dir: str | None) -> tuple[float, Clocks, list]:
    """Grade the class with ``jobs`` at a time: wall seconds, the clocks (CPU of the whole run: "run"), the results."""
    from mlp_instructor.grading.command import grade
    from mlp_instructor.grading.rubric import DEFAULT_RUBRIC, load_rubric

    clocks = Clocks()
    with clocked(clocks):
        start, cpu = time.perf_counter(), cpu_seconds(children=False)
        report = grade(submissions, out, jobs=jobs, data_dir=data_dir, log=lambda line: None)
        wall = time.perf_counter() - start
        clocks.cpu["run"] = cpu_seconds(children=False) - cpu  # the sandboxes' own: "sandboxes", from their cgroups
    full = load_rubric(DEFAULT_RUBRIC).max_points  # the points graded by code (the written answers are by hand)
    bad = [r.student for r in report.results if r.status != "graded" or sum(r.scores.values()) < full - 1e-9]
    if bad:
        raise SystemExit(f"grading_time.py: complete submissions lost points ({', '.join(bad)}): see {out}/feedback")
    return wall, clocks, report.results


def rewrite_seconds(results: list, folder: Path, n: int) -> float:
    """Seconds of one rewrite of the state file and the gradebook holding ``n`` results like these."""
    from dataclasses import replace

    from mlp_instructor.grading.gradebook import write_gradebook
    from mlp_instructor.grading.results import write_state
    from mlp_instructor.grading.rubric import DEFAULT_RUBRIC, load_rubric

    rubric = load_rubric(DEFAULT_RUBRIC)
    many = [replace(results[k % len(results)], student=f"student-{k:03d}") for k in range(n)]
    folder.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    write_state(folder, "0" * 64, many)
    write_gradebook(folder / "gradebook.csv", rubric, many)
    return time.perf_counter() - start


# ----------------------------------------------------------------------------
# The report
# ----------------------------------------------------------------------------


def table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    info = machine_info()
    average = load_average()
    print(f"grading_time.py: {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC; "
          f"{info.get('cpu', platform.machine())}, {info['cpus']} logical CPUs, {info['system']}; load average "
          f"at start {' '.join(f'{x:.2f}' for x in average) if average else 'unknown'} (1, 5, 15 min)")
    with tempfile.TemporaryDirectory(prefix="grading-time-") as tmp:
        tmp = Path(tmp)
        submissions = make_class(tmp, args.submissions)
        n = args.submissions
        print(f"class: {n} complete submission(s) (the release filled in, every written answer the model "
              f"answer), each a zip of mlp_core/ and notebooks/ ({(submissions / 'student-001.zip').stat().st_size / 1e6:.1f} MB)")
        runs = {}
        for jobs in args.jobs:
            runs[jobs] = grade_class(submissions, tmp / f"out-{jobs}", jobs, args.data_dir)
        rewrite = rewrite_seconds(runs[args.jobs[0]][2], tmp / "rewrite", CLASS_SIZE)
    load_end = load_average()

    def per_submission(jobs: int) -> float:
        wall, clocks, _ = runs[jobs]
        return (wall - clocks.seconds["set-up"] - clocks.seconds["answer pages"]) / n

    base = min(args.jobs)
    wall, clocks, _ = runs[base]
    total = per_submission(base)
    rows = [(part, f"{clocks.seconds[part] / n:.3f}", f"{100 * clocks.seconds[part] / n / total:.0f} %") for part in PARTS]
    rest = round(total - sum(clocks.seconds[part] for part in PARTS) / n, 3) + 0.0  # no "-0.000"
    rows += [("the rest", f"{rest:.3f}", f"{100 * rest / total:.0f} %"), ("**one submission**", f"**{total:.3f}**", "100 %")]
    print(f"\nwhere one submission goes (--jobs {base}, seconds per submission, mean of {n}):\n")
    print(table(("part", "s per submission", "share"), rows))
    setup, pages = clocks.seconds["set-up"], clocks.seconds["answer pages"]
    print(f"\nonce per class: grader set-up {setup:.2f} s; answer pages {pages:.2f} s for {n} submission(s) at "
          f"--jobs {base} ({pages / n:.3f} s, {clocks.cpu['answer pages'] / n:.3f} CPU s per submission); one rewrite "
          f"of state and gradebook with {CLASS_SIZE} results {rewrite:.3f} s")

    def cpu_per_submission(jobs: int) -> float:
        c = runs[jobs][1].cpu
        if not c["sandboxes"]:
            raise SystemExit("grading_time.py: the sandboxes' CPU time is read from their cgroups, and there were "
                             "none (run as root where /sys/fs/cgroup is writable)")
        return (c["run"] - c["set-up, this process"] - c["answer pages, this process"] + c["sandboxes"]) / n

    print("\nthroughput (the whole class, set-up and answer pages left out; CPU: this process and the sandboxes):\n")
    print(table(("jobs", "class s", "s per submission", "submissions per minute", "CPU s per submission"),
                [(str(j), f"{per_submission(j) * n:.2f}", f"{per_submission(j):.3f}", f"{60 / per_submission(j):.0f}",
                  f"{cpu_per_submission(j):.3f}") for j in args.jobs]))

    most = max(args.jobs)
    cpu_sub, cpu_pages = cpu_per_submission(base), clocks.cpu["answer pages"] / n
    efficiency = per_submission(base) * base / (per_submission(most) * most)

    def minutes(seconds_per_submission: float, pages_per_submission: float) -> float:
        rewrites = CLASS_SIZE * rewrite / 2  # one per result, half the class on average, one at a time
        return (setup + CLASS_SIZE * (seconds_per_submission + pages_per_submission) + rewrites) / 60

    rows = []
    for cores in sorted({info["cpus"], OTHER_CORES}):
        from_cpu = minutes(cpu_sub / cores, cpu_pages / cores)
        if cores == info["cpus"]:
            from_wall = f"{minutes(per_submission(most), pages / n / min(most, cores)):.1f} (measured rate at --jobs {most})"
        else:
            wall_rate = per_submission(base) * base / (cores * efficiency)
            from_wall = (f"{minutes(wall_rate, pages / n * base / (cores * efficiency)):.1f} (--jobs {base}'s rate "
                         f"x {cores} / {base} at the {efficiency:.2f} efficiency of --jobs {most} here; not measured)")
        rows.append((str(cores) + (" (this machine)" if cores == info["cpus"] else ""), f"{from_cpu:.1f}", from_wall))
    print(f"\na class of {CLASS_SIZE} (minutes: set-up + {CLASS_SIZE} x (a submission + its share of the answer "
          f"pages) + the state and gradebook rewrites; from the CPU seconds: what {CLASS_SIZE} submissions' work takes "
          f"spread over idle cores; from the wall clock: at this machine's load):\n")
    print(table(("cores", "from CPU seconds", "from the wall clock here"), rows))
    print(f"\nload average at end {' '.join(f'{x:.2f}' for x in load_end) if load_end else 'unknown'} (1, 5, 15 min)")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception as exc:  # noqa: BLE001 - one line: what failed (a missing MNIST or bwrap is the grader's message)
        from mlp_instructor.grading import GradingError

        if isinstance(exc, GradingError):
            print(f"grading_time.py: {exc}", file=sys.stderr)
            sys.exit(2)
        raise
