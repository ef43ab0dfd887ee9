"""Hidden tests of the L2, softmax cross-entropy and hinge losses (notebook 03)."""

import numpy as np
from mlp_grading_plugin import assert_close, numerical_gradient, relative_error

GRAD_TOL = 1e-6
X = np.array([[2.0, -1.0, 0.5], [0.0, 3.0, -2.0], [1.0, 1.0, 1.0], [-0.5, 4.0, 2.5]])
LABELS = np.array([0, 2, 1, 1])


def one_hot(labels, k):
    return np.eye(k)[labels]


def softmax(x):
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def hinge(x, labels, margin):
    rows = np.arange(len(labels))
    m = np.maximum(0, margin - x[rows, labels][:, None] + x)
    m[rows, labels] = 0
    return m.sum() / len(labels)


def gradient_error(loss, x, labels):
    loss.forward(x, labels)
    analytic = loss.backward()
    numeric = numerical_gradient(lambda: float(loss.forward(x, labels)), x)
    return relative_error(analytic, numeric)


def check_gradient(loss, name, x, labels):
    err = gradient_error(loss, x, labels)
    assert err < GRAD_TOL, f"{name}.backward: relative error {err:.1e} >= {GRAD_TOL:.0e} against the numerical gradient"


def test_l2_forward(mlp):
    value = mlp.L2Loss().forward(X.copy(), LABELS)
    expected = 0.5 * np.sum((X - one_hot(LABELS, 3)) ** 2) / len(LABELS)
    assert_close(value, expected, "L2Loss.forward (1/(2N) sum ||x - t||^2)")


def test_l2_backward(mlp):
    loss = mlp.L2Loss()
    loss.forward(X.copy(), LABELS)
    assert_close(loss.backward(), (X - one_hot(LABELS, 3)) / len(LABELS), "L2Loss.backward ((x - t) / N)")
    check_gradient(mlp.L2Loss(), "L2Loss", np.random.default_rng(1).standard_normal((5, 4)), np.array([0, 3, 1, 1, 2]))


def test_cross_entropy_forward(mlp):
    value = mlp.SoftmaxCrossEntropyLoss().forward(X.copy(), LABELS)
    expected = -np.mean(np.log(softmax(X)[np.arange(4), LABELS]))
    assert_close(value, expected, "SoftmaxCrossEntropyLoss.forward (mean over the batch)")


def test_cross_entropy_large_logits(mlp):
    x = np.array([[1000.0, 0.0, -1000.0], [-800.0, 800.0, 0.0]])
    with np.errstate(all="ignore"):
        value = mlp.SoftmaxCrossEntropyLoss().forward(x, np.array([1, 1]))
    assert np.isfinite(value), f"SoftmaxCrossEntropyLoss.forward overflows on logits of +-1000: got {value}"
    assert_close(value, 500.0, "SoftmaxCrossEntropyLoss.forward on large logits (subtract the max first)")


def test_cross_entropy_backward(mlp):
    loss = mlp.SoftmaxCrossEntropyLoss()
    loss.forward(X.copy(), LABELS)
    assert_close(loss.backward(), (softmax(X) - one_hot(LABELS, 3)) / len(LABELS),
                 "SoftmaxCrossEntropyLoss.backward ((softmax(x) - t) / N)")


def test_cross_entropy_gradient_check(mlp):
    x = np.random.default_rng(2).standard_normal((6, 5))
    check_gradient(mlp.SoftmaxCrossEntropyLoss(), "SoftmaxCrossEntropyLoss", x, np.array([4, 0, 1, 3, 3, 2]))


def test_hinge_forward_margin_5(mlp):
    value = mlp.HingeLoss().forward(X.copy(), LABELS)
    assert_close(value, hinge(X, LABELS, 5.0), "HingeLoss.forward with the default margin 5")


def test_hinge_forward_other_margin(mlp):
    value = mlp.HingeLoss(margin=2.0).forward(X.copy(), LABELS)
    assert_close(value, hinge(X, LABELS, 2.0), "HingeLoss(margin=2).forward: use self.margin")


def test_hinge_backward(mlp):
    loss = mlp.HingeLoss()
    loss.forward(X.copy(), LABELS)
    rows = np.arange(4)
    positive = (5.0 - X[rows, LABELS][:, None] + X > 0).astype(float)
    positive[rows, LABELS] = 0
    expected = positive.copy()
    expected[rows, LABELS] = -positive.sum(axis=1)
    assert_close(loss.backward(), expected / 4, "HingeLoss.backward (margin 5)")


def test_hinge_gradient_check(mlp):
    x = np.random.default_rng(3).standard_normal((6, 4)) * 3
    check_gradient(mlp.HingeLoss(margin=1.5), "HingeLoss", x, np.array([0, 1, 2, 3, 0, 1]))
