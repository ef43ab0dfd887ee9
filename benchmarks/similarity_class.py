"""How long does ``similarity`` take for a class of N submissions (default 300)?

Writes a synthetic class into a temporary folder (kept with --keep): the
release of this repository, each student's kit filled with the solution
except the thirteen functions of ``tests/test_similarity.py``'s students,
each written the way one of its four students wrote it (picked at random per
student and function), half of the class as folders and half as zips. Then
runs ``similarity`` on it twice, with the default common-code limit and with
none (``--common N``: every fingerprint kept, the most pairs to count), and
prints the seconds (wall clock, and the CPU time of this process, which the
load of the machine does not change), with the load average. The "flagged"
column is the synthetic class's, not a measure of anything: each student's
code is drawn from four styles, so without the common-code limit every pair
shares the solution's other functions and each style's code.

    python benchmarks/similarity_class.py [--students 300] [--seed 0] [--keep DIR]

With --keep DIR the class is kept there, and a second run with the same DIR
reuses it (writing 300 kits takes minutes).
"""
# instructor-only

from __future__ import annotations

import argparse
import os
import platform
import random
import shutil
import sys
import tempfile
import time
import zipfile
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from mlp_instructor.release.command import release  # noqa: E402
from mlp_instructor.similarity.command import similarity  # noqa: E402
from tests import grading_attacks as attacks  # noqa: E402
from tests.test_similarity import NOTEBOOK_FUNCTIONS, STUDENTS, write_notebook_functions  # noqa: E402


def write_class(kit: Path, folder: Path, students: int, seed: int) -> None:
    """``students`` submissions in ``folder``: kits with only mlp_core/ and notebooks/, half zipped."""
    rng = random.Random(seed)
    styles = sorted(STUDENTS)
    functions = list(STUDENTS[styles[0]])
    folder.mkdir(parents=True)
    for i in range(students):
        name = f"student{i:03d}"
        target = folder / name
        for part in ("mlp_core", "notebooks"):
            shutil.copytree(kit / part, target / part)
        code = {f: STUDENTS[rng.choice(styles)][f] for f in functions}
        attacks.fill(target, {f: c for f, c in code.items() if f not in NOTEBOOK_FUNCTIONS})
        write_notebook_functions(target, {f: c for f, c in code.items() if f in NOTEBOOK_FUNCTIONS})
        if i % 2:
            with zipfile.ZipFile(folder / f"{name}.zip", "w", zipfile.ZIP_DEFLATED) as archive:
                for path in sorted(target.rglob("*")):
                    archive.write(path, f"{name}/{path.relative_to(target).as_posix()}")
            shutil.rmtree(target)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", type=Path, default=None, help="write the class here and keep it")
    args = parser.parse_args()
    base = args.keep or Path(tempfile.mkdtemp(prefix="similarity-bench-"))
    print(f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC; {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} cores; Python {platform.python_version()}; load average {os.getloadavg()}")
    try:
        if (base / "submissions").is_dir():
            print(f"reusing the class in {base / 'submissions'} (and its kit)")
        else:
            release(base / "kit", import_check=False)
            start = time.monotonic()
            write_class(base / "kit", base / "submissions", args.students, args.seed)
            print(f"wrote {args.students} submissions in {time.monotonic() - start:.1f} s")
        n = len(list((base / "submissions").iterdir()))
        print("| common-code limit | wall seconds | CPU seconds | CPU s per submission | pairs sharing code | flagged |")
        print("|---|---|---|---|---|---|")
        for common in (None, n):
            cpu = time.process_time()
            report = similarity(base / "submissions", base / "out", release=base / "kit", common=common,
                                log=lambda line: None)
            cpu = time.process_time() - cpu
            c = report.comparison
            flagged = sum(p.score >= report.threshold for p in c.pairs)
            print(f"| {'default' if common is None else 'none'} ({c.common}) | {report.seconds:.1f} | {cpu:.1f} | "
                  f"{cpu / n:.3f} | {len(c.pairs)} | {flagged} |")
        print(f"load average at the end {os.getloadavg()}")
    finally:
        if args.keep is None:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
