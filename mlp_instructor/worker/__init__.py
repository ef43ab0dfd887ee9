"""The grading worker: runs inside the sandbox, imports a submission's mlp_core and computes.

It knows operations, never checks: a request names an operation (``layer``,
``loss``, ``sgd``, ``early_stopping``, ``network``, ``sequential``, ``evaluate``,
``train_epoch``, ``train_mlp1``, ``dropout``, ``confusion_matrix``,
``activation_statistics``; ``notebook``: a function of a student's notebook,
sent as source) and carries its inputs; the reply carries the outputs. It
holds no expected value, no tolerance and no verdict, so nothing in it is
secret: the trusted judge (:mod:`mlp_instructor.hidden_checks`) makes every
verdict outside the sandbox, by running the same operations on the
instructor's solution (:data:`OPERATIONS` is shared) and comparing.

The package is bound read-only into the sandbox as one folder and run as
``python -I -S WORKER_DIR SUBMISSION_DIR NUMPY_SITE_DIR`` (``__main__.py``);
the judge imports the same modules as ``mlp_instructor.worker``:

* :mod:`.protocol`: the messages on stdin/stdout (requests and replies);
* :mod:`.operations`: what a submission's ``mlp_core`` is asked to compute;
* :mod:`.exercises`: the ``notebook`` operation: a notebook exercise's
  function executed from its source in a fresh namespace, and its reply;
* :mod:`.overflow`: overflow reported whatever the submission asks of numpy;
* :mod:`.inside`: the worker's main loop in the sandbox.

Standard library and numpy only (numpy imported inside the functions: in the
sandbox it becomes importable only once :mod:`.inside` has put its folder on
``sys.path``).
"""

from __future__ import annotations

import warnings

from .exercises import op_notebook
from .operations import (op_activation_statistics, op_confusion_matrix, op_dropout, op_early_stopping, op_evaluate,
                         op_layer, op_loss, op_network, op_sequential, op_sgd, op_softmax, op_train_epoch,
                         op_train_mlp1)
from .overflow import OVERFLOW, keep_overflow_reported, reporting
from .protocol import MAX_HEADER, REPLY, REQUEST, STARTED, SUBMISSION_MOUNT, encode, read_message

__all__ = ["MAX_HEADER", "OPERATIONS", "OVERFLOW", "REPLY", "REQUEST", "STARTED", "SUBMISSION_MOUNT",
           "WITHOUT_MLP_CORE", "encode", "keep_overflow_reported", "read_message", "run_operation"]

OPERATIONS = {
    "layer": op_layer,
    "loss": op_loss,
    "softmax": op_softmax,
    "sgd": op_sgd,
    "early_stopping": op_early_stopping,
    "network": op_network,
    "sequential": op_sequential,
    "evaluate": op_evaluate,
    "train_epoch": op_train_epoch,
    "train_mlp1": op_train_mlp1,
    "dropout": op_dropout,
    "confusion_matrix": op_confusion_matrix,
    "activation_statistics": op_activation_statistics,
    "notebook": op_notebook,
}
#: The operations that run without the submission's ``mlp_core`` (when it does not import, ``mlp`` is None).
WITHOUT_MLP_CORE = ("notebook",)


def run_operation(mlp, op: str, params: dict, arrays: dict) -> tuple[dict, list[str]]:
    """(outputs, warning messages) of one operation: :data:`OVERFLOW` first if anything overflowed, then
    numpy's warnings (invalid values, division by zero)."""
    import numpy as np

    if mlp is None and op not in WITHOUT_MLP_CORE:
        raise RuntimeError("mlp_core did not import, and this operation runs the submission's mlp_core")
    overflowed: list = []
    with warnings.catch_warnings(record=True) as caught, reporting(np, overflowed):
        warnings.simplefilter("always")
        outputs = OPERATIONS[op](mlp, params, arrays)
    texts = [OVERFLOW] * bool(overflowed) + [f"{w.category.__name__}: {w.message}" for w in caught]
    return outputs, texts[:5]
