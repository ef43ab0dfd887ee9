"""Element-wise activation functions: Sigmoid, ReLU, GELU, Tanh and Identity.

Each maps an array of any shape, typically (N, features), to one of the same
shape, and its backward multiplies the incoming gradient element-wise by the
derivative: dE/dx = dE/dy * f'(x).
"""

from __future__ import annotations

import math

import numpy as np

from .layers import Module


class Sigmoid(Module):
    """sigma(x) = 1 / (1 + exp(-x)), values in (0, 1).

    Derivation:
        sigma'(x) = sigma(x) (1 - sigma(x)) <= 1/4, largest at x = 0.

    Computed as 0.5 * (1 + tanh(x / 2)), the same function written so that
    it never overflows: exp(-x) overflows float32 for x below about -88.72
    (float64: -709.78), as the largest float32, 3.4e38, is exp(88.72); tanh never does.
    """

    def forward(self, x: np.ndarray) -> np.ndarray:
        """x: any shape -> sigma(x), same shape, values in [0, 1]; caches what backward needs."""
        # BEGIN SOLUTION
        y = np.tanh(0.5 * x)
        y += 1
        y *= 0.5
        self.cache = y
        return y
        # END SOLUTION

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        """grad_output dE/dy: the shape of x -> dE/dx, same shape, from what forward cached."""
        # BEGIN SOLUTION
        y = self.cache
        return grad_output * y * (1 - y)
        # END SOLUTION


class ReLU(Module):
    """relu(x) = max(0, x).

    Derivation:
        relu'(x) = 1 if x > 0 else 0.
    """

    def forward(self, x: np.ndarray) -> np.ndarray:
        """x: any shape -> max(0, x), same shape; caches what backward needs."""
        # BEGIN SOLUTION
        y = np.maximum(x, 0)
        self.cache = y
        return y
        # END SOLUTION

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        """grad_output dE/dy: the shape of x -> dE/dx, same shape, from what forward cached.

        At exactly x = 0, where max(0, x) has no derivative, the course takes the derivative to be 0.
        """
        # BEGIN SOLUTION
        y = self.cache
        return grad_output * (y > 0)
        # END SOLUTION


GELU_C = math.sqrt(2.0 / math.pi)
GELU_A = 0.044715


class GELU(Module):
    """GELU with the tanh approximation, as the reference's course used it.

    The exact GELU is x * Phi(x), Phi the standard normal CDF. The course
    (and the original BERT and GPT-2 code) used

        gelu(x) = 0.5 x (1 + tanh(u)),   u = c (x + a x^3),
        c = sqrt(2 / pi), a = 0.044715,

    which differs from the exact form by less than 1e-3 everywhere.

    Derivation:
        with t = tanh(u), gelu'(x) = 0.5 (1 + t) + 0.5 x (1 - t^2) c (1 + 3 a x^2).

    It costs a tanh and a few multiplications more than ReLU per element.
    """

    def forward(self, x: np.ndarray) -> np.ndarray:
        """x: any shape -> gelu(x), same shape; caches what backward needs."""
        # BEGIN SOLUTION
        # t = tanh(c (x + a x^3)), built in one buffer: GELU runs on every hidden
        # unit of every batch, and each temporary array costs time.
        t = x * x
        t *= GELU_A
        t += 1
        t *= x
        t *= GELU_C
        np.tanh(t, out=t)
        self.cache = (x, t)
        y = t + 1
        y *= x
        y *= 0.5
        return y
        # END SOLUTION

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        """grad_output dE/dy: the shape of x -> dE/dx, same shape, from what forward cached."""
        # BEGIN SOLUTION
        x, t = self.cache
        # gelu'(x) = 0.5 (1 + t) + 0.5 x (1 - t^2) c (1 + 3 a x^2), in place
        d = x * x
        d *= 3 * GELU_A
        d += 1
        d *= (0.5 * GELU_C) * x
        d *= 1 - t * t
        d += 0.5 * t
        d += 0.5
        d *= grad_output
        return d
        # END SOLUTION


class Tanh(Module):
    """tanh(x),  tanh'(x) = 1 - tanh(x)^2 <= 1."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        """x: any shape -> tanh(x), same shape, values in [-1, 1]."""
        y = np.tanh(x)
        self.cache = y
        return y

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        """dE/dx = dE/dy * (1 - y^2)."""
        y = self.cache
        return grad_output * (1 - y * y)


class Identity(Module):
    """f(x) = x: the 'no activation' choice, e.g. after the output layer."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        return x

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        return grad_output


ACTIVATIONS: dict[str, type[Module]] = {
    "sigmoid": Sigmoid,
    "relu": ReLU,
    "gelu": GELU,
    "tanh": Tanh,
    "identity": Identity,
}


def get_activation(name: str) -> Module:
    """A new activation layer by name: one of ``ACTIVATIONS``."""
    try:
        return ACTIVATIONS[name.lower()]()
    except (KeyError, AttributeError):
        raise ValueError(
            f"unknown activation {name!r}; choose one of: {', '.join(ACTIVATIONS)}"
        ) from None
