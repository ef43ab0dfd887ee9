"""Stochastic gradient descent with momentum and weight decay."""

from __future__ import annotations

from typing import Iterable

import numpy as np

from .layers import Parameter


def check_sgd_arguments(lr: float, momentum: float, weight_decay: float) -> None:
    """Raise ValueError unless lr > 0, 0 <= momentum < 1 and weight_decay >= 0.

    ``SGD`` calls it; so does the lab's config, to fail before training starts.
    """
    if not lr > 0:
        raise ValueError(f"learning rate must be > 0, got {lr}")
    if not 0 <= momentum < 1:
        raise ValueError(f"momentum must be in [0, 1), got {momentum}")
    if not weight_decay >= 0:
        raise ValueError(f"weight_decay must be >= 0, got {weight_decay}")


class SGD:
    """SGD with momentum and L2 weight decay, exactly as the reference's course code:

        v     <- momentum * v + (grad + weight_decay * param)
        param <- param - lr * v

    v starts at zero, one velocity per parameter. Weight decay is the gradient
    of (weight_decay / 2) ||param||^2 added to the loss's gradient.

    The course applied the update, weight decay included, to weights AND
    biases, and so does this class by default. Decaying biases is usually
    pointless (they do not cause overfitting); pass ``decay_biases=False`` to
    exempt every 1-D parameter from weight decay (momentum still applies).

    Args:
        params: the network's parameters, e.g. ``model.parameters()``.
        lr: learning rate (> 0). The reference used 0.01.
        momentum: in [0, 1). The reference used 0.9.
        weight_decay: >= 0. The reference used 0.

    Subnormal velocities are flushed to zero every ``FLUSH_EVERY`` steps. A
    weight whose gradient is exactly zero for good (one feeding a dead ReLU
    unit, say) has its velocity multiplied by ``momentum`` at every step. In
    float32 that reaches the subnormal range (below 1.2e-38) after about 830
    steps with momentum 0.9 and then never reaches zero: for v = 1e-45 (the
    smallest subnormal), 0.9 * v rounds back to v. Arithmetic on subnormals is
    much slower on x86, so without the flush the update of a ReLU network
    with a few dead units slows down within a few epochs (benchmarks/README.md
    says what was measured). The flush changes no weight: lr * v is then far below the rounding
    step of any weight it would be subtracted from.
    """

    #: Steps between two flushes of subnormal velocities (see the class docstring).
    FLUSH_EVERY = 100

    def __init__(
        self,
        params: Iterable[Parameter],
        lr: float = 0.01,
        momentum: float = 0.0,
        weight_decay: float = 0.0,
        *,
        decay_biases: bool = True,
    ):
        check_sgd_arguments(lr, momentum, weight_decay)
        self.params = list(params)
        if not self.params:
            raise ValueError("SGD got no parameters to optimise")
        self.lr = lr
        self.momentum = momentum
        self.weight_decay = weight_decay
        self.decay_biases = decay_biases
        self.velocities = [np.zeros_like(p.data) for p in self.params]
        self.steps = 0

    def step(self) -> None:
        """Update every parameter in place from its ``.grad``."""
        for p, v in zip(self.params, self.velocities):
            decay = self.weight_decay if (self.decay_biases or p.data.ndim > 1) else 0.0
            # BEGIN SOLUTION
            v *= self.momentum
            v += p.grad
            if decay:
                v += decay * p.data
            p.data -= self.lr * v
            # END SOLUTION
        self.steps += 1
        if self.steps % self.FLUSH_EVERY == 0:
            self.flush_subnormal_velocities()

    def flush_subnormal_velocities(self) -> None:
        """Set every velocity entry smaller in size than the smallest normal float to 0."""
        for v in self.velocities:
            v[np.abs(v) < np.finfo(v.dtype).tiny] = 0

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad[...] = 0

    def __repr__(self) -> str:
        return (
            f"SGD(lr={self.lr}, momentum={self.momentum}, "
            f"weight_decay={self.weight_decay}, decay_biases={self.decay_biases})"
        )
