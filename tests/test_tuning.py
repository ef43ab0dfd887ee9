"""The tuning grids of notebook 06: their runs' ids, their measure, and their report (tuning.md, tuning.csv)."""

from __future__ import annotations

import numpy as np
import pytest

from mlp_core.training import History
from mlp_lab.cli import main
from mlp_lab.config import TrainConfig
from mlp_lab.experiments import GRIDS, MEASURES, VARIED, TrainingFit, config_id, make_grid, run_grid
from mlp_lab.records import RunRecord
from mlp_lab.tuning import chosen, tuning_grid, tuning_markdown, tuning_table, write_tuning_report


def test_a_tuning_grid_s_settings_enter_its_run_ids_and_no_other_grid_s():
    tasks = make_grid("lr-momentum", 2)
    assert len(tasks) == 48 and len({t.run_id for t in tasks}) == 48
    assert "mlp1-cross_entropy-relu-lr0.05-momentum0.9-seed1" in {t.run_id for t in tasks}
    assert "h-cross_entropy-relu-lr0.001-momentum0-seed0" in {t.run_id for t in tasks}  # softmax regression
    regularisation = make_grid("regularisation")
    assert [t.run_id for t in regularisation][:2] == ["mlp1-cross_entropy-relu-weight_decay0-dropout0-seed0",
                                                      "mlp1-cross_entropy-relu-weight_decay0-dropout0.2-seed0"]
    assert {t.config.dropout for t in regularisation} == {0.0, 0.2, 0.5}
    assert make_grid("report")[0].run_id == "mlp1-l2-sigmoid-seed0"  # the committed grids' ids as they were
    assert config_id(TrainConfig(lr=0.0001), ("lr",)) == "mlp1-cross_entropy-relu-lr0.0001"
    assert set(VARIED) <= set(GRIDS) and set(MEASURES) == set(VARIED)


def test_a_tuning_grid_chooses_on_the_validation_split_and_never_stops_early():
    for name in VARIED:
        for task in make_grid(name):
            config = task.config
            assert config.monitor == "val_acc" and config.val_size == 10000
            assert config.patience == config.max_epochs
            config.validate()


def test_only_matches_the_ids_with_their_settings():
    kept = make_grid("lr-momentum", only=["lr0.05-momentum0.9"])
    assert [t.config_id for t in kept] == ["mlp1-cross_entropy-relu-lr0.05-momentum0.9",
                                          "h-cross_entropy-relu-lr0.05-momentum0.9"]


def tiny_splits(seed=0):
    rng = np.random.default_rng(seed)

    def split(n):
        return rng.standard_normal((n, 784)).astype(np.float32), rng.integers(0, 10, n)

    return {"train": split(300), "val": split(100), "test": split(100)}


def test_the_measure_evaluates_the_training_images_in_evaluation_mode():
    splits = tiny_splits()
    task = make_grid("regularisation", only=["weight_decay0-dropout0.5"], max_epochs=2)[0]
    outcome = run_grid([task], None, splits=splits, measure=TrainingFit(120), progress=False, log=lambda line: None)
    record = outcome.records[task.run_id]
    assert len(record.measurements) == 3 and set(record.measurements[0]) == {"train_fit_loss", "train_fit_acc"}
    # without the measure, the same run: measuring (in evaluation mode) draws no dropout mask
    plain = run_grid([task], None, splits=splits, progress=False, log=lambda line: None).records[task.run_id]
    assert plain.history.metrics["train_loss"] == record.history.metrics["train_loss"]
    from mlp_core import evaluate, get_loss
    from mlp_lab.config import build_run

    model, loss_fn, _ = build_run(task.config)
    expected = evaluate(model.eval(), get_loss("cross_entropy"), splits["train"][0][:120], splits["train"][1][:120])
    assert record.measurements[0]["train_fit_acc"] == pytest.approx(expected[1])
    assert record.measurements[0]["train_fit_loss"] == pytest.approx(expected[0])


def fake_record(arch, lr, momentum, seed, val, test, fit, status="ok") -> RunRecord:
    config = TrainConfig(architecture=arch, lr=lr, momentum=momentum, seed=seed, monitor="val_acc", max_epochs=3,
                         patience=3)
    history = History(monitor="val_acc", best_epoch=2)
    for epoch in (1, 2, 3):
        history.append({"epoch": epoch, "train_acc": 0.5, "val_acc": val - (epoch != 2) * 0.01,
                        "test_acc": test - (epoch != 2) * 0.01, "train_seconds": 1.0})
    fid = config_id(config, VARIED["lr-momentum"])
    return RunRecord.from_history(
        run_id=f"{fid}-seed{seed}", config_id=fid, grid="lr-momentum", config=config, status=status,
        error=None if status == "ok" else "diverged", history=history if status == "ok" else None,
        wall_seconds=3.0, started_at=None, finished_at=None, versions=None, host=None,
        measurements=[{"train_fit_acc": 0.1}, {"train_fit_acc": fit - 0.01}, {"train_fit_acc": fit},
                      {"train_fit_acc": fit}] if status == "ok" else [])


RECORDS = [
    fake_record("mlp1", 0.01, 0.9, 0, 0.97, 0.96, 0.99), fake_record("mlp1", 0.01, 0.9, 1, 0.95, 0.96, 0.98),
    fake_record("mlp1", 0.2, 0.9, 0, 0.98, 0.90, 1.0), fake_record("mlp1", 0.2, 0.9, 1, 0, 0, 0, status="diverged"),
    fake_record([], 0.01, 0.9, 0, 0.92, 0.995, 0.93),
]


def test_the_table_averages_each_setting_s_seeds_at_their_best_epochs():
    rows = tuning_table(RECORDS, VARIED["lr-momentum"])
    assert [(r["network"], r["lr"], r["runs"], r["diverged"]) for r in rows] == [
        ("MLP1", 0.01, 2, 0), ("MLP1", 0.2, 2, 1), ("softmax regression", 0.01, 1, 0)]
    first = rows[0]
    assert first["val_acc_mean"] == pytest.approx(96.0) and first["val_acc_std"] == pytest.approx(np.std([97, 95],
                                                                                                         ddof=1))
    assert first["train_fit_acc_mean"] == pytest.approx(98.5) and first["gap_mean"] == pytest.approx(2.5)
    assert first["best_epoch_mean"] == 2 and rows[1]["val_acc_std"] is None


def test_the_choice_is_the_validation_split_s_never_the_test_set_s():
    rows = tuning_table(RECORDS, VARIED["lr-momentum"])
    assert chosen(rows, "MLP1")["lr"] == 0.2  # best on validation (98 %), although its test accuracy is the worst
    assert chosen(rows, "softmax regression")["lr"] == 0.01
    text = tuning_markdown(RECORDS, "lr-momentum")
    assert "- MLP1: the validation split chooses lr 0.2, momentum 0.9 (98.00 % validation accuracy); " \
           "its test accuracy: 90.00 %." in text
    assert "| MLP1 | 0.2 | 0.9 | 2 | 1 | 100.00 | 98.00 | 90.00 | +2.00 | 2.0 |" in text


def test_the_report_command_writes_the_tuning_tables_for_a_tuning_grid_s_folder(tmp_path, capsys):
    (tmp_path / "runs").mkdir()
    for record in RECORDS:
        record.save(tmp_path / "runs" / f"{record.run_id}.json")
    assert tuning_grid(RECORDS) == "lr-momentum"
    assert main(["report", str(tmp_path)]) == 0
    assert "tuning.md" in capsys.readouterr().out
    assert (tmp_path / "tuning.md").read_text() == tuning_markdown(sorted(RECORDS, key=RunRecord.sort_key),
                                                                  "lr-momentum")
    assert (tmp_path / "tuning.csv").read_text().splitlines()[0].startswith("network,lr,momentum,runs,diverged,")
    assert not (tmp_path / "results.md").exists()
    assert write_tuning_report(tmp_path) == [tmp_path / "tuning.csv", tmp_path / "tuning.md"]


def test_a_folder_of_another_grid_is_no_tuning_grid(tmp_path):
    record = RECORDS[0]
    other = RunRecord(**{**record.__dict__, "grid": "report"})
    assert tuning_grid([other]) is None and tuning_grid(RECORDS + [other]) is None
    (tmp_path / "runs").mkdir()
    other.save(tmp_path / "runs" / "x.json")
    with pytest.raises(ValueError, match="tuning grid"):
        write_tuning_report(tmp_path)


def test_reproduce_trains_a_tuning_grid_with_its_measure_and_writes_its_table(tmp_path, monkeypatch):
    from tests._mnist import require_mnist

    out = tmp_path / "grid"
    assert main(["reproduce", "--grid", "lr-momentum", "--only", "lr0.05-momentum0.9", "--epochs", "1",
                 "--train-subset", "500", "--test-subset", "200", "--workers", "0", "--no-progress",
                 "--data-dir", str(require_mnist()), "--out", str(out)]) == 0
    record = RunRecord.from_json((out / "runs" / "mlp1-cross_entropy-relu-lr0.05-momentum0.9-seed0.json").read_text())
    assert record.schema == 2 and set(record.measurements[1]) == {"train_fit_loss", "train_fit_acc"}
    assert "the validation split chooses lr 0.05, momentum 0.9" in (out / "tuning.md").read_text()
