"""Hidden tests of SGD.step (notebook 04): plain steps, momentum, weight decay."""

import numpy as np
from mlp_grading_plugin import assert_close


def make_params(mlp):
    w = mlp.Parameter(np.array([[1.0, -2.0], [0.5, 3.0]]))
    b = mlp.Parameter(np.array([0.5, -0.5]))
    return w, b


def reference(params, grads, steps, lr, momentum, weight_decay, decay_biases=True):
    """v <- momentum v + (grad + wd * param);  param <- param - lr v (the course's update)."""
    values = [p.copy() for p in params]
    velocities = [np.zeros_like(p) for p in params]
    for _ in range(steps):
        for i, (value, grad) in enumerate(zip(values, grads)):
            decay = weight_decay if (decay_biases or value.ndim > 1) else 0.0
            velocities[i] = momentum * velocities[i] + grad + decay * value
            values[i] = value - lr * velocities[i]
    return values


def run(mlp, steps, **kw):
    w, b = make_params(mlp)
    start = [w.data.copy(), b.data.copy()]
    grads = [np.array([[0.1, 0.2], [-0.3, 0.4]]), np.array([1.0, -1.0])]
    optimizer = mlp.SGD([w, b], **kw)
    for _ in range(steps):
        w.grad[...] = grads[0]
        b.grad[...] = grads[1]
        optimizer.step()
    return [w.data, b.data], reference(start, grads, steps, kw["lr"], kw.get("momentum", 0.0),
                                       kw.get("weight_decay", 0.0), kw.get("decay_biases", True))


def test_sgd_plain_step(mlp):
    (w, b), (ew, eb) = run(mlp, 1, lr=0.1)
    assert_close(w, ew, "SGD.step without momentum: W <- W - lr * grad")
    assert_close(b, eb, "SGD.step without momentum: b <- b - lr * grad")


def test_sgd_momentum(mlp):
    (w, b), (ew, eb) = run(mlp, 3, lr=0.1, momentum=0.9)
    assert_close(w, ew, "SGD.step with momentum 0.9, after 3 steps: W (v <- momentum v + grad; W <- W - lr v)")
    assert_close(b, eb, "SGD.step with momentum 0.9, after 3 steps: b")


def test_sgd_weight_decay(mlp):
    (w, b), (ew, eb) = run(mlp, 2, lr=0.1, weight_decay=0.5, decay_biases=False)
    assert_close(w, ew, "SGD.step with weight_decay 0.5, after 2 steps: W (grad + weight_decay * W)")
    assert_close(b, eb, "SGD.step with decay_biases=False: biases must not be decayed")


def test_sgd_momentum_and_weight_decay(mlp):
    (w, b), (ew, eb) = run(mlp, 4, lr=0.05, momentum=0.8, weight_decay=0.1)
    assert_close(w, ew, "SGD.step with momentum 0.8 and weight_decay 0.1, after 4 steps: W")
    assert_close(b, eb, "SGD.step with momentum 0.8 and weight_decay 0.1, after 4 steps: b")
