"""The runner on a Dask cluster (the ``distributed`` extra): connecting, one task per run, warnings.

:func:`~mlp_lab.experiments.runner.run_grid` with ``scheduler=ADDRESS`` sends
each run to the workers of that scheduler as one task of
:func:`~mlp_lab.experiments.runner.train_task` (the function a local pool's
worker runs), and writes each record that comes back as it does the pool's.
``distributed`` is imported only here, and only when a scheduler is asked for.
"""

from __future__ import annotations

import os
from typing import Callable, Sequence

from ..threads import BLAS_THREAD_ENV_VARS

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
            f"{address!r} is not the address of a Dask scheduler ({first_line(exc)}); "
            "give one like tcp://HOST:8786, as `dask scheduler` prints it"
        ) from None
    try:
        return distributed.Client(address, timeout=SCHEDULER_TIMEOUT, set_as_default=False)
    except (OSError, TimeoutError) as exc:
        raise ConnectionError(
            f"no Dask scheduler answered at {address!r} within {SCHEDULER_TIMEOUT:g} s ({first_line(exc)}); "
            "start one with `dask scheduler` and give its address, like tcp://HOST:8786"
        ) from None


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (its type's name when it has none)."""
    return (str(exc).splitlines() or [type(exc).__name__])[0]


def train_on_cluster(client, submitted: Sequence[tuple[str, Callable, tuple]],
                     finish: Callable[[str, object], None]) -> None:
    """Run each ``(run id, function, args)`` as one task on the client's cluster; ``finish(run id, future)``
    as each comes back.

    Submitted in the given order, which the scheduler follows: it favours the
    tasks submitted first. On Ctrl-C, SIGTERM or an exception from ``finish``
    every task not back yet is cancelled: a worker cannot be stopped in the
    middle of a run, so the running ones go on to their end there, but their
    records are dropped (they are trained again next time).
    """
    from distributed import as_completed  # the optional extra: connect_to_scheduler found it

    futures = {client.submit(function, *args, pure=False): run_id for run_id, function, args in submitted}
    try:
        for future in as_completed(futures, loop=client.loop):  # this client's: not the default one
            if future.cancelled():  # e.g. the scheduler went away: no record, so the run trains next time
                raise ConnectionError(
                    f"the Dask cluster dropped run {futures[future]} (scheduler lost or restarted?); "
                    "the finished runs are kept: run the same command again to resume"
                )
            finish(futures[future], future)
    except BaseException:
        client.cancel(list(futures))
        raise


def worker_blas_threads() -> dict[str, str | None]:
    """This process's BLAS thread variables (run on each Dask worker by :func:`cluster_warnings`)."""
    return {name: os.environ.get(name) for name in BLAS_THREAD_ENV_VARS}


def cluster_warnings(client) -> list[str]:
    """What may be wrong with the cluster before the grid starts: no worker, or BLAS threads not 1.

    The local pool trains each run with one BLAS thread; a worker whose BLAS
    may use more is slower side by side with others, and its results may
    differ in the last bits.
    """
    variables = client.run(worker_blas_threads)  # {worker address: {variable: value}}
    if not variables:
        return ["the Dask scheduler has no workers yet: the runs start when `dask worker` processes connect"]
    return [
        f"Dask worker {address} may use several BLAS threads ({', '.join(f'{k}={v}' for k, v in not_one)}): "
        "start workers with `dask worker ADDRESS --nworkers N --nthreads 1` and the README's BLAS variables"
        for address, env in sorted(variables.items())
        if (not_one := [(k, env.get(k)) for k in DASK_WORKER_BLAS_VARS if env.get(k) != "1"])
    ]


__all__ = [
    "DASK_WORKER_BLAS_VARS", "SCHEDULER_TIMEOUT", "ExtraNotInstalled", "cluster_warnings",
    "connect_to_scheduler", "first_line", "train_on_cluster", "worker_blas_threads",
]
