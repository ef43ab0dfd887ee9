"""Dropout: what a random mask must satisfy, the gradient for a fixed mask, the two modes, bad input.

A right Dropout may draw its mask in more than one way (keep where u >= p, or
where u < 1 - p, ...), so these tests check what every right one does: each
output entry is 0 or x / (1 - p), about a share p of them is 0, every entry on
its own, a new mask per forward pass, drawn from the layer's own generator;
backward passes the gradient exactly where forward kept the entry, scaled the
same way; evaluation mode changes nothing.
"""

import numpy as np
import pytest

from mlp_core import SGD, Dropout, Linear, Module, ReLU, Sequential, build_mlp, get_loss, train
from mlp_core.gradcheck import check_module
from mlp_core.training import TrainingDiverged

from mlp_core.data import load_mnist, subset

from ._mnist import require_mnist


def positive(shape, seed=100):
    """Entries in [1, 3): none is 0, so a zero in the output can only be a dropped entry.

    (Drawn from another seed than any layer's below: the same uniform numbers would tie x to the mask.)
    """
    return (1 + 2 * np.random.default_rng([seed, 1]).random(shape)).astype(np.float32)


@pytest.mark.parametrize("p", [0.2, 0.5, 0.8])
def test_training_mode_zeroes_a_share_p_and_scales_the_rest_by_one_over_one_minus_p(p):
    x = positive((200, 500))
    y = Dropout(p, rng=0).forward(x)
    assert y.shape == x.shape and y.dtype == np.float32
    dropped = y == 0
    np.testing.assert_allclose(y[~dropped], x[~dropped] / (1 - p), rtol=1e-6)
    share, sigma = dropped.mean(), np.sqrt(p * (1 - p) / x.size)
    assert abs(share - p) < 5 * sigma, f"dropped {share:.4f} of the entries, expected p = {p}"
    assert abs(y.mean() / x.mean() - 1) < 0.02  # inverted dropout: E[y] = x


def test_every_entry_is_dropped_on_its_own_and_every_pass_draws_a_new_mask():
    layer = Dropout(0.5, rng=1)
    x = positive((50, 40))
    first, second = layer.forward(x) == 0, layer.forward(x) == 0
    assert not np.array_equal(first, second), "two forward passes dropped the same entries"
    assert len({row.tobytes() for row in first}) > 1, "every row has the same mask: draw one number per entry"
    assert len({col.tobytes() for col in first.T}) > 1, "every column has the same mask"


def test_the_mask_comes_from_the_layers_own_generator_not_the_global_one():
    x = positive((30, 20))
    np.random.seed(0)
    a = Dropout(0.3, rng=7).forward(x)
    np.random.seed(1)
    b = Dropout(0.3, rng=np.random.default_rng(7)).forward(x)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, Dropout(0.3, rng=8).forward(x))


def test_backward_passes_the_gradient_where_forward_kept_the_entry_scaled_alike():
    p = 0.5
    layer = Dropout(p, rng=3)
    x = positive((6, 7), seed=1)
    y = layer.forward(x)
    grad = np.random.default_rng(2).standard_normal(x.shape).astype(np.float32)
    dx = layer.backward(grad)
    assert dx.shape == x.shape
    np.testing.assert_allclose(dx, grad * (y / x), rtol=1e-6)  # y / x is the mask: 0 or 1 / (1 - p)
    assert np.any(dx != 0) and np.any(dx == 0)
    np.testing.assert_allclose(layer.backward(np.ones_like(x)), np.where(y == 0, 0.0, 2.0))  # known values


class SameMask(Module):
    """A Dropout whose generator starts afresh before every forward pass: one mask, so it can be differentiated."""

    def __init__(self, p: float, seed: int):
        self.layer, self.seed = Dropout(p), seed

    def forward(self, x):
        self.layer.rng = np.random.default_rng(self.seed)
        return self.layer.forward(x)

    def backward(self, grad_output):
        return self.layer.backward(grad_output)


@pytest.mark.parametrize("p", [0.25, 0.6])
def test_gradient_check_with_the_mask_held_fixed(p):
    x = np.random.default_rng(4).standard_normal((5, 8))
    wrapped = SameMask(p, seed=11)
    errors = check_module(wrapped, x)
    assert errors["input"] < 1e-7, errors
    assert np.any(wrapped.layer.backward(np.ones_like(x)) != 0)


def test_evaluation_mode_and_p_zero_change_nothing():
    x = positive((4, 5))
    grad = np.random.default_rng(0).standard_normal(x.shape).astype(np.float32)
    layer = Dropout(0.5, rng=0)
    assert layer.eval() is layer and layer.training is False
    np.testing.assert_array_equal(layer.forward(x), x)
    np.testing.assert_array_equal(layer.backward(grad), grad)
    assert layer.train() is layer and layer.training is True
    assert np.any(layer.forward(x) == 0)
    zero = Dropout(0.0, rng=0)
    np.testing.assert_array_equal(zero.forward(x), x)
    np.testing.assert_array_equal(zero.backward(grad), grad)


def test_backward_follows_the_mode_of_the_last_forward_pass():
    layer = Dropout(0.5, rng=0)
    x = positive((3, 4))
    layer.forward(x)
    layer.eval()
    layer.forward(x)
    np.testing.assert_array_equal(layer.backward(np.ones_like(x)), np.ones_like(x))


@pytest.mark.parametrize("p", [-0.1, 1, 1.5, float("nan"), "0.5", True, None])
def test_bad_probabilities_are_refused_with_one_clear_line(p):
    with pytest.raises(ValueError, match=r"dropout probability must be a number in \[0, 1\)"):
        Dropout(p)
    with pytest.raises(ValueError, match="dropout probability"):
        build_mlp("mlp1", "relu", dropout=p)


def test_train_and_eval_reach_every_layer_of_a_network():
    model = build_mlp("mlp2", "relu", dropout=0.5, seed=0)
    assert [type(layer).__name__ for layer in model.layers] == [
        "Linear", "ReLU", "Dropout", "Linear", "ReLU", "Dropout", "Linear"]
    assert model.eval() is model
    assert not model.training and not any(layer.training for layer in model.layers)
    assert model.train() is model and all(layer.training for layer in model.layers)
    x = np.random.default_rng(0).standard_normal((8, 784)).astype(np.float32)
    assert not np.array_equal(model.forward(x), model.forward(x))
    model.eval()
    np.testing.assert_array_equal(model.forward(x), build_mlp("mlp2", "relu", seed=0).forward(x))


def test_build_mlp_draws_the_same_weights_with_and_without_dropout():
    plain, dropped = build_mlp("mlp1", "gelu", seed=3), build_mlp("mlp1", "gelu", seed=3, dropout=0.2)
    assert len(dropped.layers) == 4 and len(build_mlp([], "relu", dropout=0.5).layers) == 1  # none after the output
    for mine, theirs in zip(plain.parameters(), dropped.parameters(), strict=True):
        np.testing.assert_array_equal(mine.data, theirs.data)


class ModeSpy(Module):
    """Passes its input on and notes, at each forward pass, whether it was in training mode."""

    def __init__(self):
        self.seen: list[bool] = []

    def forward(self, x):
        self.seen.append(self.training)
        return x

    def backward(self, grad_output):
        return grad_output


def test_train_runs_each_epoch_in_training_mode_and_evaluates_in_evaluation_mode():
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((40, 6)).astype(np.float32), rng.integers(0, 3, 40)
    spy = ModeSpy()
    model = Sequential(Linear(6, 5, rng=0), ReLU(), spy, Linear(5, 3, rng=1))
    history = train(model, get_loss("cross_entropy"), SGD(model.parameters(), lr=0.1), (x, y), (x[:10], y[:10]),
                    batch_size=20, max_epochs=2, patience=None, progress=False)
    # per epoch: 2 training batches, then one evaluation of the test split (one batch of 10)
    assert spy.seen == [True, True, False, True, True, False] and history.num_epochs == 2
    assert not model.training and not spy.training  # left ready to predict


def test_train_leaves_the_model_in_evaluation_mode_when_training_diverges():
    x, y = np.ones((4, 2), dtype=np.float32), np.array([0, 1, 0, 1])
    model = Sequential(Linear(2, 2, rng=0), Dropout(0.5, rng=0))
    with np.errstate(all="ignore"), pytest.raises(TrainingDiverged):
        train(model, get_loss("l2"), SGD(model.parameters(), lr=1e30), (x, y), batch_size=2, max_epochs=3,
              patience=None, progress=False)
    assert not model.training


def test_dropout_on_real_mnist_learns_and_evaluates_deterministically():
    train_set, test_set = load_mnist(require_mnist())
    (x, y), (tx, ty) = subset(train_set, 3000, seed=0), subset(test_set, 1000, seed=0)
    results = {}
    for p in (0.0, 0.5):
        model = build_mlp("mlp1", "relu", dropout=p, seed=0)
        history = train(model, get_loss("cross_entropy"), SGD(model.parameters(), lr=0.05, momentum=0.9), (x, y),
                        (tx, ty), max_epochs=3, patience=None, progress=False)
        results[p] = history.final()
        np.testing.assert_array_equal(model.forward(tx[:50]), model.forward(tx[:50]))  # evaluation mode: no mask
    assert results[0.0]["test_acc"] > 0.85 and results[0.5]["test_acc"] > 0.85, results
    # the epoch's train_acc is that of the thinned networks: lower with half of the units dropped
    assert results[0.5]["train_acc"] < results[0.0]["train_acc"]
