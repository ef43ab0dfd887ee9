"""Hidden tests of Linear (notebook 01): values, summed gradients, a gradient check."""

import numpy as np
from mlp_grading_plugin import as_array, assert_close, numerical_gradient, relative_error

GRAD_TOL = 1e-6


def make_linear(mlp, n_in, n_out, seed, dtype=np.float64, **kw):
    layer = mlp.Linear(n_in, n_out, rng=np.random.default_rng(seed), dtype=dtype, **kw)
    rng = np.random.default_rng(seed + 100)
    layer.W.data = rng.standard_normal((n_in, n_out)).astype(dtype)
    layer.b.data = rng.standard_normal(n_out).astype(dtype)
    return layer


def test_linear_forward_known_values(mlp):
    layer = mlp.Linear(3, 2, dtype=np.float32)
    layer.W.data = np.array([[1.0, -1.0], [0.5, 2.0], [0.0, 3.0]], dtype=np.float32)
    layer.b.data = np.array([0.25, -0.5], dtype=np.float32)
    x = np.array([[2.0, 4.0, -1.0]], dtype=np.float32)
    y = as_array(layer.forward(x), "Linear.forward")
    assert_close(y, [[4.25, 2.5]], "Linear.forward of one sample (y = x W + b)")


def test_linear_forward_batch(mlp):
    layer = make_linear(mlp, 6, 4, seed=1)
    x = np.random.default_rng(2).standard_normal((7, 6))
    y = as_array(layer.forward(x), "Linear.forward")
    assert_close(y, x @ layer.W.data + layer.b.data, "Linear.forward of a batch of 7, shape (7, 4)")


def test_linear_backward_sums_over_the_batch(mlp):
    layer = make_linear(mlp, 5, 3, seed=3)
    x = np.random.default_rng(4).standard_normal((9, 5))
    g = np.random.default_rng(5).standard_normal((9, 3))
    layer.forward(x)
    dx = as_array(layer.backward(g), "Linear.backward")
    assert_close(layer.W.grad, x.T @ g, "Linear.backward: W.grad (x^T G, summed over the batch, not averaged)")
    assert_close(layer.b.grad, g.sum(axis=0), "Linear.backward: b.grad (G summed over the batch)")
    assert_close(dx, g @ layer.W.data.T, "Linear.backward: the returned dE/dx (G W^T)")


def test_linear_gradient_check(mlp):
    layer = make_linear(mlp, 4, 3, seed=6)
    x = np.random.default_rng(7).standard_normal((5, 4))
    upstream = np.random.default_rng(8).standard_normal((5, 3))

    def f():
        return float(np.sum(layer.forward(x) * upstream))

    layer.forward(x)
    dx = layer.backward(upstream)
    analytic = {"x": dx, "W": layer.W.grad.copy(), "b": layer.b.grad.copy()}
    for name, array in (("x", x), ("W", layer.W.data), ("b", layer.b.data)):
        err = relative_error(analytic[name], numerical_gradient(f, array))
        assert err < GRAD_TOL, f"Linear gradient check of {name}: relative error {err:.1e} >= {GRAD_TOL:.0e}"


def test_linear_first_layer_skips_the_input_gradient(mlp):
    layer = make_linear(mlp, 4, 2, seed=9, compute_input_grad=False)
    x = np.random.default_rng(10).standard_normal((3, 4))
    g = np.random.default_rng(11).standard_normal((3, 2))
    layer.forward(x)
    dx = layer.backward(g)
    assert dx is None, "Linear.backward with compute_input_grad=False must return None"
    assert_close(layer.W.grad, x.T @ g, "Linear.backward with compute_input_grad=False: W.grad")
