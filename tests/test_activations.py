"""Activations: known values, derivatives, gradient checks, stability on extreme inputs."""

import math
import warnings

import numpy as np
import pytest

from mlp_core.activations import ACTIVATIONS, GELU, Identity, ReLU, Sigmoid, Tanh, get_activation
from mlp_core.gradcheck import check_module

TOL = 1e-6


@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_gradient_check(name):
    # avoid exact zeros, where ReLU's derivative is undefined
    x = np.random.default_rng(0).uniform(-4, 4, size=(5, 7)) + 1e-3
    errors = check_module(get_activation(name), x)
    assert errors["input"] < TOL, errors


def test_sigmoid_known_values():
    y = Sigmoid().forward(np.array([0.0, 2.0, -2.0]))
    np.testing.assert_allclose(y, [0.5, 1 / (1 + math.exp(-2)), 1 / (1 + math.exp(2))], rtol=1e-12)


def test_sigmoid_derivative_is_at_most_a_quarter():
    s = Sigmoid()
    x = np.linspace(-10, 10, 2001)
    s.forward(x)
    d = s.backward(np.ones_like(x))
    assert d.max() == pytest.approx(0.25, abs=1e-12)
    assert d[1000] == pytest.approx(0.25)  # at x = 0


def test_sigmoid_stable_on_extreme_inputs():
    x = np.array([-1e4, -1000.0, -88.8, 0.0, 88.8, 1000.0, 1e4], dtype=np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any overflow warning fails the test
        s = Sigmoid()
        y = s.forward(x)
        d = s.backward(np.ones_like(x))
    assert np.all(np.isfinite(y)) and np.all(np.isfinite(d))
    assert y[0] == 0.0 and y[-1] == 1.0 and y[3] == 0.5


def test_relu_known_values_and_derivative():
    r = ReLU()
    x = np.array([-2.0, -0.5, 0.0, 0.5, 3.0])
    np.testing.assert_array_equal(r.forward(x), [0, 0, 0, 0.5, 3.0])
    np.testing.assert_array_equal(r.backward(np.full(5, 2.0)), [0, 0, 0, 2.0, 2.0])


def test_gelu_is_the_tanh_approximation():
    x = np.linspace(-6, 6, 101)
    expected = 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))
    np.testing.assert_allclose(GELU().forward(x), expected, rtol=1e-12, atol=1e-15)
    exact = np.array([0.5 * v * (1 + math.erf(v / math.sqrt(2))) for v in x])
    assert np.max(np.abs(GELU().forward(x) - exact)) < 1e-3  # close to the erf form, not equal
    assert np.max(np.abs(GELU().forward(x) - exact)) > 1e-6


def test_gelu_stable_on_extreme_inputs():
    x = np.array([-1e4, -50.0, 50.0, 1e4], dtype=np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        g = GELU()
        y = g.forward(x)
        d = g.backward(np.ones_like(x))
    np.testing.assert_allclose(y, [0.0, 0.0, 50.0, 1e4])
    np.testing.assert_allclose(d, [0.0, 0.0, 1.0, 1.0])


def test_gelu_forward_does_not_modify_its_input():
    x = np.array([[0.5, -1.0, 2.0]], dtype=np.float32)
    copy = x.copy()
    GELU().forward(x)
    np.testing.assert_array_equal(x, copy)


def test_tanh_and_identity_known_values():
    # tanh(ln 2) = (4 - 1) / (4 + 1) = 0.6, so tanh'(ln 2) = 1 - 0.36 = 0.64; tanh is odd
    x = np.array([[-math.log(2), 0.0, math.log(2)]])
    t = Tanh()
    np.testing.assert_allclose(t.forward(x), [[-0.6, 0.0, 0.6]], rtol=1e-12)
    np.testing.assert_allclose(t.backward(np.full_like(x, 2.0)), [[1.28, 2.0, 1.28]], rtol=1e-12)
    errors = check_module(Tanh(), np.random.default_rng(3).standard_normal((3, 4)))
    assert errors["input"] < 1e-7
    i = Identity()
    assert i.forward(x) is x and i.backward(x) is x


@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_float32_in_float32_out(name):
    x = np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32)
    layer = get_activation(name)
    assert layer.forward(x).dtype == np.float32
    assert layer.backward(np.ones_like(x)).dtype == np.float32


def test_unknown_activation_lists_choices():
    with pytest.raises(ValueError, match="choose one of: sigmoid, relu, gelu, tanh, identity"):
        get_activation("swish")
