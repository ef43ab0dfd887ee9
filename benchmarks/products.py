"""The matrix products of one epoch, counted and timed alone: the floor under any numpy epoch.

For N samples in batches of B and each ``Linear(in, out)`` of the network, an
epoch of mlp_core multiplies

    x W       (B, in) @ (in, out)       forward
    x^T G     (in, B) @ (B, out)        dE/dW
    G W^T     (B, out) @ (out, in)      dE/dx, skipped in the first layer (the data need no gradient)

per batch, and evaluating the test set multiplies ``x W`` per layer in
batches of 1,000. Everything else in an epoch (activations, softmax, the SGD
update, batch gathering, Python) comes on top, so an epoch's time over
:func:`epoch_product_seconds` says how close the engine is to what no numpy
MLP can avoid. ``benchmarks/epoch_time.py`` and ``benchmarks/grid_floor.py``
both use it.

Import numpy only after the BLAS thread limits are set (``mlp_lab.threads``):
the products run with whatever threads numpy's BLAS has.
"""

from __future__ import annotations

import time

import numpy as np

from mlp_lab.reference import SETTINGS

INPUT_SIZE, NUM_CLASSES = 784, 10
#: Training batches are the reference's; ``mlp_core.training.evaluate`` reads a split in batches of 1,000.
BATCH_SIZE, EVAL_BATCH_SIZE = SETTINGS["batch_size"], 1000


def layer_sizes(hidden: list[int]) -> list[int]:
    """[784, *hidden, 10]: the sizes of the network's layers."""
    return [INPUT_SIZE, *hidden, NUM_CLASSES]


def gemm_flops(hidden: list[int], n_samples: int) -> int:
    """Matrix-multiply FLOPs of training one epoch: forward, dW, and dX for all but the first layer."""
    sizes = layer_sizes(hidden)
    flops = 0
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        products = 2 if i == 0 else 3  # x W and x^T G; G W^T too except for the data layer
        flops += products * 2 * n_samples * n_in * n_out
    return flops


def epoch_product_seconds(hidden: list[int], n_train: int, n_test: int = 0, repeats: int = 10) -> float:
    """Seconds the matrix products of one epoch take alone: ``n_train`` samples trained, ``n_test`` evaluated.

    The products of one training batch (and of one test batch) are timed,
    into preallocated outputs as mlp_core's backward writes ``dW``, in runs
    of 50 batches; the fastest of ``repeats`` runs counts (other load only
    ever adds time), scaled to the epoch's batches. The operands are random
    float32: the products are dense, so their values do not matter.
    """
    rng = np.random.default_rng(0)
    sizes = layer_sizes(hidden)

    def normal(*shape):
        return rng.standard_normal(shape, dtype=np.float32)

    train_layers, test_layers = [], []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        weights = normal(n_in, n_out)
        train_layers.append((
            normal(BATCH_SIZE, n_in), weights, normal(BATCH_SIZE, n_out),  # x, W, G
            np.empty((BATCH_SIZE, n_out), np.float32), np.empty((n_in, n_out), np.float32),  # y, dW
            np.empty((BATCH_SIZE, n_in), np.float32) if i else None,  # dx (not for the data layer)
        ))
        test_layers.append((normal(EVAL_BATCH_SIZE, n_in), weights, np.empty((EVAL_BATCH_SIZE, n_out), np.float32)))

    def train_batch():
        for x, w, g, y, dw, dx in train_layers:
            np.matmul(x, w, out=y)
            np.matmul(x.T, g, out=dw)
            if dx is not None:
                np.matmul(g, w.T, out=dx)

    def test_batch():
        for x, w, y in test_layers:
            np.matmul(x, w, out=y)

    def fastest(batch, calls):
        best = float("inf")
        for _ in range(repeats):
            start = time.perf_counter()
            for _ in range(calls):
                batch()
            best = min(best, (time.perf_counter() - start) / calls)
        return best

    for _ in range(20 * repeats):  # warm-up: the first calls of a process run slower
        train_batch()
    seconds = fastest(train_batch, 50) * (n_train / BATCH_SIZE)
    if n_test:
        test_batch()
        seconds += fastest(test_batch, 5) * (n_test / EVAL_BATCH_SIZE)
    return seconds
