"""Argument types and shared options of the command line.

Every mistake in the arguments ends with one line on stderr that says what
was wrong and lists the valid choices, and exit status 2; never a traceback.
Used by :mod:`mlp_lab.cli` and by every module that adds a command of its own.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from mlp_core.data import DATASETS, DataError, use_mirrors
from mlp_core.network import ARCHITECTURES

EXIT_USAGE = 2


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is a single line naming the problem."""

    def error(self, message: str):  # noqa: D401 - argparse API
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def _number(kind, test, description):
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a valid {kind.__name__}") from None
        if not test(value):
            raise argparse.ArgumentTypeError(f"{text} is not allowed: it must be {description}")
        return value

    return parse


positive_float = _number(float, lambda v: v > 0, "> 0")
nonnegative_float = _number(float, lambda v: v >= 0, ">= 0")
unit_interval = _number(float, lambda v: 0 <= v < 1, "in [0, 1)")
positive_int = _number(int, lambda v: v >= 1, "a whole number >= 1")
nonnegative_int = _number(int, lambda v: v >= 0, "a whole number >= 0")


def hidden_sizes(text: str) -> list[int] | str:
    """'mlp1', 'mlp2', '1', '2' or a comma list of sizes like '512,256'."""
    if text.lower() in ARCHITECTURES:
        return text.lower()
    if text in ("1", "2"):
        return f"mlp{text}"
    try:
        sizes = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        sizes = []
    if not sizes or any(s <= 0 for s in sizes):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an architecture; use {', '.join(ARCHITECTURES)}, a depth 1 or 2, "
            "or hidden sizes like 512,256"
        )
    return sizes


def existing_dir(text: str) -> Path:
    path = Path(text).expanduser()
    if not path.is_dir():
        raise argparse.ArgumentTypeError(
            f"data folder {text!r} does not exist; give a folder holding the four IDX files"
        )
    return path


def add_data_arguments(p: argparse.ArgumentParser) -> None:
    """--dataset, --data-dir, and the mirrors a download tries first (--mirror, --mirror-only).

    The mirrors go into the data sets' environment variables (``MNIST_MIRRORS``...)
    as the arguments are read, so the loader finds them in this process and in
    the worker processes it starts (see :func:`mlp_core.data.use_mirrors`).
    """

    class MirrorAction(argparse.Action):
        def __call__(self, parser, namespace, values, option_string=None):
            urls = list(getattr(namespace, "mirror", None) or [])
            only = bool(getattr(namespace, "mirror_only", False))
            if option_string == "--mirror-only":
                only = True
            else:
                urls.append(values)
            try:
                use_mirrors(urls, only=only)
            except DataError as exc:
                parser.error(str(exc))
            namespace.mirror, namespace.mirror_only = urls, only

    p.add_argument("--dataset", default="mnist", choices=list(DATASETS), help="which dataset (default mnist)")
    p.add_argument(
        "--data-dir", type=existing_dir, default=None,
        help="folder with the IDX files (default: $MNIST_DIR / $FASHION_MNIST_DIR, then data/, then download)",
    )
    p.add_argument(
        "--mirror", action=MirrorAction, default=[], metavar="URL",
        help="base URL of a mirror to download from before the built-in ones (repeatable; "
        "adds to $MNIST_MIRRORS / $FASHION_MNIST_MIRRORS); files are checked against their SHA-256",
    )
    p.add_argument(
        "--mirror-only", action=MirrorAction, nargs=0, default=False,
        help="download only from the --mirror URLs (and $MNIST_MIRRORS), never the built-in mirrors",
    )
