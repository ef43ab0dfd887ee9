"""How the layers of a network behave: activation statistics, dead units, update sizes (notebook 07).

A loss curve says that training goes badly, not where. These look inside:
:func:`activation_statistics` describes what every activation layer outputs on
a batch and how much of it passes a gradient back (a ReLU unit that outputs 0
for every input is *dead*: no gradient ever reaches its incoming weights again);
:func:`update_ratios` compares the size of one optimiser step with the size of
the weights it changes (a common rule of thumb wants about 1e-3 per step).
"""

from __future__ import annotations

import numpy as np

from .activations import ACTIVATIONS

#: The layers :func:`activation_statistics` reports on: every activation of ``mlp_core.activations``.
ACTIVATION_LAYERS: tuple[type, ...] = tuple(ACTIVATIONS.values())

#: The statistics of each activation layer, in the order :func:`activation_statistics` gives them.
STATISTICS: tuple[str, ...] = ("mean", "std", "inactive", "dead")


def activation_statistics(model, x: np.ndarray, *, threshold: float = 0.0) -> dict[int, dict[str, float]]:
    """What every activation layer of ``model`` outputs on the batch ``x``, and where gradient passes.

    model: a Sequential; x: (N, D_0), N >= 1. ``x`` goes through
    ``model.layers`` one after the other (each layer's forward on the previous
    layer's output, as in ``Sequential.forward``), in the mode the model is in.
    For each layer that is an activation (an instance of one of
    :data:`ACTIVATION_LAYERS`), with output h of shape (N, D) and the slope s of
    shape (N, D) at each of its entries (what its backward returns for an
    upstream gradient of ones: the activation's derivative there), the result
    holds, under the layer's index in ``model.layers``, a dict of four floats:

        "mean"      the mean of h over its N x D entries
        "std"       the standard deviation of those entries (numpy's std, ddof 0)
        "inactive"  the share of the N x D entries where |s| <= threshold:
                    no gradient passes back through them (ReLU: where h = 0)
        "dead"      the share of the D units where |s| <= threshold for every
                    one of the N samples: no gradient reaches their incoming
                    weights from this batch at all

    Layers that are not activations (Linear, Dropout) only pass x on. The
    layers' caches are overwritten; no weight changes.

    Raises:
        ValueError: threshold < 0.
    """
    if not threshold >= 0:
        raise ValueError(f"threshold must be >= 0 (the slope at or below which no gradient passes), got {threshold}")
    # BEGIN SOLUTION
    stats: dict[int, dict[str, float]] = {}
    out = x
    for index, layer in enumerate(model.layers):
        out = layer.forward(out)
        if isinstance(layer, ACTIVATION_LAYERS):
            passes = np.abs(layer.backward(np.ones_like(out))) > threshold
            stats[index] = {"mean": float(np.mean(out)), "std": float(np.std(out)),
                            "inactive": float(np.mean(~passes)), "dead": float(np.mean(~passes.any(axis=0)))}
    return stats
    # END SOLUTION


def update_ratios(before: dict[str, np.ndarray], after: dict[str, np.ndarray]) -> dict[str, float]:
    """||after - before|| / ||before|| for every parameter: how big one update is next to the weights.

    before, after: ``model.state_dict()`` taken before and after an optimiser
    step (the same names and shapes). Norms are Frobenius norms over all
    entries; a parameter whose ``before`` is all zeros (a bias at
    initialisation) gets ``inf`` when it moved, 0 otherwise.
    """
    if set(before) != set(after):
        raise ValueError(f"the two states name different parameters: {sorted(set(before) ^ set(after))}")
    ratios = {}
    for name, old in before.items():
        new = after[name]
        if np.shape(old) != np.shape(new):
            raise ValueError(f"{name}: shape {np.shape(old)} before and {np.shape(new)} after")
        step = float(np.linalg.norm(np.asarray(new, np.float64) - old))
        size = float(np.linalg.norm(np.asarray(old, np.float64)))
        ratios[name] = step / size if size > 0 else (float("inf") if step > 0 else 0.0)
    return ratios


__all__ = ["ACTIVATION_LAYERS", "STATISTICS", "activation_statistics", "update_ratios"]
