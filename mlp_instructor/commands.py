"""The instructor's commands of ``python -m mlp_core``: ``release`` and ``grade``.

:mod:`mlp_lab.cli` loads this module when it is installed (the instructor's
copy) and calls :func:`add_parsers`.
"""

from __future__ import annotations

from . import grading, release


def add_parsers(subparsers) -> None:
    release.add_parser(subparsers)
    grading.add_parser(subparsers)
