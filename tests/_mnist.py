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

#: The skip reason of everything that needs MNIST when there is none (short: pytest prints
#: it once per skipped test; why is said once, in the "real MNIST:" line at the end).
SKIP_REASON = (
    "no real MNIST (see the line 'real MNIST:' above the summary); get it with `python -m mlp_core data` "
    "[--mirror URL], or set MNIST_DIR to a folder holding the four files"
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
        head = lines[0].removesuffix(" Tried each mirror in turn:").rstrip(".")
        return None, head + (f" (first mirror tried: {first_try})" if first_try else "")


def summary_line() -> str:
    """The line closing the session: where MNIST was found, or why not and how to get it."""
    folder, why = find_mnist()
    if folder is not None:
        return f"real MNIST: {folder}"
    return (
        f"real MNIST: none, so the tests and notebooks that need it were skipped. {why}. To get it: "
        "`python -m mlp_core data` downloads it into data/ (add --mirror URL, or set MNIST_MIRRORS, "
        "for your own mirror), or set MNIST_DIR to a folder holding the four IDX files, or download "
        "them by hand into data/mnist/ (README: 'MNIST offline, or from a local folder')."
    )


def require_mnist() -> Path:
    """The MNIST folder; skips the calling test (fails it under CI) when there is none."""
    folder, why = find_mnist()
    if folder is None:
        if in_ci():
            pytest.fail(f"CI must provide MNIST: {why}", pytrace=False)
        pytest.skip(SKIP_REASON)
    return folder


def notebook_needs_mnist(path: Path) -> bool:
    """True if a code cell of the notebook at ``path`` calls something that loads MNIST."""
    cells = json.loads(Path(path).read_text(encoding="utf-8")).get("cells", [])
    return any(
        _LOADER_CALL.search("".join(cell.get("source", "")))
        for cell in cells if cell.get("cell_type") == "code"
    )
