"""The committed L2 loss study (results/l2_loss_check.md) is what its committed runs give.

The runs (results/l2_loss_check/runs/, and trained_on_unsquared/runs/) are the
``l2-loss-check`` grid at seed 0 as RunRecords with every candidate measured at
every epoch; the six on the course's loss trained exactly the report grid's
seed-0 L2 runs (the measure changed nothing); and the Markdown is what the
study writes from them, so nobody edited it by hand. results/ ships with the
kit, so these run in a student's kit too.
"""

from pathlib import Path

from mlp_lab import l2_loss_check as study
from mlp_lab.records import read_run, training_outcome

RESULTS = Path(__file__).resolve().parents[1] / "results"
RUNS = RESULTS / "l2_loss_check"


def test_committed_runs_are_the_l2_grid_measured_at_every_epoch():
    records = study.load_runs(RUNS)
    assert list(records) == list(study.REPORT_L2), "results/l2_loss_check/runs/ should hold the six L2 runs"
    tasks = {study.row_id(t.config): t for t in study.study_tasks()}
    for row, record in records.items():
        assert record.config == tasks[row].config and record.run_id == tasks[row].run_id
        assert record.schema == 2 and record.grid == study.GRID
        study.verdicts.check_record(row, record, "half_sum_sq")  # finished, measured, the batches the history saw


def test_the_measured_runs_trained_exactly_the_report_grids_seed_0_runs():
    """Bit for bit outside timings, where they ran, the grid's name and the measurements."""
    for row, record in study.load_runs(RUNS).items():
        grid_run = read_run(RESULTS / "report" / "runs" / f"{row}-seed0.json")
        ours, theirs = training_outcome(record), training_outcome(grid_run)
        for outcome in (ours, theirs):
            for key in ("schema", "grid", "measurements"):
                outcome.pop(key, None)
        assert ours == theirs, row


def test_committed_unsquared_runs_trained_on_the_unsquared_norm():
    records = study.load_runs(RUNS / study.UNSQUARED_FOLDER)
    assert list(records) == ["mlp1-l2-sigmoid", "mlp1-l2-relu"]
    tasks = {study.row_id(t.config): t for t in study.study_tasks("unsquared")}
    for row, record in records.items():
        assert record.config == tasks[row].config and record.config.loss == "l2_unsquared"
        study.verdicts.check_record(row, record, "half_batch_norm")


def test_committed_markdown_is_what_the_committed_runs_give():
    assert (RESULTS / "l2_loss_check.md").read_text() == study.render_folder(RUNS), (
        "results/l2_loss_check.md differs from what "
        "`python -m mlp_lab.l2_loss_check --report-only --out results/l2_loss_check` writes"
    )
