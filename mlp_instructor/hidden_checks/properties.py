"""Verdicts by property, for a function with more than one right answer: Dropout's random mask.

A right ``Dropout`` may draw its mask in several ways (keep where u >= p, or
where u < 1 - p, with ``random`` or ``binomial``...), so its training-mode
outputs cannot be compared with the solution's. These verdicts judge what every
right one does, from the check's own inputs (x, G, p: ``requests.dropout_request``)
and the worker's outputs (``worker.op_dropout``): no expected value is needed,
and none is quoted. Each returns "" when the check passes, else the reason.
"""

from __future__ import annotations

import numpy as np

from .requests import Request

#: How far (in standard deviations of a binomial share) the share of dropped entries may be from p.
SIGMAS = 5.0


def _mask(request: Request, y: np.ndarray) -> tuple[np.ndarray | None, str]:
    """(the kept entries, '') if every entry of y is 0 or x / (1 - p), else (None, what is wrong)."""
    params, arrays = request
    x, p = arrays["x"], params["p"]
    if y.shape != x.shape:
        return None, f"the output: shape {y.shape}, expected the shape of x, {x.shape}"
    if not np.all(np.isfinite(y)):
        return None, "the output contains NaN or infinity"
    kept = y != 0
    scaled = np.isclose(y, x / (1 - p), rtol=1e-5, atol=1e-7)
    if np.all(scaled | ~kept):
        return kept, ""
    if np.all(np.isclose(y, x, rtol=1e-5) | ~kept):
        return None, "the kept entries are x itself: inverted dropout divides them by 1 - p"
    if np.all(np.isclose(y, x / p, rtol=1e-5) | ~kept):
        return None, "the kept entries are x / p: p is the probability to drop an entry, not to keep it"
    return None, "the output: every entry must be 0 (dropped) or x / (1 - p) (kept)"


def _share(kept: np.ndarray, p: float) -> str:
    """'' if the share of dropped entries is within :data:`SIGMAS` binomial standard deviations of p."""
    share = 1 - kept.mean()
    if abs(share - p) <= SIGMAS * np.sqrt(p * (1 - p) / kept.size):
        return ""
    hint = " (p is the probability to drop an entry, not to keep it)" if abs(share - (1 - p)) < abs(share - p) else ""
    return f"dropped a share {share:.3f} of the entries, far from p{hint}"


def training_forward(request: Request, outputs: dict, secrets: dict) -> str:
    """Training mode: 0 or x / (1 - p) everywhere, a share p dropped, each entry on its own, a new mask per pass
    from the layer's own generator."""
    params, arrays = request
    kept, problem = _mask(request, outputs["y"])
    if problem:
        return problem
    if len({row.tobytes() for row in kept}) == 1:
        return "every row has the same mask: draw one random number per entry (x.shape)"
    problem = _share(kept, params["p"])
    if problem:
        return problem
    again, problem = _mask(request, outputs["y_again"])
    if problem:
        return f"a second forward pass: {problem}"
    if np.array_equal(again, kept):
        return "a second forward pass dropped exactly the same entries: draw a new mask at every pass"
    if not np.array_equal(outputs["y_twin"], outputs["y"]):
        return "a layer built with the same seed dropped other entries: draw the mask from self.rng"
    return ""


def backward_same_mask(request: Request, outputs: dict, secrets: dict) -> str:
    """backward(G) = G where forward kept the entry, divided by 1 - p, and 0 where it dropped it."""
    params, arrays = request
    kept, problem = _mask(request, outputs["y"])
    problem = problem or _share(kept, params["p"])
    if problem:
        return f"the forward pass before it: {problem}"
    dx = outputs["dx"]
    if dx.shape != kept.shape:
        return f"the returned gradient: shape {dx.shape}, expected the shape of x, {kept.shape}"
    expected = np.where(kept, arrays["G"] / (1 - params["p"]), 0.0)
    if np.allclose(dx, expected, rtol=1e-5, atol=1e-7):
        return ""
    if np.allclose(dx, np.where(kept, arrays["G"], 0.0), rtol=1e-5, atol=1e-7):
        return "the returned gradient is G where kept: it must be divided by 1 - p, as the output was"
    if np.any((dx != 0) & ~kept) or np.any((dx == 0) & kept):
        return "the returned gradient is not 0 exactly where forward dropped the entry: use forward's mask"
    return "the returned gradient: wrong values where forward kept the entry"


__all__ = ["backward_same_mask", "training_forward"]
