"""Linear layer: known values, shapes, gradient checks, initialisation, bad input."""

import numpy as np
import pytest

from mlp_core.gradcheck import check_module
from mlp_core.layers import Linear, Parameter

TOL = 1e-6


def test_forward_known_values():
    layer = Linear(2, 3)
    layer.W.data = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], dtype=np.float32)
    layer.b.data = np.array([0.5, -1.0, 0.0], dtype=np.float32)
    x = np.array([[1.0, 1.0], [2.0, -1.0]], dtype=np.float32)
    np.testing.assert_allclose(layer(x), [[5.5, 6.0, 9.0], [-1.5, -2.0, 0.0]])


def test_backward_known_values():
    layer = Linear(2, 2)
    layer.W.data = np.array([[1.0, 2.0], [3.0, 4.0]], dtype=np.float32)
    x = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], dtype=np.float32)
    g = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], dtype=np.float32)
    layer.forward(x)
    dx = layer.backward(g)
    np.testing.assert_allclose(layer.W.grad, x.T @ g)  # summed over the batch, not averaged
    np.testing.assert_allclose(layer.b.grad, [2.0, 2.0])
    np.testing.assert_allclose(dx, [[1.0, 3.0], [2.0, 4.0], [3.0, 7.0]])


def test_gradient_check_float64():
    x = np.random.default_rng(1).standard_normal((4, 5))
    errors = check_module(Linear(5, 3, init_std=1.0, rng=0), x)
    assert set(errors) == {"input", "W", "b"}
    assert max(errors.values()) < TOL, errors


def test_skipping_input_gradient_returns_none_but_fills_parameters():
    layer = Linear(4, 3, rng=0, compute_input_grad=False)
    x = np.ones((2, 4), dtype=np.float32)
    layer.forward(x)
    assert layer.backward(np.ones((2, 3), dtype=np.float32)) is None
    np.testing.assert_allclose(layer.b.grad, [2.0, 2.0, 2.0])


def test_initialisation_is_seeded_and_scaled():
    a = Linear(784, 256, rng=3)
    b = Linear(784, 256, rng=3)
    c = Linear(784, 256, rng=4)
    np.testing.assert_array_equal(a.W.data, b.W.data)
    assert not np.array_equal(a.W.data, c.W.data)
    assert a.W.data.dtype == np.float32 and a.W.data.shape == (784, 256)
    assert abs(a.W.data.std() - 0.01) < 0.0005
    assert abs(a.W.data.mean()) < 0.001
    np.testing.assert_array_equal(a.b.data, 0)
    assert Linear(10, 10, init_std=0.5, rng=0).W.data.std() > 0.3


def test_global_rng_is_not_used():
    np.random.seed(0)
    before = np.random.random()
    np.random.seed(0)
    Linear(50, 50, rng=1)
    assert np.random.random() == before


def test_parameters_by_name_and_zero_grad():
    layer = Linear(3, 2, rng=0)
    params = layer.named_parameters()
    assert list(params) == ["W", "b"]
    assert all(isinstance(p, Parameter) for p in params.values())
    assert params["W"].shape == (3, 2) and params["b"].shape == (2,)
    layer.forward(np.ones((1, 3), dtype=np.float32))
    layer.backward(np.ones((1, 2), dtype=np.float32))
    assert np.any(layer.W.grad != 0)
    layer.zero_grad()
    assert not np.any(layer.W.grad) and not np.any(layer.b.grad)


@pytest.mark.parametrize("shape", [(4,), (2, 4, 1), (2, 5)])
def test_wrong_input_shape_is_a_clear_error(shape):
    with pytest.raises(ValueError, match=r"expects input of shape \(N, 4\)"):
        Linear(4, 2, rng=0).forward(np.zeros(shape, dtype=np.float32))


@pytest.mark.parametrize("sizes", [(0, 3), (3, -1)])
def test_bad_sizes_rejected(sizes):
    with pytest.raises(ValueError, match="must be positive"):
        Linear(*sizes)
