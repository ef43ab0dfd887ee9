"""``python -m mlp_core report RESULTS_DIR``: write every file of the report step."""

from __future__ import annotations

from pathlib import Path

from mlp_core.atomic import atomic_write_text

from ..records import load_results
from ..reference import load_reference
from .figures import write_figures
from .tables import finished, summary_table, timing_table
from .text import SUMMARY_COLUMNS, TIMING_COLUMNS, csv_text, results_markdown, summary_markdown, timing_markdown


def write_report(results_dir: str | Path, reference: str | Path | dict | None = None) -> list[Path]:
    """Write every table, figure and summary of ``results_dir`` (see :mod:`mlp_lab.report`).

    ``reference``: a seed_results.csv-like path or
    :func:`~mlp_lab.reference.load_reference` dict (default: the
    reference's own numbers). Returns the paths written.
    """
    results_dir = Path(results_dir)
    results = load_results(results_dir)
    ref = reference if isinstance(reference, dict) else load_reference(reference)
    written = []

    def put(name: str, text: str) -> None:
        atomic_write_text(results_dir / name, text)
        written.append(results_dir / name)

    put("results.csv", csv_text(summary_table(results, "best", ref), SUMMARY_COLUMNS))
    put("results_final.csv", csv_text(summary_table(results, "final", ref), SUMMARY_COLUMNS))
    put("results.md", results_markdown(results, ref))
    put("timing.csv", csv_text(timing_table(results), TIMING_COLUMNS))
    put("timing.md", timing_markdown(results))
    put("summary.md", summary_markdown(results, ref))
    if finished(results):
        written += write_figures(results, results_dir / "figures")
    return written


def add_parser(subparsers) -> None:
    """Add the ``report`` command."""
    p = subparsers.add_parser(
        "report",
        help="write tables, figures, timings and conclusions for a results folder",
        description="Reads RESULTS_DIR/runs/*.json and writes results.{csv,md}, results_final.csv, "
        "timing.{csv,md}, summary.md and figures/ into RESULTS_DIR, comparing the runs with the "
        "reference (the report this kit reproduces); for the runs of a tuning grid (lr-momentum, "
        "regularisation), tuning.{csv,md}: a table over its settings.",
    )
    p.add_argument("results_dir", type=Path, metavar="RESULTS_DIR", help="folder written by `reproduce`")
    p.add_argument("--reference", type=Path, default=None,
                   help="CSV of the values to compare with (default: the reference's seed_results.csv, "
                        "shipped in mlp_lab/reference/)")
    p.set_defaults(func=cmd_report)


def cmd_report(args) -> int:
    if not args.results_dir.is_dir():
        raise ValueError(f"results folder {args.results_dir} does not exist; give the --out folder of `reproduce`")
    from ..tuning import tuning_grid, write_tuning_report  # here: mlp_lab.tuning imports this package

    grid = tuning_grid(load_results(args.results_dir))
    written = write_tuning_report(args.results_dir, grid) if grid else write_report(args.results_dir, args.reference)
    for path in written:
        print(f"wrote {path}")
    return 0
