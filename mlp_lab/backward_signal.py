"""The gradient arriving at each Linear layer's output, layer by layer (notebook 09, section 2).

For a network a_0 = x, z_l = a_{l-1} W_l + b_l, a_l = f(z_l), the backward
pass carries delta_l = dE/dz_l, shape (N, d_l), from the output layer down:
delta_l = (delta_{l+1} W_{l+1}^T) * f'(z_l). Its norm per layer shows how the
error signal itself shrinks, separately from dE/dW_l = a_{l-1}^T delta_l,
which also depends on the forward signal a_{l-1}.
"""

from __future__ import annotations

import numpy as np

from mlp_core.layers import Linear
from mlp_core.losses import Loss
from mlp_core.network import Sequential


def delta_norms(model: Sequential, loss_fn: Loss, x: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """||dE/dz_l|| (Frobenius, over the batch) at every Linear layer's output, first layer to last: shape (L,).

    One forward pass of x (N, D), the loss against labels (N,), then the layers' backward passes one at a
    time, reading the gradient that enters each Linear layer. Overwrites ``.grad`` and the caches, never a weight.
    """
    if not any(isinstance(layer, Linear) for layer in model.layers):
        raise ValueError("delta_norms needs a Sequential with at least one Linear layer")
    loss_fn(model.forward(x), labels)
    signal, found = loss_fn.backward(), []
    for layer in reversed(model.layers):
        if isinstance(layer, Linear):
            found.append(float(np.linalg.norm(signal)))
        signal = layer.backward(signal)
    return np.array(found[::-1])
