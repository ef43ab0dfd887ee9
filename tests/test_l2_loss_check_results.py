"""The committed L2-loss check (results/l2_loss_check.md) is what its committed
runs (results/l2_loss_check/*.json, and trained_on_unsquared/*.json) give: the
six L2 configurations at the report's settings, and a Markdown nobody edited by hand. The student release
leaves results/ out, hence instructor-only.
"""
# instructor-only

from pathlib import Path

from mlp_lab import l2_loss_check as check

RESULTS = Path(__file__).resolve().parents[1] / "results"
RUNS = RESULTS / "l2_loss_check"


def test_committed_runs_are_the_six_l2_configurations():
    records = check.load_records(RUNS)
    assert set(records) == set(check.REPORT_L2), "results/l2_loss_check/ should hold the six L2 runs"
    expected = {check.config_id(c): c.to_dict() for c in check.l2_configs()}
    for cid, record in records.items():
        assert record["config"] == expected[cid]
        # the six course runs were written before records had an "objective" field
        assert record.get("objective", "course") == "course"
        assert all(len(values) == record["stop_epoch"]
                   for by_candidate in record["candidates"].values() for values in by_candidate.values())


def test_committed_unsquared_runs_trained_on_the_unsquared_norm():
    records = check.load_records(RUNS / check.UNSQUARED_FOLDER)
    assert set(records) == {"mlp1-l2-sigmoid", "mlp1-l2-relu"}
    expected = {check.config_id(c): c.to_dict() for c in check.l2_configs()}
    for cid, record in records.items():
        assert record["config"] == expected[cid] and record["objective"] == "unsquared"


def test_committed_markdown_is_what_the_committed_runs_give():
    written = check.render_folder(RUNS)
    assert (RESULTS / "l2_loss_check.md").read_text() == written, (
        "results/l2_loss_check.md differs from what "
        "`python -m mlp_lab.l2_loss_check --report-only --out results/l2_loss_check` writes"
    )
