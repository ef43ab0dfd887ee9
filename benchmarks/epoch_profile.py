"""Where does a training epoch go? Seconds per part of a real epoch, against its matrix products alone.

    python benchmarks/epoch_profile.py                 # the four configs, one BLAS thread, 3 epochs each
    python benchmarks/epoch_profile.py --configs mlp2-gelu --epochs 5
    python benchmarks/epoch_profile.py --quick         # smoke run (tests/test_benchmark.py)

The epoch is ``mlp_core.training.train_epoch`` itself, as written in your
mlp_core, run with clocks around what it calls: each layer's ``forward`` and
``backward`` (the layers are wrapped in timing proxies), the loss's forward
and ``backward``, ``accuracy``, ``SGD.step`` and the batch iterator
(``iterate_minibatches``, swapped for a timed copy of itself while the epoch
runs). The parts:

    Linear forward + backward   the matrix products in place, with the bias add and sum
    activations                 forward and backward of the hidden activations
    loss + accuracy             softmax cross-entropy forward and backward, the batch's accuracy
    SGD step                    the momentum update of every parameter
    batch gathering             the shuffled rows of each batch (``images[idx]``)
    the rest                    the epoch's time minus the parts: the loop, clocks, Python

and, for comparison, the same epoch's matrix products timed alone
(``benchmarks/products.py``). "Linear over products alone" says how much
slower the products run inside a real epoch than alone, where their operands
stay in cache; "epoch over products alone" is the epoch/GEMM ratio of
``epoch_time.py``. Each part is the median over ``--epochs`` epochs after one
warm-up epoch. The data are random values of MNIST's shape (every operation is
dense, so timing does not depend on the values).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import time
from collections import defaultdict
from typing import Iterator

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO not in sys.path:
    sys.path.insert(0, REPO)

from mlp_lab.threads import blas_thread_env  # noqa: E402 - imports no numpy

os.environ.update(blas_thread_env(1))  # before numpy loads: one BLAS thread, as the grid's workers

import numpy as np  # noqa: E402

from benchmarks.products import BATCH_SIZE, epoch_product_seconds  # noqa: E402
from mlp_core.layers import Linear  # noqa: E402
from mlp_core.losses import SoftmaxCrossEntropyLoss  # noqa: E402
from mlp_core.network import build_mlp, hidden_sizes_for  # noqa: E402
from mlp_core.optim import SGD  # noqa: E402
from mlp_core import training  # noqa: E402
from mlp_lab.reference import SETTINGS  # noqa: E402

CONFIGS = ("mlp1-relu", "mlp1-gelu", "mlp2-relu", "mlp2-gelu")
PARTS = ("Linear forward + backward", "activations", "loss + accuracy", "SGD step", "batch gathering", "the rest")


def clocked(function, part: str, seconds: dict[str, float]):
    """``function``, with the seconds of every call added to ``seconds[part]``."""
    def timed(*args, **kwargs):
        start = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            seconds[part] += time.perf_counter() - start
    return timed


class Clocked:
    """Stands in for a layer, the loss or the optimizer: the same calls, clocked into ``seconds[part]``."""

    def __init__(self, wrapped, part: str, seconds: dict[str, float]):
        for name in ("forward", "backward", "step"):
            if hasattr(wrapped, name):
                setattr(self, name, clocked(getattr(wrapped, name), part, seconds))

    def __call__(self, *args):  # the loss is called, not sent .forward
        return self.forward(*args)


@contextlib.contextmanager
def clocked_training_helpers(seconds: dict[str, float]) -> Iterator[None]:
    """``accuracy`` and ``iterate_minibatches`` of mlp_core.training, clocked, for the block."""
    accuracy, batches = training.accuracy, training.iterate_minibatches
    next_batch = clocked(next, "batch gathering", seconds)

    def clocked_batches(*args, **kwargs):
        iterator = batches(*args, **kwargs)
        while (batch := next_batch(iterator, None)) is not None:
            yield batch

    training.accuracy = clocked(accuracy, "loss + accuracy", seconds)
    training.iterate_minibatches = clocked_batches
    try:
        yield
    finally:
        training.accuracy, training.iterate_minibatches = accuracy, batches


def profiled_epoch(model, loss_fn, optimizer, images, labels, rng) -> dict[str, float]:
    """One ``train_epoch``, with the seconds of each part (and ``"epoch"``, the whole)."""
    seconds: dict[str, float] = defaultdict(float)
    layers = model.layers
    model.layers = [
        Clocked(layer, "Linear forward + backward" if isinstance(layer, Linear) else "activations", seconds)
        for layer in layers
    ]
    try:
        with clocked_training_helpers(seconds):
            start = time.perf_counter()
            training.train_epoch(model, Clocked(loss_fn, "loss + accuracy", seconds),
                                 Clocked(optimizer, "SGD step", seconds), images, labels, BATCH_SIZE, rng)
            seconds["epoch"] = time.perf_counter() - start
    finally:
        model.layers = layers
    seconds["the rest"] = seconds["epoch"] - sum(seconds[p] for p in PARTS if p != "the rest")
    return seconds


def profile(config: str, n_samples: int, epochs: int) -> dict[str, float]:
    """Median seconds of each part over ``epochs`` epochs (after a warm-up epoch), and the products alone."""
    arch, activation = config.split("-")
    rng = np.random.default_rng(1)
    images = rng.uniform(-0.5, 0.5, (n_samples, 784)).astype(np.float32)
    labels = rng.integers(0, 10, n_samples)
    model = build_mlp(arch, activation, init_std=SETTINGS["init_std"], seed=0)
    optimizer = SGD(model.parameters(), lr=SETTINGS["lr"], momentum=SETTINGS["momentum"])
    loss_fn = SoftmaxCrossEntropyLoss()
    shuffle = np.random.default_rng(0)
    runs = [profiled_epoch(model, loss_fn, optimizer, images, labels, shuffle) for _ in range(epochs + 1)][1:]
    medians = {part: statistics.median(run[part] for run in runs) for part in (*PARTS, "epoch")}
    medians["products alone"] = epoch_product_seconds(hidden_sizes_for(arch), n_samples)
    return medians


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--configs", default=",".join(CONFIGS),
                        help=f"comma-separated subset of {', '.join(CONFIGS)} (default: all)")
    parser.add_argument("--epochs", type=int, default=3, help="timed epochs per config; the median counts")
    parser.add_argument("--quick", action="store_true", help="smoke run on 2,000 images: measures nothing")
    args = parser.parse_args(argv)
    configs = [c.strip() for c in args.configs.split(",") if c.strip()]
    unknown = [c for c in configs if c not in CONFIGS]
    if unknown or not configs:
        parser.error(f"unknown config {', '.join(unknown) or repr(args.configs)}; choose from {', '.join(CONFIGS)}")
    if args.epochs < 1:
        parser.error(f"--epochs must be >= 1, got {args.epochs}")
    n_samples, epochs = (2_000, 1) if args.quick else (60_000, args.epochs)

    print(f"# Where an epoch goes: {n_samples} samples, batches of 100, one BLAS thread, median of "
          f"{epochs} epoch(s); load average at start {os.getloadavg()[0]:.2f}")
    results = {config: profile(config, n_samples, epochs) for config in configs}
    print("\n| part | " + " | ".join(configs) + " |")
    print("|---|" + "---:|" * len(configs))

    def row(label, value):
        print(f"| {label} | " + " | ".join(value(results[c]) for c in configs) + " |")

    for part in PARTS:
        row(part, lambda r, part=part: f"{r[part]:.3f} s ({100 * r[part] / r['epoch']:.0f} %)")
    row("**epoch**", lambda r: f"{r['epoch']:.3f} s")
    row("products alone", lambda r: f"{r['products alone']:.3f} s")
    row("Linear over products alone", lambda r: f"{r['Linear forward + backward'] / r['products alone']:.2f}")
    row("epoch over products alone", lambda r: f"{r['epoch'] / r['products alone']:.2f}")
    print(f"\nload average at end {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
