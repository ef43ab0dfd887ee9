"""Hidden tests of Sigmoid, ReLU and GELU (notebook 02): values and gradients."""

import math

import numpy as np
from mlp_grading_plugin import as_array, assert_close, numerical_gradient, relative_error

GRAD_TOL = 1e-6
C, A = math.sqrt(2 / math.pi), 0.044715


def gradient_error(layer, x):
    """Relative error of layer.backward against central differences, in float64."""
    upstream = np.random.default_rng(1).standard_normal(x.shape)
    layer.forward(x)
    analytic = layer.backward(upstream)
    numeric = numerical_gradient(lambda: float(np.sum(layer.forward(x) * upstream)), x)
    return relative_error(analytic, numeric)


def check_backward(layer, name, x):
    err = gradient_error(layer, x)
    assert err < GRAD_TOL, f"{name}.backward: relative error {err:.1e} >= {GRAD_TOL:.0e} against the numerical gradient"


def test_sigmoid_forward(mlp):
    x = np.array([[-100.0, -2.0, 0.0], [1.0, 3.0, 100.0]])
    with np.errstate(over="raise"):
        y = as_array(mlp.Sigmoid().forward(x.copy()), "Sigmoid.forward")
    assert_close(y, 1 / (1 + np.exp(-x)), "Sigmoid.forward (including x = +-100 without overflow)")


def test_sigmoid_backward(mlp):
    x = np.random.default_rng(2).standard_normal((4, 5)) * 2
    check_backward(mlp.Sigmoid(), "Sigmoid", x)
    layer = mlp.Sigmoid()
    layer.forward(np.zeros((1, 2)))
    assert_close(layer.backward(np.ones((1, 2))), [[0.25, 0.25]], "Sigmoid.backward at x = 0 (sigma'(0) = 1/4)")


def test_relu_forward(mlp):
    x = np.array([[-3.0, -0.5, 0.0, 0.5, 3.0]])
    y = as_array(mlp.ReLU().forward(x.copy()), "ReLU.forward")
    assert_close(y, [[0.0, 0.0, 0.0, 0.5, 3.0]], "ReLU.forward")


def test_relu_backward(mlp):
    layer = mlp.ReLU()
    layer.forward(np.array([[-2.0, 0.0, 1.5], [3.0, -0.1, 0.2]]))
    dx = as_array(layer.backward(np.array([[5.0, 6.0, 7.0], [8.0, 9.0, 10.0]])), "ReLU.backward")
    assert_close(dx, [[0.0, 0.0, 7.0], [8.0, 0.0, 10.0]], "ReLU.backward (gradient passes where x > 0 only)")
    x = np.random.default_rng(3).standard_normal((3, 4)) + 0.05
    check_backward(mlp.ReLU(), "ReLU", x)


def test_gelu_forward(mlp):
    x = np.array([[-3.0, -1.0, 0.0, 0.5, 2.0]])
    expected = 0.5 * x * (1 + np.tanh(C * (x + A * x**3)))
    y = as_array(mlp.GELU().forward(x.copy()), "GELU.forward")
    assert_close(y, expected, "GELU.forward (tanh approximation)")


def test_gelu_backward(mlp):
    x = np.random.default_rng(4).standard_normal((3, 6)) * 2
    check_backward(mlp.GELU(), "GELU", x)
