"""Losses the lab trains with besides the engine's, so that a config can name them.

A :class:`~mlp_lab.config.TrainConfig` names its loss; :func:`get_loss` builds
it: one of the engine's (``mlp_core.losses.LOSSES``) or one of
:data:`LAB_LOSSES`. So a run on a loss the engine does not have goes through
the same runner, record and resume rule as any other: its config says what it
trained on, and a worker process or a Dask worker builds it from the name.
"""

from __future__ import annotations

import numpy as np

from mlp_core.losses import LOSSES, Loss, one_hot
from mlp_core.losses import get_loss as get_engine_loss


class UnsquaredL2Loss(Loss):
    """The L2 loss with its norm not squared, as a training objective with its own gradient:

        E = 1/(2B) ||Y - T||_F,     dE/dY = (Y - T) / (2B ||Y - T||_F).

    Y: (B, K) outputs, T: (B, K) one-hot targets. The course's L2 loss is
    1/(2B) ||Y - T||_F^2 with gradient (Y - T)/B; this one is its square
    root scaled by 1/sqrt(2B), so its gradient is the course's divided by
    2 ||Y - T||_F: it shrinks as the fit improves. The L2 loss study
    (:mod:`mlp_lab.l2_loss_check`) trains on it to tell a loss the reference
    only printed from one it also trained on.
    """

    def forward(self, x: np.ndarray, labels: np.ndarray) -> float:
        """x: (B, K) outputs, labels: (B,) -> 1/(2B) ||x - t||_F (float)."""
        self._check(x, labels)
        residual = x - one_hot(labels, x.shape[1], x.dtype)
        norm = float(np.linalg.norm(residual))
        self.cache = (residual, norm)
        return 0.5 * norm / x.shape[0]

    def backward(self) -> np.ndarray:
        """-> dE/dx: (B, K); zero where the outputs equal the targets exactly."""
        residual, norm = self.cache
        return residual / (2 * residual.shape[0] * norm) if norm > 0 else np.zeros_like(residual)


#: Losses by name that only the lab defines (a config may name these or the engine's).
LAB_LOSSES: dict[str, type[Loss]] = {"l2_unsquared": UnsquaredL2Loss}


def get_loss(name: str, *, margin: float = 5.0) -> Loss:
    """A loss by name: one of :data:`LAB_LOSSES`, else the engine's ``get_loss`` (its error lists
    the engine's names and these)."""
    if name in LAB_LOSSES:
        return LAB_LOSSES[name]()
    try:
        return get_engine_loss(name, margin=margin)
    except ValueError as exc:
        if isinstance(name, str) and name.lower().replace("-", "_") in LOSSES:
            raise  # a known loss with a bad argument (the hinge margin)
        raise ValueError(f"{exc}, or the lab's {', '.join(LAB_LOSSES)}") from None


__all__ = ["LAB_LOSSES", "UnsquaredL2Loss", "get_loss"]
