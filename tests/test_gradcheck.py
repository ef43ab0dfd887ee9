"""The gradient checker itself must catch wrong gradients."""

import numpy as np

from mlp_core.gradcheck import check_loss, check_module, numerical_gradient, relative_error
from mlp_core.layers import Module
from mlp_core.losses import Loss, one_hot


def test_numerical_gradient_of_a_known_function():
    x = np.array([1.0, -2.0, 3.0])
    grad = numerical_gradient(lambda: float(np.sum(x**3)), x)
    np.testing.assert_allclose(grad, 3 * x**2, rtol=1e-8)
    np.testing.assert_array_equal(x, [1.0, -2.0, 3.0])  # restored


def test_relative_error():
    assert relative_error(np.ones(3), np.ones(3)) == 0.0
    assert relative_error(np.zeros(3), np.zeros(3)) == 0.0
    assert relative_error(np.array([1.0]), np.array([-1.0])) == 1.0


class Cube(Module):
    """y = x^3 element-wise, with a weight-free backward dE/dx = 3 x^2 G; ``sign`` -1 plants a sign error."""

    def __init__(self, sign: float = 1.0):
        self.sign = sign

    def forward(self, x):
        self.inputs = x
        return x**3

    def backward(self, grad_output):
        return self.sign * 3 * self.inputs**2 * grad_output


class MeanSquares(Loss):
    """E = 1/(2N) sum (x - onehot)^2 written here, so the checker is tested on code of its own;
    ``scale`` N plants the classic mistake of forgetting the 1/N in the gradient."""

    def __init__(self, scale: float = 1.0):
        self.scale = scale

    def forward(self, x, labels):
        self.residual = x - one_hot(labels, x.shape[1], x.dtype)
        return float(0.5 * np.sum(self.residual**2) / x.shape[0])

    def backward(self):
        return self.scale * self.residual / self.residual.shape[0]


def test_checker_catches_a_sign_error():
    x = np.random.default_rng(0).standard_normal((3, 4))
    assert check_module(Cube(), x)["input"] < 1e-7
    assert check_module(Cube(sign=-1.0), x)["input"] > 0.5


def test_checker_catches_a_missing_one_over_n():
    x = np.random.default_rng(0).standard_normal((4, 3))
    labels = np.array([0, 1, 2, 0])
    assert check_loss(MeanSquares(), x, labels) < 1e-7
    assert check_loss(MeanSquares(scale=len(labels)), x, labels) > 0.5
