"""Where the tests find the real MNIST: looked up once per session, on first need.

The loader's own order decides (see mlp_core.data.loading): ``$MNIST_DIR`` if
set; else the cache ``data/mnist``; else ONE verified download into ``data/``
from the user's mirrors (``$MNIST_MIRRORS``) and the built-in ones, where a
mirror that stays silent for :data:`SESSION_TIMEOUT` seconds is given up (the
smallest file is asked for first, so an offline machine finds out at once).

When none works, every test and notebook that needs MNIST is skipped with one
line saying how to get it (:func:`skip_reason`) - except under CI (``CI`` set
to a true value), where CI is expected to provide the data, so a missing data
set fails instead of hiding behind skips.
"""

from __future__ import annotations

import functools
import json
import os
import re
from pathlib import Path

import pytest

from mlp_core.data import DataError, locate_dataset

REPO = Path(__file__).resolve().parents[1]

#: Seconds a mirror may stay silent during the session's one download attempt.
SESSION_TIMEOUT = 10.0

HOW_TO_GET_MNIST = (
    "get it with `python -m mlp_core data` (downloads into data/; add --mirror URL for your own "
    "mirror), or set MNIST_DIR to a folder holding the four IDX files (README: 'MNIST offline')"
)

#: Calls that load MNIST (the loader's entry points and the lab functions that train on it).
_LOADER_CALL = re.compile(
    r"\b(load_mnist|load_dataset|locate_dataset|describe_dataset|load_splits|run_grid|sweep)\s*\("
)


def in_ci() -> bool:
    """True under CI (the CI variable set to anything but '', 0, false or no)."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


@functools.cache
def find_mnist() -> tuple[Path | None, str]:
    """(folder holding the verified MNIST files, "") or (None, why it could not be had)."""
    try:
        return locate_dataset("mnist", timeout=SESSION_TIMEOUT), ""
    except DataError as exc:
        lines = str(exc).splitlines()
        first_try = next((line.strip(" -") for line in lines[1:] if line.startswith("  - ")), "")
        return None, lines[0] + (f" (first: {first_try})" if first_try else "")


def skip_reason(why: str) -> str:
    """The one line printed for everything skipped for want of MNIST."""
    return f"real MNIST not available: {why}. To run these, {HOW_TO_GET_MNIST}."


def require_mnist() -> Path:
    """The MNIST folder; skips the calling test (fails it under CI) when there is none."""
    folder, why = find_mnist()
    if folder is None:
        if in_ci():
            pytest.fail(f"CI must provide MNIST: {skip_reason(why)}", pytrace=False)
        pytest.skip(skip_reason(why))
    return folder


def notebook_needs_mnist(path: Path) -> bool:
    """True if a code cell of the notebook at ``path`` calls something that loads MNIST."""
    cells = json.loads(Path(path).read_text(encoding="utf-8")).get("cells", [])
    return any(
        _LOADER_CALL.search("".join(cell.get("source", "")))
        for cell in cells if cell.get("cell_type") == "code"
    )
