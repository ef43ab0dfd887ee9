"""One training epoch written in PyTorch as its users would: ``benchmarks/epoch_time.py`` times it beside mlp_core's.

The same model, loss, optimiser and bookkeeping as mlp_core's epoch:
``nn.Sequential`` of ``nn.Linear`` and ``nn.ReLU`` / ``nn.GELU(approximate='tanh')``,
weights from N(0, std^2) and biases 0, ``F.cross_entropy``, ``torch.optim.SGD``
with momentum, per-batch ``loss.item()`` and accuracy, at the reference's
settings (``mlp_lab.reference.SETTINGS``). Import it only in the process that
times it, after its thread limits are set.
"""

from __future__ import annotations

import math
import statistics
import time

from benchmarks.products import BATCH_SIZE, INPUT_SIZE, NUM_CLASSES
from mlp_lab.reference import SETTINGS


class TorchRunner:
    """The same model, loss, optimiser and bookkeeping, written as PyTorch users do."""

    def __init__(self, arch: str, activation: str, images, labels):
        import torch
        from torch import nn

        from mlp_core.network import hidden_sizes_for

        torch.manual_seed(0)
        sizes = [INPUT_SIZE, *hidden_sizes_for(arch), NUM_CLASSES]
        layers = []
        for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            linear = nn.Linear(n_in, n_out)
            nn.init.normal_(linear.weight, 0.0, SETTINGS["init_std"])
            nn.init.zeros_(linear.bias)
            layers.append(linear)
            if i < len(sizes) - 2:
                layers.append(nn.ReLU() if activation == "relu" else nn.GELU(approximate="tanh"))
        self.torch = torch
        self.model = nn.Sequential(*layers)
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=SETTINGS["lr"], momentum=SETTINGS["momentum"])
        self.images = torch.from_numpy(images)
        self.labels = torch.from_numpy(labels)
        self.generator = torch.Generator().manual_seed(0)

    def epoch(self, n_batches: int | None = None) -> float:
        torch = self.torch
        import torch.nn.functional as F

        n = len(self.labels) if n_batches is None else min(len(self.labels), n_batches * BATCH_SIZE)
        start = time.perf_counter()
        order = torch.randperm(n, generator=self.generator)
        losses, accuracies = [], []
        for first in range(0, n, BATCH_SIZE):
            idx = order[first : first + BATCH_SIZE]
            x, y = self.images[idx], self.labels[idx]
            out = self.model(x)
            loss = F.cross_entropy(out, y)
            loss_value = loss.item()
            if not math.isfinite(loss_value):
                raise RuntimeError(f"PyTorch training diverged at sample {first}")
            losses.append(loss_value)
            accuracies.append((out.argmax(dim=1) == y).float().mean().item())
            self.optimizer.zero_grad()
            loss.backward()
            self.optimizer.step()
        self.train_loss, self.train_acc = statistics.fmean(losses), statistics.fmean(accuracies)
        return time.perf_counter() - start


def load_torch(threads: int):
    """The torch module with ``threads`` intra-op threads, or None if not installed."""
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(threads)
    return torch
