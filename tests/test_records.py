"""RunRecord: the run JSON as a type (tests/test_committed_results.py round-trips every committed run)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from mlp_core.training import History
from mlp_lab.cli import main
from mlp_lab.config import TrainConfig
from mlp_lab.records import RUN_SCHEMA, RunRecord, first_difference, load_results, read_run, training_outcome
from tests._mnist import REPO

def history(test_acc: list[float], best_epoch: int | None, seconds: float = 2.0) -> History:
    h = History(monitor="test_acc", best_epoch=best_epoch)
    for epoch, acc in enumerate(test_acc, 1):
        h.append({"epoch": epoch, "test_acc": acc, "test_loss": 1 - acc, "train_seconds": seconds * epoch})
    return h


def record(**changes) -> RunRecord:
    fields = dict(run_id="mlp1-l2-relu-seed3", config_id="mlp1-l2-relu", grid="report",
                  config=TrainConfig(loss="l2", seed=3), status="ok", error=None,
                  history=history([0.9, 0.95, 0.93], best_epoch=2), wall_seconds=9.5,
                  started_at="2026-01-01T00:00:00+00:00", finished_at="2026-01-01T00:00:10+00:00",
                  versions={"numpy": "2"}, host="here")
    fields.update(changes)
    return RunRecord.from_history(**fields)


def test_the_summary_fields_follow_from_the_history():
    r = record()
    assert (r.schema, r.seed, r.status, r.epochs_run, r.stop_epoch, r.best_epoch) == (RUN_SCHEMA, 3, "ok", 3, 3, 2)
    assert r.best == {"epoch": 2, "test_acc": 0.95, "test_loss": pytest.approx(0.05), "train_seconds": 4.0}
    assert r.final["test_acc"] == 0.93
    assert r.seconds_per_epoch == 4.0 and r.train_seconds == 12.0
    assert (r.depth, r.loss, r.activation) == (1, "l2", "relu")
    assert r["status"] == r.get("status") == "ok" and r.get("nothing", 7) == 7
    with pytest.raises(KeyError):
        r["nothing"]
    # Without early stopping the best epoch is the last one; a run that did not finish has none.
    assert record(history=history([0.9, 0.95], best_epoch=None)).best_epoch == 2
    diverged = record(status="diverged", error="training diverged", history=history([0.5], best_epoch=None))
    assert diverged.best_epoch is None and diverged.best is None and diverged.final["test_acc"] == 0.5


def test_a_run_whose_worker_died_has_no_epochs():
    r = record(status="failed", error="BrokenProcessPool: killed", history=None, wall_seconds=None,
               started_at=None, versions=None)
    assert (r.epochs_run, r.stop_epoch, r.best, r.final, r.seconds_per_epoch) == (0, None, None, None, None)
    assert r.train_seconds == 0.0 and r.stopped_early is False
    assert RunRecord.from_json(r.to_json()) == r


def test_json_round_trip_keeps_the_types(tmp_path):
    r = record(config=TrainConfig(architecture=[64, 32], seed=3))
    r.save(tmp_path / "r.json")
    back = read_run(tmp_path / "r.json")
    assert back == r and isinstance(back.config, TrainConfig) and isinstance(back.history, History)
    assert back.depth == 2


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda d: d.pop("host"), r"missing keys \['host'\]"),
        (lambda d: d.update(colour="blue"), r"unknown keys \['colour'\]"),
        (lambda d: d.update(schema=3), "schema 3; this version reads schemas 1, 2 only"),
        (lambda d: d.update(schema=2), r"missing keys \['measurements'\]"),  # schema 2 carries them
        (lambda d: d.update(measurements=[1.0]), r"unknown keys \['measurements'\]"),  # schema 1 does not
        (lambda d: d.update(status="great"), "run status must be one of ok, diverged, failed"),
        (lambda d: d["config"].update(learning_rate=1), "unknown config keys"),
    ],
)
def test_a_malformed_record_says_what_is_wrong(change, message):
    d = record().to_dict()
    change(d)
    with pytest.raises(ValueError, match=message):
        RunRecord.from_dict(d)


def test_measurements_make_a_schema_2_record_and_none_leave_schema_1_as_it_was(tmp_path):
    plain = record()
    assert plain.schema == RUN_SCHEMA == 1 and "measurements" not in plain.to_dict()
    measured = record(measurements=[{"norm": 0.5}, {"norm": 0.25}, None, {"norm": 0.125}])
    assert measured.schema == 2 and measured.to_dict()["measurements"][3] == {"norm": 0.125}
    measured.save(tmp_path / "m.json")
    back = read_run(tmp_path / "m.json")
    assert back == measured and back.to_json() == (tmp_path / "m.json").read_text()
    # Everything but the measurements is the plain record's, key for key: a reader of schema 1 sees its own layout.
    assert {k: v for k, v in measured.to_dict().items() if k not in ("schema", "measurements")} == \
        {k: v for k, v in plain.to_dict().items() if k != "schema"}
    d = measured.to_dict()
    d["measurements"] = None
    with pytest.raises(ValueError, match="schema 2 holds a list of measurements"):
        RunRecord.from_dict(d)


def test_read_run_retrains_a_cut_off_file_but_never_overwrites_a_foreign_record(tmp_path):
    path = tmp_path / "r.json"
    assert read_run(path) is None  # missing
    path.write_text('{"status": "ok", "conf')
    assert read_run(path) is None  # cut off: trained again
    d = record().to_dict()
    d["schema"] = 9
    path.write_text(json.dumps(d))
    with pytest.raises(ValueError, match="another --out folder"):
        read_run(path)


def test_load_results_names_the_file_that_is_not_a_record(tmp_path):
    (tmp_path / "runs").mkdir()
    record().save(tmp_path / "runs" / "a.json")
    d = record().to_dict()
    d["schema"] = 0
    (tmp_path / "runs" / "b.json").write_text(json.dumps(d))
    with pytest.raises(ValueError, match=r"b\.json: run record of schema 0"):
        load_results(tmp_path)


def _copy_runs(tmp_path, name, run_ids):
    folder = tmp_path / name / "runs"
    folder.mkdir(parents=True)
    for run_id in run_ids:
        shutil.copy(REPO / "results" / "report" / "runs" / f"{run_id}.json", folder)
    return folder.parent


COMPARED = ["mlp1-l2-sigmoid-seed0", "mlp2-hinge-relu-seed1"]


def _edit(folder, run_id, change):
    path = folder / "runs" / f"{run_id}.json"
    run = json.loads(path.read_text())
    change(run)
    path.write_text(json.dumps(run, indent=1))


def test_compare_ignores_timings_and_provenance_only(tmp_path, capsys):
    first, second = _copy_runs(tmp_path, "a", COMPARED), _copy_runs(tmp_path, "b", COMPARED)

    def retimed(run):
        run["wall_seconds"] *= 2
        run["host"], run["versions"] = "elsewhere", {"numpy": "other"}
        run["history"]["metrics"]["train_seconds"][3] += 1.0
        run["best"]["eval_seconds"] += 1.0

    _edit(second, COMPARED[0], retimed)
    assert main(["compare", str(first), str(second)]) == 0
    assert "2 of 2 runs in both" in capsys.readouterr().out


@pytest.mark.parametrize("change, where", [
    (lambda run: run["history"]["metrics"]["test_loss"].__setitem__(11, 0.5), "history.metrics.test_loss[11]"),
    (lambda run: run["best"].__setitem__("test_acc", 1.0), "best.test_acc"),
    (lambda run: run["config"].__setitem__("lr", 0.02), "config.lr"),
    (lambda run: run["history"]["metrics"]["epoch"].pop(), "history.metrics.epoch: "),
])
def test_compare_names_the_first_difference_and_exits_1(tmp_path, capsys, change, where):
    first, second = _copy_runs(tmp_path, "a", COMPARED), _copy_runs(tmp_path, "b", COMPARED)
    _edit(second, COMPARED[1], change)
    assert main(["compare", str(first), str(second)]) == 1
    out = capsys.readouterr().out
    assert f"{COMPARED[1]}: differs at {where}" in out and "1 of 2 runs in both" in out


def test_compare_one_bit_in_a_float_is_a_difference():
    record = read_run(REPO / "results" / "report" / "runs" / f"{COMPARED[0]}.json")
    outcome = training_outcome(record)
    changed = json.loads(json.dumps(outcome))
    loss = changed["history"]["metrics"]["test_loss"][0]
    changed["history"]["metrics"]["test_loss"][0] = float(np.nextafter(loss, 1.0))
    assert first_difference(outcome, changed).startswith("history.metrics.test_loss[0]: ")
    assert first_difference(outcome, json.loads(json.dumps(outcome))) is None


def test_compare_lists_runs_in_one_folder_only_and_fails_with_none_in_common(tmp_path, capsys):
    first, second = _copy_runs(tmp_path, "a", COMPARED[:1]), _copy_runs(tmp_path, "b", COMPARED[1:])
    assert main(["compare", str(first), str(second)]) == 1
    out = capsys.readouterr().out
    assert f"in one folder only (not compared): 2 runs ({', '.join(sorted(COMPARED))})" in out
    assert "0 of 0 runs" in out


# --------------------------------------------------------------------------- #
# A field added to TrainConfig after the committed runs (dropout): old records stay what they were
# --------------------------------------------------------------------------- #


def test_a_later_field_at_its_original_value_is_not_written():
    assert "dropout" not in TrainConfig().to_dict() and "dropout" not in TrainConfig(dropout=0).to_dict()
    assert TrainConfig(dropout=0.2).to_dict()["dropout"] == 0.2
    assert list(TrainConfig(dropout=0.2).to_dict())[-1] == "dropout"  # after every field the old records have
    for config in (TrainConfig(), TrainConfig(dropout=0.5, lr=0.05)):
        assert TrainConfig.from_dict(config.to_dict()) == config
    old = json.loads((REPO / "results" / "report" / "runs" / "mlp1-l2-sigmoid-seed0.json").read_text())["config"]
    assert TrainConfig.from_dict(old).dropout == 0.0


def test_a_run_trained_now_at_the_default_is_written_with_the_committed_runs_keys(tmp_path):
    from mlp_lab.experiments import make_grid, run_grid

    committed = json.loads((REPO / "results" / "report" / "runs" / "mlp1-cross_entropy-relu-seed0.json").read_text())
    task = make_grid("report", only=["mlp1-cross_entropy-relu"], max_epochs=1)[0]
    rng = np.random.default_rng(0)
    splits = {"train": (rng.standard_normal((200, 784)).astype(np.float32), rng.integers(0, 10, 200)),
              "test": (rng.standard_normal((50, 784)).astype(np.float32), rng.integers(0, 10, 50))}
    run_grid([task], tmp_path, splits=splits, progress=False, log=lambda line: None)
    written = json.loads((tmp_path / "runs" / f"{task.run_id}.json").read_text())
    assert list(written) == list(committed)
    assert list(written["config"]) == list(committed["config"])
    assert list(written["history"]["config"]) == list(committed["history"]["config"])
    assert "dropout" not in json.dumps(written)


def test_compare_finds_a_committed_run_rewritten_by_this_version_equal_and_byte_for_byte(tmp_path, capsys):
    first = _copy_runs(tmp_path, "a", COMPARED)
    second = _copy_runs(tmp_path, "b", [])
    for run_id in COMPARED:
        text = (first / "runs" / f"{run_id}.json").read_text()
        RunRecord.from_json(text).save(second / "runs" / f"{run_id}.json")
        assert (second / "runs" / f"{run_id}.json").read_text() == text
    assert main(["compare", str(first), str(second)]) == 0
    assert "2 of 2 runs in both" in capsys.readouterr().out


def test_compare_sees_a_dropout_that_differs(tmp_path, capsys):
    first, second = _copy_runs(tmp_path, "a", COMPARED), _copy_runs(tmp_path, "b", COMPARED)
    _edit(second, COMPARED[0], lambda run: run["config"].__setitem__("dropout", 0.5))
    assert main(["compare", str(first), str(second)]) == 1
    assert "config.dropout: only in the second" in capsys.readouterr().out


def test_a_stored_run_without_dropout_is_not_taken_for_a_task_with_it(tmp_path):
    from mlp_lab.experiments import Task, run_grid

    folder = _copy_runs(tmp_path, "a", ["mlp1-l2-sigmoid-seed0"])
    stored = RunRecord.from_json((folder / "runs" / "mlp1-l2-sigmoid-seed0.json").read_text())
    task = Task("mlp1-l2-sigmoid", TrainConfig(**{**stored.config.to_dict(), "dropout": 0.2}))
    with pytest.raises(ValueError, match=r"different config \(fields \['dropout'\] differ\)"):
        run_grid([task], folder, workers=0, progress=False)
