"""The worker's life inside the sandbox: import the submission's ``mlp_core``, then answer requests.

Run through ``__main__.py`` as ``python -I -S WORKER_DIR SUBMISSION_DIR
NUMPY_SITE_DIR`` (``-S``: no site-packages, so no ``.pth`` file or installed
copy of the course can supply ``mlp_core``; numpy comes from NUMPY_SITE_DIR
alone). The worker moves stdout to stderr first, so a student's ``print``
cannot interleave with replies. The first reply, sent unasked, says whether
``mlp_core`` imported.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import os
import sys
import traceback

from . import run_operation
from .overflow import keep_overflow_reported
from .protocol import REPLY, REQUEST, STARTED, SUBMISSION_MOUNT, encode, read_message

MAX_TEXT = 400


def _where(tb, root: str) -> str:
    """The deepest traceback line inside the submission, as 'mlp_core/x.py:12 in f' (or in a notebook's cell)."""
    found = ""
    for frame in traceback.extract_tb(tb):
        if frame.filename.startswith(root + os.sep):
            found = f"{frame.filename[len(root) + 1:]}:{frame.lineno} in {frame.name}"
        elif frame.filename.startswith("notebooks/"):  # a notebook exercise's source (worker.exercises)
            found = f"{frame.filename}, line {frame.lineno} of its cell, in {frame.name}"
    return found


def _describe(exc: BaseException, root: str) -> str:
    text = f"{type(exc).__name__}: {exc}".replace(root + os.sep, "")
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 3] + "..."


class _SubmissionOnlyFinder:
    """Finds ``mlp_core`` and its modules in the submission and nowhere else."""

    root = SUBMISSION_MOUNT

    @classmethod
    def find_spec(cls, fullname, path=None, target=None):
        if fullname != "mlp_core" and not fullname.startswith("mlp_core."):
            return None
        search = [cls.root] if fullname == "mlp_core" else path
        spec = importlib.machinery.PathFinder.find_spec(fullname, search)
        origin = os.path.realpath(spec.origin) if spec is not None and spec.origin else ""
        if not origin.startswith(cls.root + os.sep):
            raise ModuleNotFoundError(f"No module named {fullname!r}", name=fullname)
        return spec


def main(argv: list[str]) -> int:
    root, numpy_site = argv[1], argv[2]
    replies = os.fdopen(os.dup(1), "wb", buffering=0)
    os.dup2(2, 1)  # the student's prints go to stderr, never into a reply
    requests = os.fdopen(os.dup(0), "rb", buffering=0)
    os.close(0)
    sys.path[:0] = [root, numpy_site]
    _SubmissionOnlyFinder.root = root
    sys.meta_path.insert(0, _SubmissionOnlyFinder)
    import numpy  # fail here (not inside the student's import) if numpy is missing

    keep_overflow_reported(numpy)
    replies.write(STARTED)  # nothing of the submission has run before this
    try:
        mlp = importlib.import_module("mlp_core")
        hello = {"id": 0, "ok": True}
    except BaseException as exc:  # noqa: BLE001 - a submission may raise anything at import
        mlp, hello = None, {"id": 0, "ok": False, "error": _describe(exc, root),
                            "where": _where(exc.__traceback__, root)}
    replies.write(encode(REPLY, hello, {}))
    # Without mlp_core the worker still answers: the notebook exercises run without it (WITHOUT_MLP_CORE).
    while True:
        try:
            header, arrays = read_message(requests, REQUEST)
        except EOFError:
            return 0
        answer = {"id": header.get("id")}
        try:
            outputs, caught = run_operation(mlp, header["op"], header.get("params", {}), arrays)
            reply = encode(REPLY, answer | {"ok": True, "warnings": caught}, outputs)
        except BaseException as exc:  # noqa: BLE001 - the student's code may raise anything
            reply = encode(REPLY, answer | {"ok": False, "error": _describe(exc, root),
                                            "where": _where(exc.__traceback__, root)}, {})
        replies.write(reply)
    return 0
