"""The report of a tuning grid: one row per setting, chosen on the validation split (notebook 06).

A tuning grid (:data:`mlp_lab.experiments.VARIED`: ``lr-momentum``,
``regularisation``) trains one network at several settings, each with a few
seeds, early-stopping on 10,000 images held out of the training set. Its
report is not the reference's comparison but a table over those settings:

    tuning.csv, tuning.md   one row per network and setting: at each run's best
                            epoch (the validation split's choice) the accuracy on
                            the training images (in evaluation mode, the grid's
                            measure), the validation split and the test set, mean
                            +- std over seeds; the gap between training and
                            validation; the epoch; the runs that diverged

``tuning.md`` also names the setting the validation split chooses, per
network, and only then the test accuracy it reached: the test set chooses
nothing. ``python -m mlp_core reproduce --grid lr-momentum`` (or
``regularisation``) writes it after training, and ``python -m mlp_core report
DIR`` on such a folder writes it again from the run files alone.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from mlp_core.atomic import atomic_write_text

from .experiments import VARIED
from .records import RunRecord, load_results
from .report.tables import mean_std
from .report.text import csv_text

#: The accuracies of a row, each at the run's best epoch: from the grid's measure, the history, the history.
ACCURACIES = ("train_fit_acc", "val_acc", "test_acc")
TITLES = {"train_fit_acc": "train (eval mode)", "val_acc": "validation", "test_acc": "test"}


def tuning_grid(records: Sequence[RunRecord]) -> str | None:
    """The tuning grid the runs come from (one of :data:`VARIED`), or None if they are not a tuning grid's."""
    grids = {r.grid for r in records}
    return next(iter(grids)) if len(grids) == 1 and next(iter(grids)) in VARIED else None


def network_name(record: RunRecord) -> str:
    """'MLP1', 'MLP2', 'softmax regression' (no hidden layer), or the hidden sizes."""
    arch = record.config.architecture
    if isinstance(arch, str):
        return arch.upper()
    return "softmax regression" if len(arch) == 0 else "hidden " + "x".join(map(str, arch))


def at_best_epoch(record: RunRecord) -> dict[str, float] | None:
    """The three :data:`ACCURACIES` (fractions) and the epoch the validation split chose; None unless ok."""
    if not record.ok or record.best_epoch is None:
        return None
    epoch = record.best_epoch
    fit = record.measurements[epoch] if record.measurements else {}
    return {"train_fit_acc": fit.get("train_fit_acc"), "val_acc": record.best["val_acc"],
            "test_acc": record.best["test_acc"], "epoch": epoch}


def tuning_table(records: Sequence[RunRecord], varied: Sequence[str]) -> list[dict]:
    """One row per network and setting (the fields ``varied``), in the grid's order; accuracies in %.

    Each row: ``network``, the varied fields, ``runs``, ``diverged`` (runs
    recorded as diverged or failed), for each of :data:`ACCURACIES` its mean and
    std over the finished runs (``<name>_mean``, ``<name>_std``), ``gap_mean``
    (train minus validation, points), ``best_epoch_mean``.
    """
    groups: dict[tuple, list[RunRecord]] = {}
    for record in records:
        key = (network_name(record), *(getattr(record.config, name) for name in varied))
        groups.setdefault(key, []).append(record)
    rows = []
    for (network, *values), runs in sorted(groups.items(), key=lambda item: item[0]):
        done = [b for b in map(at_best_epoch, runs) if b is not None]
        row = {"network": network, **dict(zip(varied, values)), "runs": len(runs), "diverged": len(runs) - len(done)}
        for name in ACCURACIES:
            found = [100 * b[name] for b in done if b[name] is not None]
            row[f"{name}_mean"], row[f"{name}_std"] = mean_std(found)
        gaps = [100 * (b["train_fit_acc"] - b["val_acc"]) for b in done if b["train_fit_acc"] is not None]
        row["gap_mean"] = float(np.mean(gaps)) if gaps else None
        row["best_epoch_mean"] = float(np.mean([b["epoch"] for b in done])) if done else None
        rows.append(row)
    return rows


def chosen(rows: Sequence[dict], network: str) -> dict | None:
    """The row of ``network`` with the highest mean validation accuracy (the first of equals); None if none ran."""
    candidates = [r for r in rows if r["network"] == network and r["val_acc_mean"] is not None]
    return max(candidates, key=lambda r: r["val_acc_mean"]) if candidates else None


def _pm(mean, std) -> str:
    return "diverged" if mean is None else f"{mean:.2f}" + ("" if std is None else f" ± {std:.2f}")


def tuning_markdown(records: Sequence[RunRecord], grid: str) -> str:
    """tuning.md: the table and, per network, the setting the validation split chooses."""
    varied = VARIED[grid]
    rows = tuning_table(records, varied)
    seeds = sorted({r.seed for r in records})
    epochs = sorted({r.config.max_epochs for r in records})
    lines = [
        f"# Tuning grid `{grid}`: chosen on the validation split",
        "",
        f"{len(records)} runs: seeds {', '.join(map(str, seeds))}; at most {', '.join(map(str, epochs))} epochs on "
        "the training images minus 10,000 held out for validation. Accuracies (%) at each run's best epoch "
        "(the validation split's choice), mean ± std over seeds; train is measured in evaluation mode on 10,000 "
        "training images; gap = train - validation (points). The test column is reported, never used to choose.",
        "",
        "| network | " + " | ".join(varied) + " | runs | diverged | train | validation | test | gap | best epoch |",
        "|---|" + "---|" * len(varied) + "---|---|---|---|---|---|---|",
    ]
    for r in rows:
        cells = [r["network"], *(f"{r[name]:g}" for name in varied), str(r["runs"]), str(r["diverged"]),
                 *(_pm(r[f"{name}_mean"], r[f"{name}_std"]) for name in ACCURACIES),
                 "" if r["gap_mean"] is None else f"{r['gap_mean']:+.2f}",
                 "" if r["best_epoch_mean"] is None else f"{r['best_epoch_mean']:.1f}"]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    for network in dict.fromkeys(r["network"] for r in rows):
        best = chosen(rows, network)
        if best is None:
            lines.append(f"- {network}: every run diverged.")
            continue
        setting = ", ".join(f"{name} {best[name]:g}" for name in varied)
        lines.append(f"- {network}: the validation split chooses {setting} ({best['val_acc_mean']:.2f} % validation "
                     f"accuracy); its test accuracy: {best['test_acc_mean']:.2f} %.")
    return "\n".join(lines) + "\n"


def tuning_columns(varied: Sequence[str]) -> list[str]:
    return (["network", *varied, "runs", "diverged"] + [f"{n}_{s}" for n in ACCURACIES for s in ("mean", "std")]
            + ["gap_mean", "best_epoch_mean"])


def write_tuning_report(results_dir: str | Path, grid: str | None = None) -> list[Path]:
    """Write tuning.csv and tuning.md of a tuning grid's folder; returns the paths written.

    ``grid``: the grid's name (default: the one its runs record).
    """
    results_dir = Path(results_dir)
    records = load_results(results_dir)
    grid = grid or tuning_grid(records)
    if grid not in VARIED:
        raise ValueError(f"{results_dir} does not hold the runs of one tuning grid ({', '.join(VARIED)})")
    written = []
    for name, text in (("tuning.csv", csv_text(tuning_table(records, VARIED[grid]), tuning_columns(VARIED[grid]))),
                       ("tuning.md", tuning_markdown(records, grid))):
        atomic_write_text(results_dir / name, text)
        written.append(results_dir / name)
    return written


__all__ = ["ACCURACIES", "at_best_epoch", "chosen", "network_name", "tuning_grid", "tuning_markdown", "tuning_table",
           "write_tuning_report"]
