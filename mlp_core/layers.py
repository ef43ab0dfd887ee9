"""Parameters, the Module base class (training and evaluation mode) and the fully connected (Linear) layer.

Every layer follows one contract, the one the CS231n assignments use:

* ``forward(x)`` computes the output and keeps in ``self.cache`` whatever
  ``backward`` will need;
* ``backward(grad_output)`` receives dE/d(output), writes dE/d(parameter)
  into each parameter's ``.grad`` and returns dE/d(input).

Gradients are *overwritten* on every backward pass, not accumulated as in
PyTorch: in a feed-forward MLP each parameter is used once per forward pass,
so there is nothing to accumulate and no need to call ``zero_grad`` between
batches (it exists for symmetry with PyTorch and for tests).
"""

from __future__ import annotations

import numpy as np

from .arguments import is_whole_number

DEFAULT_DTYPE = np.float32


class Parameter:
    """A trainable array and the gradient of the loss with respect to it.

    Attributes:
        data: the values, any shape.
        grad: dE/d(data), same shape and dtype as ``data``.
    """

    def __init__(self, data: np.ndarray):
        self.data = data
        self.grad = np.zeros_like(data)

    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    def __repr__(self) -> str:
        return f"Parameter(shape={self.data.shape}, dtype={self.data.dtype})"


class Module:
    """Base class of every layer and network.

    Subclasses implement ``forward`` and ``backward``; layers with weights
    store them as :class:`Parameter` attributes and list them in
    ``named_parameters``.

    Every module is in *training mode* (``training`` True, the default) or in
    *evaluation mode* (False), with PyTorch's names: ``train()`` and
    ``eval()`` switch it, for a network and every layer in it. Only a layer
    that behaves differently in the two reads the flag (``Dropout`` drops
    units in training only); ``mlp_core.training.train`` puts the model in
    training mode for each epoch and in evaluation mode to evaluate it.
    """

    cache = None
    training = True

    def train(self, mode: bool = True) -> "Module":
        """Training mode (``mode=True``) or evaluation mode (False); returns the module itself."""
        self.training = bool(mode)
        return self

    def eval(self) -> "Module":
        """Evaluation mode: ``train(False)``; returns the module itself."""
        return self.train(False)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.forward(x)

    def forward(self, x: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__} must implement forward")

    def backward(self, grad_output: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__} must implement backward")

    def named_parameters(self) -> dict[str, Parameter]:
        """Parameters by name, e.g. ``{"W": ..., "b": ...}``; empty for activations."""
        return {}

    def parameters(self) -> list[Parameter]:
        return list(self.named_parameters().values())

    def zero_grad(self) -> None:
        for p in self.parameters():
            p.grad[...] = 0

    def astype(self, dtype) -> "Module":
        """Convert every parameter (and its gradient) to ``dtype`` in place.

        Used by the gradient checker, which needs float64.
        """
        for p in self.parameters():
            p.data = p.data.astype(dtype)
            p.grad = p.grad.astype(dtype)
        return self

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def check_linear_arguments(in_features: int, out_features: int, init_std: float) -> None:
    """Raise ValueError unless both sizes are whole numbers >= 1 and init_std >= 0.

    ``Linear`` calls it; so does ``check_mlp_arguments``, which the lab's
    config asks before anything is built.
    """
    for name, size in (("in_features", in_features), ("out_features", out_features)):
        if not is_whole_number(size, 1):
            raise ValueError(
                f"Linear sizes must be positive whole numbers, got {name}={size!r} "
                f"(in_features={in_features!r}, out_features={out_features!r})"
            )
    if not init_std >= 0:
        raise ValueError(f"init_std (the standard deviation of the initial weights) must be >= 0, got {init_std}")


class Linear(Module):
    """Fully connected layer: ``y = x W + b``.

    Shapes:
        x: (N, in_features), W: (in_features, out_features),
        b: (out_features,), y: (N, out_features).

    ``forward`` keeps its input in ``self.cache``. ``backward`` receives
    G = dE/dy, of shape (N, out_features), writes dE/dW into ``W.grad`` and
    dE/db into ``b.grad`` (overwriting them) and returns dE/dx.

    Derivation:
        dE/dW = x^T G          (in_features, out_features), summed over the batch
        dE/db = sum_n G[n]     (out_features,)
        dE/dx = G W^T          (N, in_features)
        The loss already divides by the batch size N, so the layer sums over the
        batch rather than averaging (the course's convention).

    Initialisation: W ~ N(0, init_std^2) with init_std = 0.01 as in the reference,
    b = 0. Small weights keep every pre-activation near 0 at the start, where
    Sigmoid and GELU are nearly linear and their gradients largest.
    ``mlp_core.init`` gives the scales derived from the layer's variance
    (LeCun, Glorot, He; notebook 01, section 4).

    Args:
        in_features, out_features: layer sizes.
        init_std: standard deviation of the initial weights.
        rng: a ``numpy.random.Generator`` or a seed; the global RNG is never used.
        dtype: float32 by default (fast); float64 for gradient checks.
        compute_input_grad: when False, ``backward`` skips dE/dx and returns
            None. The first layer of a network sees the data, whose gradient
            nobody needs, so ``build_mlp`` switches it off there. It saves
            half of that layer's backward work: the input gradient costs as
            many multiply-adds as the weight gradient, N * in * out.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        init_std: float = 0.01,
        rng: np.random.Generator | int | None = None,
        dtype=DEFAULT_DTYPE,
        compute_input_grad: bool = True,
    ):
        check_linear_arguments(in_features, out_features, init_std)
        rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        self.in_features = in_features
        self.out_features = out_features
        self.compute_input_grad = compute_input_grad
        weights = rng.standard_normal((in_features, out_features)) * init_std
        self.W = Parameter(weights.astype(dtype))
        self.b = Parameter(np.zeros(out_features, dtype=dtype))

    def named_parameters(self) -> dict[str, Parameter]:
        return {"W": self.W, "b": self.b}

    def forward(self, x: np.ndarray) -> np.ndarray:
        """x: (N, in_features) -> y = x W + b: (N, out_features); keeps x in ``self.cache`` for backward."""
        if x.ndim != 2 or x.shape[1] != self.in_features:
            raise ValueError(
                f"Linear({self.in_features}, {self.out_features}) expects input of shape "
                f"(N, {self.in_features}), got {x.shape}"
            )
        # BEGIN SOLUTION
        self.cache = x
        return x @ self.W.data + self.b.data
        # END SOLUTION

    def backward(self, grad_output: np.ndarray) -> np.ndarray | None:
        """grad_output G = dE/dy: (N, out_features) -> dE/dx: (N, in_features), or None.

        Writes dE/dW (in_features, out_features) into ``W.grad`` and dE/db
        (out_features,) into ``b.grad``, from the x that forward cached; returns
        None instead of dE/dx when ``compute_input_grad`` is False.
        """
        # BEGIN SOLUTION
        x = self.cache
        # Written into the existing gradient arrays: no new (in, out) array per batch.
        np.matmul(x.T, grad_output, out=self.W.grad)
        np.sum(grad_output, axis=0, out=self.b.grad)
        if not self.compute_input_grad:
            return None
        return grad_output @ self.W.data.T
        # END SOLUTION

    def __repr__(self) -> str:
        return f"Linear({self.in_features}, {self.out_features})"
