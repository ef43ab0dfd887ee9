"""The L2-loss check: candidate definitions on hand-computed batches, and the
recording loss leaves training unchanged and sees exactly the training batches.
(The committed results are checked in test_l2_loss_check_results.py.)"""

import math

import numpy as np
import pytest

from mlp_core.gradcheck import check_loss
from mlp_core.losses import L2Loss
from mlp_lab import l2_loss_check as check
from mlp_lab.config import TrainConfig, build_run, train_with_config

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
    assert set(HAND_COMPUTED) == set(check.CANDIDATES)
    assert set(check.CANDIDATE_TITLES) == set(check.CANDIDATE_NAMES)


@pytest.mark.parametrize("name", sorted(HAND_COMPUTED))
def test_candidate_on_a_hand_computed_batch(name):
    assert check.CANDIDATES[name](Y, T) == pytest.approx(HAND_COMPUTED[name], rel=1e-12)


def test_candidates_are_zero_on_a_perfect_output_except_those_that_transform_it():
    y = np.eye(10)[[3, 1, 4, 1, 5]]
    values = check.candidate_values(y, np.array([3, 1, 4, 1, 5]), "relu")
    transformed = {"half_sum_sq_softmax", "half_sum_sq_sigmoid", "half_sum_sq_pm1"}
    assert all(values[n] == 0 for n in check.CANDIDATE_NAMES if n not in transformed)
    assert all(values[n] > 0 for n in transformed)


def test_the_kit_candidate_is_the_kits_loss_and_the_batch_norm_its_root():
    rng = np.random.default_rng(3)
    y, labels = rng.standard_normal((100, 10)), rng.integers(0, 10, 100)
    values = check.candidate_values(y.astype(np.float32), labels, "sigmoid")
    kit = L2Loss()(y, labels)
    assert values["half_sum_sq"] == pytest.approx(kit, rel=1e-6)  # float32 outputs, float64 candidates
    assert values["half_batch_norm"] == pytest.approx(math.sqrt(kit / 200), rel=1e-6)
    assert values["half_sum_sq_hidden_act"] == pytest.approx(values["half_sum_sq_sigmoid"], rel=1e-12)
    relu = check.candidate_values(y, labels, "relu")["half_sum_sq_hidden_act"]
    assert relu == pytest.approx(check.half_sum_sq(np.maximum(y, 0), np.eye(10)[labels]), rel=1e-12)


@pytest.mark.parametrize("objective", sorted(check.OBJECTIVES))
def test_recording_loss_is_the_wrapped_loss_and_records_only_the_first_batches_of_an_epoch(objective):
    rng = np.random.default_rng(0)
    loss_class, candidate = check.OBJECTIVES[objective]
    recorder = check.RecordingLoss(loss_class(), batches_per_epoch=2, hidden_activation="relu")
    plain = loss_class()
    values = []
    for _ in range(3):  # the third call stands for an evaluation batch
        x, labels = rng.standard_normal((5, 10)), rng.integers(0, 10, 5)
        values.append(recorder(x, labels))
        assert values[-1] == plain(x, labels)
        np.testing.assert_array_equal(recorder.backward(), plain.backward())
    batches = recorder.take()
    assert [b[candidate] for b in batches] == pytest.approx(values[:2], rel=1e-12)
    recorder(x, labels)
    with pytest.raises(RuntimeError, match="recorded 1 training batches, expected 2"):
        recorder.take()


def test_unsquared_loss_value_and_gradient():
    loss = check.UnsquaredL2Loss()
    assert loss(Y, LABELS) == pytest.approx(HAND_COMPUTED["half_batch_norm"], rel=1e-12)
    rng = np.random.default_rng(5)
    assert check_loss(loss, rng.standard_normal((6, 4)), np.array([0, 3, 1, 1, 2, 0])) < 1e-6
    # its gradient is the course's (y - t)/B divided by 2 ||Y - T||_F
    np.testing.assert_allclose(loss.backward() * 2 * np.linalg.norm(loss.cache[0]), loss.cache[0] / 6)
    loss(np.eye(3)[[0, 2]], np.array([0, 2]))
    np.testing.assert_array_equal(loss.backward(), np.zeros((2, 3)))  # a perfect fit: no NaN


def synthetic_splits(n_train=250, n_test=200, seed=1):
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((10, 784)).astype(np.float32)
    def split(n):
        labels = rng.integers(0, 10, n)
        return centres[labels] + 0.5 * rng.standard_normal((n, 784)).astype(np.float32), labels
    return {"train": split(n_train), "test": split(n_test)}


def test_unknown_objective_or_loss_is_refused():
    splits = synthetic_splits()
    with pytest.raises(ValueError, match="unknown objective 'l1'"):
        check.train_and_measure(TrainConfig(architecture=[4], loss="l2", max_epochs=1), splits, objective="l1")
    with pytest.raises(ValueError, match="L2 configurations only, got loss 'hinge'"):
        check.train_and_measure(TrainConfig(architecture=[4], loss="hinge", max_epochs=1), splits)


def test_training_on_the_unsquared_norm_records_it_as_the_train_loss():
    config = TrainConfig(architecture=[16], activation="relu", loss="l2", max_epochs=2, patience=None, lr=0.05)
    record = check.train_and_measure(config, synthetic_splits(), objective="unsquared")
    assert record["objective"] == "unsquared"
    during = record["candidates"]["train_during_epoch"]
    assert during["half_batch_norm"] == pytest.approx(record["history"]["train_loss"], rel=1e-5)
    assert during["half_sum_sq"] != pytest.approx(record["history"]["train_loss"], rel=1e-2)


def test_measuring_leaves_training_unchanged_and_agrees_with_the_history():
    config = TrainConfig(architecture=[16], activation="gelu", loss="l2", max_epochs=4, patience=2, lr=0.05)
    splits = synthetic_splits()
    record = check.train_and_measure(config, splits)
    model, loss_fn, optimizer = build_run(config)
    plain = train_with_config(config, model, loss_fn, optimizer, splits, progress=False)
    assert record["history"]["train_loss"] == plain["train_loss"]
    assert record["history"]["test_acc"] == plain["test_acc"]

    # 200 test samples: equal batches of 100, so the mean of batch means is the mean
    kit = {a: record["candidates"][a]["half_sum_sq"] for a in check.AGGREGATIONS}
    assert kit["train_during_epoch"] == pytest.approx(record["history"]["train_loss"], rel=1e-5)
    assert kit["test_after_epoch"] == pytest.approx(record["history"]["test_loss"], rel=1e-5)
    # 250 samples = 3 batches, all within the last 50: the window is the whole epoch
    assert kit["train_last_window"] == kit["train_during_epoch"]
    epochs = record["stop_epoch"]
    assert all(len(v) == epochs for a in check.AGGREGATIONS for v in record["candidates"][a].values())
    # the whole-train-set value exists at the best and at the last epoch, and only
    # where the test accuracy rose or training ended
    after = kit["train_after_epoch"]
    assert after[record["best_epoch"] - 1] is not None and after[-1] is not None
    best_so_far = -1.0
    for epoch, (acc, value) in enumerate(zip(record["history"]["test_acc"], after), 1):
        assert (value is not None) == (acc > best_so_far or epoch == epochs)
        best_so_far = max(best_so_far, acc)


def test_report_numbers_are_the_reports_l2_rows():
    assert sorted(check.REPORT_L2) == [f"mlp{d}-l2-{a}" for d in (1, 2) for a in ("gelu", "relu", "sigmoid")]
    assert check.REPORT_L2["mlp1-l2-sigmoid"] == {"test_acc": 95.94, "test_loss": 0.0155, "train_acc": 96.22,
                                                 "train_loss": 0.0156}
    assert check.REPORT_L2["mlp2-l2-relu"]["train_loss"] == 0.0065


def test_unknown_config_id_is_refused(capsys):
    with pytest.raises(SystemExit):
        check.main(["--only", "mlp3-l2-relu", "--report-only"])
    assert "unknown config id(s) ['mlp3-l2-relu']" in capsys.readouterr().err


def test_render_refuses_an_empty_folder(tmp_path):
    with pytest.raises(ValueError, match="no run records"):
        check.render_markdown(check.load_records(tmp_path), "x")



def fake_record(cid, factors, train_accs=(0.5, 0.9, 0.99)):
    """A run of three epochs, best epoch 2, whose every candidate at every epoch
    and in every aggregation is the report's number times ``factors[name]``."""
    report = check.REPORT_L2[cid]
    epochs = len(train_accs)
    def series(name, metric):
        return [report[metric] * factors.get(name, 3.0)] * epochs
    return {
        "config_id": cid, "best_epoch": 2, "stop_epoch": epochs, "wall_seconds": 60.0,
        "history": {"train_acc": list(train_accs), "test_acc": [0.5, 0.9, 0.8],
                    "train_loss": [1.0] * epochs, "test_loss": [1.0] * epochs},
        "candidates": {
            aggregation: {name: series(name, "test_loss" if aggregation.startswith("test") else "train_loss")
                          for name in check.CANDIDATE_NAMES}
            for aggregation in check.AGGREGATIONS
        },
    }


def test_markdown_names_the_candidate_that_matches_and_only_it():
    records = {cid: fake_record(cid, {"mean_sq": 1.05}) for cid in check.REPORT_L2}
    text = check.render_markdown(records, "runs")
    assert f"1 of {len(check.CANDIDATE_NAMES)} candidates matches: {check.CANDIDATE_TITLES['mean_sq']}." in text
    assert text.count("| **yes** |") == 1
    assert "12 of 12 | 0.05 | **yes** |" in text


def test_markdown_says_when_no_candidate_matches_and_names_the_outlier():
    factors = {"half_batch_norm": 1.0}
    records = {cid: fake_record(cid, factors) for cid in check.REPORT_L2}
    records["mlp2-l2-relu"]["candidates"]["train_during_epoch"]["half_batch_norm"][1] *= 0.8
    text = check.render_markdown(records, "runs")
    assert f"None of the {len(check.CANDIDATE_NAMES)} candidates matches all 12 numbers at our best epoch." in text
    assert "11 of 12 numbers within ±10%, the exception mlp2-l2-relu train (0.80)" in text


def test_epoch_choices():
    record = fake_record("mlp1-l2-relu", {}, train_accs=(0.5, 0.98, 0.9889, 0.995))
    assert check.chosen_epoch(record, "best") == 2
    assert check.chosen_epoch(record, "final") == 4
    assert check.chosen_epoch(record, "train_acc") == 3  # the report's 98.88 %
    with pytest.raises(ValueError, match="unknown epoch choice 'last'"):
        check.chosen_epoch(record, "last")
    assert check.within({"a": (1.05, 0.85), "b": (1.0, 1.2)}) == 2
    assert check.worst_deviation({"a": (1.05, 0.85), "b": (1.0, 1.2)}) == pytest.approx(0.2)


def with_report_accuracies(record, cid):
    """The record with its best epoch's accuracies set to the report's."""
    report = check.REPORT_L2[cid]
    record["history"]["test_acc"][1] = report["test_acc"] / 100
    record["history"]["train_acc"][1] = report["train_acc"] / 100
    return record


def test_report_fit_counts_accuracies_and_printed_losses():
    cid = "mlp1-l2-sigmoid"
    assert check.report_fit(with_report_accuracies(fake_record(cid, {"half_batch_norm": 1.0}), cid), cid) == 4
    assert check.report_fit(with_report_accuracies(fake_record(cid, {"half_batch_norm": 1.2}), cid), cid) == 2
    assert check.report_fit(fake_record(cid, {"half_batch_norm": 1.0}), cid) == 2  # accuracies 90 % and 90 %


def test_unsquared_section_concludes_only_when_every_row_tells_the_two_apart():
    cids = ["mlp1-l2-sigmoid", "mlp1-l2-relu"]
    course = {cid: with_report_accuracies(fake_record(cid, {"half_batch_norm": 1.0}), cid) for cid in check.REPORT_L2}
    unsquared = {cid: fake_record(cid, {"half_batch_norm": 1.0}) for cid in cids}
    text = check.render_markdown(course, "runs", unsquared)
    assert "only the course gradient reproduces all four of the report's numbers" in text
    assert text.count("| 4 of 4 |") == 2 and text.count("| 2 of 4 |") == 2
    unsquared["mlp1-l2-relu"] = with_report_accuracies(unsquared["mlp1-l2-relu"], "mlp1-l2-relu")
    text = check.render_markdown(course, "runs", unsquared)
    assert "The runs do not tell the two apart in every row (1 of 2 do)." in text
