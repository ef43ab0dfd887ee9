"""Sequential and build_mlp: architectures, whole-network gradient checks, state."""

import numpy as np
import pytest

from mlp_core.activations import GELU, ReLU, Sigmoid
from mlp_core.gradcheck import check_network
from mlp_core.layers import Linear
from mlp_core.losses import HingeLoss, L2Loss, SoftmaxCrossEntropyLoss
from mlp_core.network import Sequential, build_mlp

TOL = 1e-6


def layer_summary(model):
    return [(type(l).__name__, getattr(l, "in_features", None), getattr(l, "out_features", None)) for l in model]


def test_mlp1_and_mlp2_match_the_report():
    assert layer_summary(build_mlp("mlp1", "relu")) == [
        ("Linear", 784, 256), ("ReLU", None, None), ("Linear", 256, 10)]
    assert layer_summary(build_mlp("mlp2", "sigmoid")) == [
        ("Linear", 784, 512), ("Sigmoid", None, None), ("Linear", 512, 256),
        ("Sigmoid", None, None), ("Linear", 256, 10)]
    assert layer_summary(build_mlp(2, "gelu")) == layer_summary(build_mlp([512, 256], "gelu"))


def test_output_activation_is_optional_and_off_by_default():
    assert isinstance(build_mlp("mlp1", "relu")[-1], Linear)
    assert isinstance(build_mlp("mlp1", "gelu", output_activation="same")[-1], GELU)
    assert isinstance(build_mlp("mlp1", "relu", output_activation="sigmoid")[-1], Sigmoid)
    assert isinstance(build_mlp("mlp1", "relu", output_activation="none")[-1], Linear)


def test_any_depth_and_width():
    model = build_mlp([32, 16, 8, 4], "relu", input_size=20, num_classes=3)
    assert len(model) == 9
    assert model.forward(np.zeros((5, 20), dtype=np.float32)).shape == (5, 3)
    assert len(build_mlp([], "relu")) == 1  # softmax regression


def test_first_layer_skips_the_input_gradient_only():
    model = build_mlp("mlp2", "relu")
    linears = [l for l in model if isinstance(l, Linear)]
    assert [l.compute_input_grad for l in linears] == [False, True, True]


def test_same_seed_same_network():
    a, b, c = build_mlp("mlp1", seed=5), build_mlp("mlp1", seed=5), build_mlp("mlp1", seed=6)
    for (na, pa), (nb, pb), (_, pc) in zip(a.named_parameters().items(), b.named_parameters().items(),
                                           c.named_parameters().items()):
        assert na == nb
        np.testing.assert_array_equal(pa.data, pb.data)
    assert not np.array_equal(a[0].W.data, c[0].W.data)


@pytest.mark.parametrize("activation", ["sigmoid", "relu", "gelu", "tanh"])
@pytest.mark.parametrize("loss", [L2Loss(), SoftmaxCrossEntropyLoss(), HingeLoss(5.0)], ids=repr)
@pytest.mark.parametrize("output_activation", [None, "same"])
def test_whole_network_gradient_check(activation, loss, output_activation):
    rng = np.random.default_rng(3)
    model = build_mlp([6, 5], activation, input_size=4, num_classes=3, init_std=1.0,
                      output_activation=output_activation, seed=1)
    x = rng.standard_normal((5, 4))
    labels = np.array([0, 1, 2, 1, 0])
    errors = check_network(model, loss, x, labels)
    assert set(errors) == {"0.W", "0.b", "2.W", "2.b", "4.W", "4.b"}
    assert max(errors.values()) < TOL, errors


def test_named_parameters_and_state_dict_round_trip():
    model = build_mlp("mlp1", seed=0)
    assert list(model.named_parameters()) == ["0.W", "0.b", "2.W", "2.b"]
    state = model.state_dict()
    model[0].W.data += 1
    model.load_state_dict(state)
    np.testing.assert_array_equal(model[0].W.data, state["0.W"])
    with pytest.raises(ValueError, match="do not match"):
        model.load_state_dict({"0.W": state["0.W"]})
    with pytest.raises(ValueError, match="saved shape"):
        model.load_state_dict({**state, "0.b": np.zeros(3)})


def test_sequential_runs_layers_in_order_and_back():
    model = Sequential(Linear(2, 2, init_std=1, rng=0), ReLU())
    x = np.array([[1.0, -1.0]], dtype=np.float32)
    np.testing.assert_allclose(model(x), np.maximum(x @ model[0].W.data, 0))
    assert "Linear(2, 2)" in repr(model)


def test_sequential_backward_chains_the_layers_in_reverse():
    rng = np.random.default_rng(0)
    first, act, second = (Linear(4, 5, init_std=1, rng=1, dtype=np.float64), Sigmoid(),
                          Linear(5, 3, init_std=1, rng=2, dtype=np.float64))
    model = Sequential(first, act, second)
    x, g = rng.standard_normal((6, 4)), rng.standard_normal((6, 3))
    h = act.forward(first.forward(x))
    np.testing.assert_allclose(model.forward(x), h @ second.W.data + second.b.data)
    dx = model.backward(g)
    dh = (g @ second.W.data.T) * h * (1 - h)  # back through the output layer, then the Sigmoid
    np.testing.assert_allclose(second.W.grad, h.T @ g)
    np.testing.assert_allclose(first.W.grad, x.T @ dh)
    np.testing.assert_allclose(dx, dh @ first.W.data.T)
    first.compute_input_grad = False
    model.forward(x)
    assert model.backward(g) is None  # what the first layer returns


@pytest.mark.parametrize("bad, match", [("mlp3", "choose one of: mlp1, mlp2"), (3, "choose 1 or 2"),
                                        ([10, 0], "must be positive")])
def test_bad_architecture(bad, match):
    with pytest.raises(ValueError, match=match):
        build_mlp(bad)


def test_bad_activation():
    with pytest.raises(ValueError, match="choose one of"):
        build_mlp("mlp1", "softplus")
