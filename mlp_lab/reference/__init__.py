"""The reference: the course report whose experiments this kit reproduces.

Its facts ship with the package, in this folder:

    seed_results.csv    its results table: for each of its 18 configurations
                        (depth x loss x activation) the test and train
                        accuracy (%) and loss it printed
    REPORT_SUMMARY.md   what it fixed: models, components, training set-up,
                        and the conclusions it drew

Here they are read (:func:`load_reference`) and named once: the depths,
losses and activations the reference compared, in the order of its table
(:data:`DEPTHS`, :data:`LOSS_ORDER`, :data:`ACTIVATION_ORDER`), the settings
it trained them with (:data:`SETTINGS`) and how close a test accuracy must come
to its own to count as reproducing it (:data:`TOLERANCE_PP`). The engine
knows more of each (``mlp_core.losses.LOSSES``, ...); the grids and the
report step use these.

:data:`SETTINGS` is the one place the reference's settings are written:
``mlp_lab.config.TrainConfig``'s defaults are read from it, the command line's
defaults from those, and the grader's end-to-end check reads it too. The
engine's own defaults (``mlp_core.training.train``'s ``batch_size=100``, ...)
are the engine's, for a student who calls it by hand; the lab passes every
setting explicitly and never relies on them.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping

#: The reference's results table, as it ships with the package.
SEED_RESULTS = Path(__file__).with_name("seed_results.csv")
#: What the reference fixed and concluded, in prose.
SUMMARY = Path(__file__).with_name("REPORT_SUMMARY.md")

#: Its two models by depth (hidden layers): names of ``mlp_core.network.ARCHITECTURES``.
DEPTHS: dict[int, str] = {1: "mlp1", 2: "mlp2"}
#: Its losses and hidden activations, in the order of its table (names of the engine's).
LOSS_ORDER: tuple[str, ...] = ("l2", "cross_entropy", "hinge")
ACTIVATION_ORDER: tuple[str, ...] = ("sigmoid", "relu", "gelu")

#: The four metrics of its table and figures.
METRICS: tuple[str, ...] = ("test_acc", "test_loss", "train_acc", "train_loss")

#: How the reference trained every model, by ``TrainConfig`` field: weights drawn from
#: N(0, 0.01^2), SGD with learning rate 0.01 and momentum 0.9, no weight decay, batches of
#: 100, at most 100 epochs, early stopping after 10 epochs without a rise in the test
#: accuracy, hinge margin 5, pixels scaled as (x - 128) / 255 ('course').
SETTINGS: Mapping[str, Any] = MappingProxyType({
    "init_std": 0.01,
    "lr": 0.01,
    "momentum": 0.9,
    "weight_decay": 0.0,
    "batch_size": 100,
    "max_epochs": 100,
    "patience": 10,
    "monitor": "test_acc",
    "margin": 5.0,
    "scaling": "course",
})

#: Largest |test accuracy difference| (percentage points) that counts as reproducing
#: one of the reference's numbers: the report step's tables and conclusions and the
#: L2 loss study use this one value.
TOLERANCE_PP = 0.5


def load_reference(path: str | Path | None = None) -> dict[str, dict[str, float]]:
    """The reference's numbers by config id ('mlp1-l2-sigmoid' -> {test_acc: 95.94, ...}).

    ``path``: a CSV laid out like seed_results.csv (columns hidden_layers,
    loss, activation and the four :data:`METRICS`; default: the reference's
    own, :data:`SEED_RESULTS`). Accuracies stay in percent, as printed.
    """
    path = SEED_RESULTS if path is None else Path(path)
    reference = {}
    for row in csv.DictReader(io.StringIO(path.read_text())):
        try:
            key = f"mlp{int(row['hidden_layers'])}-{row['loss']}-{row['activation']}"
            reference[key] = {m: float(row[m]) for m in METRICS}
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(
                f"{path}: row {row} is not laid out like seed_results.csv "
                f"(columns hidden_layers, loss, activation, {', '.join(METRICS)}): {exc}"
            ) from None
    if not reference:
        raise ValueError(f"{path} holds no rows; expected the columns of seed_results.csv")
    return reference
