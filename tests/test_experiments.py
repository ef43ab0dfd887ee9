"""The experiment runner: grids, parallel runs, one JSON per run, resuming, failures, measures.

Runs train on the real MNIST ($MNIST_DIR, see tests/_mnist.py) cut to a few
hundred samples and two epochs, so the whole file takes seconds.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest

from mlp_lab import config as config_module
from mlp_lab.cli import main
from mlp_lab.config import TrainConfig, load_splits
from mlp_lab.experiments import (
    GRIDS,
    REFERENCE_OUTPUT_ACTIVATION,
    Task,
    config_id,
    make_grid,
    run_grid,
    run_path,
    train_run,
)
from mlp_lab.reference import SETTINGS
from mlp_lab.records import read_run
from mlp_lab.report import load_results, results_markdown
from mlp_lab.threads import BLAS_THREAD_ENV_VARS, blas_thread_env, blas_threads_in_environment
from tests._mnist import require_mnist

TINY = dict(train_subset=300, test_subset=200, max_epochs=2)
OUTPUTS = ["results.csv", "results_final.csv", "results.md", "timing.csv", "timing.md", "summary.md", "grid.json"]


@pytest.fixture(scope="module")
def mnist():
    return require_mnist()


def tiny_tasks(*ids: str, seeds=1, **overrides) -> list[Task]:
    return make_grid("report", seeds, only=list(ids), **{**TINY, **overrides})


# --------------------------------------------------------------------------- #
# Grids
# --------------------------------------------------------------------------- #


def test_report_grid_is_the_references_18_runs_at_its_settings():
    tasks = make_grid("report")
    assert len(tasks) == 18 and len({t.config_id for t in tasks}) == 18
    ids = {t.config_id for t in tasks}
    assert {"mlp1-l2-sigmoid", "mlp2-hinge-gelu", "mlp2-cross_entropy-relu"} <= ids
    for t in tasks:
        c = t.config
        assert {name: getattr(c, name) for name in SETTINGS} == dict(SETTINGS)
        # Measured (results/output_activation_check.md): the logits go to every loss.
        assert c.output_activation is None and REFERENCE_OUTPUT_ACTIVATION[c.loss] is None
        assert c.train_subset is None and c.test_subset is None and c.seed == 0


def test_as_drawn_grid_puts_an_activation_after_every_output_layer():
    tasks = make_grid("report-as-drawn")
    assert len(tasks) == 18 and all(t.config.output_activation == "same" for t in tasks)


def test_quick_grid_uses_a_subset_and_few_epochs():
    tasks = make_grid("quick")
    assert len(tasks) == 18
    assert all(t.config.train_subset and t.config.test_subset and t.config.max_epochs <= 5 for t in tasks)


def test_seeds_validation_only_and_overrides():
    tasks = make_grid("report", 3, validation=True, only=["mlp1-l2"], dataset="fashion-mnist", max_epochs=7)
    assert [t.run_id for t in tasks[:4]] == [
        "mlp1-l2-sigmoid-seed0", "mlp1-l2-relu-seed0", "mlp1-l2-gelu-seed0", "mlp1-l2-sigmoid-seed1"]
    assert len(tasks) == 9 and sorted({t.seed for t in tasks}) == [0, 1, 2]
    assert all(t.config.monitor == "val_acc" and t.config.dataset == "fashion-mnist" for t in tasks)
    assert all(t.config.max_epochs == 7 for t in tasks)
    assert make_grid("report", [4, 7])[0].seed == 4
    assert {t.config.output_activation for t in make_grid("report", output_activation="sigmoid")} == {"sigmoid"}


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(name="nope"), "unknown grid 'nope'; choose one of: report"),
        (dict(name="report", seeds=0), "seeds must be"),
        (dict(name="report", only=["mlp3"]), "no configuration of grid 'report' matches"),
        (dict(name="report", learning_rate=0.1), r"unknown TrainConfig fields \['learning_rate'\]"),
    ],
)
def test_bad_grid_arguments_say_what_is_wrong(kwargs, message):
    with pytest.raises(ValueError, match=message):
        make_grid(**kwargs)


def test_every_grid_has_a_description():
    assert set(GRIDS) == {"report", "report-as-drawn", "quick", "l2-loss-check", "lr-momentum", "regularisation"}
    assert all(desc for desc, _ in GRIDS.values())


def test_the_l2_grid_is_the_report_grids_l2_rows_and_only_filters_before_overrides():
    report = {t.run_id: t.config for t in make_grid("report")}
    l2 = make_grid("l2-loss-check")
    assert [t.run_id for t in l2] == [f"mlp{d}-l2-{a}-seed0" for d in (1, 2) for a in ("sigmoid", "relu", "gelu")]
    assert all(t.config == report[t.run_id] for t in l2)
    # `only` picks rows by the grid's own ids, then the overrides apply (a loss override renames the ids)
    unsquared = make_grid("l2-loss-check", only=["mlp1-l2-relu"], loss="l2_unsquared")
    assert [t.run_id for t in unsquared] == ["mlp1-l2_unsquared-relu-seed0"]


def test_a_process_loads_its_dataset_once_for_all_its_runs(mnist, monkeypatch):
    """The runner's workers keep the dataset (load_splits(cache=True)); the splits are load_splits' own."""
    loads = []
    real = config_module.load_dataset
    monkeypatch.setattr(config_module, "load_dataset", lambda *a, **k: loads.append(a) or real(*a, **k))
    configs = [TrainConfig(monitor="val_acc", val_size=500, train_subset=400, test_subset=300, seed=s) for s in (3, 4)]
    cached = [load_splits(c, mnist, cache=True) for c in configs]
    assert len(loads) == 1
    for config, ours in zip(configs, cached):
        theirs = load_splits(config, mnist)
        assert set(ours) == set(theirs) == {"train", "val", "test"}
        for name in ours:
            for a, b in zip(ours[name], theirs[name]):
                np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="read-only"):  # no run can change the data of the next
        load_splits(TrainConfig(), mnist, cache=True)["train"][0][0, 0] = 1.0
    loads.clear()
    outcome = run_grid(tiny_tasks("mlp1-l2"), None, workers=0, data_dir=mnist, progress=False, log=lambda s: None)
    assert len(outcome.trained) == 3 and len(loads) <= 1  # at most once: this process may hold it already


# --------------------------------------------------------------------------- #
# Running
# --------------------------------------------------------------------------- #


def test_tiny_grid_end_to_end_in_two_workers_writes_every_output(mnist, tmp_path, capsys):
    out = tmp_path / "grid"
    code = main([
        "reproduce", "--grid", "report", "--only", "mlp1-l2-relu", "--only", "mlp2-hinge-gelu",
        "--train-subset", "300", "--test-subset", "200", "--epochs", "2", "--workers", "2",
        "--data-dir", str(mnist), "--out", str(out), "--no-progress",
    ])
    assert code == 0
    printed = capsys.readouterr().out
    assert "2 configurations x 1 seed(s) = 2 runs" in printed and "trained 2 runs (0 diverged or failed)" in printed
    for name in OUTPUTS:
        assert (out / name).stat().st_size > 0, name
    for depth in (1, 2):
        for metric in ("test_acc", "test_loss", "train_acc", "train_loss"):
            for ext in ("png", "svg"):
                assert (out / "figures" / f"mlp{depth}_{metric}.{ext}").stat().st_size > 1000
    records = {p.stem: read_run(p) for p in (out / "runs").glob("*.json")}
    assert set(records) == {"mlp1-l2-relu-seed0", "mlp2-hinge-gelu-seed0"}
    for record in records.values():
        assert record.status == "ok" and record.error is None
        assert record.epochs_run == record.stop_epoch == 2
        assert record.best_epoch in (1, 2)
        assert record.best["test_acc"] == max(record.metric_curve("test_acc"))
        assert record.final == {k: v[-1] for k, v in record.history.metrics.items()}
        assert len(record.metric_curve("train_seconds")) == 2 and record.seconds_per_epoch > 0
        assert record.config.train_subset == 300 and record.config.max_epochs == 2
        # The limits reached the BLAS inside the worker before numpy loaded.
        assert record.versions["blas_threads_env"] == "1"
        assert all(pool["num_threads"] == 1 for pool in record.versions.get("blas_threads", []))
        assert record.versions["numpy"] == np.__version__
    rows = (out / "results.csv").read_text().splitlines()
    assert [r.split(",")[0] for r in rows[1:]] == ["mlp1-l2-relu", "mlp2-hinge-gelu"]
    log = json.loads((out / "grid.json").read_text())["invocations"]
    assert log[-1]["status"] == "complete" and log[-1]["trained"] == 2 and log[-1]["workers"] == 2


def test_interrupted_grid_resumes_without_redoing_finished_runs(mnist, tmp_path, monkeypatch):
    tasks = tiny_tasks("mlp1-cross_entropy")  # three runs
    stop = KeyboardInterrupt("stopped after the first run")

    def interrupt(record):
        raise stop

    # A pool of one worker, interrupted as Ctrl-C would, right after the first run is written.
    with pytest.raises(KeyboardInterrupt):
        run_grid(tasks, tmp_path, workers=1, data_dir=mnist, progress=False, on_run_done=interrupt, log=lambda s: None)
    written = sorted((tmp_path / "runs").glob("*.json"))
    assert len(written) == 1
    first = written[0]
    before = (first.stat().st_mtime_ns, first.read_bytes())

    trained = []
    outcome = run_grid(tasks, tmp_path, workers=0, data_dir=mnist, progress=False, log=lambda s: None,
                       on_run_done=lambda record: trained.append(record.run_id))
    assert outcome.skipped == [first.stem]
    assert sorted(trained) == sorted(outcome.trained) == sorted(t.run_id for t in tasks if t.run_id != first.stem)
    assert (first.stat().st_mtime_ns, first.read_bytes()) == before
    assert all(read_run(run_path(tmp_path, t)).status == "ok" for t in tasks)
    statuses = [inv["status"] for inv in json.loads((tmp_path / "grid.json").read_text())["invocations"]]
    assert statuses == ["interrupted", "complete"]

    # Nothing left to do: a third call trains nothing and leaves the log as it was.
    trained.clear()
    log_before = (tmp_path / "grid.json").read_bytes()
    assert run_grid(tasks, tmp_path, workers=0, data_dir=mnist, progress=False, log=lambda s: None,
                    on_run_done=lambda record: trained.append(record.run_id)).trained == []
    assert trained == []
    assert (tmp_path / "grid.json").read_bytes() == log_before


def test_diverging_and_failing_runs_are_recorded_and_the_grid_completes(mnist, tmp_path):
    good = tiny_tasks("mlp1-l2-relu")[0]
    diverging = Task("mlp1-l2-relu-lr1e6", replace(good.config, lr=1e6))
    failing = Task("mlp1-l2-relu-nodata", replace(good.config, dataset="no-such-dataset"))
    tasks = [diverging, failing, good]
    with np.errstate(over="ignore", invalid="ignore"):
        outcome = run_grid(tasks, tmp_path, workers=0, data_dir=mnist, progress=False, log=lambda s: None)
    assert sorted(outcome.trained) == sorted(t.run_id for t in tasks)
    assert sorted(outcome.failed) == sorted([diverging.run_id, failing.run_id])

    record = read_run(run_path(tmp_path, diverging))
    assert record.status == "diverged" and "diverged" in record.error
    assert record.best is None and record.best_epoch is None
    assert record.epochs_run == len(record.metric_curve("epoch"))
    record = read_run(run_path(tmp_path, failing))
    assert record.status == "failed" and "no-such-dataset" in record.error
    assert read_run(run_path(tmp_path, good)).status == "ok"

    # The report step copes, and lists what did not finish.
    text = results_markdown(load_results(tmp_path))
    assert f"{diverging.run_id}: diverged" in text and f"{failing.run_id}: failed" in text

    # A rerun keeps the failures; --retry-failed trains them again.
    again = run_grid(tasks, tmp_path, workers=0, data_dir=mnist, progress=False, log=lambda s: None)
    assert again.trained == [] and len(again.skipped) == 3
    with np.errstate(over="ignore", invalid="ignore"):
        retried = run_grid(tasks, tmp_path, workers=0, data_dir=mnist, progress=False, retry_failed=True,
                           log=lambda s: None)
    assert sorted(retried.trained) == sorted([diverging.run_id, failing.run_id])


def test_a_run_stored_with_another_config_is_not_overwritten(mnist, tmp_path):
    task = tiny_tasks("mlp1-l2-relu")[0]
    run_grid([task], tmp_path, workers=0, data_dir=mnist, progress=False, log=lambda s: None)
    other = Task(task.config_id, replace(task.config, lr=0.05))
    with pytest.raises(ValueError, match=r"different config \(fields \['lr'\] differ\)"):
        run_grid([other], tmp_path, workers=0, data_dir=mnist, progress=False, log=lambda s: None)


def test_an_unreadable_run_json_is_trained_again(mnist, tmp_path):
    task = tiny_tasks("mlp1-l2-relu")[0]
    path = run_path(tmp_path, task)
    path.parent.mkdir(parents=True)
    path.write_text('{"status": "ok", "config": ')  # e.g. written by hand and cut off
    outcome = run_grid([task], tmp_path, workers=0, data_dir=mnist, progress=False, log=lambda s: None)
    assert outcome.trained == [task.run_id] and read_run(path).status == "ok"


def test_config_ids_name_depth_loss_and_activation():
    assert config_id(TrainConfig(architecture="mlp2", loss="hinge", activation="gelu")) == "mlp2-hinge-gelu"
    assert config_id(TrainConfig(architecture=[64, 32])) == "h64x32-cross_entropy-relu"
    assert config_id(TrainConfig(architecture=(64, 32))) == "h64x32-cross_entropy-relu"
    assert config_id(TrainConfig(architecture=np.array([8]))) == "h8-cross_entropy-relu"
    assert config_id(TrainConfig(architecture=[])) == "h-cross_entropy-relu"  # no hidden layer
    assert config_id(TrainConfig(architecture=2, loss="l2")) == "mlp2-l2-relu"
    assert config_id(TrainConfig(architecture="MLP1", loss="l2_unsquared")) == "mlp1-l2_unsquared-relu"


# --------------------------------------------------------------------------- #
# Arguments checked before anything runs; runs in memory; measures
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize("tasks, options, message", [
    (lambda t: [replace(t, config=replace(t.config, lr=-1.0))], {}, "learning rate must be > 0, got -1.0"),
    (lambda t: [replace(t, config=replace(t.config, batch_size=0))], {}, "batch_size must be a whole number >= 1"),
    (lambda t: [t, t], {}, "two tasks have the run id 'mlp1-l2-relu-seed0'"),
    (lambda t: [t], dict(workers=-1), "workers must be >= 0"),
    (lambda t: [t], dict(workers=2, splits={}), "in-memory splits, or failures raised rather than recorded"),
    (lambda t: [t], dict(recorded=(), workers=1), "pass workers=0"),
    (lambda t: [t], dict(recorded=(), scheduler="tcp://127.0.0.1:8786"), "pass workers=0 and no scheduler"),
])
def test_bad_arguments_fail_before_anything_is_trained_or_written(tmp_path, tasks, options, message):
    with pytest.raises(ValueError, match=message):
        run_grid(tasks(tiny_tasks("mlp1-l2-relu")[0]), tmp_path / "out", progress=False, **options)
    assert not (tmp_path / "out").exists()


def mean_weight(model, loss_fn):
    """A measure: the first layer's mean |W| (module level, so that a pool's worker can unpickle it)."""
    return float(np.abs(model.layers[0].W.data).mean())


class BatchCounter:
    """A measure with a begin: counts the batches training asked a gradient for, epoch by epoch."""

    def begin(self, config, splits, loss_fn):
        self.loss, self.seen = loss_fn, 0
        counter = self

        class Counting(type(loss_fn)):
            def backward(self):
                counter.seen += 1
                return super().backward()

        return Counting()

    def __call__(self, model, loss_fn):
        seen, self.seen = self.seen, 0
        return seen


def test_a_measure_is_taken_at_initialisation_and_after_every_epoch_in_a_pool(mnist, tmp_path):
    tasks = tiny_tasks("mlp1-l2-relu", max_epochs=3, patience=None)
    outcome = run_grid(tasks, tmp_path, workers=1, data_dir=mnist, measure=mean_weight, progress=False,
                       log=lambda s: None)
    record = read_run(run_path(tmp_path, tasks[0]))
    assert record == outcome.records[tasks[0].run_id] and record.schema == 2
    assert len(record.measurements) == 4 and len(set(record.measurements)) == 4  # the weights moved each epoch
    # A stored run without the measurements this grid takes is not done, and never overwritten.
    plain = tmp_path / "plain"
    run_grid(tasks, plain, workers=0, data_dir=mnist, progress=False, log=lambda s: None)
    with pytest.raises(ValueError, match="without the measurements this grid takes"):
        run_grid(tasks, plain, workers=0, data_dir=mnist, measure=mean_weight, progress=False)


def test_a_measure_may_watch_the_training_batches_through_the_loss(mnist):
    splits = load_splits(TrainConfig(train_subset=250, test_subset=100), mnist)
    task = Task("watched", TrainConfig(architecture=[8], loss="l2", max_epochs=2, patience=None, batch_size=100))
    model, record = train_run(task, splits=splits, measure=BatchCounter())
    assert record.measurements == [0, 3, 3]  # 250 images in batches of 100: three updates an epoch, no evaluation
    _, plain = train_run(task, splits=splits)
    same = ("train_loss", "train_acc", "test_loss", "test_acc")  # the watching loss trained exactly as the plain one
    assert {m: record.metric_curve(m) for m in same} == {m: plain.metric_curve(m) for m in same}


def test_in_memory_runs_keep_their_records_and_raise_what_they_do_not_record(mnist):
    splits = load_splits(TrainConfig(train_subset=200, test_subset=100), mnist)
    tasks = [Task(f"lr{lr:g}", TrainConfig(architecture=[8], loss="l2", lr=lr, max_epochs=2, patience=None))
             for lr in (0.01, 1e6)]
    with np.errstate(over="ignore", invalid="ignore"):
        outcome = run_grid(tasks, None, splits=splits, progress=False, log=lambda s: None)
    assert outcome.records["lr0.01-seed0"].ok and outcome.records["lr1e+06-seed0"].status == "diverged"
    broken = Task("broken", TrainConfig(architecture=[8], max_epochs=1))
    with pytest.raises(KeyError):  # a split missing: raised at once, not recorded, when asked so
        run_grid([broken], None, splits={"test": splits["test"]}, recorded=(), progress=False, log=lambda s: None)


# --------------------------------------------------------------------------- #
# Command line
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize(
    "argv, message",
    [
        (["reproduce", "--grid", "nope"], "argument --grid: invalid choice: 'nope'"),
        (["reproduce", "--seeds", "0"], "reproduce: error: seeds must be a count >= 1"),
        (["reproduce", "--seeds", "two"], "argument --seeds: 'two' is not a valid int"),
        (["reproduce", "--workers", "-1", "--only", "mlp1-l2-relu"], "reproduce: error: workers must be >= 0"),
        (["reproduce", "--epochs", "0", "--only", "mlp1-l2-relu"], "max_epochs must be a whole number >= 1, got 0"),
        (["reproduce", "--only", "mlp9"], "no configuration of grid 'report' matches ['mlp9']"),
    ],
)
def test_cli_usage_errors_are_one_line(argv, message, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_cli_a_folder_holding_other_runs_is_a_usage_error_and_stays_as_it_was(mnist, tmp_path, capsys):
    task = tiny_tasks("mlp1-l2-relu")[0]
    path = run_path(tmp_path, task)
    run_grid([replace(task, config=replace(task.config, lr=0.05))], tmp_path, workers=0, data_dir=mnist,
             progress=False, log=lambda s: None)
    before = path.read_bytes()
    with pytest.raises(SystemExit) as exc:
        main(["reproduce", "--only", "mlp1-l2-relu", "--train-subset", "300", "--test-subset", "200",
              "--epochs", "2", "--out", str(tmp_path), "--no-progress"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "holds a run with a different config (fields ['lr'] differ)" in err and err.count("\n") == 1
    assert path.read_bytes() == before


def test_the_cli_offers_every_output_activation_the_engine_builds(capsys):
    # identity once lacked from reproduce's choices while train accepted it: one list now, the engine's.
    for command in (["train"], ["reproduce"]):
        with pytest.raises(SystemExit):
            main([*command, "--output-activation", "swish"])
        err = capsys.readouterr().err
        assert "choose from 'none', 'same', 'sigmoid', 'relu', 'gelu', 'tanh', 'identity'" in err
    assert {t.config.output_activation for t in make_grid("report", output_activation="identity")} == {"identity"}


def test_blas_thread_limits_are_set_for_the_block_and_restored(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "7")
    monkeypatch.delenv("OPENBLAS_NUM_THREADS", raising=False)
    with blas_threads_in_environment(1):
        assert all(os.environ[name] == "1" for name in BLAS_THREAD_ENV_VARS)
    assert os.environ["OMP_NUM_THREADS"] == "7" and "OPENBLAS_NUM_THREADS" not in os.environ
    assert blas_thread_env(2) == {name: "2" for name in BLAS_THREAD_ENV_VARS}
    with pytest.raises(ValueError, match="BLAS threads must be a whole number >= 1"):
        blas_thread_env(0)


def test_the_thread_variables_load_without_numpy():
    # Scripts import them before numpy, so that the limits hold when numpy loads.
    code = "import sys, mlp_lab.threads; assert 'numpy' not in sys.modules, sorted(sys.modules)"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_the_grid_log_names_the_command_that_ran(tmp_path):
    """grid.json's command: `python -m <the package run>`, whichever package's __main__ it was."""
    code = ("import sys; from mlp_lab.experiments.provenance import command_line; print(command_line())")
    package = tmp_path / "pkg_x"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "__main__.py").write_text(code)
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    ran = subprocess.run([sys.executable, "-m", "pkg_x", "--out", "x"], capture_output=True, text=True, env=env)
    assert ran.stdout.strip() == "python -m pkg_x --out x", ran.stderr
    ran = subprocess.run([sys.executable, "-c", code, "a"], capture_output=True, text=True)
    assert ran.stdout.strip() == "-c a"
