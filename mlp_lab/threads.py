"""The environment variables that cap the threads of numpy's BLAS, defined once.

The BLAS (OpenBLAS, MKL, BLIS, Accelerate) and OpenMP libraries read these
when they load, that is when numpy is first imported: setting them later
changes nothing. This module imports neither numpy nor anything that does,
so a script can import it first and set the limits before numpy loads
(``benchmarks/``, the grid runner's worker processes, the grader's
subprocesses).
"""

from __future__ import annotations

import contextlib
import os
from typing import Iterator

#: Environment variables that cap the threads of the BLAS/OpenMP libraries numpy may use.
BLAS_THREAD_ENV_VARS: tuple[str, ...] = (
    "OPENBLAS_NUM_THREADS",
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "BLIS_NUM_THREADS",
)


def blas_thread_env(threads: int) -> dict[str, str]:
    """Every variable of :data:`BLAS_THREAD_ENV_VARS` set to ``threads`` (>= 1), for ``os.environ.update``."""
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ValueError(f"BLAS threads must be a whole number >= 1, got {threads!r}")
    return {name: str(threads) for name in BLAS_THREAD_ENV_VARS}


@contextlib.contextmanager
def blas_threads_in_environment(threads: int = 1) -> Iterator[None]:
    """Set the BLAS thread limits in ``os.environ`` for the block, then restore them.

    Processes started inside the block (e.g. "spawn" workers) inherit the
    limits and apply them when they import numpy; this process's BLAS, loaded
    already, is not affected.
    """
    limits = blas_thread_env(threads)
    saved = {name: os.environ.get(name) for name in limits}
    os.environ.update(limits)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
