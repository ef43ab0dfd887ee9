"""``python -m mlp_core reproduce``: train a named grid, then write its report."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from mlp_core.network import OUTPUT_ACTIVATIONS

from ..argtypes import add_data_arguments, checked, integer
from ..report import write_report
from .grids import GRIDS, MEASURES, VARIED, make_grid
from .runner import run_grid


def add_parser(subparsers) -> None:
    """Add the ``reproduce`` command (see :mod:`mlp_lab.experiments`)."""
    p = subparsers.add_parser(
        "reproduce",
        help="train a named grid of runs in parallel (resumable), then write the report",
        description="Train every configuration of a grid with several seeds, in parallel worker "
        "processes; each finished run is written to OUT/runs/<config-id>-seed<k>.json, and a "
        "rerun skips the runs already there. Then writes the tables and figures (see `report`).",
    )
    p.add_argument("--grid", default="report", choices=list(GRIDS),
                   help="; ".join(f"{name}: {desc}" for name, (desc, _) in GRIDS.items()))
    p.add_argument("--seeds", type=integer, default=1,
                   help="seeds per configuration: 0..SEEDS-1 (default 1); runs already done are skipped")
    p.add_argument("--out", type=Path, default=None,
                   help="results folder (default results/<grid>[-<dataset> unless mnist][-validation])")
    p.add_argument("--validation", action="store_true",
                   help="early-stop on a held-out split of 10000 training samples instead of the test set")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--workers", type=integer, default=None,
                       help=f"worker processes, one BLAS thread each (default {os.cpu_count()}); 0 = in this process")
    where.add_argument("--scheduler", default=None, metavar="ADDRESS",
                       help="train on a Dask cluster instead: each run is a task for the workers of the "
                       "scheduler at ADDRESS (e.g. tcp://HOST:8786); the runs come back here and are written "
                       "to OUT as usual. Needs the distributed extra (README: 'On a Dask cluster')")
    p.add_argument("--retry-failed", action="store_true",
                   help="train runs recorded as diverged or failed again (default: keep and skip them)")
    p.add_argument("--only", action="append", default=None, metavar="TEXT",
                   help="keep only configurations whose id (e.g. mlp1-l2-relu) contains TEXT; repeatable")
    p.add_argument("--output-activation", default=None, choices=list(OUTPUT_ACTIVATIONS),
                   help="override the grid's output activation for every configuration")
    p.add_argument("--epochs", type=integer, default=None, help="override the maximum epochs")
    p.add_argument("--train-subset", type=integer, default=None, help="use only N training samples")
    p.add_argument("--test-subset", type=integer, default=None, help="use only N test samples")
    add_data_arguments(p)
    p.add_argument("--no-report", action="store_true", help="do not write the report at the end")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (per-run lines only)")
    p.set_defaults(func=cmd_reproduce, parser=p)


def _overrides(args) -> dict:
    """The TrainConfig fields the command line sets on every configuration of the grid."""
    overrides: dict = {"dataset": args.dataset}
    if args.output_activation is not None:
        overrides["output_activation"] = None if args.output_activation == "none" else args.output_activation
    for name, value in (("max_epochs", args.epochs), ("train_subset", args.train_subset),
                        ("test_subset", args.test_subset)):
        if value is not None:
            overrides[name] = value
    return overrides


def cmd_reproduce(args) -> int:
    def terminate(signum, frame):  # `kill` stops the grid the way Ctrl-C does
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, terminate)
    tasks = checked(args.parser, lambda: make_grid(args.grid, args.seeds, validation=args.validation, only=args.only,
                                                   **_overrides(args)))
    suffix = ("" if args.dataset == "mnist" else f"-{args.dataset}") + ("-validation" if args.validation else "")
    out = args.out or Path("results") / (args.grid + suffix)
    n_configs = len({t.config_id for t in tasks})
    print(f"grid {args.grid}: {n_configs} configurations x {args.seeds} seed(s) = {len(tasks)} runs -> {out}",
          flush=True)
    # run_grid checks the configs, the workers and what out already holds before it trains anything: its
    # ValueErrors are bad arguments (a run's own failure is recorded, never raised)
    outcome = checked(args.parser, lambda: run_grid(
        tasks, out, workers=args.workers, scheduler=args.scheduler, data_dir=args.data_dir,
        measure=MEASURES.get(args.grid), retry_failed=args.retry_failed, progress=not args.no_progress,
        grid=args.grid))
    print(f"trained {len(outcome.trained)} runs ({len(outcome.failed)} diverged or failed), "
          f"skipped {len(outcome.skipped)} already done, in {outcome.wall_seconds:.0f} s", flush=True)
    if not args.no_report:
        if args.grid in VARIED:  # a table over the grid's settings, not the reference's comparison
            from ..tuning import write_tuning_report

            written = write_tuning_report(out, args.grid)
        else:
            written = write_report(out)
        for path in written:
            print(f"wrote {path}")
    return 0
