"""Training loop: early stopping, history JSON, divergence, batches, determinism."""

import json

import numpy as np
import pytest

from mlp_core.losses import HingeLoss, L2Loss, SoftmaxCrossEntropyLoss
from mlp_core.network import build_mlp, check_mlp_arguments
from mlp_core.optim import SGD
from mlp_core.training import (
    EarlyStopping,
    History,
    TrainingDiverged,
    evaluate,
    iterate_minibatches,
    train,
    train_epoch,
)
from mlp_lab.config import TrainConfig


def blobs(n=300, seed=0):
    """Three well-separated Gaussian blobs in 8-D: (n, 8) float32, (n,) labels."""
    centers = np.random.default_rng(100).standard_normal((3, 8)) * 3  # the same for every split
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, n)
    return (centers[labels] + rng.standard_normal((n, 8))).astype(np.float32), labels


def small_run(seed=0, **kwargs):
    model = build_mlp([16], "relu", input_size=8, num_classes=3, init_std=0.1, seed=seed)
    opt = SGD(model.parameters(), lr=0.05, momentum=0.9)
    options = dict(batch_size=20, max_epochs=5, seed=seed, progress=False)
    options.update(kwargs)
    return model, train(model, SoftmaxCrossEntropyLoss(), opt, blobs(300), blobs(100, seed=1), **options)


@pytest.mark.parametrize(
    "values, patience, mode, stop_at, best_epoch",
    [
        ([0.90, 0.92, 0.91, 0.92], 2, "max", 4, 2),  # an equal value is not a rise
        ([0.1, 0.2, 0.3, 0.4, 0.5], 2, "max", None, 5),
        ([0.5, 0.4, 0.3, 0.6, 0.5, 0.5, 0.5], 3, "max", 7, 4),
        ([1.0, 0.8, 0.9, 0.85, 0.7], 3, "min", None, 5),
        ([1.0, 0.8, 0.9, 0.85, 0.81], 3, "min", 5, 2),
    ],
)
def test_early_stopping_on_a_scripted_sequence(values, patience, mode, stop_at, best_epoch):
    stopper = EarlyStopping(patience, mode)
    stopped = None
    for epoch, value in enumerate(values, 1):
        if stopper.step(value):
            stopped = epoch
            break
    assert stopped == stop_at
    assert stopper.best_epoch == best_epoch


def test_early_stopping_patience_ten_like_the_report():
    stopper = EarlyStopping(10)
    values = [0.5, 0.9] + [0.89] * 10
    assert [stopper.step(v) for v in values] == [False] * 11 + [True]


def test_early_stopping_bad_arguments():
    with pytest.raises(ValueError, match="patience"):
        EarlyStopping(0)
    with pytest.raises(ValueError, match="mode"):
        EarlyStopping(3, "up")


def test_minibatches_cover_every_sample_once():
    x = np.arange(10).reshape(10, 1)
    y = np.arange(10)
    batches = list(iterate_minibatches(x, y, 4, np.random.default_rng(0)))
    assert [len(b[1]) for b in batches] == [4, 4, 2]
    seen = np.concatenate([b[1] for b in batches])
    assert sorted(seen) == list(range(10)) and list(seen) != list(range(10))
    for bx, by in batches:
        np.testing.assert_array_equal(bx[:, 0], by)  # images and labels stay paired
    in_order = np.concatenate([b[1] for b in iterate_minibatches(x, y, 4, None)])
    np.testing.assert_array_equal(in_order, y)


def test_evaluate_equals_mean_of_batch_means():
    model = build_mlp([5], "relu", input_size=8, num_classes=3, init_std=0.5, seed=0)
    x, y = blobs(200)
    loss = SoftmaxCrossEntropyLoss()
    batch_means = [loss(model(x[i:i + 100]), y[i:i + 100]) for i in (0, 100)]
    value, acc = evaluate(model, loss, x, y, batch_size=50)
    assert value == pytest.approx(np.mean(batch_means), rel=1e-6)
    assert acc == pytest.approx(np.mean(model(x).argmax(1) == y))


def test_evaluate_weights_a_smaller_last_batch_by_its_size():
    model = build_mlp([5], "relu", input_size=8, num_classes=3, init_std=0.5, seed=0)
    x, y = blobs(130)
    loss = SoftmaxCrossEntropyLoss()
    value, acc = evaluate(model, loss, x, y, batch_size=100)  # batches of 100 and 30
    assert value == pytest.approx(loss(model(x), y), rel=1e-6)  # the mean over all 130, not of the 2 batch means
    assert value != pytest.approx(np.mean([loss(model(x[:100]), y[:100]), loss(model(x[100:]), y[100:])]), rel=1e-4)
    assert acc == np.mean(model(x).argmax(1) == y)


def test_train_epoch_records_each_batch_before_its_update():
    x, y = blobs(250)
    model = build_mlp([6], "relu", input_size=8, num_classes=3, init_std=0.3, seed=1)
    reference = build_mlp([6], "relu", input_size=8, num_classes=3, init_std=0.3, seed=1)
    loss_fn, ref_loss = SoftmaxCrossEntropyLoss(), SoftmaxCrossEntropyLoss()
    ref_opt = SGD(reference.parameters(), lr=0.1, momentum=0.9)
    losses, accs = [], []
    for bx, by in iterate_minibatches(x, y, 100, np.random.default_rng(5)):  # 100, 100, 50
        out = reference.forward(bx)
        losses.append(ref_loss(out, by))
        accs.append(np.mean(out.argmax(1) == by))
        reference.backward(ref_loss.backward())
        ref_opt.step()
    result = train_epoch(model, loss_fn, SGD(model.parameters(), lr=0.1, momentum=0.9), x, y, 100,
                         np.random.default_rng(5))
    assert result == (np.mean(losses), np.mean(accs))  # each batch counts once, the last one too
    for p, q in zip(model.parameters(), reference.parameters()):
        np.testing.assert_array_equal(p.data, q.data)
    assert not np.array_equal(model[0].W.data, build_mlp([6], "relu", input_size=8, num_classes=3,
                                                            init_std=0.3, seed=1)[0].W.data)


@pytest.mark.filterwarnings("ignore:overflow:RuntimeWarning")
def test_train_epoch_stops_at_a_non_finite_loss():
    model = build_mlp([16], "relu", input_size=8, num_classes=3, init_std=1.0, seed=0)
    opt = SGD(model.parameters(), lr=1e6, momentum=0.9)
    with pytest.raises(TrainingDiverged, match=r"at epoch 7, batch \d+"):
        train_epoch(model, L2Loss(), opt, *blobs(300), 10, np.random.default_rng(0), epoch=7)


def test_training_learns_and_records_every_metric():
    _, history = small_run(max_epochs=8, patience=None)
    assert history.num_epochs == 8
    assert set(history.metrics) == {"epoch", "train_loss", "train_acc", "test_loss", "test_acc",
                                    "train_seconds", "eval_seconds"}
    assert history["train_loss"][-1] < history["train_loss"][0] / 3
    assert history["test_acc"][-1] > 0.95
    assert all(0 <= a <= 1 for a in history["train_acc"])


def test_same_seed_same_history_different_seed_different():
    _, a = small_run(seed=3)
    _, b = small_run(seed=3)
    _, c = small_run(seed=4)
    strip = lambda h: {k: v for k, v in h.metrics.items() if not k.endswith("seconds")}
    assert strip(a) == strip(b)
    assert strip(a) != strip(c)


def test_early_stopping_stops_and_restores_the_best_weights():
    model, history = small_run(max_epochs=40, patience=2, monitor="test_loss")
    assert history.stopped_early and history.num_epochs < 40
    assert history.best_epoch == int(np.argmin(history["test_loss"])) + 1
    assert history.num_epochs == history.best_epoch + 2
    # restored weights give the best epoch's test loss again
    loss, _ = evaluate(model, SoftmaxCrossEntropyLoss(), *blobs(100, seed=1))
    assert loss == pytest.approx(history.best()["test_loss"], rel=1e-5)


def test_validation_monitor():
    model = build_mlp([16], "relu", input_size=8, num_classes=3, init_std=0.1, seed=0)
    history = train(model, L2Loss(), SGD(model.parameters(), 0.05, 0.9), blobs(300), blobs(100, 1),
                    val_split=blobs(100, 2), max_epochs=3, monitor="val_acc", progress=False)
    assert history.monitor == "val_acc"
    assert len(history["val_acc"]) == len(history["test_acc"]) == 3
    with pytest.raises(ValueError, match="needs a val split"):
        train(model, L2Loss(), SGD(model.parameters()), blobs(30), blobs(30), monitor="val_acc", progress=False)
    with pytest.raises(ValueError, match="monitor must be one of"):
        train(model, L2Loss(), SGD(model.parameters()), blobs(30), blobs(30), monitor="accuracy", progress=False)


@pytest.mark.filterwarnings("ignore:overflow:RuntimeWarning")
def test_divergence_names_epoch_and_batch():
    model = build_mlp([16], "relu", input_size=8, num_classes=3, init_std=1.0, seed=0)
    opt = SGD(model.parameters(), lr=1e4, momentum=0.9)
    with pytest.raises(TrainingDiverged, match=r"at epoch \d+, batch \d+") as info:
        train(model, L2Loss(), opt, blobs(300), blobs(50), batch_size=10, max_epochs=20, progress=False)
    assert info.value.epoch >= 1 and info.value.batch >= 1
    assert "Lower the learning rate" in str(info.value)


def test_history_json_round_trip(tmp_path):
    _, history = small_run()
    path = tmp_path / "sub" / "history.json"
    history.save(path)
    loaded = History.load(path)
    assert loaded == history
    assert loaded.best() == history.best() and loaded.final() == history.final()
    assert json.loads(path.read_text())["config"] == {}
    assert not [p for p in path.parent.iterdir() if p.name != "history.json"]  # no temp files left


def test_train_config_validation_names_the_field():
    assert TrainConfig().validate().lr == 0.01
    for field, value, match in [
        ("activation", "swish", "choose one of: sigmoid"), ("loss", "mse", "choose one of: l2"),
        ("lr", 0.0, "learning rate"), ("batch_size", 0, "batch_size"), ("momentum", 1.5, "momentum"),
        ("monitor", "acc", "monitor"), ("architecture", "mlp9", "architecture"),
        ("output_activation", "soft", "output activation"), ("patience", 0, "patience"),
        ("init_std", -0.1, "init_std"), ("max_epochs", 0, "max_epochs"), ("weight_decay", -1.0, "weight_decay"),
        ("train_subset", 0, "train_subset"), ("val_size", 0, "val_size"), ("seed", -1, "seed"),
    ]:
        with pytest.raises(ValueError, match=match):
            TrainConfig(**{field: value}).validate()
    with pytest.raises(ValueError, match="hinge margin"):
        TrainConfig(loss="hinge", margin=0.0).validate()
    with pytest.raises(ValueError, match="unknown config keys"):
        TrainConfig.from_dict({"learning_rate": 0.1})
    assert TrainConfig.from_dict(TrainConfig(lr=0.5).to_dict()) == TrainConfig(lr=0.5)


def test_train_config_says_what_the_engine_constructors_say():
    """One check per setting: the config's message is the constructor's, word for word."""
    params = build_mlp([4], "relu", input_size=3, num_classes=2).parameters()
    cases = [
        (dict(lr=0.0), lambda: SGD(params, lr=0.0)),
        (dict(momentum=1.0), lambda: SGD(params, momentum=1.0)),
        (dict(patience=0), lambda: EarlyStopping(0)),
        (dict(batch_size=0), lambda: train(None, L2Loss(), None, blobs(10), batch_size=0, progress=False)),
        (dict(init_std=-1.0), lambda: build_mlp("mlp1", init_std=-1.0)),
        (dict(output_activation="soft"), lambda: build_mlp("mlp1", output_activation="soft")),
        (dict(loss="hinge", margin=-1.0), lambda: HingeLoss(-1.0)),
    ]
    for fields, construct in cases:
        with pytest.raises(ValueError) as from_config:
            TrainConfig(**fields).validate()
        with pytest.raises(ValueError) as from_constructor:
            construct()
        assert str(from_config.value) == str(from_constructor.value), fields


def test_build_mlp_checks_each_argument_once_where_it_is_used():
    """The names in build_mlp (even with no hidden layer to use the activation), sizes and init_std in Linear."""
    with pytest.raises(ValueError, match="choose one of: sigmoid"):
        build_mlp([], "swish")
    with pytest.raises(ValueError, match="hidden sizes must be positive"):
        build_mlp([4, 0], "relu")
    with pytest.raises(ValueError, match=r"Linear sizes must be positive whole numbers, got in_features=0"):
        build_mlp([4], "relu", input_size=0)
    assert check_mlp_arguments([4], "relu", input_size=3, num_classes=2) == [3, 4, 2]


def test_early_stopping_and_train_reject_bad_arguments():
    with pytest.raises(ValueError, match="min_delta must be >= 0"):
        EarlyStopping(3, "max", min_delta=-0.1)
    with pytest.raises(ValueError, match="mode must be 'max' or 'min'"):
        EarlyStopping(3, "up")
    model = build_mlp([4], "relu", input_size=8, num_classes=3)
    with pytest.raises(ValueError, match="patience must be a whole number of epochs >= 1, got 0"):
        train(model, L2Loss(), SGD(model.parameters()), blobs(30), blobs(30), patience=0, progress=False)


def test_the_lab_passes_every_setting_so_the_engines_own_defaults_never_change_its_runs(monkeypatch):
    """TrainConfig (the reference's settings) is the one source: the engine's defaults (train's batch 100,
    SGD's momentum 0, build_mlp's init_std) are for a student's own calls, and changing them changes no lab run."""
    from mlp_core import network, optim, training
    from mlp_lab.config import run

    rng = np.random.default_rng(0)
    splits = {name: (rng.standard_normal((n, 784)).astype(np.float32), rng.integers(0, 10, n))
              for name, n in (("train", 120), ("test", 60))}
    config = TrainConfig(architecture=[8], max_epochs=3, patience=2, seed=1)
    _, before = run(config, splits, progress=False)
    monkeypatch.setattr(training.train, "__kwdefaults__", {
        **training.train.__kwdefaults__, "batch_size": 7, "max_epochs": 1, "patience": None, "monitor": "test_loss",
        "seed": 99})
    monkeypatch.setattr(optim.SGD.__init__, "__defaults__", (0.5, 0.5, 0.5))
    monkeypatch.setattr(network.build_mlp, "__kwdefaults__", {**network.build_mlp.__kwdefaults__, "init_std": 1.0})
    _, after = run(config, splits, progress=False)
    metrics = ("train_loss", "train_acc", "test_loss", "test_acc")
    assert {m: after[m] for m in metrics} == {m: before[m] for m in metrics}
    assert after.best_epoch == before.best_epoch and after.num_epochs == before.num_epochs
