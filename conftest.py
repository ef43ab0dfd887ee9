"""Repository-wide pytest configuration.

Notebooks executed by nbval (``pytest --nbval-lax notebooks/``) run in QUICK mode:
each notebook's ``parameters`` cell reads ``MLP_NOTEBOOK_QUICK``, and the kernels
nbval starts inherit this process's environment. ``setdefault`` keeps an explicit
choice: ``MLP_NOTEBOOK_QUICK=0 pytest --nbval-lax notebooks/`` runs them at full size.

Notebooks that load MNIST are skipped, every cell, with one line saying how to
get it, when the real MNIST cannot be had (tests/_mnist.py: $MNIST_DIR, the
cache data/mnist, or one short download); under CI they run and fail instead.
"""

import os
from pathlib import Path

import pytest

from tests._mnist import SKIP_REASON, find_mnist, in_ci, notebook_needs_mnist, summary_line

os.environ.setdefault("MLP_NOTEBOOK_QUICK", "1")


def pytest_collection_modifyitems(config, items):
    needs: dict[Path, bool] = {}
    for item in items:
        path = Path(str(item.path))
        if path.suffix != ".ipynb":
            continue
        if path not in needs:
            needs[path] = notebook_needs_mnist(path)
        if not needs[path] or in_ci():
            continue
        if find_mnist()[0] is None:
            item.add_marker(pytest.mark.skip(reason=SKIP_REASON))


def pytest_terminal_summary(terminalreporter):
    if find_mnist.cache_info().currsize:  # only if something looked for MNIST
        terminalreporter.write_line(summary_line())
