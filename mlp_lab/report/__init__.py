"""The report step: tables, figures, timings and conclusions from a folder of run records.

    python -m mlp_core report RESULTS_DIR

reads ``RESULTS_DIR/runs/*.json`` (:class:`~mlp_lab.records.RunRecord` s
written by :mod:`mlp_lab.experiments`), compares them with the reference
(:mod:`mlp_lab.reference`: the report this kit reproduces) and writes into
``RESULTS_DIR``:

    results.csv, results.md   one row per configuration: test/train accuracy (%)
                              and loss at the BEST epoch (the one early stopping
                              selects), mean +- std over seeds, beside the
                              reference's value and the difference; results.md
                              also compares best-epoch and final-epoch metrics
                              with the reference
    results_final.csv         the same at the FINAL (stop) epoch
    timing.csv, timing.md     seconds per epoch and per run, by depth and activation
    summary.md                which of the reference's conclusions the numbers confirm
    figures/mlp{1,2}_{test_acc,test_loss,train_acc,train_loss}.{png,svg}
                              the reference's eight figures, one curve per loss x activation

By concern: ``tables`` (the rows), ``conclusions`` (each claim checked),
``figures`` (matplotlib), ``text`` (CSV and Markdown), ``command`` (writing
the files; the command line). What notebook 08 uses is importable from here:
``from mlp_lab import report; report.summary_table(...)``. Accuracies are
fractions in the records and percentages in every table and figure, like the
reference's.
"""

from ..records import load_results
from ..reference import ACTIVATION_ORDER, LOSS_ORDER, METRICS, TOLERANCE_PP, load_reference
from .command import write_report
from .conclusions import conclusions
from .figures import ACTIVATION_COLOURS, LOSS_STYLES, mean_curve, plot_curves, plot_pair, write_figures
from .tables import (
    ACTIVATION_TITLES, LOSS_TITLES, METRIC_TITLES, epochs_to_reach, reference_agreement,
    summary_table, timing_table,
)
from .text import results_markdown, summary_markdown, timing_markdown

__all__ = [
    "ACTIVATION_COLOURS", "ACTIVATION_ORDER", "ACTIVATION_TITLES", "LOSS_ORDER", "LOSS_STYLES", "LOSS_TITLES",
    "METRICS", "METRIC_TITLES", "TOLERANCE_PP", "conclusions", "epochs_to_reach",
    "load_reference", "load_results", "mean_curve", "plot_curves", "plot_pair", "reference_agreement",
    "results_markdown", "summary_markdown", "summary_table", "timing_markdown", "timing_table",
    "write_figures", "write_report",
]
