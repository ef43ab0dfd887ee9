"""The L2 loss study: candidate definitions on hand-computed batches, the measure (it leaves training
unchanged and sees exactly the training batches), the lab's unsquared loss, the verdicts on made-up
runs and the Markdown written from them. (The committed results: test_l2_loss_check_results.py.)"""

import math

import numpy as np
import pytest

from mlp_core.gradcheck import check_loss
from mlp_core.losses import L2Loss
from mlp_core.training import History
from mlp_lab import l2_loss_check as study
from mlp_lab.config import TrainConfig
from mlp_lab.experiments import Task, train_run
from mlp_lab.losses import UnsquaredL2Loss, get_loss
from mlp_lab.records import RunRecord

# Two samples, two classes: y = [[1, 2], [0, 0]], labels [0, 1] -> t = [[1, 0], [0, 1]],
# y - t = [[0, 2], [0, -1]]: squared entries 0, 4, 0, 1 (sum 5), row norms 2 and 1.
Y = np.array([[1.0, 2.0], [0.0, 0.0]])
LABELS = np.array([0, 1])
T = np.array([[1.0, 0.0], [0.0, 1.0]])


def sig(v):
    return 1 / (1 + math.exp(-v))


HAND_COMPUTED = {
    "half_sum_sq": 5 / (2 * 2),
    "half_mean_sq": 5 / (2 * 4),
    "mean_sq": 5 / 4,
    "sum_sq": 5 / 2,
    "half_batch_sum_sq": 5 / 2,
    # targets [[1, -1], [-1, 1]]: y - t = [[0, 3], [1, -1]] -> 0 + 9 + 1 + 1
    "half_sum_sq_pm1": 11 / (2 * 2),
    # clip(y, 0, 1) = [[1, 1], [0, 0]]: y - t = [[0, 1], [0, -1]]
    "half_sum_sq_clipped": 2 / (2 * 2),
    "half_sample_norm": 0.5 * (2 + 1) / 2,
    "half_batch_norm": 0.5 * math.sqrt(5) / 2,
    "root_mean_sq": math.sqrt(5 / 4),
    # softmax rows: [1/(1+e), e/(1+e)] and [1/2, 1/2]
    "half_sum_sq_softmax": ((1 / (1 + math.e) - 1) ** 2 + (math.e / (1 + math.e)) ** 2 + 0.25 + 0.25) / (2 * 2),
    "half_sum_sq_sigmoid": ((sig(1) - 1) ** 2 + sig(2) ** 2 + 0.25 + 0.25) / (2 * 2),
}


def test_every_candidate_has_a_hand_computed_case_and_a_title():
    assert set(HAND_COMPUTED) == set(study.CANDIDATES)
    assert set(study.CANDIDATE_TITLES) == set(study.CANDIDATE_NAMES)


@pytest.mark.parametrize("name", sorted(HAND_COMPUTED))
def test_candidate_on_a_hand_computed_batch(name):
    assert study.CANDIDATES[name](Y, T) == pytest.approx(HAND_COMPUTED[name], rel=1e-12)


def test_candidates_are_zero_on_a_perfect_output_except_those_that_transform_it():
    y = np.eye(10)[[3, 1, 4, 1, 5]]
    values = study.candidate_values(y, np.array([3, 1, 4, 1, 5]), "relu")
    transformed = {"half_sum_sq_softmax", "half_sum_sq_sigmoid", "half_sum_sq_pm1"}
    assert all(values[n] == 0 for n in study.CANDIDATE_NAMES if n not in transformed)
    assert all(values[n] > 0 for n in transformed)


def test_the_kit_candidate_is_the_kits_loss_and_the_batch_norm_its_root():
    rng = np.random.default_rng(3)
    y, labels = rng.standard_normal((100, 10)), rng.integers(0, 10, 100)
    values = study.candidate_values(y.astype(np.float32), labels, "sigmoid")
    kit = L2Loss()(y, labels)
    assert values["half_sum_sq"] == pytest.approx(kit, rel=1e-6)  # float32 outputs, float64 candidates
    assert values["half_batch_norm"] == pytest.approx(math.sqrt(kit / 200), rel=1e-6)
    assert values["half_sum_sq_hidden_act"] == pytest.approx(values["half_sum_sq_sigmoid"], rel=1e-12)
    relu = study.candidate_values(y, labels, "relu")["half_sum_sq_hidden_act"]
    assert relu == pytest.approx(study.CANDIDATES["half_sum_sq"](np.maximum(y, 0), np.eye(10)[labels]), rel=1e-12)


@pytest.mark.parametrize("loss_name, candidate", [("l2", "half_sum_sq"), ("l2_unsquared", "half_batch_norm")])
def test_the_watched_loss_is_the_loss_and_counts_only_the_batches_it_gives_a_gradient(loss_name, candidate):
    rng = np.random.default_rng(0)
    watched, plain = study.WatchedLoss(get_loss(loss_name), "relu"), get_loss(loss_name)
    values = []
    for _ in range(2):  # two training batches
        x, labels = rng.standard_normal((5, 10)), rng.integers(0, 10, 5)
        values.append(watched(x, labels))
        assert values[-1] == plain(x, labels)
        np.testing.assert_array_equal(watched.backward(), plain.backward())
    watched(rng.standard_normal((5, 10)), rng.integers(0, 10, 5))  # an evaluation batch: forward only
    batches = watched.take()
    assert [b[candidate] for b in batches] == pytest.approx(values, rel=1e-12)
    assert watched.take() == []


def test_the_unsquared_loss_value_and_gradient():
    loss = UnsquaredL2Loss()
    assert loss(Y, LABELS) == pytest.approx(HAND_COMPUTED["half_batch_norm"], rel=1e-12)
    rng = np.random.default_rng(5)
    x, labels = rng.standard_normal((6, 4)), np.array([0, 3, 1, 1, 2, 0])
    assert check_loss(loss, x, labels) < 1e-6
    # its gradient is the course's (y - t)/B divided by 2 ||Y - T||_F
    loss(x, labels)
    residual = x - np.eye(4)[labels]
    np.testing.assert_allclose(loss.backward() * 2 * np.linalg.norm(residual), residual / 6)
    loss(np.eye(3)[[0, 2]], np.array([0, 2]))
    np.testing.assert_array_equal(loss.backward(), np.zeros((2, 3)))  # a perfect fit: no NaN


def test_a_config_can_name_the_lab_loss_and_an_unknown_name_lists_both_kinds():
    assert isinstance(get_loss("l2_unsquared"), UnsquaredL2Loss)
    TrainConfig(loss="l2_unsquared").validate()
    with pytest.raises(ValueError, match="choose one of: l2, cross_entropy, hinge, or the lab's l2_unsquared"):
        TrainConfig(loss="l1").validate()
    with pytest.raises(ValueError, match="hinge margin must be positive"):
        TrainConfig(loss="hinge", margin=0.0).validate()


def synthetic_splits(n_train=250, n_test=200, seed=1):
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((10, 784)).astype(np.float32)

    def split(n):
        labels = rng.integers(0, 10, n)
        return centres[labels] + 0.5 * rng.standard_normal((n, 784)).astype(np.float32), labels

    return {"train": split(n_train), "test": split(n_test)}


def measured_run(loss="l2", **fields):
    config = TrainConfig(architecture=[16], activation="gelu", loss=loss, lr=0.05, **fields)
    splits = synthetic_splits()
    _, record = train_run(Task("run", config), splits=splits, measure=study.CandidateMeasure(), recorded=())
    _, plain = train_run(Task("run", config), splits=splits, recorded=())
    return record, plain


def test_measuring_leaves_training_unchanged_and_agrees_with_the_history():
    record, plain = measured_run(max_epochs=4, patience=2)
    for metric in ("train_loss", "train_acc", "test_loss", "test_acc"):
        assert record.metric_curve(metric) == plain.metric_curve(metric)
    assert record.measurements[0] is None and len(record.measurements) == record.stop_epoch + 1
    kit = [study.numbers(record, "half_sum_sq", e) for e in range(1, record.stop_epoch + 1)]
    assert [k["train_during_epoch"] for k in kit] == pytest.approx(record.metric_curve("train_loss"), rel=1e-5)
    # 200 test samples: equal batches of 100, so the mean of batch means is the mean
    assert [k["test_after_epoch"] for k in kit] == pytest.approx(record.metric_curve("test_loss"), rel=1e-5)
    # 250 samples = 3 batches, all within the last 50: the window is the whole epoch
    assert all(k["train_last_window"] == k["train_during_epoch"] for k in kit)
    assert all(k["train_after_epoch"] > 0 for k in kit)
    study.verdicts.check_record("mlp1-l2-gelu", record, "half_sum_sq")


def test_training_on_the_unsquared_norm_records_it_as_the_train_loss():
    record, _ = measured_run(loss="l2_unsquared", max_epochs=2, patience=None)
    during = [study.numbers(record, c, 2)["train_during_epoch"] for c in ("half_batch_norm", "half_sum_sq")]
    assert during[0] == pytest.approx(record.metric_curve("train_loss")[1], rel=1e-5)
    assert during[1] != pytest.approx(record.metric_curve("train_loss")[1], rel=1e-2)
    assert study.row_id(record.config) == "h16-l2-gelu"
    study.verdicts.check_record("h16-l2-gelu", record, "half_batch_norm")
    with pytest.raises(ValueError, match="the measure did not see the batches the training loop averaged"):
        study.verdicts.check_record("h16-l2-gelu", record, "half_sum_sq")


def test_the_study_trains_the_l2_grid_on_each_objective():
    course, unsquared = study.study_tasks(), study.study_tasks("unsquared", only=["mlp2-l2-relu"])
    assert [t.config_id for t in course] == list(study.REPORT_L2)
    assert [t.config_id for t in unsquared] == ["mlp2-l2_unsquared-relu"]
    assert [study.row_id(t.config) for t in unsquared] == ["mlp2-l2-relu"]
    with pytest.raises(ValueError, match="unknown objective 'l1'"):
        study.study_tasks("l1")


def test_report_numbers_are_the_reports_l2_rows():
    assert sorted(study.REPORT_L2) == [f"mlp{d}-l2-{a}" for d in (1, 2) for a in ("gelu", "relu", "sigmoid")]
    assert study.REPORT_L2["mlp1-l2-sigmoid"] == {"test_acc": 95.94, "test_loss": 0.0155, "train_acc": 96.22,
                                                 "train_loss": 0.0156}
    assert study.REPORT_L2["mlp2-l2-relu"]["train_loss"] == 0.0065


def test_the_command_refuses_an_unknown_row_in_one_line(capsys):
    with pytest.raises(SystemExit) as exc:
        study.main(["--only", "mlp3-l2-relu", "--report-only"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "unknown config id(s) ['mlp3-l2-relu']" in err and err.count("\n") == 1


def test_decide_refuses_no_runs_and_an_empty_folder_says_so(tmp_path, capsys):
    with pytest.raises(ValueError, match="no run records"):
        study.decide({})
    assert study.main(["--report-only", "--out", str(tmp_path / "x")]) == 1
    assert "no run records to compare; train first" in capsys.readouterr().err


def fake_record(row, factors, train_accs=(0.5, 0.9, 0.99), loss="l2"):
    """A run of three epochs, best epoch 2, whose every candidate at every epoch and in every
    aggregation is the reference's number times ``factors[name]`` (3 by default); the train loss
    of its history is what the measure saw of the loss it trained on."""
    report = study.REPORT_L2[row]
    epochs = len(train_accs)
    trained_on = "half_sum_sq" if loss == "l2" else "half_batch_norm"
    history = History(monitor="test_acc", best_epoch=2)
    for e, train_acc in enumerate(train_accs, 1):
        history.append({"epoch": e, "train_loss": report["train_loss"] * factors.get(trained_on, 3.0),
                        "train_acc": train_acc, "test_loss": 1.0, "test_acc": [0.5, 0.9, 0.8, 0.7][e - 1]})
    measurement = {a: {n: report["test_loss" if a.startswith("test") else "train_loss"] * factors.get(n, 3.0)
                       for n in study.CANDIDATE_NAMES} for a in study.AGGREGATIONS}
    depth, _, act = row.split("-")
    config = TrainConfig(architecture=depth, activation=act, loss=loss)
    return RunRecord.from_history(
        run_id=f"{row}-seed0", config_id=row, grid="l2-loss-check", config=config, status="ok", error=None,
        history=history, wall_seconds=60.0, started_at=None, finished_at=None, versions=None, host=None,
        measurements=[None] + [{a: dict(v) for a, v in measurement.items()} for _ in range(epochs)],
    )


def test_the_candidate_that_matches_is_named_and_only_it():
    records = {row: fake_record(row, {"mean_sq": 1.05}) for row in study.REPORT_L2}
    verdicts = study.decide(records)
    assert verdicts.matching == ["mean_sq"] and verdicts.closest == "mean_sq"
    text = study.write(verdicts, "runs")
    assert f"1 of {len(study.CANDIDATE_NAMES)} candidates matches: {study.CANDIDATE_TITLES['mean_sq']}." in text
    assert text.count("| **yes** |") == 1
    assert "12 of 12 | 0.05 | **yes** |" in text


def test_when_no_candidate_matches_the_answer_names_the_closest_and_its_outlier():
    records = {row: fake_record(row, {"half_batch_norm": 1.0}) for row in study.REPORT_L2}
    records["mlp2-l2-relu"].measurements[2]["train_during_epoch"]["half_batch_norm"] *= 0.8
    verdicts = study.decide(records)
    assert verdicts.matching == [] and verdicts.closest == "half_batch_norm"
    assert verdicts.outliers() == [("mlp2-l2-relu", "train", pytest.approx(0.8))]
    text = study.write(verdicts, "runs")
    assert f"None of the {len(study.CANDIDATE_NAMES)} candidates matches all 12 numbers at our best epoch." in text
    assert "11 of 12 numbers within ±10%, the exception mlp2-l2-relu train (0.80)" in text
    assert "## Why the kit/report ratio differed per row" in text  # the batch norm is the closest


def test_epoch_choices_and_counting():
    record = fake_record("mlp1-l2-relu", {}, train_accs=(0.5, 0.98, 0.9889, 0.995))
    assert study.chosen_epoch("mlp1-l2-relu", record, "best") == 2
    assert study.chosen_epoch("mlp1-l2-relu", record, "final") == 4
    assert study.chosen_epoch("mlp1-l2-relu", record, "train_acc") == 3  # the reference's 98.88 %
    with pytest.raises(ValueError, match="unknown epoch choice 'last'"):
        study.chosen_epoch("mlp1-l2-relu", record, "last")
    assert study.within({"a": (1.05, 0.85), "b": (1.0, 1.2)}) == 2
    assert study.worst_deviation({"a": (1.05, 0.85), "b": (1.0, 1.2)}) == pytest.approx(0.2)


def with_report_accuracies(record, row):
    """The record with its best epoch's accuracies set to the reference's."""
    report = study.REPORT_L2[row]
    record.history.metrics["test_acc"][1] = report["test_acc"] / 100
    record.history.metrics["train_acc"][1] = report["train_acc"] / 100
    return record


def test_report_fit_counts_accuracies_within_the_kits_tolerance_and_printed_losses():
    row = "mlp1-l2-sigmoid"
    assert study.report_fit(row, with_report_accuracies(fake_record(row, {"half_batch_norm": 1.0}), row)) == 4
    assert study.report_fit(row, with_report_accuracies(fake_record(row, {"half_batch_norm": 1.2}), row)) == 2
    assert study.report_fit(row, fake_record(row, {"half_batch_norm": 1.0})) == 2  # accuracies 90 % and 90 %
    near = with_report_accuracies(fake_record(row, {"half_batch_norm": 1.0}), row)
    near.history.metrics["test_acc"][1] += 0.0049  # 0.49 pp: within mlp_lab.reference.TOLERANCE_PP
    assert study.report_fit(row, near) == 4
    near.history.metrics["test_acc"][1] += 0.0002  # 0.51 pp
    assert study.report_fit(row, near) == 3


def test_the_unsquared_section_concludes_only_when_every_row_tells_the_two_apart():
    rows = ["mlp1-l2-sigmoid", "mlp1-l2-relu"]
    course = {row: with_report_accuracies(fake_record(row, {"half_batch_norm": 1.0}), row) for row in study.REPORT_L2}
    unsquared = {row: fake_record(row, {"half_batch_norm": 1.0}, loss="l2_unsquared") for row in rows}
    text = study.write(study.decide(course, unsquared), "runs")
    assert "only the course gradient reproduces all four of the report's numbers" in text
    assert text.count("| 4 of 4 |") == 2 and text.count("| 2 of 4 |") == 2
    unsquared["mlp1-l2-relu"] = with_report_accuracies(unsquared["mlp1-l2-relu"], "mlp1-l2-relu")
    text = study.write(study.decide(course, unsquared), "runs")
    assert "The runs do not tell the two apart in every row (1 of 2 do)." in text


def test_decide_refuses_a_run_that_failed_or_was_not_measured():
    record = fake_record("mlp1-l2-relu", {})
    record.status, record.error = "failed", "KeyError: boom\ntraceback"
    with pytest.raises(ValueError, match=r"mlp1-l2-relu: the run failed \(KeyError: boom\)"):
        study.decide({"mlp1-l2-relu": record})
    record = fake_record("mlp1-l2-relu", {})
    record.measurements = None
    with pytest.raises(ValueError, match="no candidate measurements"):
        study.decide({"mlp1-l2-relu": record})


def test_the_gap_that_started_the_study_comes_from_the_report_grid():
    """kit/reference test-loss ratio (mean over seeds) and the seeds' spread, from grid records."""
    def grid_run(row, seed, test_loss, train_loss):
        history = History(monitor="test_acc", best_epoch=1)
        history.append({"epoch": 1, "test_loss": test_loss, "train_loss": train_loss, "test_acc": 0.9})
        depth, loss, act = row.split("-")
        return RunRecord.from_history(
            run_id=f"{row}-seed{seed}", config_id=row, grid="report", config=TrainConfig(architecture=depth,
            activation=act, loss=loss, seed=seed), status="ok", error=None, history=history, wall_seconds=1.0,
            started_at=None, finished_at=None, versions=None, host=None)

    ref = study.REPORT_L2
    grid = [grid_run("mlp1-l2-relu", s, 2 * ref["mlp1-l2-relu"]["test_loss"] * f, 1.0) for s, f in ((0, 0.9), (1, 1.1))]
    grid += [grid_run("mlp1-l2-gelu", 0, 3 * ref["mlp1-l2-gelu"]["test_loss"], 1.0)]
    grid += [grid_run("mlp1-hinge-relu", 0, 99.0, 1.0)]  # not an L2 row: left out
    gap, spread = study.verdicts.grid_facts(grid)
    assert gap == (pytest.approx(2.0), pytest.approx(3.0))
    assert spread == pytest.approx(100 * np.std([0.9, 1.1], ddof=1))  # the two mlp1-l2-relu seeds' test losses
    records = {row: fake_record(row, {"half_batch_norm": 1.0}) for row in study.REPORT_L2}
    assert "were 2.0-3.0x the report's" in study.write(study.decide(records, grid=grid), "runs")
    assert "were larger than the report's" in study.write(study.decide(records), "runs")
