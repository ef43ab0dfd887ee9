"""Checks by property, for a function with more than one right answer: Dropout's random mask (notebook 06).

A right ``Dropout`` may draw its mask in several ways (keep where u >= p, or
where u < 1 - p, ...), so its training-mode output is not compared with known
values but with what every right one does: each entry 0 or x / (1 - p), a share
p dropped, a mask of its own per row and per pass, drawn from ``self.rng``; a
backward pass through the same mask; no change in evaluation mode. Each check
prints PASS or fails as :mod:`mlp_core.checks` does, with what the output looks
like (the kept entries equal x: the scaling is missing; about 1 - p dropped: p
taken for the keep probability; ...).
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from .checks import _Crashed, _evaluate, _fail, check, check_close, check_module_gradients
from .diagnosis import number
from .layers import Module




def _kept(y, x: np.ndarray, p: float) -> tuple[np.ndarray | None, str]:
    """(the kept entries, '') when every entry of y is 0 or x / (1 - p), else (None, what y looks like)."""
    if np.shape(y) != x.shape:
        return None, f"shape {np.shape(y)}, expected the shape of x, {x.shape}"
    y = np.asarray(y, dtype=np.float64)
    kept = y != 0
    for factor, problem in ((1 / (1 - p), ""), (1.0, "the kept entries equal x: divide them by 1 - p (inverted "
                                                     "dropout), so that the expected output is x"),
                            (1 - p, "the kept entries are x times 1 - p: divide by 1 - p instead"),
                            (1 / p, "the kept entries are x / p: p is the probability to DROP an entry, so divide "
                                    "by 1 - p, the probability to keep it")):
        if np.allclose(y[kept], factor * x[kept], rtol=1e-5, atol=1e-7):
            return (kept, "") if not problem else (None, problem)
    index = np.unravel_index(int(np.argmax(~np.isclose(y, x / (1 - p), rtol=1e-5) & kept)), x.shape)
    return None, (f"got {number(y[index])} at {index} where x = {number(x[index])}: every entry must be 0 "
                  f"(dropped) or x / (1 - p) = {number(x[index] / (1 - p))} (kept)")


def check_dropout_forward(make: Callable, x: np.ndarray, p: float) -> None:
    """Dropout.forward in training mode, by property; ``make(p, seed)`` builds the layer, x has no zero entry.

    Every entry 0 or x / (1 - p); a share p dropped (within 5 binomial standard
    deviations); rows with masks of their own; a new mask at every pass; the
    same mask for a layer built with the same seed (drawn from ``self.rng``).
    """
    name = "Dropout.forward"
    layer = _evaluate(name, lambda: make(p, 0))
    y = _evaluate(name, lambda: layer.forward(x.copy())) if not isinstance(layer, _Crashed) else layer
    if isinstance(y, _Crashed):
        return
    kept, problem = _kept(y, x, p)
    if problem:
        _fail(f"{name}: each entry dropped (0) or kept and scaled (x / (1 - p))", problem)
        return
    print(f"PASS {name}: each entry dropped (0) or kept and scaled (x / (1 - p)): {int(kept.sum())} kept")
    check(getattr(y, "dtype", None) == x.dtype, f"{name} keeps the dtype of x", f"{x.dtype} in, {y.dtype} out",
          "a mask of float64 (or a division by a float64 number) turns float32 into float64: cast the mask")
    share, sigma = 1 - kept.mean(), np.sqrt(p * (1 - p) / kept.size)
    keep_share = abs(share - (1 - p)) < 5 * sigma
    check(abs(share - p) < 5 * sigma, f"{name} drops a share p = {p} of the entries", f"{share:.4f} of them",
          "p is the probability to DROP an entry (PyTorch's convention): drop where a uniform number is below p"
          if keep_share else "one uniform random number per entry, dropped with probability p")
    check(len({row.tobytes() for row in kept}) > 1, f"{name} draws a mask of its own for every row",
          hint="draw one random number per entry: an array of x.shape, not of x.shape[1]")
    again = _evaluate(name, lambda: layer.forward(x.copy()))
    check(not isinstance(again, _Crashed) and not np.array_equal(np.asarray(again) != 0, kept),
          f"{name} draws a new mask at every forward pass", hint="draw the mask inside forward, every time")
    twin = _evaluate(name, lambda: make(p, 0).forward(x.copy()))
    check(not isinstance(twin, _Crashed) and np.array_equal(twin, y),
          f"{name} draws its mask from self.rng (a layer with the same seed drops the same entries)",
          hint="use the layer's own generator, self.rng.random(...), never np.random")


def check_dropout_modes(make: Callable, x: np.ndarray, p: float) -> None:
    """Evaluation mode (``eval()``) and p = 0: forward returns x, backward returns G, unchanged."""
    G = np.random.default_rng(1).standard_normal(x.shape).astype(x.dtype)
    for what, build in ((f"Dropout(p={p}) in evaluation mode", lambda: make(p, 0).eval()),
                        ("Dropout(p=0) in training mode", lambda: make(0.0, 0))):
        layer = _evaluate("Dropout.forward", build)
        if isinstance(layer, _Crashed):
            continue
        check_close(f"Dropout.forward: {what} returns x", lambda: layer.forward(x.copy()), x, variants={
            "x times 1 - p: the old, non-inverted dropout; inverted dropout scales in training, so evaluation "
            "returns x unchanged": x * (1 - p)},
            hint="nothing is dropped or scaled outside training mode (self.training False) or when p = 0")
        check_close(f"Dropout.backward: {what} returns G", lambda: layer.backward(G.copy()), G,
                    hint="after a forward that dropped nothing, the gradient passes unchanged")


class SameMask(Module):
    """A Dropout whose generator starts again from ``seed`` before every forward pass: one fixed mask, so that
    central differences of its forward pass can check its backward pass."""

    def __init__(self, layer: Module, seed: int = 0):
        self.layer, self.seed = layer, seed

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.layer.rng = np.random.default_rng(self.seed)
        return self.layer.forward(x)

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        return self.layer.backward(grad_output)

    def __repr__(self) -> str:
        return repr(self.layer)


def check_dropout_backward(make: Callable, x: np.ndarray, p: float) -> None:
    """Dropout.backward in training mode: G / (1 - p) where the forward pass kept an entry, 0 where it dropped
    it (checked against that forward's output), then against central differences with the mask held fixed."""
    layer = _evaluate("Dropout.forward", lambda: make(p, 0))
    y = _evaluate("Dropout.forward", lambda: layer.forward(x.copy())) if not isinstance(layer, _Crashed) else layer
    if isinstance(y, _Crashed):
        return
    kept, problem = _kept(y, x, p)
    if problem:
        _fail("Dropout.backward needs Dropout.forward right first", problem)
        return
    G = np.random.default_rng(2).standard_normal(x.shape).astype(x.dtype)
    dx = _evaluate("Dropout.backward", lambda: layer.backward(G.copy()))
    if isinstance(dx, _Crashed):
        return
    if np.shape(dx) == x.shape:
        stray = int(np.count_nonzero((np.asarray(dx) != 0) & ~kept))
        check(stray == 0, "Dropout.backward: 0 wherever forward dropped the entry",
              f"{stray} of the {int((~kept).sum())} entries forward dropped have a gradient"
              + (": its mask was not forward's" if stray else ""),
              "draw no mask in backward: use the one forward kept in self.cache")
    check_close("Dropout.backward: G / (1 - p) where forward kept the entry, 0 where it dropped it",
                dx, np.where(kept, G / (1 - p), 0),
                masks={"where forward kept the entry": kept, "where forward dropped the entry": ~kept},
                variants={"G where kept, not divided by 1 - p as the output was": np.where(kept, G, 0),
                          "G everywhere: forward's mask was not applied": G},
                hint="backward multiplies G by the mask of the last forward pass (kept in self.cache), not a new one")
    fixed = type("Dropout", (SameMask,), {})(make(p, 0), seed=3)  # named so, for the verdicts
    check_module_gradients(fixed, np.asarray(x[:4, :6], dtype=np.float64),
                           hint="dE/dx = G times the mask forward used (hold on to it in self.cache)")


__all__ = ["SameMask", "check_dropout_backward", "check_dropout_forward", "check_dropout_modes"]
