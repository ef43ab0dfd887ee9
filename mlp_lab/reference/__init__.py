"""The reference: the course report whose experiments this kit reproduces.

Its facts ship with the package, in this folder:

    seed_results.csv    its results table: for each of its 18 configurations
                        (depth x loss x activation) the test and train
                        accuracy (%) and loss it printed
    REPORT_SUMMARY.md   what it fixed: models, components, training set-up,
                        and the conclusions it drew

Here they are read (:func:`load_reference`) and named once: the depths,
losses and activations the reference compared, in the order of its table
(:data:`DEPTHS`, :data:`LOSS_ORDER`, :data:`ACTIVATION_ORDER`). The engine
knows more of each (``mlp_core.losses.LOSSES``, ...); the grids and the
report step use these.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

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
