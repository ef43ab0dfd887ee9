"""Hidden whole-network gradient checks: every parameter of a small MLP, through the loss.

These use the student's layers, activations and losses together, so a fault
in any of them shows up here too: that is the point of checking the network
as a whole.
"""

import numpy as np
from mlp_grading_plugin import numerical_gradient, relative_error

GRAD_TOL = 1e-6


def check_network(mlp, activation, loss, sizes, seed):
    rng = np.random.default_rng(seed)
    layers = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layer = mlp.Linear(n_in, n_out, init_std=0.5, rng=rng, dtype=np.float64)
        layer.b.data = rng.standard_normal(n_out) * 0.1
        layers.append(layer)
        if i < len(sizes) - 2:
            layers.append(activation())
    model = mlp.Sequential(*layers)
    x = rng.standard_normal((6, sizes[0]))
    labels = rng.integers(0, sizes[-1], size=6)

    def f():
        return float(loss.forward(model.forward(x), labels))

    f()
    model.backward(loss.backward())
    named = model.named_parameters()
    analytic = {name: p.grad.copy() for name, p in named.items()}
    for name, p in named.items():
        err = relative_error(analytic[name], numerical_gradient(f, p.data))
        assert err < GRAD_TOL, (
            f"network gradient check ({type(model.layers[1]).__name__}, {type(loss).__name__}): "
            f"parameter {name} has relative error {err:.1e} >= {GRAD_TOL:.0e}"
        )


def test_network_relu_cross_entropy(mlp):
    check_network(mlp, mlp.ReLU, mlp.SoftmaxCrossEntropyLoss(), [5, 7, 6, 4], seed=1)


def test_network_sigmoid_l2(mlp):
    check_network(mlp, mlp.Sigmoid, mlp.L2Loss(), [4, 6, 3], seed=2)


def test_network_gelu_hinge(mlp):
    check_network(mlp, mlp.GELU, mlp.HingeLoss(margin=1.0), [5, 6, 4], seed=3)
