"""The instructor's commands of ``python -m mlp_core``: ``release``, ``grade``, ``gradescope`` and ``similarity``.

The instructor's ``pyproject.toml`` registers :func:`add_parsers` in the
``mlp.commands`` entry-point group, which :mod:`mlp_lab.cli` reads; a release's
``pyproject.toml`` has no such entry, so a student's kit has neither the
commands nor this package.
"""

from __future__ import annotations

from mlp_instructor.gradescope import autograder as gradescope_command
from mlp_instructor.grading import command as grade_command
from mlp_instructor.release import command as release_command
from mlp_instructor.similarity import command as similarity_command


def add_parsers(subparsers) -> None:
    release_command.add_parser(subparsers)
    grade_command.add_parser(subparsers)
    gradescope_command.add_parser(subparsers)
    similarity_command.add_parser(subparsers)
