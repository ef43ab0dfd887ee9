"""The training loop: mini-batches, metrics, early stopping and the history.

One epoch (:func:`train_epoch`), as in the reference's course: the training set
is shuffled (seeded) and cut into batches of 100; for each batch the network's
output and loss are computed, the loss and accuracy of the batch recorded
(BEFORE its update), the gradients backpropagated and one SGD step taken. The
epoch's train_loss and train_acc are the means over its batches. After each
epoch :func:`train` evaluates on the test set (and on a validation split, if
any) and early stopping looks at the monitored metric.

Early stopping on the TEST accuracy is what the reference did. It reproduces the
reference, but the test set then chooses the model and stops being an unbiased
estimate of its accuracy. The sound alternative is to hold out a validation
split of the training set, monitor ``val_acc`` and touch the test set only to
report (notebook 05 measures the difference).
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
from tqdm.auto import tqdm

from .arguments import is_whole_number
from .atomic import atomic_write_text
from .losses import Loss
from .network import Sequential
from .optim import SGD

Split = tuple[np.ndarray, np.ndarray]  # (images (N, D) float, labels (N,) int)


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; the message names the epoch and batch."""

    def __init__(self, epoch: int, batch: int, loss: float):
        self.epoch, self.batch, self.loss = epoch, batch, loss
        super().__init__(
            f"training diverged: the loss became {loss} at epoch {epoch}, batch {batch}. "
            "Lower the learning rate, check the input scaling, or use a loss that "
            "suits the output activation."
        )


def iterate_minibatches(
    images: np.ndarray, labels: np.ndarray, batch_size: int, rng: np.random.Generator | None
) -> Iterator[Split]:
    """Yield (x, y) batches of ``batch_size`` (the last may be smaller).

    images: (N, D), labels: (N,). Shuffled by ``rng`` when given, in order when None.
    """
    n = images.shape[0]
    order = rng.permutation(n) if rng is not None else None
    for start in range(0, n, batch_size):
        if order is None:
            yield images[start : start + batch_size], labels[start : start + batch_size]
        else:
            idx = order[start : start + batch_size]
            yield images[idx], labels[idx]


def accuracy(outputs: np.ndarray, labels: np.ndarray) -> float:
    """Fraction of rows whose largest output is the true class. outputs: (N, K), labels: (N,)."""
    return float(np.mean(outputs.argmax(axis=1) == labels))


def evaluate(
    model: Sequential, loss_fn: Loss, images: np.ndarray, labels: np.ndarray, batch_size: int = 1000
) -> tuple[float, float]:
    """Mean loss and accuracy over a whole split, without updating anything.

    images: (N, D), labels: (N,). The split is read in order, in batches of
    ``batch_size`` (the last may be smaller). With E_b the mean loss of batch
    b (of n_b images) and c_b its number of correct predictions (the largest
    output is the true class):

        loss = (sum_b n_b E_b) / N,     accuracy = (sum_b c_b) / N

    so a smaller last batch counts by its size. The course averaged the batch
    means over test batches of 100; with equal batches that is exactly the
    mean over all samples, computed here in larger batches for speed.

    Returns (loss, accuracy), accuracy a fraction in [0, 1].
    """
    # BEGIN SOLUTION
    total_loss = 0.0
    correct = 0
    for x, y in iterate_minibatches(images, labels, batch_size, rng=None):
        out = model.forward(x)
        total_loss += loss_fn(out, y) * len(y)
        correct += int(np.sum(out.argmax(axis=1) == y))
    n = len(labels)
    return total_loss / n, correct / n
    # END SOLUTION


def train_epoch(
    model: Sequential,
    loss_fn: Loss,
    optimizer: SGD,
    images: np.ndarray,
    labels: np.ndarray,
    batch_size: int,
    rng: np.random.Generator,
    *,
    epoch: int = 1,
) -> tuple[float, float]:
    """One pass of mini-batch SGD over the shuffled training set.

    images: (N, D), labels: (N,). The batches are those of
    :func:`iterate_minibatches` with ``rng`` (one permutation of the N rows per
    epoch, cut into batches of ``batch_size``; the last may be smaller). For
    each batch (x of shape (B, D), y of shape (B,)):

        out = f(x): (B, K)       E = loss(out, y), a float
        record E and the batch's accuracy (from ``out``, BEFORE the update)
        dE/d(out): (B, K) from the loss; backpropagate it through the model
        one optimizer step (every parameter's ``.grad`` is now dE/dtheta)

    A loss that is NaN or infinite stops the epoch at once: raise
    ``TrainingDiverged(epoch, batch, E)``, batches numbered from 1.

    Returns (train_loss, train_acc): the means over the epoch's batches of the
    recorded losses and accuracies (each batch counts once, whatever its size).
    """
    # BEGIN SOLUTION
    batch_losses, batch_accs = [], []
    for batch, (x, y) in enumerate(iterate_minibatches(images, labels, batch_size, rng), 1):
        out = model.forward(x)
        loss = loss_fn(out, y)
        if not math.isfinite(loss):
            raise TrainingDiverged(epoch, batch, loss)
        batch_losses.append(loss)
        batch_accs.append(accuracy(out, y))
        model.backward(loss_fn.backward())
        optimizer.step()
    return float(np.mean(batch_losses)), float(np.mean(batch_accs))
    # END SOLUTION


class EarlyStopping:
    """Stop when the monitored metric has not improved for ``patience`` epochs.

    ``mode='max'`` for accuracies, ``'min'`` for losses. "Improved" means
    strictly better than the best value so far (by more than ``min_delta``).
    ``step(value)`` is called once per epoch and returns True when training
    should stop.

    Example with patience 2, mode 'max': values 0.90, 0.92, 0.91, 0.92 -> the
    best stays 0.92 (epoch 2), and the fourth call returns True.
    """

    def __init__(self, patience: int = 10, mode: str = "max", min_delta: float = 0.0):
        self.check_arguments(patience, mode, min_delta)
        self.patience = patience
        self.mode = mode
        self.min_delta = min_delta
        self.best: float | None = None
        self.best_epoch = 0
        self.epochs_without_improvement = 0
        self.epoch = 0

    @staticmethod
    def check_arguments(patience: int, mode: str = "max", min_delta: float = 0.0) -> None:
        """Raise ValueError unless patience is a whole number >= 1, mode 'max' or 'min', min_delta >= 0."""
        if not is_whole_number(patience, 1):
            raise ValueError(f"patience must be a whole number of epochs >= 1, got {patience!r}")
        if mode not in ("max", "min"):
            raise ValueError(f"mode must be 'max' or 'min', got {mode!r}")
        if not min_delta >= 0:
            raise ValueError(f"min_delta must be >= 0, got {min_delta}")

    def improved(self, value: float) -> bool:
        if self.best is None:
            return True
        if self.mode == "max":
            return value > self.best + self.min_delta
        return value < self.best - self.min_delta

    def step(self, value: float) -> bool:
        """Record one epoch's metric; True when training should stop."""
        self.epoch += 1
        # BEGIN SOLUTION
        if self.improved(value):
            self.best = value
            self.best_epoch = self.epoch
            self.epochs_without_improvement = 0
        else:
            self.epochs_without_improvement += 1
        return self.epochs_without_improvement >= self.patience
        # END SOLUTION


@dataclass
class History:
    """Per-epoch metrics of one training run, saved as JSON.

    ``metrics`` maps a name to one value per epoch: ``epoch``, ``train_loss``,
    ``train_acc``, ``test_loss``, ``test_acc`` (and ``val_loss``, ``val_acc``
    when a validation split is used), ``train_seconds``, ``eval_seconds``.
    Accuracies are fractions in [0, 1].
    """

    config: dict = field(default_factory=dict)
    metrics: dict[str, list[float]] = field(default_factory=dict)
    monitor: str | None = None
    best_epoch: int | None = None
    stopped_early: bool = False

    def append(self, record: dict[str, float]) -> None:
        for key, value in record.items():
            self.metrics.setdefault(key, []).append(value)

    def __getitem__(self, name: str) -> list[float]:
        return self.metrics[name]

    @property
    def num_epochs(self) -> int:
        return len(self.metrics.get("epoch", []))

    def at_epoch(self, epoch: int) -> dict[str, float]:
        """All metrics of one epoch (1-based)."""
        return {k: v[epoch - 1] for k, v in self.metrics.items()}

    def best(self) -> dict[str, float]:
        """Metrics at the best epoch of the monitored metric (the last epoch if none)."""
        return self.at_epoch(self.best_epoch or self.num_epochs)

    def final(self) -> dict[str, float]:
        return self.at_epoch(self.num_epochs)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "History":
        return cls(**d)

    def save(self, path: str | Path) -> None:
        """Write as JSON atomically (a crash never leaves half a file)."""
        atomic_write_text(path, json.dumps(self.to_dict(), indent=1))

    @classmethod
    def load(cls, path: str | Path) -> "History":
        return cls.from_dict(json.loads(Path(path).read_text()))


#: The metrics early stopping can watch: a split's accuracy or loss.
MONITORS = ("test_acc", "test_loss", "val_acc", "val_loss")


def check_train_arguments(batch_size: int, max_epochs: int, patience: int | None, monitor: str) -> None:
    """Raise ValueError naming the bad argument of :func:`train`.

    ``train`` calls it; so does the lab's config, to fail before any data is loaded.
    """
    if not is_whole_number(batch_size, 1):
        raise ValueError(f"batch_size must be a whole number >= 1, got {batch_size!r}")
    if not is_whole_number(max_epochs, 1):
        raise ValueError(f"max_epochs must be a whole number >= 1, got {max_epochs!r}")
    if monitor not in MONITORS:
        raise ValueError(f"monitor must be one of {', '.join(MONITORS)}; got {monitor!r}")
    if patience is not None:
        EarlyStopping.check_arguments(patience, _mode(monitor))


def _mode(monitor: str) -> str:
    """'max' for an accuracy, 'min' for a loss."""
    return "max" if monitor.endswith("acc") else "min"


def train(
    model: Sequential,
    loss_fn: Loss,
    optimizer: SGD,
    train_split: Split,
    test_split: Split | None = None,
    *,
    val_split: Split | None = None,
    batch_size: int = 100,
    max_epochs: int = 100,
    patience: int | None = 10,
    monitor: str = "test_acc",
    restore_best: bool = True,
    seed: int | np.random.Generator = 0,
    progress: bool = True,
    on_epoch_end: Callable[[dict], None] | None = None,
    config: dict | None = None,
) -> History:
    """Train ``model`` with mini-batch SGD and return its :class:`History`.

    Args:
        train_split, test_split, val_split: (images (N, 784), labels (N,)).
        batch_size: samples per update (the reference: 100).
        max_epochs: upper bound on epochs (the reference: 100).
        patience: early-stopping patience in epochs (>= 1); None trains all epochs.
        monitor: metric early stopping watches: 'test_acc' (the reference),
            'val_acc' (needs ``val_split``), or a loss such as 'val_loss'.
        restore_best: put the parameters of the best epoch back at the end.
        seed: seed or Generator for the shuffling; the same seed gives the same history.
        progress: show a tqdm bar over epochs (a widget in JupyterLab).
        on_epoch_end: called with each epoch's metrics dict.
        config: stored in the history, for the record.

    Modes: each epoch's ``train_epoch`` runs in training mode (``model.train()``:
    dropout drops units) and every evaluation in evaluation mode
    (``model.eval()``: it does not). The model is left in evaluation mode,
    ready to predict, also when training stops with an error. ``train_epoch``
    and ``evaluate`` do not switch modes themselves: called alone, they use
    the model in the mode it is in. The train_loss and train_acc of an epoch
    are therefore those of the thinned networks dropout trained, measured
    before each update.

    Raises:
        TrainingDiverged: if a batch's loss is NaN or infinite.
    """
    check_train_arguments(batch_size, max_epochs, patience, monitor)
    split_of = {"test": test_split, "val": val_split}
    monitored_split = monitor.split("_")[0]
    if split_of[monitored_split] is None and patience is not None:
        raise ValueError(f"monitor={monitor!r} needs a {monitored_split} split")

    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    stopper = EarlyStopping(patience, _mode(monitor)) if patience is not None else None
    history = History(config=dict(config or {}), monitor=monitor if stopper else None)
    best_state = None
    images, labels = train_split

    bar = None
    if progress:
        bar = tqdm(total=max_epochs, desc="epochs", unit="epoch")
    try:
        for epoch in range(1, max_epochs + 1):
            start = time.perf_counter()
            model.train()
            train_loss, train_acc = train_epoch(model, loss_fn, optimizer, images, labels, batch_size, rng, epoch=epoch)
            model.eval()
            record = {"epoch": epoch, "train_loss": train_loss, "train_acc": train_acc}
            train_seconds = time.perf_counter() - start
            for name, split in split_of.items():
                if split is not None:
                    record[f"{name}_loss"], record[f"{name}_acc"] = evaluate(model, loss_fn, *split)
            record["train_seconds"] = train_seconds
            record["eval_seconds"] = time.perf_counter() - start - train_seconds
            history.append(record)
            if on_epoch_end is not None:
                on_epoch_end(record)
            if bar is not None:
                bar.update(1)
                bar.set_postfix({k: f"{v:.4f}" for k, v in record.items() if k.endswith(("acc", "loss"))})
            if stopper is not None:
                should_stop = stopper.step(record[monitor])
                if stopper.best_epoch == epoch:
                    history.best_epoch = epoch
                    if restore_best:
                        best_state = model.state_dict()
                if should_stop:
                    history.stopped_early = True
                    break
    finally:
        model.eval()
        if bar is not None:
            bar.close()
    if best_state is not None and history.best_epoch != history.num_epochs:
        model.load_state_dict(best_state)
    return history

