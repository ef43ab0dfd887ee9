"""SGD: hand-computed updates with momentum and weight decay, bias exemption, bad values."""

import numpy as np
import pytest

from mlp_core.layers import Parameter
from mlp_core.optim import SGD


def param(value, grad):
    p = Parameter(np.array(value, dtype=np.float64))
    p.grad = np.array(grad, dtype=np.float64)
    return p


def test_plain_step():
    p = param([1.0, -2.0], [0.5, 1.0])
    SGD([p], lr=0.1).step()
    np.testing.assert_allclose(p.data, [0.95, -2.1])


def test_momentum_and_weight_decay_by_hand():
    # v1 = 0.9*0 + (g + 0.1*w0) ; w1 = w0 - lr*v1 ; v2 = 0.9*v1 + (g + 0.1*w1) ; w2 = w1 - lr*v2
    w0, g, lr, m, wd = 2.0, 0.5, 0.1, 0.9, 0.1
    v1 = g + wd * w0
    w1 = w0 - lr * v1
    v2 = m * v1 + g + wd * w1
    w2 = w1 - lr * v2
    p = param([[w0]], [[g]])
    opt = SGD([p], lr=lr, momentum=m, weight_decay=wd)
    opt.step()
    assert p.data[0, 0] == pytest.approx(w1)
    opt.step()  # same gradient again
    assert p.data[0, 0] == pytest.approx(w2)
    assert opt.velocities[0][0, 0] == pytest.approx(v2)


def test_weight_decay_applies_to_biases_by_default_and_can_be_exempted():
    weight, bias = param([[1.0]], [[0.0]]), param([1.0], [0.0])
    SGD([weight, bias], lr=0.5, weight_decay=0.1).step()
    assert weight.data[0, 0] == pytest.approx(0.95) and bias.data[0] == pytest.approx(0.95)
    weight, bias = param([[1.0]], [[0.0]]), param([1.0], [0.0])
    SGD([weight, bias], lr=0.5, weight_decay=0.1, decay_biases=False).step()
    assert weight.data[0, 0] == pytest.approx(0.95) and bias.data[0] == 1.0


def test_momentum_accumulates_a_constant_gradient():
    p = param([0.0], [1.0])
    opt = SGD([p], lr=1.0, momentum=0.5)
    for _ in range(3):
        opt.step()
    # velocities 1, 1.5, 1.75 -> position -(1 + 1.5 + 1.75)
    assert p.data[0] == pytest.approx(-4.25)


def test_zero_grad():
    p = param([1.0], [3.0])
    SGD([p]).zero_grad()
    assert p.grad[0] == 0


@pytest.mark.parametrize(
    "kwargs, match",
    [({"lr": 0}, "learning rate must be > 0"), ({"lr": -0.1}, "learning rate"),
     ({"momentum": 1.0}, r"momentum must be in \[0, 1\)"), ({"weight_decay": -1}, "weight_decay must be >= 0")],
)
def test_bad_hyperparameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SGD([param([1.0], [0.0])], **kwargs)


def test_no_parameters():
    with pytest.raises(ValueError, match="no parameters"):
        SGD([])


def _sgd_after_gradient_stops(steps, flush_every=None):
    """One weight that gets a gradient once and zero ever after (like a weight of a dead ReLU unit)."""
    p = Parameter(np.array([0.01, 0.0], dtype=np.float32))
    opt = SGD([p], lr=0.01, momentum=0.9)
    if flush_every is not None:
        opt.FLUSH_EVERY = flush_every
    p.grad[...] = [1e-3, 1e-3]
    opt.step()
    p.grad[...] = 0
    for _ in range(steps - 1):
        opt.step()
    return p, opt


def test_a_velocity_that_only_decays_reaches_zero_instead_of_sticking_subnormal():
    tiny = np.finfo(np.float32).tiny
    # Without the flush, 0.9 * v rounds back to v once v is the smallest subnormals: it never reaches 0.
    _, stuck = _sgd_after_gradient_stops(1500, flush_every=10**9)
    assert 0 < abs(stuck.velocities[0][0]) < tiny
    _, opt = _sgd_after_gradient_stops(1500)
    assert np.all(opt.velocities[0] == 0)


def test_flushing_subnormal_velocities_changes_no_weight():
    flushed, _ = _sgd_after_gradient_stops(1500)
    kept, _ = _sgd_after_gradient_stops(1500, flush_every=10**9)
    np.testing.assert_array_equal(flushed.data, kept.data)
