"""Argument types and shared options of the command line.

Every mistake in the arguments ends with one line on stderr that says what
was wrong and lists the valid choices, and exit status 2; never a traceback.
The types here only parse (a float is a float, a list of sizes a list of
ints); whether a value is allowed is for the code that owns the setting to
say (the engine's constructors and ``train``, the config, the runner):
:func:`checked` runs those checks and turns their error into the parser's
one line. Used by :mod:`mlp_lab.cli` and by every module that adds a command.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Callable, TypeVar

from mlp_core.data import DATASETS, DataError, use_mirrors
from mlp_core.network import ARCHITECTURES

EXIT_USAGE = 2
T = TypeVar("T")


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is a single line naming the problem."""

    def error(self, message: str):  # noqa: D401 - argparse API
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def checked(parser: argparse.ArgumentParser, check: Callable[[], T]) -> T:
    """``check()``: the owners' checks of a command's arguments, before the command does anything.

    A ValueError it raises is a bad argument: the parser's one-line usage
    error, exit status 2, with the owner's message.
    """
    try:
        return check()
    except ValueError as exc:
        parser.error(str(exc))


def _parser_of(kind: type) -> Callable[[str], object]:
    def parse(text: str):
        try:
            return kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a valid {kind.__name__}") from None

    parse.__name__ = kind.__name__
    return parse


#: A number, only parsed: the code that owns the setting says whether it is allowed.
real = _parser_of(float)
integer = _parser_of(int)


def positive_int(text: str) -> int:
    """A count >= 1, for an option that only the command line itself takes (nothing else checks it)."""
    value = integer(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not allowed: it must be a whole number >= 1")
    return value


def architecture(text: str) -> list[int] | str:
    """'mlp1' or 'MLP1' (a name), '2' (the depth of a name: 'mlp2') or hidden sizes like '512,256'.

    Only parsed: ``mlp_core.network.hidden_sizes_for`` says what is wrong with
    an unknown name or a size that is not positive.
    """
    name = text.strip().lower()
    if name in ARCHITECTURES or f"mlp{name}" in ARCHITECTURES:
        return name if name in ARCHITECTURES else f"mlp{name}"
    try:
        return [int(size) for size in text.split(",")]
    except ValueError:
        return text  # a name, then; the engine lists the valid ones


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
