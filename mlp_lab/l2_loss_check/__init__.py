"""Which definition of the L2 loss produced the reference's L2 loss numbers?

The kit reproduces the reference's accuracies and its cross-entropy and hinge
losses, but its L2 losses (the course's E = 1/(2N) sum_n ||y_n - t_n||^2 on
the logits) are larger than the reference's, by a ratio that differs per row
(results/l2_loss_check.md gives the numbers). This study trains each of the
six L2 configurations once and, on that one model, evaluates every candidate
definition of "the L2 loss" at every epoch, in every way the course could
have averaged it. It is the experiment runner's work plus three parts:

    the grid       ``l2-loss-check`` (``mlp_lab.experiments.GRIDS``): the six L2
                   rows of the report grid, seed 0; and the same on the
                   unsquared norm (:data:`OBJECTIVES`)            -> :mod:`.study`
    the measure    :class:`CandidateMeasure`: every candidate, every
                   aggregation, after every epoch                 -> :mod:`.candidates`
    the renderer   :func:`decide` the verdicts as data            -> :mod:`.verdicts`
                   :func:`write` them as Markdown                 -> :mod:`.markdown`

    OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MNIST_DIR=... \\
        python -m mlp_lab.l2_loss_check --out results/l2_loss_check

(see :mod:`.study` for the options).
"""

from .candidates import (
    AGGREGATIONS, CANDIDATE_NAMES, CANDIDATE_TITLES, CANDIDATES, CandidateMeasure, WatchedLoss, candidate_values,
    split_values,
)
from .markdown import UNSQUARED_FOLDER, write
from .study import GRID, OBJECTIVES, folder_of, load_runs, main, render_folder, study_tasks, train
from .verdicts import (
    EPOCH_CHOICES, MATCH_TOLERANCE, REPORT_L2, Verdicts, chosen_epoch, decide, epoch_matching_train_accuracy,
    numbers, ratios, report_fit, row_id, within, worst_deviation,
)

__all__ = [
    "AGGREGATIONS", "CANDIDATES", "CANDIDATE_NAMES", "CANDIDATE_TITLES", "CandidateMeasure", "EPOCH_CHOICES", "GRID",
    "MATCH_TOLERANCE", "OBJECTIVES", "REPORT_L2", "UNSQUARED_FOLDER", "Verdicts", "WatchedLoss", "candidate_values",
    "chosen_epoch", "decide", "epoch_matching_train_accuracy", "folder_of", "load_runs", "main", "numbers", "ratios",
    "render_folder", "report_fit", "row_id", "split_values", "study_tasks", "train", "within", "worst_deviation",
    "write",
]
