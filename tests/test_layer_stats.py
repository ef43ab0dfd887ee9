"""Activation statistics (by hand, dead and saturated units, every layer found) and update ratios."""

import numpy as np
import pytest

from mlp_core import SGD, Dropout, Linear, ReLU, Sequential, Sigmoid, activation_statistics, build_mlp, update_ratios
from mlp_core.layer_stats import STATISTICS


def hand_network():
    """Linear(2, 3) then ReLU, with weights chosen so that unit 2 is never active on the batch below."""
    linear = Linear(2, 3, dtype=np.float64)
    linear.W.data[...] = [[1.0, -1.0, -1.0], [0.0, 1.0, -2.0]]
    linear.b.data[...] = [0.0, 0.5, -1.0]
    return Sequential(linear, ReLU())


X = np.array([[1.0, 2.0], [-1.0, 0.0], [2.0, -1.0]])
# pre-activations z = X W + b:  [[1, 1.5, -6], [-1, 1.5, 0], [2, -2.5, -1]]
# ReLU outputs h:               [[1, 1.5, 0], [0, 1.5, 0], [2, 0, 0]]


def test_known_values_by_hand():
    stats = activation_statistics(hand_network(), X)
    assert list(stats) == [1]
    h = np.array([[1, 1.5, 0], [0, 1.5, 0], [2, 0, 0]])
    assert list(stats[1]) == list(STATISTICS)
    assert stats[1]["mean"] == pytest.approx(h.mean())  # 6 / 9
    assert stats[1]["std"] == pytest.approx(h.std())
    assert stats[1]["inactive"] == pytest.approx(5 / 9)  # five zeros: no gradient passes there
    assert stats[1]["dead"] == pytest.approx(1 / 3)  # unit 2 is zero for every sample
    assert all(isinstance(v, float) for v in stats[1].values())


def test_a_threshold_counts_saturated_sigmoid_units():
    linear = Linear(1, 2, dtype=np.float64)
    linear.W.data[...] = [[1.0, 20.0]]
    model = Sequential(linear, Sigmoid())
    x = np.array([[1.0], [2.0], [3.0]])  # unit 1 sees 20, 40, 60: its slope is below 1e-8 everywhere
    assert activation_statistics(model, x)[1]["dead"] == 0.0  # no slope is exactly 0
    saturated = activation_statistics(model, x, threshold=1e-3)[1]
    assert saturated["dead"] == pytest.approx(0.5) and saturated["inactive"] == pytest.approx(0.5)


def test_every_activation_layer_is_reported_under_its_index_and_no_other():
    x = np.random.default_rng(0).standard_normal((16, 784)).astype(np.float32)
    assert list(activation_statistics(build_mlp("mlp2", "gelu", seed=0), x)) == [1, 3]
    dropped = build_mlp("mlp2", "relu", seed=0, dropout=0.5).eval()
    assert list(activation_statistics(dropped, x)) == [1, 4]
    assert activation_statistics(build_mlp([], "relu"), x) == {}  # softmax regression: no hidden activation


def test_it_follows_the_network_s_mode_and_changes_no_weight():
    x = np.random.default_rng(1).standard_normal((32, 784)).astype(np.float32)
    model = build_mlp("mlp2", "relu", seed=0, dropout=0.5)
    before = model.state_dict()
    evaluation = activation_statistics(model.eval(), x)
    plain = activation_statistics(build_mlp("mlp2", "relu", seed=0), x)
    assert evaluation[1] == plain[1] and evaluation[4] == plain[3]
    training = activation_statistics(model.train(), x)
    assert training[4] != evaluation[4]  # the second layer saw its input with half of it dropped
    for name, value in model.state_dict().items():
        np.testing.assert_array_equal(value, before[name])


def test_a_dead_unit_found_on_mnist_like_scales():
    model = build_mlp("mlp1", "relu", seed=0)
    model.layers[0].b.data[:64] = -100.0  # 64 of the 256 units can never fire on inputs of this size
    x = np.random.default_rng(2).standard_normal((50, 784)).astype(np.float32)
    stats = activation_statistics(model, x)[1]
    assert stats["dead"] == pytest.approx(64 / 256)
    assert stats["inactive"] > stats["dead"]


def test_a_negative_threshold_is_refused():
    with pytest.raises(ValueError, match="threshold must be >= 0"):
        activation_statistics(hand_network(), X, threshold=-1e-3)


def test_update_ratios_by_hand_and_after_an_sgd_step():
    ratios = update_ratios({"w": np.array([3.0, 4.0]), "b": np.zeros(2)}, {"w": np.array([3.0, 4.5]), "b": np.ones(2)})
    assert ratios["w"] == pytest.approx(0.5 / 5.0) and ratios["b"] == float("inf")
    assert update_ratios({"b": np.zeros(2)}, {"b": np.zeros(2)})["b"] == 0.0
    layer = Linear(4, 3, init_std=1.0, rng=0, dtype=np.float64)
    layer.W.grad[...] = 1.0
    before = {"W": layer.W.data.copy()}
    SGD([layer.W], lr=0.01).step()
    expected = 0.01 * np.sqrt(12) / np.linalg.norm(before["W"])
    assert update_ratios(before, {"W": layer.W.data})["W"] == pytest.approx(expected)


def test_update_ratios_refuse_states_that_do_not_match():
    with pytest.raises(ValueError, match="different parameters"):
        update_ratios({"a": np.ones(2)}, {"b": np.ones(2)})
    with pytest.raises(ValueError, match="shape"):
        update_ratios({"a": np.ones(2)}, {"a": np.ones(3)})


def test_dropout_is_not_an_activation():
    model = Sequential(Linear(3, 3, rng=0), Dropout(0.5, rng=0))
    assert activation_statistics(model.eval(), np.ones((2, 3), dtype=np.float32)) == {}


def test_a_negative_slope_passes_gradient_too():
    """GELU's slope is negative below about -0.75: gradient passes there (with its sign flipped)."""
    from mlp_core import GELU

    linear = Linear(1, 2, dtype=np.float64)
    linear.W.data[...] = [[1.0, 1.0]]
    linear.b.data[...] = [-2.0, -9.0]  # unit 0: z in [-3, -1], slopes about -0.01 to -0.09; unit 1: z near -9
    x = np.array([[-1.0], [0.0], [1.0]])
    stats = activation_statistics(Sequential(linear, GELU()), x, threshold=0.005)[1]
    assert stats["dead"] == pytest.approx(0.5) and stats["inactive"] == pytest.approx(0.5)
