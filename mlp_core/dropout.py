"""Dropout: in training, every unit's output is zeroed at random; in evaluation, nothing changes.

Srivastava et al. (2014): a network trained with units dropped at random cannot
rely on any single unit, and behaves at test time like an average of the many
thinned networks it trained. This is *inverted* dropout, the form PyTorch uses
(``nn.Dropout(p)``): the kept outputs are scaled up during training, so that
evaluation needs no change at all. ``build_mlp(..., dropout=p)`` puts a
``Dropout(p)`` after every hidden activation (notebook 06).
"""

from __future__ import annotations

import numpy as np

from .layers import Module


def check_dropout_probability(p) -> None:
    """Raise ValueError unless ``p`` (the probability of dropping a unit) is a number in [0, 1).

    ``Dropout`` calls it; so do ``build_mlp`` and the lab's config, before anything is built.
    """
    if isinstance(p, bool) or not isinstance(p, (int, float, np.integer, np.floating)) or not 0 <= p < 1:
        raise ValueError(
            f"dropout probability must be a number in [0, 1) (the share of units zeroed in training; "
            f"0 drops nothing), got {p!r}"
        )


class Dropout(Module):
    """Inverted dropout with drop probability ``p``, as PyTorch's ``nn.Dropout(p)``.

    Shapes: x of any shape, typically (N, D) -> y of the same shape.

    In training mode (``self.training``, the default; ``train()`` and ``eval()``
    switch it) every entry of x is dropped with probability p and kept with
    probability 1 - p, each on its own (one uniform random number per entry,
    drawn from ``self.rng``, a new draw at every forward pass), and the kept
    entries are divided by 1 - p:

        y = m * x  (entry by entry),  m = 1 / (1 - p) where kept, 0 where dropped

    ``forward`` keeps in ``self.cache`` what ``backward`` needs. In evaluation
    mode, and for p = 0, y = x: nothing dropped, nothing scaled.

    ``backward(G)`` receives G = dE/dy, the shape of y, and returns dE/dx, the
    shape of x, for the entries the last forward pass kept.

    Derivation:
        E[y] = (1 - p) x / (1 - p) = x: the scaling keeps each entry's expected
        value what evaluation mode gives; Var[y] = x^2 p / (1 - p).
        y = m * x with the mask m fixed once drawn, so each y entry depends on
        its own x entry only, with slope m:
            dE/dx = G * m   (0 where dropped, G / (1 - p) where kept)
        In evaluation mode y = x, so dE/dx = G.

    Args:
        p: the probability of dropping each entry, in [0, 1).
        rng: a ``numpy.random.Generator`` or a seed for the masks; the global RNG is never used.
    """

    def __init__(self, p: float = 0.5, *, rng: np.random.Generator | int | None = None):
        check_dropout_probability(p)
        self.p = float(p)
        self.rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)

    def forward(self, x: np.ndarray) -> np.ndarray:
        """x: any shape -> y, the same shape and dtype.

        Training mode: a new random mask from ``self.rng``, y = m * x, and in
        ``self.cache`` what backward needs. Evaluation mode or p = 0: y = x.
        """
        # BEGIN SOLUTION
        if not self.training or self.p == 0:
            self.cache = None
            return x
        kept = self.rng.random(x.shape) >= self.p
        self.cache = kept.astype(x.dtype) / x.dtype.type(1 - self.p)
        return x * self.cache
        # END SOLUTION

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        """grad_output G = dE/dy: the shape of y -> dE/dx, the shape of x, for the last forward's mask."""
        # BEGIN SOLUTION
        if self.cache is None:
            return grad_output
        return grad_output * self.cache
        # END SOLUTION

    def __repr__(self) -> str:
        return f"Dropout(p={self.p})"


__all__ = ["Dropout", "check_dropout_probability"]
