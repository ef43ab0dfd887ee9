"""The gradient checker itself must catch wrong gradients."""

import numpy as np

from mlp_core.activations import Sigmoid
from mlp_core.gradcheck import check_loss, check_module, numerical_gradient, relative_error
from mlp_core.losses import SoftmaxCrossEntropyLoss


def test_numerical_gradient_of_a_known_function():
    x = np.array([1.0, -2.0, 3.0])
    grad = numerical_gradient(lambda: float(np.sum(x**3)), x)
    np.testing.assert_allclose(grad, 3 * x**2, rtol=1e-8)
    np.testing.assert_array_equal(x, [1.0, -2.0, 3.0])  # restored


def test_relative_error():
    assert relative_error(np.ones(3), np.ones(3)) == 0.0
    assert relative_error(np.zeros(3), np.zeros(3)) == 0.0
    assert relative_error(np.array([1.0]), np.array([-1.0])) == 1.0


class WrongSigmoid(Sigmoid):
    def backward(self, grad_output):
        return -super().backward(grad_output)  # a sign error


class ForgotOneOverN(SoftmaxCrossEntropyLoss):
    def backward(self):
        return super().backward() * len(self.cache[1])


def test_checker_catches_a_sign_error():
    x = np.random.default_rng(0).standard_normal((3, 4))
    assert check_module(Sigmoid(), x)["input"] < 1e-7
    assert check_module(WrongSigmoid(), x)["input"] > 0.5


def test_checker_catches_a_missing_one_over_n():
    x = np.random.default_rng(0).standard_normal((4, 3))
    labels = np.array([0, 1, 2, 0])
    assert check_loss(SoftmaxCrossEntropyLoss(), x, labels) < 1e-7
    assert check_loss(ForgotOneOverN(), x, labels) > 0.5
