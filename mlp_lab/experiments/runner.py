"""The experiment runner: the one place that trains many runs, one RunRecord each, resumable.

:func:`run_grid` trains the tasks not done yet, in this process
(``workers=0``), in local worker processes, or on a Dask cluster
(``scheduler=``, :mod:`~mlp_lab.experiments.cluster`), and hands every
finished run's :class:`~mlp_lab.records.RunRecord` to the calling process,
which writes it at once, atomically, to ``<out>/runs/<config-id>-seed<k>.json``
(:func:`run_path`), or only keeps it (``out_dir=None``, ``outcome.records``).
A run that fails never stops the others: its record says ``diverged`` or
``failed``. Every path trains a run with :func:`train_run` (a worker through
:func:`train_task`). See :mod:`mlp_lab.experiments` for resuming and parallelism.

A *measure* (``measure=``) looks at the model at initialisation and after every
epoch, in evaluation mode (so that it draws no dropout mask, and training goes
as without it); what it returns is the record's ``measurements`` (index 0: at
initialisation, e: after epoch e). It is a callable ``measure(model, loss_fn)``
that may run forward and backward passes but must not change a weight. It may
also have a method ``begin(config, splits, loss_fn) -> Loss``, called once per
run before the first measurement, with the run's config, its splits and the
loss it trains with: it returns the loss training goes through, that one or a
wrapper that returns the same values and gradients and so sees every training
batch. To a pool or a cluster the measure is pickled (a module-level function,
or an instance of a module-level class); into a results folder its values are
written as JSON.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import multiprocessing
import os
import platform
import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from tqdm.auto import tqdm

from mlp_core.network import Sequential, hidden_sizes_for
from mlp_core.training import History, Split, TrainingDiverged

from ..config import build_run, load_splits, train_with_config
from ..records import RunRecord, read_run
from ..threads import blas_threads_in_environment
from .cluster import cluster_warnings, connect_to_scheduler, train_on_cluster
from .grids import Task
from .provenance import command_line, library_versions, load_average, log_invocation, machine_info, now

#: What a run records instead of raising, by default: divergence and any other error.
RECORDED: tuple[type[BaseException], ...] = (Exception,)

# --------------------------------------------------------------------------- #
# One run
# --------------------------------------------------------------------------- #


def train_run(
    task: Task,
    *,
    splits: dict[str, Split] | None = None,
    data_dir: str | Path | None = None,
    measure: Callable[[Sequential, Any], Any] | None = None,
    grid: str | None = None,
    recorded: tuple[type[BaseException], ...] = RECORDED,
    progress: bool = False,
) -> tuple[Sequential | None, RunRecord]:
    """Train one task; return its model (the best epoch's weights) and its record.

    ``splits``: the data in memory; default: :func:`~mlp_lab.config.load_splits`
    with the per-process cache. ``measure``: see the module docstring.
    An exception that is one of ``recorded`` ends the run with status
    "diverged" (a NaN/inf loss) or "failed" (with its traceback), keeping
    the epochs and measurements finished before it; any other propagates.
    ``progress``: a bar over the epochs.
    """
    started, started_at = time.perf_counter(), now()
    epochs: list[dict] = []
    measurements: list | None = [] if measure is not None else None
    status, error, history, model = "ok", None, None, None
    try:
        model, loss_fn, optimizer = build_run(task.config)
        if splits is None:
            splits = load_splits(task.config, data_dir, cache=True)
        if measure is not None:
            begin = getattr(measure, "begin", None)
            loss_fn = begin(task.config, splits, loss_fn) if begin is not None else loss_fn
            measurements.append(measure(model.eval(), loss_fn))  # as after each epoch: no mask drawn

        def on_epoch_end(record: dict) -> None:
            epochs.append(record)
            if measure is not None:
                measurements.append(measure(model, loss_fn))

        history = train_with_config(task.config, model, loss_fn, optimizer, splits, progress=progress,
                                    on_epoch_end=on_epoch_end)
    except TrainingDiverged as exc:
        if not isinstance(exc, recorded):
            raise
        status, error = "diverged", str(exc)
    except Exception as exc:
        if not isinstance(exc, recorded):
            raise
        status, error = "failed", f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"
    if history is None:  # keep the epochs finished before the failure
        history = History(config=task.config.to_dict(), monitor=task.config.monitor)
        for record in epochs:
            history.append(record)
    return model, RunRecord.from_history(
        run_id=task.run_id, config_id=task.config_id, grid=grid, config=task.config,
        status=status, error=error, history=history,
        wall_seconds=time.perf_counter() - started, started_at=started_at, finished_at=now(),
        versions=library_versions(), host=platform.node(), measurements=measurements,
    )


def train_task(task: Task, data_dir: str | Path | None = None, grid: str | None = None,
               measure: Callable | None = None) -> RunRecord:
    """Train one task in a worker (a pool's process or a Dask worker) and return its record.

    Never raises for a failing run: its record says "diverged" or "failed".
    """
    return train_run(task, data_dir=data_dir, measure=measure, grid=grid)[1]


# --------------------------------------------------------------------------- #
# Many runs (in the calling process)
# --------------------------------------------------------------------------- #


@dataclass
class GridOutcome:
    """What one :func:`run_grid` call did: run ids by what happened to them, and the new records."""

    trained: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)  # trained now, status diverged or failed
    wall_seconds: float = 0.0
    records: dict[str, RunRecord] = field(default_factory=dict)  # run id -> record, of the runs trained now


def run_path(out_dir: str | Path, task: Task) -> Path:
    """Where a task's JSON goes: ``<out_dir>/runs/<config-id>-seed<k>.json``."""
    return Path(out_dir) / "runs" / f"{task.run_id}.json"


def run_grid(
    tasks: Sequence[Task],
    out_dir: str | Path | None,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    data_dir: str | Path | None = None,
    splits: dict[str, Split] | None = None,
    measure: Callable | None = None,
    recorded: tuple[type[BaseException], ...] = RECORDED,
    retry_failed: bool = False,
    progress: bool = True,
    grid: str | None = None,
    on_run_done: Callable[[RunRecord], None] | None = None,
    log: Callable[[str], None] | None = None,
) -> GridOutcome:
    """Train the tasks not done yet in ``out_dir`` and write one JSON per run.

    Args:
        tasks: from :func:`~mlp_lab.experiments.make_grid`; their run ids must differ.
        out_dir: results folder, runs go to ``out_dir/runs/``; None keeps the
            records in memory only (``outcome.records``), nothing is written.
        workers: worker processes (default ``os.cpu_count()``, or 0 with
            ``splits``); 0 trains in this process.
        scheduler: the address of a Dask scheduler (``tcp://HOST:8786``):
            its workers train the runs, one task per run, instead of local
            processes; the records come back here and are written here, as
            with the pool. Needs the ``distributed`` extra; not together
            with ``workers``.
        data_dir: dataset folder (default: the loader's search order).
        splits: the data in memory, for every task (in this process only).
        measure: measured at initialisation and after every epoch of every
            run (see the module docstring); a stored run without
            measurements does not count as done then.
        recorded: the exceptions a run records instead of raising (in this
            process only; a worker records every exception).
        retry_failed: train runs recorded as diverged/failed again.
        progress: an overall tqdm bar over the runs.
        grid: the grid's name, stored in each run and in grid.json.
        on_run_done: called in this process with each finished run's record,
            after its JSON is written (an exception from it stops the grid:
            the finished runs stay, the rest is cancelled).
        log: where the per-run lines go (default: above the progress bar).

    Raises ValueError, before anything is trained or written, for a bad
    argument: a task's config (:meth:`~mlp_lab.config.TrainConfig.validate`),
    two tasks with one run id, ``workers``, a run stored in ``out_dir`` with
    another config. Returns a :class:`GridOutcome`. Ctrl-C reaches the
    workers too: the runs in progress stop (they are trained again next
    time), the runs not started are cancelled, and every finished JSON stays.
    Every call that has runs to train is logged in ``out_dir/grid.json``.
    """
    in_process = _check_arguments(tasks, workers, scheduler, splits, recorded)
    workers = 0 if in_process and workers is None else workers
    workers = (os.cpu_count() or 1) if workers is None else workers
    out_dir = None if out_dir is None else Path(out_dir)
    todo, done = _pending(tasks, out_dir, retry_failed, measure)
    # Connected before anything is written: a scheduler that does not answer leaves out_dir as it was.
    client = connect_to_scheduler(scheduler) if scheduler is not None and todo else None
    outcome = GridOutcome(skipped=[t.run_id for t in done])
    bar = tqdm(total=len(tasks), initial=len(done), desc=grid or "runs", unit="run",
               dynamic_ncols=True) if progress else None
    emit = log or (bar.write if bar is not None else print)
    if done:
        emit(f"{len(done)} of {len(tasks)} runs already in {out_dir / 'runs'}; skipping them")
    start_wall = time.perf_counter()
    invocation = {
        "grid": grid, "command": command_line(), "tasks": len(tasks),
        "seeds": sorted({t.seed for t in tasks}), "skipped": len(done), "workers": workers,
        "started_at": now(), "load_average_start": load_average(), "machine": machine_info(),
    }

    def finish(record: RunRecord) -> None:
        if out_dir is not None:
            record.save(out_dir / "runs" / f"{record.run_id}.json")
        outcome.trained.append(record.run_id)
        outcome.records[record.run_id] = record
        if not record.ok:
            outcome.failed.append(record.run_id)
        if bar is not None:
            bar.update(1)
        emit(_run_line(record))
        if on_run_done is not None:
            on_run_done(record)

    status = "interrupted"
    try:
        if client is None:
            _train_all(todo, workers, dict(data_dir=data_dir, grid=grid, splits=splits, measure=measure,
                                           recorded=recorded), finish)
        else:  # "workers" is then the cluster's, as it was when the grid started
            worker_threads = client.nthreads()
            invocation.update(scheduler=scheduler, workers=len(worker_threads),
                              worker_threads=sum(worker_threads.values()))
            for line in cluster_warnings(client):
                emit(line)
            by_id = {t.run_id: t for t in todo}
            train_on_cluster(client, [(t.run_id, train_task, (t, data_dir, grid, measure))
                                      for t in _training_order(todo)],
                             lambda run_id, future: finish(_result_or_failure(future, by_id[run_id], grid)))
        status = "complete"
    finally:
        if client is not None:
            client.close()
        if bar is not None:
            bar.close()
        outcome.wall_seconds = time.perf_counter() - start_wall
        if todo and out_dir is not None:  # a call with nothing to train leaves the log as it was
            invocation.update(
                status=status, trained=len(outcome.trained), failed=len(outcome.failed),
                finished_at=now(), wall_seconds=round(outcome.wall_seconds, 1),
                load_average_end=load_average(),
            )
            log_invocation(out_dir, invocation)
    return outcome


def _check_arguments(tasks: Sequence[Task], workers: int | None, scheduler: str | None,
                     splits: dict | None, recorded: tuple) -> bool:
    """Raise ValueError for a bad argument of :func:`run_grid`; True if the runs train in this process."""
    if scheduler is not None and workers is not None:
        raise ValueError("give workers or a Dask scheduler, not both: on a cluster, its workers train the runs")
    if workers is not None and workers < 0:
        raise ValueError(f"workers must be >= 0 (0 = in this process), got {workers}")
    in_process = splits is not None or recorded != RECORDED
    if in_process and (scheduler is not None or workers not in (None, 0)):
        raise ValueError("in-memory splits, or failures raised rather than recorded, train in this process: "
                         "pass workers=0 and no scheduler")
    seen: set[str] = set()
    for task in tasks:
        if task.run_id in seen:
            raise ValueError(f"two tasks have the run id {task.run_id!r}; each run needs its own")
        seen.add(task.run_id)
        task.config.validate()
    return in_process or workers == 0


def _pending(tasks: Sequence[Task], out_dir: Path | None, retry_failed: bool,
             measure: Callable | None) -> tuple[list[Task], list[Task]]:
    """Split tasks into (to train, already done); raise if a stored run is not the task's."""
    if out_dir is None:
        return list(tasks), []
    todo, done = [], []
    for task in tasks:
        path = run_path(out_dir, task)
        record = read_run(path)
        if record is None:
            todo.append(task)
            continue
        if record.config != task.config:
            stored, wanted = asdict(record.config), asdict(task.config)
            changed = sorted(k for k in wanted if stored[k] != wanted[k])
            raise ValueError(
                f"{path} holds a run with a different config (fields {changed} differ); "
                "write this grid to another --out folder, or delete that file"
            )
        if measure is not None and record.measurements is None:
            raise ValueError(
                f"{path} holds a run trained without the measurements this grid takes; "
                "write this grid to another folder, or delete that file"
            )
        (todo if not record.ok and retry_failed else done).append(task)
    return todo, done


def _train_all(todo: Sequence[Task], workers: int, options: dict, finish: Callable[[RunRecord], None]) -> None:
    """Train ``todo`` in this process (``workers`` 0) or in a pool, calling ``finish`` with each record."""
    if workers == 0:
        for task in todo:
            finish(train_run(task, **options)[1])
        return
    if not todo:
        return
    # "spawn" workers start from a fresh interpreter that inherits os.environ
    # as it is when they start (during submit), so the limits hold before numpy loads.
    args = (options["data_dir"], options["grid"], options["measure"])
    with blas_threads_in_environment(1):
        pool = cf.ProcessPoolExecutor(
            max_workers=min(workers, len(todo)), mp_context=multiprocessing.get_context("spawn"),
        )
        try:
            futures = {pool.submit(train_task, t, *args): t for t in _training_order(todo)}
            for future in cf.as_completed(futures):
                finish(_result_or_failure(future, futures[future], options["grid"]))
        except BaseException:
            _stop_workers(pool)
            raise
        pool.shutdown(wait=True)


def _training_order(todo: Sequence[Task]) -> list[Task]:
    """Seed by seed, the biggest networks first, so that no long run starts last."""
    return sorted(todo, key=lambda t: (t.seed, -_cost(t)))


def _cost(task: Task) -> int:
    """Multiply-adds per sample of the task's network: longer runs start first (shorter makespan)."""
    sizes = [784, *hidden_sizes_for(task.config.architecture), 10]
    return sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))


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


def _result_or_failure(future, task: Task, grid: str | None) -> RunRecord:
    """The worker's record, or a "failed" record if the worker process itself died.

    ``future``: a concurrent.futures or a dask.distributed future of :func:`train_task`.
    """
    try:
        return future.result()
    except Exception as exc:  # noqa: BLE001 - e.g. BrokenProcessPool, KilledWorker (killed worker, out of memory)
        return RunRecord.from_history(  # no epoch of it is known
            run_id=task.run_id, config_id=task.config_id, grid=grid, config=task.config,
            status="failed", error=f"{type(exc).__name__}: {exc}", history=None,
            wall_seconds=None, started_at=None, finished_at=now(), versions=None, host=platform.node(),
        )


def _run_line(record: RunRecord) -> str:
    """One line per finished run for the log."""
    head = f"{record.run_id}: {record.status}"
    if not record.ok:
        first = record.error.splitlines()[0] if record.error else ""
        return f"{head} after {record.epochs_run} epochs: {first}"
    best = record.best
    return (
        f"{head}, best epoch {record.best_epoch} test acc {100 * best['test_acc']:.2f}% "
        f"loss {best['test_loss']:.4f} | stop {record.stop_epoch} | "
        f"{record.seconds_per_epoch:.2f} s/epoch, {record.wall_seconds:.0f} s"
    )

