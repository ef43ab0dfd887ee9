"""mlp_instructor: the instructor's tools, never part of a student release.

``release`` writes the student kit from this repository (answers removed);
``grading`` grades a class's submissions: the student's code runs in a
``sandbox`` (through the ``worker``), answers the ``hidden_checks``, and the
judge scores it with the rubric. ``notebooks`` is what both know of notebooks
(their JSON, tags, questions and answers). ``commands`` plugs ``release`` and
``grade`` into ``python -m mlp_core`` (the ``mlp`` command line).
"""

from pathlib import Path


def repo_root() -> Path:
    """The instructor's repository this package is installed from (it holds ``mlp_core``)."""
    return Path(__file__).resolve().parent.parent
