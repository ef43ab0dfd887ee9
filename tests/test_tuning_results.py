"""The committed tuning grids of notebook 06 (results/tuning/): the grids' runs, and the tables the runner wrote."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlp_lab.experiments import VARIED, make_grid
from mlp_lab.records import load_results
from mlp_lab.report.text import csv_text
from mlp_lab.tuning import chosen, tuning_columns, tuning_markdown, tuning_table

TUNING = Path(__file__).resolve().parents[1] / "results" / "tuning"
SEEDS = 2


@pytest.mark.parametrize("grid", sorted(VARIED))
def test_the_committed_runs_are_the_grid_s_every_one_finished_with_its_measure(grid):
    records = {r.run_id: r for r in load_results(TUNING / grid)}
    tasks = {t.run_id: t for t in make_grid(grid, SEEDS)}
    assert set(records) == set(tasks)
    for run_id, record in records.items():
        assert record.config == tasks[run_id].config and record.grid == grid, run_id
        assert record.ok and record.schema == 2, run_id
        assert len(record.measurements) == record.epochs_run + 1 == record.config.max_epochs + 1, run_id
        assert 0 < record.measurements[-1]["train_fit_acc"] <= 1, run_id


@pytest.mark.parametrize("grid", sorted(VARIED))
def test_the_committed_tables_are_what_the_runner_writes_from_the_runs(grid):
    records = load_results(TUNING / grid)
    assert (TUNING / grid / "tuning.md").read_text() == tuning_markdown(records, grid)
    table = csv_text(tuning_table(records, VARIED[grid]), tuning_columns(VARIED[grid]))
    assert (TUNING / grid / "tuning.csv").read_text() == table


@pytest.mark.parametrize("grid", sorted(VARIED))
def test_the_grid_log_names_the_command(grid):
    invocations = json.loads((TUNING / grid / "grid.json").read_text())["invocations"]
    assert any(inv["grid"] == grid and f"--seeds {SEEDS}" in inv["command"] and inv["status"] == "complete"
               for inv in invocations)


def test_what_notebook_06_reads_from_the_learning_rate_sweep():
    rows = tuning_table(load_results(TUNING / "lr-momentum"), VARIED["lr-momentum"])
    pick = chosen(rows, "MLP1")
    assert (pick["lr"], pick["momentum"]) == (0.05, 0.9)  # notebook 05's settings
    assert pick["val_acc_mean"] > chosen(rows, "softmax regression")["val_acc_mean"] + 3
