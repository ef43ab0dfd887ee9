"""The instructor's notebooks are committed executed, without errors, and small enough.

A student's kit has every output cleared (the release does that), so this
file is left out of it; ``tests/test_notebooks.py`` checks the structure of
both copies.
"""
# instructor-only

from __future__ import annotations

import pytest

from .test_notebooks import EXPECTED_NOTEBOOKS, NOTEBOOK_DIR, notebook_file_problems


@pytest.mark.parametrize("name", EXPECTED_NOTEBOOKS)
def test_committed_notebook(name):
    path = NOTEBOOK_DIR / name
    assert path.exists(), f"notebooks/{name} is missing"
    problems = notebook_file_problems(path)
    assert not problems, f"notebooks/{name}:\n  " + "\n  ".join(problems)
