"""Experiment grids: train many configurations in parallel, one JSON per run, resumable.

    python -m mlp_core reproduce --grid report --seeds 3 --out results/report

``grids``: a *grid* is a named list of :class:`~mlp_lab.config.TrainConfig` s
(:data:`GRIDS`); with ``seeds=S`` every configuration is trained with seeds
0..S-1, each (configuration, seed) one :class:`Task` (:func:`make_grid`). A
tuning grid (:data:`VARIED`) names the settings it varies, which enter its
runs' ids, and trains with a measure (:data:`MEASURES`).

``runner``: the one place that trains many runs: the ``reproduce`` command,
the L2 loss study (:mod:`mlp_lab.l2_loss_check`) and the notebooks' sweeps
(:func:`mlp_lab.analysis.sweep`, :func:`~mlp_lab.analysis.recorded_run`) all
go through it. :func:`run_grid` trains the tasks in this process, in worker
processes or on a Dask cluster, and writes every finished run at once,
atomically, as a :class:`~mlp_lab.records.RunRecord` to
``<out>/runs/<config-id>-seed<k>.json`` (:func:`run_path`; or keeps it in
memory): its config, seed, status, per-epoch history, the metrics at the best
and at the final epoch, the seconds per epoch, the library versions and, with a
``measure``, what it measured at initialisation and after every epoch. Its
``status`` is ``"ok"``, ``"diverged"`` (the loss became NaN or infinite: the
history up to then is kept) or ``"failed"`` (any other exception: the
traceback is kept); a run that fails never stops the others. One run is
:func:`train_run`, on the data it is given (a notebook's splits in memory) or
on the data its config names.

Resuming: a rerun skips every task whose JSON exists, is readable and has the
same config, so an interrupted grid picks up where it stopped. Runs recorded as
``diverged`` or ``failed`` are skipped too (they would fail the same way:
training is deterministic given the seed) unless ``retry_failed=True``
(``--retry-failed``), which trains them again. A JSON whose config differs from
the task's is an error, never silently overwritten: use another output folder.

Parallelism: ``workers`` processes (default ``os.cpu_count()``), started with
the "spawn" method, each with ONE BLAS thread. The thread limits
(:mod:`mlp_lab.threads`) are put into the environment before the workers
start, so they hold when numpy loads in the worker (setting them inside a
worker would be too late: importing mlp_core imports numpy). Two
single-threaded workers on two cores are faster than one worker with two BLAS
threads for these small matrices, and the per-epoch timings stay comparable
(note that the workers share the memory bandwidth). Each worker loads the
dataset once and keeps it for all its runs (``load_splits(..., cache=True)``).
``workers=0`` trains in the
calling process, one run after another (for debugging and tests; the BLAS
threads are then whatever this process has).

On a Dask cluster (``cluster``): ``scheduler="tcp://HOST:8786"`` (``--scheduler``) sends
each run as one task (:func:`train_task`, in the pool's order) to the workers
of the Dask scheduler at that address, instead of local processes; each
record comes back to the calling process, which writes its JSON as above, so
resuming is the same. ``distributed`` is imported only then (the optional
``distributed`` extra; without it, an error says what to install), and a
scheduler that does not answer in time is an error before anything is
written. The workers need this package at the same version and find the
dataset by the loader's own rules on their side (``data_dir``, else
``$MNIST_DIR``, the cache, a download). For the pool's results bit for bit,
start them with one thread and one BLAS thread each (``dask worker ADDRESS
--nworkers N --nthreads 1``; ``dask worker`` sets OMP, MKL and OpenBLAS to one
thread unless told otherwise): ``run_grid`` prints a line for every worker
whose BLAS may use more. Ctrl-C cancels the runs not back yet; the ones
running finish on their worker and are dropped.

Every invocation that has runs to train is logged in ``<out>/grid.json``
(command, seeds, runs trained / skipped, wall time, load average, machine;
on a cluster, the scheduler and how many workers it had),
which is where the README's timings come from (``provenance``).

``command``: the ``reproduce`` command line (imported by :mod:`mlp_lab.cli`
only, so that the workers, which import this package, never load the report
step and its matplotlib).
"""

from .grids import (GRIDS, MEASURES, REFERENCE_OUTPUT_ACTIVATION, VARIED, Task, TrainingFit, config_id, make_grid,
                    reference_configs)
from .runner import GridOutcome, run_grid, run_path, train_run, train_task

__all__ = [
    "GRIDS", "MEASURES", "REFERENCE_OUTPUT_ACTIVATION", "VARIED", "GridOutcome", "TrainingFit", "Task", "config_id",
    "make_grid", "reference_configs", "run_grid", "run_path", "train_run", "train_task",
]
