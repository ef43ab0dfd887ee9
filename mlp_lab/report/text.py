"""The report step's files as text: CSV tables and the Markdown of results.md, timing.md, summary.md.

The committed tables in results/ are this module's output, byte for byte
(``tests/test_committed_results.py``): a change of wording here is a change
of every committed table. That is why the files' words still call the
reference "the report", and its values "Report" / ``report_*`` columns.
"""

from __future__ import annotations

import csv
import io
from typing import Sequence

from ..records import RunRecord
from ..reference import ACTIVATION_ORDER, METRICS, TOLERANCE_PP
from .conclusions import conclusions
from .tables import (
    ACTIVATION_TITLES, LOSS_TITLES, METRIC_TITLES, SELECTIONS, finished, reference_agreement,
    summary_table, timing_table,
)

SUMMARY_COLUMNS = (
    ["config_id", "depth", "loss", "activation", "output_activation", "runs", "not_ok", "seeds"]
    + [f"{p}{m}{s}" for m in METRICS for p, s in (("", "_mean"), ("", "_std"), ("report_", ""), ("diff_", ""))]
    + ["best_epoch_mean", "stop_epoch_mean", "within_tolerance"]
)
TIMING_COLUMNS = ("depth", "activation", "runs", "seconds_per_epoch_mean", "seconds_per_epoch_std",
                  "fastest_epoch_seconds", "epochs_mean", "train_seconds_mean", "wall_seconds_mean")
#: Decimals per metric in the Markdown tables.
DIGITS = {"test_acc": 2, "train_acc": 2, "test_loss": 4, "train_loss": 4}


def _num(value, digits: int) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def _pm(mean, std, digits: int) -> str:
    if mean is None:
        return "n/a"
    return f"{mean:.{digits}f}" + ("" if std is None else f" ± {std:.{digits}f}")


def _signed(value, digits: int) -> str:
    return "" if value is None else f"{value:+.{digits}f}"


def _cell(value) -> object:
    """A CSV cell: empty for None, lists space-separated, floats to 10 significant digits."""
    if value is None:
        return ""
    if isinstance(value, list):
        return " ".join(map(str, value))
    return f"{value:.10g}" if isinstance(value, float) else value


def csv_text(rows: list[dict], columns: Sequence[str]) -> str:
    """``rows`` as CSV with the header ``columns`` (lines end in \\n)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row.get(c)) for c in columns])
    return buf.getvalue()


def results_markdown(results: Sequence[RunRecord], reference: dict | None = None) -> str:
    """results.md: the 18-row table (best epoch) and the best-vs-final comparison."""
    rows = summary_table(results, "best", reference)
    n_seeds = max((r["runs"] for r in rows), default=0)
    lines = [
        "# Results beside the report",
        "",
        f"Metrics at the best epoch (the one early stopping selects on its monitored metric), "
        f"mean ± sample std over {n_seeds} seed(s); accuracies in %, losses as the report computes them. "
        "'Report' is the report's value, Δ = ours - report.",
        "",
        "| Model | Loss | Activation | Runs | Test acc | Report | Δ | Test loss | Report | Δ | "
        "Train acc | Report | Δ | Train loss | Report | Δ | Best / stop epoch |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    lines += [_results_row(r) for r in rows]
    lines += _tolerance_lines(rows)
    lines += _selection_lines(reference_agreement(results, reference))
    not_ok = [r for r in results if not r.ok]
    if not_ok:
        lines += ["", "## Runs that did not finish", ""]
        for r in not_ok:
            first = r.error.splitlines()[0] if r.error else ""
            lines.append(f"- {r.run_id}: {r.status} after {r.epochs_run} epochs: {first}")
    return "\n".join(lines) + "\n"


def _results_row(r: dict) -> str:
    cells = [f"MLP{r['depth']}", LOSS_TITLES.get(r["loss"], r["loss"]),
             ACTIVATION_TITLES.get(r["activation"], r["activation"]),
             f"{r['runs']}" + (f" (+{r['not_ok']} failed)" if r["not_ok"] else "")]
    for m in METRICS:
        d = DIGITS[m]
        cells += [_pm(r[f"{m}_mean"], r[f"{m}_std"], d), _num(r[f"report_{m}"], d), _signed(r[f"diff_{m}"], d)]
    cells.append(f"{_num(r['best_epoch_mean'], 1)} / {_num(r['stop_epoch_mean'], 1)}")
    return "| " + " | ".join(cells) + " |"


def _tolerance_lines(rows: list[dict]) -> list[str]:
    """How many configurations are within the tolerance, and the spread of those outside it."""
    with_ref = [r for r in rows if r["within_tolerance"] is not None]
    outside = [r for r in with_ref if not r["within_tolerance"]]
    lines = [
        "",
        f"**{len(with_ref) - len(outside)} of {len(with_ref)}** configurations have a mean test accuracy "
        f"within {TOLERANCE_PP} percentage points of the report's.",
    ]
    if outside:
        lines += ["", "Outside the tolerance (Δ test accuracy; spread of the seeds):", ""]
        for r in outside:
            spread = (f"seeds {r['test_acc_min']:.2f} to {r['test_acc_max']:.2f}, std {_num(r['test_acc_std'], 2)}"
                      if r["runs"] > 1 else "one seed")
            inside = (r["test_acc_min"] is not None and r["test_acc_min"] <= r["report_test_acc"] <= r["test_acc_max"])
            lines.append(f"- {r['config_id']}: Δ {r['diff_test_acc']:+.2f} pp ({spread}"
                         + ("; the report's value lies within the seeds' range)" if inside else ")"))
    return lines


def _selection_lines(agreement: dict) -> list[str]:
    """The best-epoch against final-epoch table, and which is closer."""
    lines = [
        "",
        "## Best epoch or final epoch: which does the report's table show?",
        "",
        "Mean over configurations of |ours - report| (accuracies in percentage points):",
        "",
        "| Epoch | Test acc | Test loss | Train acc | Train loss | Within "
        f"{TOLERANCE_PP} pp |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for selection in SELECTIONS:
        a = agreement[selection]
        lines.append(f"| {selection} | " + " | ".join(_num(a[f'{m}_mean_abs_diff'], DIGITS[m] + 1) for m in METRICS)
                     + f" | {a['within_tolerance']} of {a['configs']} |")
    closer = _closer(agreement)
    if closer:
        lines += ["", closer]
    return lines


def _closer(agreement: dict) -> str:
    """A sentence on which epoch's metrics match the reference better, metric by metric."""
    parts = []
    for m in METRICS:
        b, f = agreement["best"][f"{m}_mean_abs_diff"], agreement["final"][f"{m}_mean_abs_diff"]
        if b is None or f is None:
            continue
        parts.append(f"{METRIC_TITLES[m].split(' (')[0].lower()}: "
                     + ("best" if b < f else "final" if f < b else "tie"))
    return ("Closer to the report, metric by metric: " + "; ".join(parts) + ".") if parts else ""


def timing_markdown(results: Sequence[RunRecord]) -> str:
    """timing.md: seconds per epoch and per run by depth and activation, with the ratios."""
    rows = timing_table(results)
    lines = [
        "# Training time",
        "",
        "Per-epoch training time (forward, backward and update over the training set; evaluation excluded), "
        "measured in worker processes with one BLAS thread each. Workers ran side by side and share the "
        "memory bandwidth, and the machine may have had other load (see the load averages in grid.json), "
        "which slows some epochs more than others: the fastest epoch of each row (as timeit takes the "
        "minimum) is the fairest measure of what a depth or an activation costs, and the ratios below use it.",
        "",
        "| Model | Activation | Runs | s / epoch | Fastest epoch (s) | Epochs | Train s / run | Wall s / run |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| MLP{r['depth']} | {ACTIVATION_TITLES.get(r['activation'], r['activation'])} | {r['runs']} | "
            f"{_pm(r['seconds_per_epoch_mean'], r['seconds_per_epoch_std'], 2)} | {r['fastest_epoch_seconds']:.2f} | "
            f"{r['epochs_mean']:.1f} | {r['train_seconds_mean']:.0f} | {r['wall_seconds_mean']:.0f} |"
        )
    speed = {(r["depth"], r["activation"]): r["fastest_epoch_seconds"] for r in rows}
    ratios = []
    for a in ACTIVATION_ORDER:
        if (1, a) in speed and (2, a) in speed:
            ratios.append(f"MLP2/MLP1 with {ACTIVATION_TITLES[a]}: {speed[(2, a)] / speed[(1, a)]:.2f}x")
    for d in (1, 2):
        for a in ("relu", "sigmoid"):
            if (d, "gelu") in speed and (d, a) in speed:
                ratios.append(f"MLP{d} GELU/{ACTIVATION_TITLES[a]}: {speed[(d, 'gelu')] / speed[(d, a)]:.2f}x")
    if ratios:
        lines += ["", "Ratios of the fastest epochs: " + "; ".join(ratios) + "."]
    return "\n".join(lines) + "\n"


def summary_markdown(results: Sequence[RunRecord], reference: dict | None = None) -> str:
    """summary.md: the reference's conclusions, each confirmed or not, with the evidence."""
    rows = summary_table(results, "best", reference)
    with_ref = [r for r in rows if r["within_tolerance"] is not None]
    n_runs = len(results)
    n_ok = len(finished(results))
    lines = [
        "# Which of the report's conclusions do these numbers confirm?",
        "",
        f"From {n_ok} finished runs ({n_runs - n_ok} diverged or failed) of {len(rows)} configurations; "
        "test accuracies are means over seeds at the best epoch.",
        "",
    ]
    if with_ref:
        within = sum(bool(r["within_tolerance"]) for r in with_ref)
        lines += [f"- Reproduction: {within} of {len(with_ref)} configurations within {TOLERANCE_PP} pp of "
                  "the report's test accuracy (results.md).", ""]
        closer = _closer(reference_agreement(results, reference))
        if closer:
            lines += [f"- {closer}", ""]
    for c in conclusions(results):
        lines.append(f"- **{c['verdict'].capitalize()}**: {c['claim']} {c['evidence']}")
        lines.append("")
    return "\n".join(lines)
