"""The grid runner: trains tasks in parallel worker processes, one JSON per run, resumable.

:func:`run_grid` trains the tasks not done yet, in local worker processes or
on a Dask cluster (``scheduler=``), and writes every finished run at once,
atomically, in this process, as a :class:`~mlp_lab.records.RunRecord` to
``<out>/runs/<config-id>-seed<k>.json`` (:func:`run_path`). A run that
fails never stops the others: its record says ``diverged`` or ``failed``.
See :mod:`mlp_lab.experiments` for resuming and parallelism.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import json
import multiprocessing
import os
import platform
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

from tqdm.auto import tqdm

from mlp_core.atomic import atomic_write_text
from mlp_core.data import load_dataset
from mlp_core.network import hidden_sizes_for
from mlp_core.training import History, Split, TrainingDiverged

from ..config import TrainConfig, run, split_data
from ..records import RunRecord, read_run
from ..threads import BLAS_THREAD_ENV_VARS, blas_threads_in_environment
from .grids import Task
from .provenance import command_line, library_versions, load_average, machine_info, now

# --------------------------------------------------------------------------- #
# One run (in a worker process)
# --------------------------------------------------------------------------- #

#: Per-process cache of loaded datasets: (dataset, scaling, data_dir) -> (train, test).
_DATASETS: dict[tuple, tuple] = {}


def _splits(config: TrainConfig, data_dir: str | Path | None) -> dict[str, Split]:
    """The splits of ``config.load_splits``, with the full dataset loaded once per process."""
    key = (config.dataset, config.scaling, None if data_dir is None else str(data_dir))
    if key not in _DATASETS:
        _DATASETS.clear()  # one dataset in memory per worker is enough
        _DATASETS[key] = load_dataset(config.dataset, data_dir, scaling=config.scaling)
    return split_data(config, *_DATASETS[key])


def train_task(task: Task, data_dir: str | Path | None = None, grid: str | None = None) -> RunRecord:
    """Train one task and return its run record (the JSON written by the grid).

    Never raises for a failing run: a NaN/inf loss gives status "diverged",
    any other exception "failed" with the traceback; the epochs finished
    before either are kept.
    """
    started = time.perf_counter()
    started_at = now()
    epochs: list[dict] = []
    status, error, history = "ok", None, None
    try:
        _, history = run(task.config, _splits(task.config, data_dir), progress=False, on_epoch_end=epochs.append)
    except TrainingDiverged as exc:
        status, error = "diverged", str(exc)
    except Exception as exc:  # noqa: BLE001 - recorded, so the grid goes on
        status, error = "failed", f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"
    if history is None:  # keep the epochs finished before the failure
        history = History(config=task.config.to_dict(), monitor=task.config.monitor)
        for record in epochs:
            history.append(record)
    return RunRecord.from_history(
        run_id=task.run_id, config_id=task.config_id, grid=grid, config=task.config,
        status=status, error=error, history=history,
        wall_seconds=time.perf_counter() - started, started_at=started_at, finished_at=now(),
        versions=library_versions(), host=platform.node(),
    )


def _worker_died(task: Task, grid: str | None, exc: BaseException) -> RunRecord:
    """The "failed" record of a task whose worker process died (no epoch of it is known)."""
    return RunRecord.from_history(
        run_id=task.run_id, config_id=task.config_id, grid=grid, config=task.config,
        status="failed", error=f"{type(exc).__name__}: {exc}", history=None,
        wall_seconds=None, started_at=None, finished_at=now(), versions=None, host=platform.node(),
    )


# --------------------------------------------------------------------------- #
# The grid (in the parent process)
# --------------------------------------------------------------------------- #


@dataclass
class GridOutcome:
    """What one :func:`run_grid` call did: run ids by what happened to them."""

    trained: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)  # trained now, status diverged or failed
    wall_seconds: float = 0.0


def run_path(out_dir: str | Path, task: Task) -> Path:
    """Where a task's JSON goes: ``<out_dir>/runs/<config-id>-seed<k>.json``."""
    return Path(out_dir) / "runs" / f"{task.run_id}.json"


def run_grid(
    tasks: Sequence[Task],
    out_dir: str | Path,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    data_dir: str | Path | None = None,
    retry_failed: bool = False,
    progress: bool = True,
    grid: str | None = None,
    on_run_done: Callable[[RunRecord], None] | None = None,
    log: Callable[[str], None] | None = None,
) -> GridOutcome:
    """Train the tasks not done yet in ``out_dir`` and write one JSON per run.

    Args:
        tasks: from :func:`~mlp_lab.experiments.make_grid`.
        out_dir: results folder; runs go to ``out_dir/runs/``.
        workers: worker processes (default ``os.cpu_count()``); 0 trains in
            this process.
        scheduler: the address of a Dask scheduler (``tcp://HOST:8786``):
            its workers train the runs, one task per run, instead of local
            processes; the records come back here and are written here, as
            with the pool. Needs the ``distributed`` extra; not together
            with ``workers``. See :func:`connect_to_scheduler`.
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
    are cancelled, and every finished JSON stays. Every call that has runs to
    train is logged in ``out_dir/grid.json``.
    """
    out_dir = Path(out_dir)
    if scheduler is not None and workers is not None:
        raise ValueError("give workers or a Dask scheduler, not both: on a cluster, its workers train the runs")
    workers = (os.cpu_count() or 1) if workers is None else workers
    if workers < 0:
        raise ValueError(f"workers must be >= 0 (0 = in this process), got {workers}")
    todo, done = _pending(tasks, out_dir, retry_failed)
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
        record.save(out_dir / "runs" / f"{record.run_id}.json")
        outcome.trained.append(record.run_id)
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
            _train_all(todo, workers, data_dir, grid, finish)
        else:  # "workers" is then the cluster's, as it was when the grid started
            worker_threads = client.nthreads()
            invocation.update(scheduler=scheduler, workers=len(worker_threads),
                              worker_threads=sum(worker_threads.values()))
            for line in _cluster_warnings(client):
                emit(line)
            _train_on_cluster(client, todo, data_dir, grid, finish)
        status = "complete"
    finally:
        if client is not None:
            client.close()
        if bar is not None:
            bar.close()
        outcome.wall_seconds = time.perf_counter() - start_wall
        if todo:  # a call with nothing to train leaves the log (and a committed folder) as it was
            invocation.update(
                status=status, trained=len(outcome.trained), failed=len(outcome.failed),
                finished_at=now(), wall_seconds=round(outcome.wall_seconds, 1),
                load_average_end=load_average(),
            )
            _log_invocation(out_dir, invocation)
    return outcome


def _pending(tasks: Sequence[Task], out_dir: Path, retry_failed: bool) -> tuple[list[Task], list[Task]]:
    """Split tasks into (to train, already done); raise if a stored config differs."""
    todo, done = [], []
    for task in tasks:
        record = read_run(run_path(out_dir, task))
        if record is None:
            todo.append(task)
            continue
        if record.config != task.config:
            stored, wanted = record.config.to_dict(), task.config.to_dict()
            changed = sorted(k for k in wanted if stored[k] != wanted[k])
            raise ValueError(
                f"{run_path(out_dir, task)} holds a run with a different config (fields {changed} differ); "
                "write this grid to another --out folder, or delete that file"
            )
        (todo if not record.ok and retry_failed else done).append(task)
    return todo, done


def _train_all(
    todo: Sequence[Task], workers: int, data_dir, grid: str | None, finish: Callable[[RunRecord], None]
) -> None:
    """Train ``todo`` in this process (``workers`` 0) or in a pool, calling ``finish`` with each record."""
    if workers == 0:
        for task in todo:
            finish(train_task(task, data_dir, grid))
        return
    if not todo:
        return
    # "spawn" workers start from a fresh interpreter that inherits os.environ
    # as it is when they start (during submit), so the limits hold before numpy loads.
    with blas_threads_in_environment(1):
        pool = cf.ProcessPoolExecutor(
            max_workers=min(workers, len(todo)), mp_context=multiprocessing.get_context("spawn"),
        )
        try:
            futures = {pool.submit(train_task, t, data_dir, grid): t for t in _training_order(todo)}
            for future in cf.as_completed(futures):
                finish(_result_or_failure(future, futures[future], grid))
        except BaseException:
            _stop_workers(pool)
            raise
        pool.shutdown(wait=True)


def _training_order(todo: Sequence[Task]) -> list[Task]:
    """Seed by seed, the biggest networks first, so that no long run starts last."""
    return sorted(todo, key=lambda t: (t.seed, -_cost(t)))


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
        return _worker_died(task, grid, exc)


# --------------------------------------------------------------------------- #
# On a Dask cluster (the "distributed" extra)
# --------------------------------------------------------------------------- #

#: Seconds a Dask scheduler has to answer :func:`connect_to_scheduler`.
SCHEDULER_TIMEOUT = 10.0

#: The BLAS thread variables that ``dask worker`` (its nanny) sets to 1 in every worker
#: process it starts, unless the worker's own environment sets them otherwise.
DASK_WORKER_BLAS_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


class ExtraNotInstalled(ImportError):
    """An optional feature was asked for whose extra (pyproject.toml) is not installed."""


def connect_to_scheduler(address: str):
    """A ``distributed.Client`` connected to the Dask scheduler at ``address`` (``tcp://HOST:8786``).

    Raises :class:`ExtraNotInstalled` without dask.distributed, and
    ConnectionError (one line) at once for a malformed or unknown address,
    or when no scheduler answers there within :data:`SCHEDULER_TIMEOUT`
    seconds.
    """
    try:
        # Imported here only: dask.distributed is a heavy optional dependency (the "distributed"
        # extra) that the local pool, the notebooks and the student's kit never need.
        import distributed
    except ImportError as exc:
        raise ExtraNotInstalled(
            "--scheduler needs dask.distributed, which is not installed: "
            'pip install -c constraints.txt -e ".[distributed]" (or pip install "dask[distributed]")'
        ) from exc
    # Checked first: a Client that fails on a malformed address hangs for 20 s at exit.
    try:
        distributed.comm.resolve_address(address)
    except Exception as exc:  # noqa: BLE001 - ValueError, socket.gaierror, a warning of a retired protocol
        raise ConnectionError(
            f"{address!r} is not the address of a Dask scheduler ({_first_line(exc)}); "
            "give one like tcp://HOST:8786, as `dask scheduler` prints it"
        ) from None
    try:
        return distributed.Client(address, timeout=SCHEDULER_TIMEOUT, set_as_default=False)
    except (OSError, TimeoutError) as exc:
        raise ConnectionError(
            f"no Dask scheduler answered at {address!r} within {SCHEDULER_TIMEOUT:g} s ({_first_line(exc)}); "
            "start one with `dask scheduler` and give its address, like tcp://HOST:8786"
        ) from None


def _first_line(exc: BaseException) -> str:
    """The first line of an exception's message (its type's name when it has none)."""
    return (str(exc).splitlines() or [type(exc).__name__])[0]


def _train_on_cluster(client, todo: Sequence[Task], data_dir, grid: str | None,
                      finish: Callable[[RunRecord], None]) -> None:
    """Train ``todo`` on the client's cluster, one task per run, calling ``finish`` with each record.

    Submitted in the pool's order (:func:`_training_order`), which the
    scheduler follows: it favours the tasks submitted first. On Ctrl-C, SIGTERM or an exception
    from ``finish`` every run not back yet is cancelled: a worker cannot be
    stopped in the middle of a run, so the running ones go on to their end
    there, but their records are dropped (they are trained again next time).
    """
    from distributed import as_completed  # the optional extra: connect_to_scheduler found it

    futures = {client.submit(train_task, t, data_dir, grid, pure=False): t for t in _training_order(todo)}
    try:
        for future in as_completed(futures, loop=client.loop):  # this client's: not the default one
            if future.cancelled():  # e.g. the scheduler went away: no record, so the run trains next time
                raise ConnectionError(
                    f"the Dask cluster dropped run {futures[future].run_id} (scheduler lost or restarted?); "
                    "the finished runs are kept: run the same command again to resume"
                )
            finish(_result_or_failure(future, futures[future], grid))
    except BaseException:
        client.cancel(list(futures))
        raise


def _worker_blas_threads() -> dict[str, str | None]:
    """This process's BLAS thread variables (run on each Dask worker by :func:`_cluster_warnings`)."""
    return {name: os.environ.get(name) for name in BLAS_THREAD_ENV_VARS}


def _cluster_warnings(client) -> list[str]:
    """What may be wrong with the cluster before the grid starts: no worker, or BLAS threads not 1.

    The local pool trains each run with one BLAS thread; a worker whose BLAS
    may use more is slower side by side with others, and its results may
    differ in the last bits.
    """
    variables = client.run(_worker_blas_threads)  # {worker address: {variable: value}}
    if not variables:
        return ["the Dask scheduler has no workers yet: the runs start when `dask worker` processes connect"]
    return [
        f"Dask worker {address} may use several BLAS threads ({', '.join(f'{k}={v}' for k, v in not_one)}): "
        "start workers with `dask worker ADDRESS --nworkers N --nthreads 1` and the README's BLAS variables"
        for address, env in sorted(variables.items())
        if (not_one := [(k, env.get(k)) for k in DASK_WORKER_BLAS_VARS if env.get(k) != "1"])
    ]


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


def _cost(task: Task) -> int:
    """Multiply-adds per sample of the task's network: longer runs start first (shorter makespan)."""
    sizes = [784, *hidden_sizes_for(task.config.architecture), 10]
    return sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))


def _log_invocation(out_dir: Path, invocation: dict) -> None:
    path = out_dir / "grid.json"
    try:
        log = json.loads(path.read_text())
    except (OSError, ValueError):
        log = {"invocations": []}
    log["invocations"].append(invocation)
    atomic_write_text(path, json.dumps(log, indent=1))
