"""The L2 study as runs: its grid, its two objectives, training it, and its Markdown from the run files.

    OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MNIST_DIR=... \\
        python -m mlp_lab.l2_loss_check --out results/l2_loss_check

trains what is missing of the ``l2-loss-check`` grid (the reference's six L2
configurations, seed 0) with the experiment runner and the study's measure,
resumably: each finished run is a RunRecord in ``<out>/runs/`` (schema 2,
every candidate at every epoch); then writes ``<out>.md``. ``--report-only``
rewrites the Markdown from the run files without training. ``--objective
unsquared`` trains the same configurations on the unsquared norm itself
(``mlp_lab.losses.UnsquaredL2Loss``, the config's loss ``l2_unsquared``) into
``<out>/trained_on_unsquared/``, to tell a loss the reference only printed from
one it also trained on.
"""

from __future__ import annotations

import sys
from pathlib import Path

from mlp_core.atomic import atomic_write_text

from ..argtypes import OneLineParser, checked, integer
from ..experiments import Task, make_grid, run_grid
from ..records import RunRecord, load_results
from .candidates import CandidateMeasure
from .markdown import UNSQUARED_FOLDER, write
from .verdicts import REPORT_L2, decide, row_id

#: The study's grid: the reference's six L2 configurations (``mlp_lab.experiments.GRIDS``).
GRID = "l2-loss-check"
SEED = 0
#: Training objective -> the loss its runs train on (a name of ``mlp_lab.config.TrainConfig.loss``).
OBJECTIVES: dict[str, str] = {"course": "l2", "unsquared": "l2_unsquared"}


def study_tasks(objective: str = "course", only: list[str] | None = None, max_epochs: int | None = None) -> list[Task]:
    """The study's runs for ``objective``: the grid's configurations (or the rows in ``only``) on its loss."""
    if objective not in OBJECTIVES:
        raise ValueError(f"unknown objective {objective!r}; choose one of: {', '.join(OBJECTIVES)}")
    unknown = [row for row in only or [] if row not in REPORT_L2]
    if unknown:
        raise ValueError(f"unknown config id(s) {unknown}; choose from {', '.join(REPORT_L2)}")
    overrides = {"loss": OBJECTIVES[objective]} | ({} if max_epochs is None else {"max_epochs": max_epochs})
    tasks = make_grid(GRID, [SEED], **overrides)
    return [t for t in tasks if not only or row_id(t.config) in only]


def folder_of(out: str | Path, objective: str) -> Path:
    """Where the runs of ``objective`` go: ``out`` for the course's loss, its subfolder for the unsquared norm."""
    return Path(out) if objective == "course" else Path(out) / UNSQUARED_FOLDER


def train(out: str | Path, objective: str = "course", only: list[str] | None = None, *, workers: int = 1,
          data_dir: str | Path | None = None, max_epochs: int | None = None, progress: bool = True) -> list[str]:
    """Train the study's runs missing in ``out`` (failed ones again); returns the run ids trained now."""
    outcome = run_grid(study_tasks(objective, only, max_epochs), folder_of(out, objective), workers=workers,
                       data_dir=data_dir, measure=CandidateMeasure(), retry_failed=True, progress=progress,
                       grid=GRID)
    return outcome.trained


def load_runs(folder: str | Path) -> dict[str, RunRecord]:
    """Row id -> run, from ``folder/runs/*.json``, in the reference's row order ({} without runs)."""
    if not (Path(folder) / "runs").is_dir():
        return {}
    runs = {row_id(r.config): r for r in load_results(folder)}
    return {row: runs[row] for row in REPORT_L2 if row in runs}


def render_folder(out: str | Path, report_dir: str | Path | None = None) -> str:
    """The Markdown for the runs in ``out`` (and ``out/trained_on_unsquared``).

    ``report_dir``: the report grid's results (default: ``report`` beside
    ``out``), for the gap that started the study; left out if it is not there.
    """
    out = Path(out)
    report_dir = out.parent / "report" if report_dir is None else Path(report_dir)
    grid = load_results(report_dir) if (report_dir / "runs").is_dir() else []
    return write(decide(load_runs(out), load_runs(out / UNSQUARED_FOLDER), grid), out.name)


def main(argv: list[str] | None = None) -> int:
    parser = OneLineParser(prog="python -m mlp_lab.l2_loss_check",
                           description="Which definition of the L2 loss gives the reference's L2 loss numbers?")
    parser.add_argument("--out", type=Path, default=Path("results/l2_loss_check"),
                        help="folder for the runs (<out>/runs/); the Markdown goes to <out>.md")
    parser.add_argument("--only", action="append", default=[],
                        help=f"train only this config id (repeatable); one of {', '.join(REPORT_L2)}")
    parser.add_argument("--max-epochs", type=integer, default=None, help="epoch cap (default: the reference's)")
    parser.add_argument("--data-dir", default=None, help="MNIST folder (default: MNIST_DIR or the cache)")
    parser.add_argument("--objective", choices=list(OBJECTIVES), default="course",
                        help="train on the course's L2 loss (default) or on the unsquared norm "
                             f"(runs go to <out>/{UNSQUARED_FOLDER}/)")
    parser.add_argument("--workers", type=integer, default=1,
                        help="runs trained at once, one process and one BLAS thread each (default 1)")
    parser.add_argument("--report-only", action="store_true", help="only rewrite <out>.md from the run files")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    tasks = checked(parser, lambda: study_tasks(args.objective, args.only, args.max_epochs))
    if not args.report_only:
        print(f"{GRID}, {args.objective} objective: {len(tasks)} runs -> {folder_of(args.out, args.objective)}",
              file=sys.stderr, flush=True)
        checked(parser, lambda: train(args.out, args.objective, args.only, workers=args.workers,
                                      data_dir=args.data_dir, max_epochs=args.max_epochs,
                                      progress=not args.no_progress))
    md_path = args.out.with_suffix(".md")
    try:
        atomic_write_text(md_path, render_folder(args.out))
    except ValueError as exc:
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {md_path}", file=sys.stderr)
    return 0


__all__ = ["GRID", "OBJECTIVES", "SEED", "folder_of", "load_runs", "main", "render_folder", "study_tasks", "train"]
