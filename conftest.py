"""Repository-wide pytest configuration.

Notebooks executed by nbval (``pytest --nbval-lax notebooks/``) run in QUICK mode:
each notebook's ``parameters`` cell reads ``MLP_NOTEBOOK_QUICK``, and the kernels
nbval starts inherit this process's environment. ``setdefault`` keeps an explicit
choice: ``MLP_NOTEBOOK_QUICK=0 pytest --nbval-lax notebooks/`` runs them at full size.

Notebooks that load MNIST (every cell) and the tests that need it are skipped,
with one short line per file and one closing line saying why and how to get
it, when the real MNIST cannot be had (tests/_mnist.py: $MNIST_DIR, the cache
data/mnist, or one short download); under CI they run and fail instead.
"""

import os
from pathlib import Path

import pytest

from tests._mnist import SKIP_REASON, find_mnist, in_ci, notebook_needs_mnist, summary_line

os.environ.setdefault("MLP_NOTEBOOK_QUICK", "1")


def pytest_collection_modifyitems(config, items):
    """Skip every cell of a notebook that loads MNIST when there is none (by marker: pytest folds
    the skips into one line per notebook). Tests skip in require_mnist(), folded into one line."""
    if in_ci():
        return
    needs: dict[Path, bool] = {}
    for item in items:
        path = Path(str(item.path))
        if path.suffix != ".ipynb":
            continue
        if path not in needs:
            needs[path] = notebook_needs_mnist(path)
        if needs[path] and find_mnist()[0] is None:
            item.add_marker(pytest.mark.skip(reason=SKIP_REASON))


def pytest_terminal_summary(terminalreporter):
    if find_mnist.cache_info().currsize:  # only if something looked for MNIST
        terminalreporter.write_line(summary_line())
