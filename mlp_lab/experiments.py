"""Experiment grids: train many configurations in parallel, one JSON per run, resumable.

    python -m mlp_core reproduce --grid report --seeds 3 --out results/report

A *grid* is a named list of :class:`~mlp_lab.config.TrainConfig` s (see
:data:`GRIDS`); with ``seeds=S`` every configuration is trained with seeds
0..S-1. Each run is one *task*; :func:`run_grid` trains the tasks in worker
processes and writes every finished run at once, atomically, as

    <out>/runs/<config-id>-seed<k>.json

(:func:`run_path`). A run's JSON holds its config, seed, status, per-epoch
history, the metrics at the best and at the final epoch, the epoch of the best,
the stop epoch, the seconds per epoch and the library versions
(:data:`RUN_SCHEMA`). Its ``status`` is ``"ok"``, ``"diverged"`` (the loss
became NaN or infinite: the history up to then is kept) or ``"failed"`` (any
other exception: the traceback is kept); a run that fails never stops the
others.

Resuming: a rerun skips every task whose JSON exists, is readable and has the
same config, so an interrupted grid picks up where it stopped. Runs recorded as
``diverged`` or ``failed`` are skipped too (they would fail the same way:
training is deterministic given the seed) unless ``retry_failed=True``
(``--retry-failed``), which trains them again. A JSON whose config differs from
the task's is an error, never silently overwritten: use another output folder.

Parallelism: ``workers`` processes (default ``os.cpu_count()``), started with
the "spawn" method, each with ONE BLAS thread. The thread limits are put into
the environment before the workers start, so they hold when numpy loads in the
worker (setting them inside a worker would be too late: importing mlp_core
imports numpy). Two single-threaded workers on two cores are faster than one
worker with two BLAS threads for these small matrices, and the per-epoch
timings stay comparable (note that the workers share the memory bandwidth).
Each worker loads the dataset once and keeps it for all its runs.
``workers=0`` trains in the calling process, one run after another (for
debugging and tests; the BLAS threads are then whatever this process has).

Every invocation that has runs to train is logged in ``<out>/grid.json`` (command, seeds, runs
trained / skipped, wall time, load average, machine), which is where the
README's timings come from.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import json
import multiprocessing
import os
import platform
import signal
import sys
import time
import traceback
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from mlp_core import __version__
from mlp_core._io import atomic_write_text
from mlp_core.data import load_dataset
from mlp_core.network import hidden_sizes_for
from mlp_core.training import History, TrainingDiverged

from .argtypes import add_data_arguments, nonnegative_int, positive_int
from .config import TrainConfig, run, split_data
from .report import write_report

#: Environment variables that cap the threads of the BLAS/OpenMP libraries numpy may use.
THREAD_ENV_VARS = (
    "OPENBLAS_NUM_THREADS",
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "BLIS_NUM_THREADS",
)

#: Version of the run-JSON layout below.
RUN_SCHEMA = 1

DEPTHS = {1: "mlp1", 2: "mlp2"}
LOSS_NAMES = ("l2", "cross_entropy", "hinge")
ACTIVATION_NAMES = ("sigmoid", "relu", "gelu")

#: Output activation per loss in the ``report`` grid: none for every loss (the
#: logits go straight to the loss), settled by measurement in
#: results/output_activation_check.md. With the activation after the output
#: layer too (as the report's architecture table draws it), Sigmoid+L2 lands
#: 1.8 pp (MLP1) and 83 pp (MLP2: stuck on its initial plateau until early
#: stopping ends it) below the report, while without it both are within 0.2 pp
#: (95.79 vs 95.94%, 94.65 vs 94.69%); cross-entropy and hinge losses as low as
#: the report's are impossible behind a Sigmoid output (at least 1.46 and 36).
REPORT_OUTPUT_ACTIVATION: dict[str, str | None] = {
    "l2": None,
    "cross_entropy": None,
    "hinge": None,
}


# --------------------------------------------------------------------------- #
# Grids
# --------------------------------------------------------------------------- #


@dataclass(frozen=True)
class Task:
    """One run of a grid: a configuration id, its TrainConfig (with its seed)."""

    config_id: str
    config: TrainConfig

    @property
    def seed(self) -> int:
        return self.config.seed

    @property
    def run_id(self) -> str:
        return f"{self.config_id}-seed{self.seed}"


def config_id(config) -> str:
    """'mlp1-l2-sigmoid': depth, loss and hidden activation (what the report's table varies)."""
    arch = config.architecture
    arch = arch if isinstance(arch, str) else "h" + "x".join(map(str, arch))
    return f"{arch}-{config.loss}-{config.activation}"


def report_configs(output_activations: dict[str, str | None] | None = None, **overrides) -> list:
    """The report's 18 configurations: MLP1/MLP2 x L2/CE/hinge x Sigmoid/ReLU/GELU.

    Settings are TrainConfig's defaults, which are the report's (init_std 0.01,
    lr 0.01, momentum 0.9, no weight decay, batch 100, at most 100 epochs,
    patience 10 on the test accuracy, hinge margin 5, course pixel scaling).
    ``output_activations`` maps a loss to its output activation (default
    :data:`REPORT_OUTPUT_ACTIVATION`); ``overrides`` replace any field
    (an ``output_activation`` override applies to every loss).
    """
    per_loss = REPORT_OUTPUT_ACTIVATION if output_activations is None else output_activations
    configs = []
    for depth, arch in DEPTHS.items():
        for loss in LOSS_NAMES:
            for act in ACTIVATION_NAMES:
                fields = dict(architecture=arch, activation=act, loss=loss, output_activation=per_loss[loss])
                fields.update(overrides)
                configs.append(TrainConfig(**fields))
    return configs


def _grid_report(**overrides) -> list:
    return report_configs(**overrides)


def _grid_report_as_drawn(**overrides) -> list:
    # The report's architecture table: an activation after EVERY Linear, the output one included.
    return report_configs({loss: "same" for loss in LOSS_NAMES}, **overrides)


def _grid_quick(**overrides) -> list:
    quick = dict(train_subset=10000, test_subset=2000, max_epochs=5)
    quick.update(overrides)
    return report_configs(**quick)


#: Named grids: name -> (description, function(**TrainConfig overrides) -> list of TrainConfig).
GRIDS: dict[str, tuple[str, Callable[..., list]]] = {
    "report": ("the report's 18 runs at its settings", _grid_report),
    "report-as-drawn": (
        "the 18 runs with an activation after the output layer too, as the report's table draws it",
        _grid_report_as_drawn,
    ),
    "quick": ("the 18 runs on 10000 train / 2000 test samples for 5 epochs (CI, a first look)", _grid_quick),
}


def make_grid(
    name: str,
    seeds: int | Sequence[int] = 1,
    *,
    validation: bool = False,
    only: Sequence[str] | None = None,
    **overrides,
) -> list[Task]:
    """The tasks of grid ``name``: every configuration x every seed.

    Args:
        seeds: a count S (seeds 0..S-1) or an explicit list of seeds.
        validation: early-stop on a held-out split of the training set
            (``monitor='val_acc'``, 10000 samples) instead of the test set.
        only: keep only configurations whose id contains one of these strings
            (e.g. ``["mlp1-l2"]``).
        overrides: TrainConfig fields to set on every configuration
            (e.g. ``dataset='fashion-mnist'``, ``max_epochs=2``).

    Tasks are ordered seed-major (all configurations of seed 0 first), so an
    interrupted grid has finished whole seeds first.
    """
    if name not in GRIDS:
        raise ValueError(f"unknown grid {name!r}; choose one of: {', '.join(GRIDS)}")
    seed_list = list(range(seeds)) if isinstance(seeds, int) else [int(s) for s in seeds]
    if not seed_list or any(s < 0 for s in seed_list):
        raise ValueError(f"seeds must be a count >= 1 or a list of seeds >= 0, got {seeds!r}")
    if validation:
        overrides = {"monitor": "val_acc", **overrides}
    configs = GRIDS[name][1](**overrides)
    for config in configs:
        config.validate()
    if only:
        kept = [c for c in configs if any(s in config_id(c) for s in only)]
        if not kept:
            ids = ", ".join(config_id(c) for c in configs)
            raise ValueError(f"no configuration of grid {name!r} matches {list(only)}; its ids: {ids}")
        configs = kept
    return [Task(config_id(c), replace(c, seed=s)) for s in seed_list for c in configs]


def run_path(out_dir: str | Path, task: Task) -> Path:
    """Where a task's JSON goes: ``<out_dir>/runs/<config-id>-seed<k>.json``."""
    return Path(out_dir) / "runs" / f"{task.run_id}.json"


# --------------------------------------------------------------------------- #
# One run (in a worker process)
# --------------------------------------------------------------------------- #

#: Per-process cache of loaded datasets: (dataset, scaling, data_dir) -> (train, test).
_DATASETS: dict[tuple, tuple] = {}


def _splits(config, data_dir) -> dict:
    """The splits of ``training.load_splits``, with the full dataset loaded once per process."""
    key = (config.dataset, config.scaling, None if data_dir is None else str(data_dir))
    if key not in _DATASETS:
        _DATASETS.clear()  # one dataset in memory per worker is enough
        _DATASETS[key] = load_dataset(config.dataset, data_dir, scaling=config.scaling)
    return split_data(config, *_DATASETS[key])


def library_versions() -> dict[str, object]:
    """Python, numpy, mlp_core versions, the platform and this process's BLAS threads."""
    versions: dict[str, object] = {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "mlp_core": __version__,
        "platform": platform.platform(),
        "blas_threads_env": os.environ.get("OPENBLAS_NUM_THREADS"),
    }
    try:  # optional: only to record what the BLAS really uses
        from threadpoolctl import threadpool_info

        versions["blas_threads"] = [
            {"api": i.get("internal_api"), "num_threads": i.get("num_threads")} for i in threadpool_info()
        ]
    except ImportError:
        pass
    return versions


def _summarise(metrics: dict[str, list], epoch: int | None) -> dict[str, float] | None:
    if not metrics.get("epoch") or epoch is None:
        return None
    return {k: v[epoch - 1] for k, v in metrics.items()}


def train_task(task: Task, data_dir: str | Path | None = None, grid: str | None = None) -> dict:
    """Train one task and return its run record (the JSON written by the grid).

    Never raises for a failing run: a NaN/inf loss gives status "diverged",
    any other exception "failed" with the traceback. Keys: schema, run_id,
    config_id, grid, seed, status, error, config, history (History.to_dict()
    of the epochs done), best_epoch, stop_epoch, epochs_run, stopped_early,
    best and final (all metrics at those epochs; accuracies are fractions),
    seconds_per_epoch (mean train_seconds), train_seconds (sum), wall_seconds,
    started_at, finished_at, versions, host.
    """
    started = time.perf_counter()
    started_at = _now()
    records: list[dict] = []
    status, error, history = "ok", None, None
    try:
        splits = _splits(task.config, data_dir)
        _, history = run(task.config, splits, progress=False, on_epoch_end=records.append)
    except TrainingDiverged as exc:
        status, error = "diverged", str(exc)
    except Exception as exc:  # noqa: BLE001 - recorded, so the grid goes on
        status, error = "failed", f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"
    if history is None:  # keep the epochs finished before the failure
        history = History(config=task.config.to_dict(), monitor=task.config.monitor)
        for record in records:
            history.append(record)
    metrics = history.metrics
    epochs = len(metrics.get("epoch", []))
    # Without early stopping there is no monitored best: History.best() then means the last epoch.
    best_epoch = (history.best_epoch or epochs or None) if status == "ok" else None
    seconds = metrics.get("train_seconds", [])
    return {
        "schema": RUN_SCHEMA,
        "run_id": task.run_id,
        "config_id": task.config_id,
        "grid": grid,
        "seed": task.seed,
        "status": status,
        "error": error,
        "config": task.config.to_dict(),
        "history": history.to_dict(),
        "best_epoch": best_epoch,
        "stop_epoch": epochs or None,
        "epochs_run": epochs,
        "stopped_early": history.stopped_early,
        "best": _summarise(metrics, best_epoch),
        "final": _summarise(metrics, epochs or None),
        "seconds_per_epoch": sum(seconds) / len(seconds) if seconds else None,
        "train_seconds": sum(seconds),
        "wall_seconds": time.perf_counter() - started,
        "started_at": started_at,
        "finished_at": _now(),
        "versions": library_versions(),
        "host": platform.node(),
    }


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


# --------------------------------------------------------------------------- #
# The grid runner (in the parent process)
# --------------------------------------------------------------------------- #


@dataclass
class GridOutcome:
    """What one :func:`run_grid` call did: run ids by what happened to them."""

    trained: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)  # trained now, status diverged or failed
    wall_seconds: float = 0.0


def read_run(path: str | Path) -> dict | None:
    """A run JSON, or None if it is missing or unreadable (it will be trained again)."""
    try:
        record = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or record.get("status") not in ("ok", "diverged", "failed"):
        return None
    return record


def _pending(tasks: Sequence[Task], out_dir: Path, retry_failed: bool) -> tuple[list[Task], list[Task]]:
    """Split tasks into (to train, already done); raise if a stored config differs."""
    todo, done = [], []
    for task in tasks:
        record = read_run(run_path(out_dir, task))
        if record is None:
            todo.append(task)
            continue
        if record.get("config") != task.config.to_dict():
            stored = record.get("config")
            changed = sorted(k for k in set(stored or {}) | set(task.config.to_dict())
                             if (stored or {}).get(k) != task.config.to_dict().get(k))
            raise ValueError(
                f"{run_path(out_dir, task)} holds a run with a different config (fields {changed} differ); "
                "write this grid to another --out folder, or delete that file"
            )
        if record["status"] != "ok" and retry_failed:
            todo.append(task)
        else:
            done.append(task)
    return todo, done


@contextlib.contextmanager
def single_threaded_blas_env():
    """Set every THREAD_ENV_VARS to 1 in os.environ for the block, then restore it.

    Worker processes started ("spawn") inside the block inherit the limits
    before they import numpy.
    """
    saved = {k: os.environ.get(k) for k in THREAD_ENV_VARS}
    os.environ.update({k: "1" for k in THREAD_ENV_VARS})
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _run_line(record: dict) -> str:
    """One line per finished run for the log."""
    head = f"{record['run_id']}: {record['status']}"
    if record["status"] != "ok":
        first = (record.get("error") or "").splitlines()[0] if record.get("error") else ""
        return f"{head} after {record['epochs_run']} epochs: {first}"
    best = record["best"]
    spe = record["seconds_per_epoch"]
    return (
        f"{head}, best epoch {record['best_epoch']} test acc {100 * best['test_acc']:.2f}% "
        f"loss {best['test_loss']:.4f} | stop {record['stop_epoch']} | "
        f"{spe:.2f} s/epoch, {record['wall_seconds']:.0f} s"
    )


def run_grid(
    tasks: Sequence[Task],
    out_dir: str | Path,
    *,
    workers: int | None = None,
    data_dir: str | Path | None = None,
    retry_failed: bool = False,
    progress: bool = True,
    grid: str | None = None,
    on_run_done: Callable[[dict], None] | None = None,
    log: Callable[[str], None] | None = None,
) -> GridOutcome:
    """Train the tasks not done yet in ``out_dir`` and write one JSON per run.

    Args:
        tasks: from :func:`make_grid`.
        out_dir: results folder; runs go to ``out_dir/runs/``.
        workers: worker processes (default ``os.cpu_count()``); 0 trains in
            this process.
        data_dir: dataset folder (default: the loader's search order).
        retry_failed: train runs recorded as diverged/failed again.
        progress: an overall tqdm bar over the runs.
        grid: the grid's name, stored in each run and in grid.json.
        on_run_done: called in this process with each finished run's record,
            after its JSON is written (an exception from it stops the grid:
            the finished runs stay, the rest is cancelled).
        log: where the per-run lines go (default: above the progress bar).

    Returns a :class:`GridOutcome`. Ctrl-C reaches the workers too: the runs
    in progress stop (they are trained again next time), the runs not started
    are cancelled, and every finished JSON stays.
    """
    out_dir = Path(out_dir)
    workers = (os.cpu_count() or 1) if workers is None else workers
    if workers < 0:
        raise ValueError(f"workers must be >= 0 (0 = in this process), got {workers}")
    todo, done = _pending(tasks, out_dir, retry_failed)
    outcome = GridOutcome(skipped=[t.run_id for t in done])
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(tasks), initial=len(done), desc=grid or "runs", unit="run", dynamic_ncols=True)
    emit = log or (bar.write if bar is not None else print)
    if done:
        emit(f"{len(done)} of {len(tasks)} runs already in {out_dir / 'runs'}; skipping them")
    start_wall = time.perf_counter()
    invocation = {
        "grid": grid,
        "command": _command_line(),
        "tasks": len(tasks),
        "seeds": sorted({t.seed for t in tasks}),
        "skipped": len(done),
        "workers": workers,
        "started_at": _now(),
        "load_average_start": _loadavg(),
        "machine": machine_info(),
    }

    def finish(record: dict) -> None:
        atomic_write_text(out_dir / "runs" / f"{record['run_id']}.json", json.dumps(record, indent=1))
        outcome.trained.append(record["run_id"])
        if record["status"] != "ok":
            outcome.failed.append(record["run_id"])
        if bar is not None:
            bar.update(1)
        emit(_run_line(record))
        if on_run_done is not None:
            on_run_done(record)

    status = "interrupted"
    try:
        if workers == 0:
            for task in todo:
                finish(train_task(task, data_dir, grid))
        elif todo:
            # "spawn" workers start from a fresh interpreter that inherits os.environ
            # as it is when they start (during submit), so the limits hold before numpy loads.
            with single_threaded_blas_env():
                pool = cf.ProcessPoolExecutor(
                    max_workers=min(workers, len(todo)),
                    mp_context=multiprocessing.get_context("spawn"),
                )
                try:
                    # Seed by seed, the biggest networks first, so no long run starts last.
                    order = sorted(todo, key=lambda t: (t.seed, -_cost(t)))
                    futures = {pool.submit(train_task, t, data_dir, grid): t for t in order}
                    for future in cf.as_completed(futures):
                        finish(_result_or_failure(future, futures[future], grid))
                except BaseException:
                    _stop_workers(pool)
                    raise
                pool.shutdown(wait=True)
        status = "complete"
    finally:
        if bar is not None:
            bar.close()
        outcome.wall_seconds = time.perf_counter() - start_wall
        invocation.update(
            status=status,
            trained=len(outcome.trained),
            failed=len(outcome.failed),
            finished_at=_now(),
            wall_seconds=round(outcome.wall_seconds, 1),
            load_average_end=_loadavg(),
        )
        if todo:  # a call with nothing to train leaves the log (and a committed folder) as it was
            _log_invocation(out_dir, invocation)
    return outcome


def _stop_workers(pool: cf.ProcessPoolExecutor) -> None:
    """Cancel the runs not started and end the running ones (they are trained again next time).

    Without the terminate, a worker would finish its current run (minutes)
    before the interpreter could exit; the pool has no public way to do this
    before Python 3.14 (``terminate_workers``).
    """
    processes = list((getattr(pool, "_processes", None) or {}).values())  # shutdown() forgets them
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        with contextlib.suppress(Exception):
            process.terminate()


def _result_or_failure(future: cf.Future, task: Task, grid: str | None) -> dict:
    """The worker's record, or a "failed" record if the worker process itself died."""
    try:
        return future.result()
    except Exception as exc:  # noqa: BLE001 - e.g. BrokenProcessPool (killed worker, out of memory)
        return {
            "schema": RUN_SCHEMA, "run_id": task.run_id, "config_id": task.config_id, "grid": grid,
            "seed": task.seed, "status": "failed", "error": f"{type(exc).__name__}: {exc}",
            "config": task.config.to_dict(), "history": None, "best_epoch": None, "stop_epoch": None,
            "epochs_run": 0, "stopped_early": False, "best": None, "final": None,
            "seconds_per_epoch": None, "train_seconds": 0.0, "wall_seconds": None,
            "started_at": None, "finished_at": _now(), "versions": None, "host": platform.node(),
        }


def _command_line() -> str | None:
    """How this process was started, as ``python -m mlp_core ...`` when it was."""
    if not sys.argv or not sys.argv[0]:
        return None
    if sys.argv[0].endswith(("__main__.py", "mlp_core")):
        return " ".join(["python -m mlp_core", *sys.argv[1:]])
    return " ".join(sys.argv)


def _cost(task: Task) -> int:
    """Multiply-adds per sample of the task's network: longer runs start first (shorter makespan)."""
    sizes = [784, *hidden_sizes_for(task.config.architecture), 10]
    return sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))


def _loadavg() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


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


def _log_invocation(out_dir: Path, invocation: dict) -> None:
    path = out_dir / "grid.json"
    try:
        log = json.loads(path.read_text())
    except (OSError, ValueError):
        log = {"invocations": []}
    log["invocations"].append(invocation)
    atomic_write_text(path, json.dumps(log, indent=1))


# --------------------------------------------------------------------------- #
# Command line: python -m mlp_core reproduce
# --------------------------------------------------------------------------- #


def add_parser(subparsers) -> None:
    """Add the ``reproduce`` command (see the module docstring)."""
    p = subparsers.add_parser(
        "reproduce",
        help="train a named grid of runs in parallel (resumable), then write the report",
        description="Train every configuration of a grid with several seeds, in parallel worker "
        "processes; each finished run is written to OUT/runs/<config-id>-seed<k>.json, and a "
        "rerun skips the runs already there. Then writes the tables and figures (see `report`).",
    )
    p.add_argument("--grid", default="report", choices=list(GRIDS),
                   help="; ".join(f"{name}: {desc}" for name, (desc, _) in GRIDS.items()))
    p.add_argument("--seeds", type=positive_int, default=1,
                   help="seeds per configuration: 0..SEEDS-1 (default 1); runs already done are skipped")
    p.add_argument("--out", type=Path, default=None,
                   help="results folder (default results/<grid>[-<dataset> unless mnist][-validation])")
    p.add_argument("--validation", action="store_true",
                   help="early-stop on a held-out split of 10000 training samples instead of the test set")
    p.add_argument("--workers", type=nonnegative_int, default=os.cpu_count() or 1,
                   help=f"worker processes, one BLAS thread each (default {os.cpu_count()}); 0 = in this process")
    p.add_argument("--retry-failed", action="store_true",
                   help="train runs recorded as diverged or failed again (default: keep and skip them)")
    p.add_argument("--only", action="append", default=None, metavar="TEXT",
                   help="keep only configurations whose id (e.g. mlp1-l2-relu) contains TEXT; repeatable")
    p.add_argument("--output-activation", default=None, choices=["none", "same", "sigmoid", "relu", "gelu", "tanh"],
                   help="override the grid's output activation for every configuration")
    p.add_argument("--epochs", type=positive_int, default=None, help="override the maximum epochs")
    p.add_argument("--train-subset", type=positive_int, default=None, help="use only N training samples")
    p.add_argument("--test-subset", type=positive_int, default=None, help="use only N test samples")
    add_data_arguments(p)
    p.add_argument("--no-report", action="store_true", help="do not write the report at the end")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (per-run lines only)")
    p.set_defaults(func=cmd_reproduce)


def cmd_reproduce(args) -> int:
    def terminate(signum, frame):  # `kill` stops the grid the way Ctrl-C does
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, terminate)
    overrides: dict = {"dataset": args.dataset}
    if args.output_activation is not None:
        overrides["output_activation"] = None if args.output_activation == "none" else args.output_activation
    for name, value in (("max_epochs", args.epochs), ("train_subset", args.train_subset),
                        ("test_subset", args.test_subset)):
        if value is not None:
            overrides[name] = value
    tasks = make_grid(args.grid, args.seeds, validation=args.validation, only=args.only, **overrides)
    suffix = ("" if args.dataset == "mnist" else f"-{args.dataset}") + ("-validation" if args.validation else "")
    out = args.out or Path("results") / (args.grid + suffix)
    n_configs = len({t.config_id for t in tasks})
    print(f"grid {args.grid}: {n_configs} configurations x {args.seeds} seed(s) = {len(tasks)} runs -> {out}",
          flush=True)
    outcome = run_grid(tasks, out, workers=args.workers, data_dir=args.data_dir,
                       retry_failed=args.retry_failed, progress=not args.no_progress, grid=args.grid)
    print(f"trained {len(outcome.trained)} runs ({len(outcome.failed)} diverged or failed), "
          f"skipped {len(outcome.skipped)} already done, in {outcome.wall_seconds:.0f} s", flush=True)
    if not args.no_report:
        for path in write_report(out):
            print(f"wrote {path}")
    return 0
