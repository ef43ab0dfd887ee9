"""Loss functions: L2 (Euclidean), softmax cross-entropy and multiclass hinge.

Every loss takes the network's outputs ``x`` of shape (N, K) and integer
class labels of shape (N,), returns the mean loss over the batch as a float,
and its ``backward()`` returns dE/dx of shape (N, K). Because E is a mean over
the batch, every gradient carries the factor 1/N; the layers then sum over
the batch.
"""

from __future__ import annotations

import numpy as np


def one_hot(labels: np.ndarray, num_classes: int, dtype=np.float32) -> np.ndarray:
    """labels: (N,) integers in [0, num_classes) -> (N, num_classes) one-hot rows."""
    t = np.zeros((labels.shape[0], num_classes), dtype=dtype)
    t[np.arange(labels.shape[0]), labels] = 1
    return t


def softmax(x: np.ndarray) -> np.ndarray:
    """x: (N, K) scores -> (N, K) probabilities: each row exp(x_k) / sum_j exp(x_j).

    Rows are non-negative and sum to 1. Any finite scores, however large, give
    finite probabilities and no overflow warning.
    """
    # BEGIN SOLUTION
    exp = np.exp(x - x.max(axis=1, keepdims=True))
    return exp / exp.sum(axis=1, keepdims=True)
    # END SOLUTION


class Loss:
    """Base class: ``forward(x, labels) -> float`` caches, ``backward() -> dE/dx``."""

    cache = None

    def __call__(self, x: np.ndarray, labels: np.ndarray) -> float:
        return self.forward(x, labels)

    def forward(self, x: np.ndarray, labels: np.ndarray) -> float:  # pragma: no cover
        raise NotImplementedError

    def backward(self) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError

    @staticmethod
    def _check(x: np.ndarray, labels: np.ndarray) -> None:
        if x.ndim != 2:
            raise ValueError(f"loss expects outputs of shape (N, K), got {x.shape}")
        if labels.shape != (x.shape[0],):
            raise ValueError(
                f"loss expects integer labels of shape ({x.shape[0]},) to match outputs "
                f"{x.shape}, got {labels.shape}"
            )
        if not np.issubdtype(labels.dtype, np.integer):
            raise TypeError(f"labels must be integer class indices, got dtype {labels.dtype}")
        if labels.size and (labels.min() < 0 or labels.max() >= x.shape[1]):
            raise ValueError(
                f"labels must lie in [0, {x.shape[1]}), got values from "
                f"{labels.min()} to {labels.max()}"
            )

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class L2Loss(Loss):
    """Euclidean loss against one-hot targets t:

        E = 1/(2N) sum_n ||x_n - t_n||^2.

    Derivation:
        dE/dx = (x - t) / N.
    """

    def forward(self, x: np.ndarray, labels: np.ndarray) -> float:
        """x: (N, K) outputs, labels: (N,) -> mean loss (float); caches what backward needs."""
        self._check(x, labels)
        # BEGIN SOLUTION
        diff = x - one_hot(labels, x.shape[1], x.dtype)
        self.cache = diff
        return float(0.5 * np.sum(diff * diff) / x.shape[0])
        # END SOLUTION

    def backward(self) -> np.ndarray:
        """-> dE/dx: (N, K), from what forward cached."""
        # BEGIN SOLUTION
        diff = self.cache
        return diff / diff.shape[0]
        # END SOLUTION


class SoftmaxCrossEntropyLoss(Loss):
    """Softmax followed by the negative log-likelihood of the true class:

        p = softmax(x),  E = -1/N sum_n ln p_{n, t_n}.

    Derivation:
        dE/dx = (p - onehot(t)) / N.

    ln softmax(x)_k = x_k - logsumexp(x), and logsumexp(x) = m + ln sum_k
    exp(x_k - m) with m = max_k x_k: shifting by the maximum keeps every
    exponent <= 0, so nothing overflows however large the logits are.
    """

    def forward(self, x: np.ndarray, labels: np.ndarray) -> float:
        """x: (N, K) logits, labels: (N,) -> mean cross-entropy (float); caches what backward needs."""
        self._check(x, labels)
        # BEGIN SOLUTION
        shifted = x - x.max(axis=1, keepdims=True)
        exp = np.exp(shifted)
        sum_exp = exp.sum(axis=1, keepdims=True)
        log_probs = shifted - np.log(sum_exp)
        rows = np.arange(x.shape[0])
        self.cache = (exp / sum_exp, labels)
        return float(-log_probs[rows, labels].mean())
        # END SOLUTION

    def backward(self) -> np.ndarray:
        """-> dE/dx: (N, K), from what forward cached."""
        # BEGIN SOLUTION
        probs, labels = self.cache
        grad = probs.copy()
        grad[np.arange(labels.shape[0]), labels] -= 1
        return grad / labels.shape[0]
        # END SOLUTION


class HingeLoss(Loss):
    """Multiclass hinge (Weston-Watkins / CS231n SVM) loss with margin delta:

        E = 1/N sum_n sum_{k != t_n} max(0, delta - x_{n,t_n} + x_{n,k}).

    Derivation:
        with m_{n,k} = 1 if the term (n, k) is positive (0 otherwise),
        dE/dx_{n,k}   =  m_{n,k} / N                 for k != t_n,
        dE/dx_{n,t_n} = -(sum_{k != t_n} m_{n,k}) / N.

    The reference used delta = 5. The margin is measured in the units of x, so
    it only makes sense relative to the scale of the outputs (see notebook 11).
    """

    def __init__(self, margin: float = 5.0):
        if not margin > 0:
            raise ValueError(f"hinge margin must be positive, got {margin}")
        self.margin = margin

    def forward(self, x: np.ndarray, labels: np.ndarray) -> float:
        """x: (N, K) scores, labels: (N,) -> mean hinge loss (float); caches what backward needs."""
        self._check(x, labels)
        # BEGIN SOLUTION
        rows = np.arange(x.shape[0])
        margins = x - x[rows, labels][:, None] + self.margin
        margins[rows, labels] = 0
        positive = margins > 0
        self.cache = (positive, labels, x.dtype)
        return float(np.sum(margins * positive) / x.shape[0])
        # END SOLUTION

    def backward(self) -> np.ndarray:
        """-> dE/dx: (N, K), from what forward cached."""
        # BEGIN SOLUTION
        positive, labels, dtype = self.cache
        grad = positive.astype(dtype)
        grad[np.arange(labels.shape[0]), labels] = -positive.sum(axis=1)
        return grad / labels.shape[0]
        # END SOLUTION

    def __repr__(self) -> str:
        return f"HingeLoss(margin={self.margin})"


LOSSES: dict[str, type[Loss]] = {
    "l2": L2Loss,
    "cross_entropy": SoftmaxCrossEntropyLoss,
    "hinge": HingeLoss,
}


def get_loss(name: str, *, margin: float = 5.0) -> Loss:
    """A loss by name: one of ``LOSSES``; ``margin`` is used by the hinge loss only."""
    key = name.lower().replace("-", "_") if isinstance(name, str) else name
    if key not in LOSSES:
        raise ValueError(f"unknown loss {name!r}; choose one of: {', '.join(LOSSES)}")
    return HingeLoss(margin) if key == "hinge" else LOSSES[key]()
