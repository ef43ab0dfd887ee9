"""Losses: values against direct formulas, hand-computed cases, gradients, stability, bad input."""

import math
import warnings

import numpy as np
import pytest

from mlp_core.gradcheck import check_loss
from mlp_core.losses import HingeLoss, L2Loss, SoftmaxCrossEntropyLoss, get_loss, one_hot, softmax

TOL = 1e-6
RNG = np.random.default_rng(7)
X = RNG.standard_normal((6, 4)) * 3
LABELS = np.array([0, 3, 1, 1, 2, 0])


def direct_l2(x, labels):
    t = np.eye(x.shape[1])[labels]
    return sum(0.5 * np.sum((x[n] - t[n]) ** 2) for n in range(len(x))) / len(x)


def direct_ce(x, labels):
    return sum(-math.log(math.exp(x[n, labels[n]]) / sum(math.exp(v) for v in x[n])) for n in range(len(x))) / len(x)


def direct_hinge(x, labels, margin):
    total = 0.0
    for n in range(len(x)):
        for k in range(x.shape[1]):
            if k != labels[n]:
                total += max(0.0, margin - x[n, labels[n]] + x[n, k])
    return total / len(x)


@pytest.mark.parametrize(
    "loss, direct",
    [
        (L2Loss(), direct_l2),
        (SoftmaxCrossEntropyLoss(), direct_ce),
        (HingeLoss(5.0), lambda x, y: direct_hinge(x, y, 5.0)),
        (HingeLoss(1.0), lambda x, y: direct_hinge(x, y, 1.0)),
    ],
    ids=["l2", "cross_entropy", "hinge5", "hinge1"],
)
def test_value_matches_direct_formula(loss, direct):
    assert loss(X, LABELS) == pytest.approx(direct(X, LABELS), rel=1e-12)


@pytest.mark.parametrize("loss", [L2Loss(), SoftmaxCrossEntropyLoss(), HingeLoss(5.0), HingeLoss(0.5)], ids=repr)
def test_gradient_check(loss):
    assert check_loss(loss, X, LABELS) < TOL


def test_hand_computed_cases():
    x = np.array([[1.0, 0.0], [0.0, 0.0]])
    y = np.array([0, 1])
    assert L2Loss()(x, y) == pytest.approx(0.25)  # (0 + (0^2 + 1^2)) / (2 * 2)
    assert SoftmaxCrossEntropyLoss()(x, y) == pytest.approx((math.log(1 + math.exp(-1)) + math.log(2)) / 2)
    # row 0: max(0, 5 - 1 + 0) = 4; row 1: max(0, 5 - 0 + 0) = 5
    assert HingeLoss(5)(x, y) == pytest.approx(4.5)


def test_hand_computed_gradients_carry_one_over_n():
    x = np.array([[1.0, 0.0], [0.0, 0.0]])
    y = np.array([0, 1])
    l2 = L2Loss()
    l2(x, y)
    np.testing.assert_allclose(l2.backward(), [[0.0, 0.0], [0.0, -0.5]])
    hinge = HingeLoss(5)
    hinge(x, y)
    np.testing.assert_allclose(hinge.backward(), [[-0.5, 0.5], [0.5, -0.5]])
    ce = SoftmaxCrossEntropyLoss()
    ce(x, y)
    p = 1 / (1 + math.exp(-1))
    np.testing.assert_allclose(ce.backward(), [[(p - 1) / 2, (1 - p) / 2], [0.25, -0.25]])


def test_hinge_is_zero_beyond_the_margin():
    x = np.array([[10.0, 4.0, 0.0]])
    assert HingeLoss(5)(x, np.array([0])) == 0.0
    assert HingeLoss(7)(x, np.array([0])) == pytest.approx(1.0)


def test_cross_entropy_never_overflows():
    x = np.array([[1e4, 0.0, -1e4], [-1e4, 1e4, 3.0]], dtype=np.float32)
    loss = SoftmaxCrossEntropyLoss()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        value = loss(x, np.array([2, 1]))
        grad = loss.backward()
    assert value == pytest.approx(2e4 / 2, rel=1e-6)  # row 0 is wrong by 2e4, row 1 right
    assert np.all(np.isfinite(grad))
    np.testing.assert_allclose(grad, [[0.5, 0.0, -0.5], [0.0, 0.0, 0.0]], atol=1e-6)


def test_float32_gradients_stay_float32():
    x = X.astype(np.float32)
    for loss in (L2Loss(), SoftmaxCrossEntropyLoss(), HingeLoss()):
        loss(x, LABELS)
        assert loss.backward().dtype == np.float32, loss


def test_one_hot():
    np.testing.assert_array_equal(one_hot(np.array([2, 0]), 3), [[0, 0, 1], [1, 0, 0]])


@pytest.mark.parametrize(
    "x, labels, error, match",
    [
        (np.zeros((2, 3)), np.array([0, 3]), ValueError, r"labels must lie in \[0, 3\)"),
        (np.zeros((2, 3)), np.array([0, -1]), ValueError, r"labels must lie in"),
        (np.zeros((2, 3)), np.array([0, 1, 2]), ValueError, r"labels of shape \(2,\)"),
        (np.zeros((2, 3)), np.array([0.0, 1.0]), TypeError, "integer class indices"),
        (np.zeros(3), np.array([0]), ValueError, r"outputs of shape \(N, K\)"),
    ],
)
@pytest.mark.parametrize("loss", [L2Loss(), SoftmaxCrossEntropyLoss(), HingeLoss()], ids=repr)
def test_bad_labels_rejected(loss, x, labels, error, match):
    with pytest.raises(error, match=match):
        loss(x, labels)


def test_get_loss():
    assert isinstance(get_loss("cross-entropy"), SoftmaxCrossEntropyLoss)
    assert get_loss("hinge", margin=2.5).margin == 2.5
    assert get_loss("hinge").margin == 5.0
    with pytest.raises(ValueError, match="choose one of: l2, cross_entropy, hinge"):
        get_loss("mse")
    with pytest.raises(ValueError, match="margin must be positive"):
        HingeLoss(0)


def test_softmax_known_values_and_rows_that_sum_to_one():
    # scores (0, ln 2, ln 3 - ...): exp gives 1, 2, 1 -> 1/4, 1/2, 1/4; a shift of every score changes nothing
    x = np.array([[0.0, math.log(2), 0.0], [5.0, 5.0 + math.log(2), 5.0]])
    np.testing.assert_allclose(softmax(x), [[0.25, 0.5, 0.25]] * 2, rtol=1e-12)
    p = softmax(X)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-12)
    np.testing.assert_allclose(p, np.exp(X) / np.exp(X).sum(axis=1, keepdims=True), rtol=1e-12)


def test_softmax_of_huge_scores_is_finite_without_warnings():
    x = np.array([[1000.0, 0.0, -1000.0], [-800.0, -800.0, -801.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        p = softmax(x)
    np.testing.assert_allclose(p[0], [1.0, 0.0, 0.0], atol=1e-300)
    np.testing.assert_allclose(p[1], np.array([1, 1, math.exp(-1)]) / (2 + math.exp(-1)), rtol=1e-12)
