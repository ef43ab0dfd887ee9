"""``python -m mlp_core similarity``: compare a class's code, write the report, and its command line."""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from mlp_instructor import repo_root
from mlp_instructor.grading.submissions import discover_submissions, printable
from mlp_instructor.release import ReleaseError
from mlp_instructor.release.build import build_release

from . import SimilarityError
from .compare import Comparison, compare, given_lines
from .extract import exercise_functions, kit_fragments, read_submission, released_function_names, starter_texts
from .page import write_report

#: Default score from which a pair is flagged.
DEFAULT_THRESHOLD = 0.5


@dataclass
class SimilarityReport:
    comparison: Comparison
    threshold: float
    page: Path
    table: Path
    seconds: float

    def summary(self, top: int = 10) -> str:
        c = self.comparison
        flagged = [p for p in c.pairs if p.score >= self.threshold]
        lines = [f"compared {len(c.documents)} submission(s) in {self.seconds:.1f} s: {len(c.pairs)} pair(s) share "
                 f"code, {len(flagged)} flagged (score >= {self.threshold:.2f})"]
        lines += [f"  {p.score:.2f}  {printable(p.a)} and {printable(p.b)} ({p.shared} shared fingerprints)"
                  for p in flagged[:top]]
        if len(flagged) > top:
            lines.append(f"  ... {len(flagged) - top} more in {self.table}")
        lines += [f"  not compared: {printable(s)}: {why}" for s, why in sorted(c.unread.items())]
        lines.append(f"report: {self.page}; every pair: {self.table}")
        return "\n".join(lines)


def _release_of_source(source_dir: Path, scratch: Path) -> Path:
    """The student release of ``source_dir``, built into ``scratch`` (what the students started from)."""
    try:
        build_release(source_dir, scratch / "release")
    except ReleaseError as exc:
        raise SimilarityError(f"the release of {source_dir} cannot be built: {exc}") from None
    return scratch / "release"


def similarity(submissions_dir: str | Path, out_dir: str | Path, *, threshold: float = DEFAULT_THRESHOLD,
               release: str | Path | None = None, source_dir: str | Path | None = None,
               common: int | None = None, log: Callable[[str], None] = print) -> SimilarityReport:
    """Compare every pair of submissions in ``submissions_dir``; write ``similarity.html`` and ``.csv`` to ``out_dir``.

    ``release``: the kit the students were given (default: the release of
    ``source_dir``, this repository by default, built afresh). ``common``:
    a fingerprint in more submissions than this is ignored (default
    :func:`.compare.default_common`). Raises SimilarityError on bad input,
    before anything is written.
    """
    start = time.monotonic()
    submissions_dir, out_dir = Path(submissions_dir), Path(out_dir)
    if not 0 < threshold <= 1:
        raise SimilarityError(f"--threshold must be a score above 0 and at most 1, got {threshold}")
    if common is not None and common < 2:
        raise SimilarityError(f"--common must be at least 2 (submissions sharing a fingerprint), got {common}")
    if not submissions_dir.is_dir():
        raise SimilarityError(f"submissions folder {submissions_dir} does not exist")
    if out_dir.resolve() == submissions_dir.resolve() or submissions_dir.resolve() in out_dir.resolve().parents:
        raise SimilarityError("--out must not be inside the submissions folder (it would be read as a submission)")
    submissions = discover_submissions(submissions_dir)
    if len(submissions) < 2:
        raise SimilarityError(f"{len(submissions)} submission(s) (folders or .zip files) in {submissions_dir}: "
                              "at least two are needed to compare")
    scratch = Path(tempfile.mkdtemp(prefix="mlp-similarity-release-"))
    try:
        if release is None:
            kit = _release_of_source(Path(source_dir) if source_dir else repo_root(), scratch)
        else:
            kit = Path(release)
            if not (kit / "mlp_core").is_dir():
                raise SimilarityError(f"--release {kit} is not a released kit: it has no mlp_core folder")
        exercises = exercise_functions(kit)
        if not exercises:
            raise SimilarityError(f"{kit} asks students to write nothing (no placeholder in mlp_core or the "
                                  "notebooks): give the release the students were given (--release)")
        released, starter = released_function_names(kit), starter_texts(kit)
        given = given_lines(kit_fragments(kit, exercises, released, []))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    log(f"reading {len(submissions)} submission(s)...")
    codes = [read_submission(s, exercises, released) for s in submissions.values()]
    comparison = compare(codes, starter, common, given)
    out_dir.mkdir(parents=True, exist_ok=True)
    page, table = write_report(out_dir, comparison, threshold)
    return SimilarityReport(comparison, threshold, page, table, time.monotonic() - start)


def _score(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "similarity", help="flag copied code: compare every pair of submissions, HTML report of the flagged pairs",
        description="Compare the code every student wrote (the exercise functions of mlp_core and of the "
                    "notebooks) with every other student's, ignoring names, comments, formatting and the "
                    "release's starter code; write similarity.html (flagged pairs side by side) and "
                    "similarity.csv (every pair sharing code).",
    )
    p.add_argument("submissions", type=Path, metavar="SUBMISSIONS_DIR", help="one folder or .zip per student")
    p.add_argument("--out", type=Path, required=True, metavar="DIR", help="where similarity.html and .csv go")
    p.add_argument("--threshold", type=_score, default=DEFAULT_THRESHOLD,
                   help=f"flag pairs scoring at least this, in (0, 1] (default {DEFAULT_THRESHOLD})")
    p.add_argument("--release", type=Path, default=None, metavar="KIT_DIR",
                   help="the kit the students were given (default: the release of this repository, built afresh)")
    p.add_argument("--common", type=int, default=None, metavar="N",
                   help="ignore code found in more than N submissions (default: 10, or a tenth of a larger class)")
    p.set_defaults(func=cmd_similarity)


def cmd_similarity(args: argparse.Namespace) -> int:
    try:
        report = similarity(args.submissions, args.out, threshold=args.threshold, release=args.release,
                            common=args.common, log=lambda line: print(line, flush=True))
    except SimilarityError as exc:
        print(f"python -m mlp_core similarity: error: {exc}", file=sys.stderr)
        return 1
    print(report.summary())
    return 0
