"""What an activation costs per call: GELU a few times Tanh, not a hundred times.

Tanh is given (one np.tanh and two products per entry): the yardstick. GELU
(the tanh form) needs a tanh and a handful of products more, so its forward
costs a few times Tanh's, and so does its backward (notebook 02, section 5).
Right values at a hundred times the cost (a power with a general exponent
where two products would do, or a Python loop over the entries) slow every
GELU training run as much: the plausible range is 1 to 15 times Tanh's, for
forward and backward each, so that a slow one is named.
"""

from __future__ import annotations

import timeit

import numpy as np
import pytest

from mlp_core.activations import GELU, Tanh

#: The plausible range of GELU's cost over Tanh's, per pass, on a float32 batch of (100, 256).
PLAUSIBLE = (1.0, 15.0)


def best_seconds(call, number: int = 20) -> float:
    """The best time of one call over a few repeats (the least disturbed by other load)."""
    call()  # warm up
    return min(timeit.repeat(call, number=number, repeat=3)) / number


def pass_seconds(layer, which: str, x: np.ndarray, grad: np.ndarray) -> float:
    layer.forward(x)  # backward needs what forward cached
    return best_seconds((lambda: layer.forward(x)) if which == "forward" else (lambda: layer.backward(grad)))


@pytest.mark.parametrize("which", ["forward", "backward"])
def test_gelu_costs_a_plausible_multiple_of_tanh(which):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((100, 256)).astype(np.float32)
    grad = rng.standard_normal((100, 256)).astype(np.float32)
    gelu, tanh = [], []
    for _ in range(3):  # interleaved, so that a burst of load hits both
        gelu.append(pass_seconds(GELU(), which, x, grad))
        tanh.append(pass_seconds(Tanh(), which, x, grad))
    ratio = min(gelu) / min(tanh)
    low, high = PLAUSIBLE
    assert low < ratio < high, (
        f"GELU.{which} costs {ratio:.1f} times Tanh's, outside {low:g} to {high:g}: GELU needs a tanh and a few "
        f"products per entry more than Tanh; far more means something is computed in an unusually slow way (a power "
        f"with a general exponent costs far more than two products, a Python loop over the entries more again)"
    )
