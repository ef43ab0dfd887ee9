"""Tests of mlp_lab.analysis: known values on hand-built cases, one behaviour test.

No data files: every input is a small seeded random array, so the whole file
runs in a few seconds.
"""

from __future__ import annotations

import numpy as np
import pytest

from mlp_core import L2Loss, Linear, Sequential, Sigmoid, SoftmaxCrossEntropyLoss, build_mlp
from mlp_lab.analysis import (
    early_stopping_epoch,
    empirical_cdf,
    glorot_reinitialise,
    glorot_std,
    output_logits,
    reference_printed_l2,
    squared_norm_share,
    hinge_active_fraction,
    layer_gradient_norms,
    recorded_run,
    score_gaps,
    sigmoid_l2_output_gradient,
    softmax_ce_output_gradient,
    sweep,
)
from mlp_lab.config import TrainConfig, run


def _toy_splits(n_train=60, n_test=40, d=784, k=10, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((k, d)).astype(np.float32)

    def split(n):
        labels = rng.integers(0, k, n)
        images = centres[labels] + 0.5 * rng.standard_normal((n, d)).astype(np.float32)
        return images.astype(np.float32), labels

    return {"train": split(n_train), "test": split(n_test)}


# --------------------------------------------------------------------------- #
# layer_gradient_norms
# --------------------------------------------------------------------------- #


def test_gradient_norms_of_one_linear_layer_match_the_analytic_value():
    rng = np.random.default_rng(0)
    layer = Linear(4, 3, init_std=1.0, rng=1, dtype=np.float64)
    model = Sequential(layer)
    x = rng.standard_normal((5, 4))
    labels = np.array([0, 2, 1, 1, 0])
    z = x @ layer.W.data + layer.b.data
    # L2: dE/dz = (z - t) / N, dE/dW = x^T dE/dz
    dz = (z - np.eye(3)[labels]) / 5
    weight = layer_gradient_norms(model, L2Loss(), x, labels)
    output = layer_gradient_norms(model, L2Loss(), x, labels, wrt="output")
    assert list(weight) == ["linear1"]
    assert weight["linear1"] == pytest.approx(np.linalg.norm(x.T @ dz), rel=1e-12)
    assert output["linear1"] == pytest.approx(np.linalg.norm(dz), rel=1e-12)


def test_output_gradient_of_a_two_layer_sigmoid_net_is_the_chain_rule():
    rng = np.random.default_rng(2)
    first, second = Linear(6, 5, init_std=1.0, rng=3, dtype=np.float64), Linear(5, 4, init_std=1.0, rng=4, dtype=np.float64)
    model = Sequential(first, Sigmoid(), second)
    x, labels = rng.standard_normal((7, 6)), rng.integers(0, 4, 7)
    a = 1 / (1 + np.exp(-(x @ first.W.data)))
    logits = a @ second.W.data
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    dz2 = (p - np.eye(4)[labels]) / 7
    dz1 = (dz2 @ second.W.data.T) * a * (1 - a)
    norms = layer_gradient_norms(model, SoftmaxCrossEntropyLoss(), x, labels, wrt="output")
    assert list(norms) == ["linear1", "linear2"]
    assert norms["linear2"] == pytest.approx(np.linalg.norm(dz2), rel=1e-10)
    assert norms["linear1"] == pytest.approx(np.linalg.norm(dz1), rel=1e-10)
    weights = layer_gradient_norms(model, SoftmaxCrossEntropyLoss(), x, labels)
    assert weights["linear1"] == pytest.approx(np.linalg.norm(x.T @ dz1), rel=1e-10)


def test_gradient_norms_leave_the_weights_alone_and_reject_bad_arguments():
    model = build_mlp([8], "sigmoid", input_size=5, num_classes=3, init_std=0.5, seed=0)
    before = model.state_dict()
    x, labels = np.ones((4, 5), np.float32), np.array([0, 1, 2, 0])
    layer_gradient_norms(model, L2Loss(), x, labels)
    for name, value in model.state_dict().items():
        np.testing.assert_array_equal(value, before[name])
    with pytest.raises(ValueError, match="wrt must be 'weight' or 'output'"):
        layer_gradient_norms(model, L2Loss(), x, labels, wrt="input")
    with pytest.raises(ValueError, match="at least one Linear"):
        layer_gradient_norms(Sequential(Sigmoid()), L2Loss(), x, labels)


def test_sigmoid_gradients_vanish_with_depth_and_relu_gradients_do_not():
    """At a variance-preserving initialisation (std 1/sqrt(width), He for ReLU),
    six sigmoid layers shrink the gradient by about 4^-6; six ReLU layers barely."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((200, 64)).astype(np.float32)
    labels = rng.integers(0, 10, 200)
    width = 64

    def ratio(activation, init_std):
        model = build_mlp([width] * 6, activation, input_size=64, init_std=init_std, seed=0)
        norms = list(layer_gradient_norms(model, SoftmaxCrossEntropyLoss(), x, labels).values())
        return norms[0] / norms[-1]

    sigmoid_ratio = ratio("sigmoid", 1 / np.sqrt(width))
    relu_ratio = ratio("relu", np.sqrt(2 / width))
    assert sigmoid_ratio < 1e-2, sigmoid_ratio  # 4^-6 = 2.4e-4, orders of magnitude
    assert 0.1 < relu_ratio < 10, relu_ratio
    assert relu_ratio / sigmoid_ratio > 100


# --------------------------------------------------------------------------- #
# glorot_reinitialise (notebook 09)
# --------------------------------------------------------------------------- #


def test_glorot_std_is_the_forward_backward_compromise():
    assert glorot_std(784, 512) == pytest.approx(np.sqrt(2 / 1296))
    assert glorot_std(100, 100) == pytest.approx(0.1)  # fan_in = fan_out: 1/sqrt(fan_in)
    with pytest.raises(ValueError, match="must be positive"):
        glorot_std(0, 10)


def test_glorot_reinitialise_redraws_each_layer_at_its_own_scale_in_place():
    model = build_mlp("mlp2", "sigmoid", init_std=0.01, seed=0)
    linears = [layer for layer in model.layers if isinstance(layer, Linear)]
    arrays = [layer.W.data for layer in linears]
    for layer in linears:
        layer.b.data[...] = 1.0
    stds = glorot_reinitialise(model, seed=3)
    assert stds == pytest.approx([np.sqrt(2 / 1296), np.sqrt(2 / 768), np.sqrt(2 / 266)])
    for layer, array, std in zip(linears, arrays, stds):
        assert layer.W.data is array  # overwritten, so an optimiser built before still sees it
        assert layer.W.data.dtype == np.float32
        assert np.std(layer.W.data) == pytest.approx(std, rel=0.05)
        assert not layer.b.data.any()
    again = build_mlp("mlp2", "sigmoid", init_std=0.01, seed=0)
    glorot_reinitialise(again, seed=3)
    assert all(np.array_equal(a.data, b.data) for a, b in
               zip(model.named_parameters().values(), again.named_parameters().values()))
    with pytest.raises(ValueError, match="at least one Linear"):
        glorot_reinitialise(Sequential(Sigmoid()))


def test_glorot_weights_give_the_first_sigmoid_layer_a_larger_share_of_the_gradient():
    """MLP2 with Sigmoid: at N(0, 0.01^2) the first layer's gradient is a tiny share of the
    output layer's; at Glorot's scale it is several times larger (the fix notebook 09 runs)."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((100, 784)).astype(np.float32)
    labels = rng.integers(0, 10, 100)

    def first_over_last(model):
        norms = list(layer_gradient_norms(model, SoftmaxCrossEntropyLoss(), x, labels).values())
        return norms[0] / norms[-1]

    small = first_over_last(build_mlp("mlp2", "sigmoid", init_std=0.01, seed=0))
    glorot = build_mlp("mlp2", "sigmoid", init_std=0.01, seed=0)
    glorot_reinitialise(glorot, seed=0)
    assert first_over_last(glorot) > 5 * small


# --------------------------------------------------------------------------- #
# Output gradients and saturation
# --------------------------------------------------------------------------- #


def test_sigmoid_l2_gradient_at_known_points():
    z = np.array([[0.0, 0.0], [np.log(3.0), -np.log(3.0)]])  # sigma(ln 3) = 3/4
    labels = np.array([0, 1])
    grad = sigmoid_l2_output_gradient(z, labels)
    # (y - t) y (1 - y): row 0: y = 1/2, row 1: y = (3/4, 1/4)
    expected = np.array([[-0.5 * 0.25, 0.5 * 0.25], [0.75 * 0.1875, -0.75 * 0.1875]])
    np.testing.assert_allclose(grad, expected, rtol=1e-12)
    # confidently wrong: true class at z = -20, gradient almost zero although the error is ~1
    assert abs(sigmoid_l2_output_gradient(np.array([[-20.0]]), np.array([0]))[0, 0]) < 1e-8


def test_output_gradients_equal_what_the_layers_backpropagate():
    rng = np.random.default_rng(5)
    z, labels = rng.standard_normal((6, 10)) * 3, rng.integers(0, 10, 6)
    act, l2 = Sigmoid(), L2Loss()
    l2(act.forward(z), labels)
    np.testing.assert_allclose(act.backward(l2.backward()) * 6, sigmoid_l2_output_gradient(z, labels), rtol=1e-10)
    ce = SoftmaxCrossEntropyLoss()
    ce(z, labels)
    np.testing.assert_allclose(ce.backward() * 6, softmax_ce_output_gradient(z, labels), rtol=1e-10, atol=1e-15)


def test_softmax_ce_gradient_is_largest_when_most_wrong():
    z = np.zeros((3, 10))
    z[:, 0] = [-10.0, 0.0, 10.0]
    grad = softmax_ce_output_gradient(z, np.zeros(3, dtype=int))[:, 0]
    assert grad[0] == pytest.approx(-1.0, abs=1e-4)  # very wrong: full-size gradient
    assert grad[1] == pytest.approx(0.1 - 1.0)
    assert abs(grad[2]) < 1e-3


# --------------------------------------------------------------------------- #
# Hinge helpers
# --------------------------------------------------------------------------- #


def test_score_gaps_and_hinge_active_fraction():
    outputs = np.array([[3.0, 1.0, 0.0], [0.2, 0.9, 0.5]])
    labels = np.array([0, 2])
    np.testing.assert_allclose(score_gaps(outputs, labels), [2.0, -0.4])
    # margin 1: row 0 terms 1-3+1=-1, 1-3+0=-2 (off); row 1: 1-.5+.2=.7, 1-.5+.9=1.4 (on)
    assert hinge_active_fraction(outputs, labels, 1.0) == pytest.approx(0.5)
    assert hinge_active_fraction(outputs, labels, 2.5) == pytest.approx(0.75)
    # outputs confined to [0, 1]: a margin of 1 or more keeps every term active
    rng = np.random.default_rng(0)
    assert hinge_active_fraction(rng.uniform(size=(50, 10)), rng.integers(0, 10, 50), 1.0) == 1.0


# --------------------------------------------------------------------------- #
# Early stopping replay, recorded runs and sweeps
# --------------------------------------------------------------------------- #


def test_early_stopping_epoch_replays_the_stopper():
    assert early_stopping_epoch([0.90, 0.92, 0.91, 0.92], patience=2) == (2, 4)
    assert early_stopping_epoch([0.5, 0.6, 0.7], patience=2) == (3, 3)
    assert early_stopping_epoch([1.0, 0.8, 0.9, 0.7, 0.75], patience=1, mode="min") == (2, 3)
    with pytest.raises(ValueError, match="at least one value"):
        early_stopping_epoch([], patience=2)


def test_recorded_run_reproduces_run_and_measures_every_epoch():
    splits = _toy_splits()
    config = TrainConfig(architecture=[16], max_epochs=3, patience=None, seed=3)
    _, history, values = recorded_run(config, splits, lambda m, l: float(np.abs(m[0].W.data).sum()))
    _, reference = run(config, splits, progress=False)
    assert history.metrics["test_acc"] == reference.metrics["test_acc"]
    assert history.metrics["train_loss"] == reference.metrics["train_loss"]
    assert len(values) == 4 and len(set(values)) == 4  # init + 3 epochs, weights moved each time


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # the overflow that makes a run diverge
def test_sweep_runs_the_grid_and_records_divergence():
    splits = _toy_splits()
    base = TrainConfig(architecture=[16], activation="sigmoid", loss="l2", max_epochs=4, patience=None)
    epochs_seen = lambda model, loss_fn: len(model.layers)  # noqa: E731 - a constant measurement
    results = sweep(base, splits, {"lr": [0.01, 1e6], "momentum": [0.0, 0.9]}, epochs_seen, progress=False)
    assert [(r.overrides["lr"], r.overrides["momentum"]) for r in results] == [
        (0.01, 0.0), (0.01, 0.9), (1e6, 0.0), (1e6, 0.9)]
    assert results[1].config.momentum == 0.9 and results[1].config.lr == 0.01
    assert not results[0].diverged and results[0].history.num_epochs == 4
    assert results[0].measurements == [3] * 5  # at init and after each of 4 epochs
    bad = results[2]
    assert bad.diverged and bad.history is None and bad.error.startswith("training diverged")
    assert len(bad.measurements) == 4  # init + 3 epochs completed before the loss became inf
    with pytest.raises(ValueError, match="unknown TrainConfig fields"):
        sweep(base, splits, {"learning_rate": [0.1]}, progress=False)


# --------------------------------------------------------------------------- #
# Notebook 10's measurements on trained nets
# --------------------------------------------------------------------------- #


def test_output_logits_stop_before_the_output_activation():
    rng = np.random.default_rng(3)
    first, out = Linear(6, 5, rng=rng), Linear(5, 4, rng=rng)
    with_sigmoid = Sequential(first, Sigmoid(), out, Sigmoid())
    without = Sequential(first, Sigmoid(), out)
    x = rng.standard_normal((7, 6))
    z = output_logits(with_sigmoid, x)
    np.testing.assert_allclose(z, without.forward(x))
    np.testing.assert_allclose(1 / (1 + np.exp(-z)), with_sigmoid.forward(x), rtol=1e-6)
    with pytest.raises(ValueError, match="at least one Linear"):
        output_logits(Sequential(Sigmoid()), x)


def test_empirical_cdf_counts_the_share_at_or_below_each_value():
    x, share = empirical_cdf(np.array([[3.0, 1.0], [2.0, 2.0]]))
    np.testing.assert_array_equal(x, [1.0, 2.0, 2.0, 3.0])
    np.testing.assert_array_equal(share, [0.25, 0.5, 0.75, 1.0])
    with pytest.raises(ValueError, match="NaN"):
        empirical_cdf(np.array([1.0, np.nan]))
    with pytest.raises(ValueError, match="at least one"):
        empirical_cdf(np.array([]))


def test_squared_norm_share_weights_rows_by_their_squared_norm():
    grad = np.array([[3.0, 4.0], [0.0, 0.0], [1.0, 0.0]])  # squared norms 25, 0, 1
    assert squared_norm_share(grad, np.array([True, False, False])) == pytest.approx(25 / 26)
    assert squared_norm_share(grad, np.array([False, True, True])) == pytest.approx(1 / 26)
    assert squared_norm_share(np.zeros((2, 3)), np.array([True, False])) == 0.0
    with pytest.raises(ValueError, match=r"\(N, K\)"):
        squared_norm_share(grad, np.array([True, False]))


def test_reference_printed_l2_is_the_unsquared_batch_norm():
    rng = np.random.default_rng(4)
    y, labels = rng.standard_normal((100, 10)), rng.integers(0, 10, 100)
    loss = L2Loss()
    kit_value = float(loss(y, labels))  # the course's 1/(2B) sum ||y - t||^2
    t = np.eye(10)[labels]
    printed = np.linalg.norm(y - t) / (2 * 100)  # the reference's np.linalg.norm without **2
    assert reference_printed_l2(kit_value, 100) == pytest.approx(printed, rel=1e-6)
    assert reference_printed_l2(0.02) == pytest.approx(0.01)
    with pytest.raises(ValueError, match="loss >= 0"):
        reference_printed_l2(-1.0)
