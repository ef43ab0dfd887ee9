"""The report step's tables as rows: configurations beside the reference, best vs final epoch, timing.

Accuracies are fractions in the run records and percentages in every row,
like the reference's. Rows come in the reference's table order.
"""

from __future__ import annotations

import statistics
from typing import Iterable, Sequence

from ..records import RunRecord, sort_records
from ..reference import ACTIVATION_ORDER, METRICS, TOLERANCE_PP, load_reference

#: How the tables, figures and conclusions name a metric, a loss and an activation.
METRIC_TITLES = {
    "test_acc": "Test accuracy (%)", "test_loss": "Test loss",
    "train_acc": "Train accuracy (%)", "train_loss": "Train loss",
    "val_acc": "Validation accuracy (%)", "val_loss": "Validation loss",
}
LOSS_TITLES = {"l2": "L2", "cross_entropy": "Cross-entropy", "hinge": "Hinge"}
ACTIVATION_TITLES = {"sigmoid": "Sigmoid", "relu": "ReLU", "gelu": "GELU"}
#: The two epochs whose metrics a run record keeps: the one early stopping selected, the last one.
SELECTIONS = ("best", "final")


def groups(results: Iterable[RunRecord]) -> dict[str, list[RunRecord]]:
    """Records by config id, in the reference's order, each list by seed."""
    by_config: dict[str, list[RunRecord]] = {}
    for record in sort_records(results):
        by_config.setdefault(record.config_id, []).append(record)
    return by_config


def finished(records: Iterable[RunRecord]) -> list[RunRecord]:
    """The records of runs that finished ("ok")."""
    return [r for r in records if r.ok]


def scale(metric: str) -> float:
    """100 for an accuracy (fractions -> %), 1 for a loss."""
    return 100.0 if metric.endswith("_acc") else 1.0


def mean_std(values: Sequence[float]) -> tuple[float | None, float | None]:
    """Mean and sample standard deviation (ddof 1; None for fewer than two values)."""
    if not values:
        return None, None
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else None


def summary_table(
    results: Sequence[RunRecord], selection: str = "best", reference: dict | None = None
) -> list[dict]:
    """One row per configuration, in the reference's order.

    Args:
        results: run records (:func:`~mlp_lab.records.load_results`).
        selection: 'best' (metrics at the epoch early stopping selected) or
            'final' (at the last epoch trained).
        reference: :func:`~mlp_lab.reference.load_reference` output (default: the reference's).

    Each row: config_id, depth, loss, activation, output_activation, runs
    (finished ok), not_ok (diverged or failed), seeds; for every metric m in
    :data:`~mlp_lab.reference.METRICS`: m_mean, m_std (sample std over seeds,
    None for one seed), m_min, m_max, report_m (the reference's value),
    diff_m (mean - reference); best_epoch_mean, stop_epoch_mean;
    within_tolerance (|diff_test_acc| <= TOLERANCE_PP, None without a
    reference value). Accuracies in percent. (The ``report_`` keys and CSV
    columns keep their names: notebooks and committed tables use them.)
    """
    if selection not in SELECTIONS:
        raise ValueError(f"selection must be 'best' or 'final', got {selection!r}")
    reference = load_reference() if reference is None else reference
    rows = []
    for cid, records in groups(results).items():
        ok = finished(records)
        first = records[0]
        row: dict = {
            "config_id": cid, "depth": first.depth, "loss": first.loss, "activation": first.activation,
            "output_activation": first.config.output_activation or "none",
            "runs": len(ok), "not_ok": len(records) - len(ok), "seeds": [r.seed for r in ok],
        }
        ref = reference.get(cid)
        for m in METRICS:
            at = [getattr(r, selection) for r in ok]
            values = [metrics[m] * scale(m) for metrics in at if metrics and m in metrics]
            mean, std = mean_std(values)
            row[f"{m}_mean"], row[f"{m}_std"] = mean, std
            row[f"{m}_min"] = min(values) if values else None
            row[f"{m}_max"] = max(values) if values else None
            row[f"report_{m}"] = ref[m] if ref else None
            row[f"diff_{m}"] = mean - ref[m] if ref and mean is not None else None
        row["best_epoch_mean"] = mean_std([r.best_epoch for r in ok if r.best_epoch])[0]
        row["stop_epoch_mean"] = mean_std([r.stop_epoch for r in ok if r.stop_epoch])[0]
        diff = row["diff_test_acc"]
        row["within_tolerance"] = None if diff is None else abs(diff) <= TOLERANCE_PP
        rows.append(row)
    return rows


def reference_agreement(results: Sequence[RunRecord], reference: dict | None = None) -> dict[str, dict]:
    """How close the best-epoch and the final-epoch metrics come to the reference.

    Returns {'best': {...}, 'final': {...}}, each with, per metric m:
    m_mean_abs_diff (mean over configurations of |mean - reference|;
    percentage points for accuracies) and, for test_acc, within_tolerance
    (how many configurations are within TOLERANCE_PP) and configs (how many
    have a reference value).
    """
    out = {}
    for selection in SELECTIONS:
        rows = [r for r in summary_table(results, selection, reference) if r["diff_test_acc"] is not None]
        entry: dict = {"configs": len(rows)}
        for m in METRICS:
            diffs = [abs(r[f"diff_{m}"]) for r in rows if r[f"diff_{m}"] is not None]
            entry[f"{m}_mean_abs_diff"] = statistics.fmean(diffs) if diffs else None
        entry["within_tolerance"] = sum(bool(r["within_tolerance"]) for r in rows)
        out[selection] = entry
    return out


def timing_table(results: Sequence[RunRecord]) -> list[dict]:
    """Training time by depth and activation (over all losses and seeds of finished runs).

    Rows: depth, activation, runs, seconds_per_epoch_mean / _std (over runs
    of each run's mean per-epoch train_seconds: forward, backward and update
    on the 60000 training samples, one BLAS thread), fastest_epoch_seconds
    (the fastest epoch of all these runs: like timeit's minimum, the one
    least disturbed by other load on the machine, so the fairest for
    comparing the cost of depths and activations), epochs_mean (epochs
    trained), train_seconds_mean (per run, training only), wall_seconds_mean
    (per run, with data loading and evaluation).
    """
    cells: dict[tuple[int, str], list[RunRecord]] = {}
    for record in finished(results):
        cells.setdefault((record.depth, record.activation), []).append(record)
    order = {a: i for i, a in enumerate(ACTIVATION_ORDER)}
    rows = []
    for (depth, act), records in sorted(cells.items(), key=lambda kv: (kv[0][0], order.get(kv[0][1], 9), kv[0][1])):
        spe_mean, spe_std = mean_std([r.seconds_per_epoch for r in records])
        rows.append({
            "depth": depth, "activation": act, "runs": len(records),
            "seconds_per_epoch_mean": spe_mean, "seconds_per_epoch_std": spe_std,
            "fastest_epoch_seconds": min(min(r.metric_curve("train_seconds")) for r in records),
            "epochs_mean": statistics.fmean(r.epochs_run for r in records),
            "train_seconds_mean": statistics.fmean(r.train_seconds for r in records),
            "wall_seconds_mean": statistics.fmean(r.wall_seconds for r in records),
        })
    return rows


def epochs_to_reach(record: RunRecord, metric: str = "test_acc", level: float = 0.97) -> int | None:
    """First epoch (1-based) at which ``metric`` reaches ``level`` (a fraction for accuracies); None if never."""
    for epoch, value in enumerate(record.metric_curve(metric), 1):
        if value >= level:
            return epoch
    return None
