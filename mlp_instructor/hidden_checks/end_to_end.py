"""The end-to-end check: MLP1 trained by the student's own code on a fixed MNIST subset.

Every other check runs one function on a few random numbers; this one asks
whether the pieces add up to a network that learns. The worker builds MLP1
(784-hidden-10, ReLU) from the student's ``Linear``, ``ReLU`` and
``Sequential``, and trains it with the student's softmax cross-entropy, SGD
and ``train_epoch`` (the loop over epochs is the worker's) on
:data:`SUBSET_TRAIN` training images, then predicts :data:`SUBSET_TEST`
test images. The judge keeps the test labels and scores the predictions:
the check passes at :data:`THRESHOLD` test accuracy.

The images are MNIST's, whose test labels are public, so the judge hides
them: each submission's request moves the pixels by a permutation of its own
(:func:`end_to_end_request`, drawn from the check's seeded generator, the same
for the training and the test images, and never sent). An MLP does not see
the order of its inputs (its first layer gives every pixel its own weights,
drawn alike), so training on permuted images is the same task and an
honest solution scores as without it; but a submission that recognises the
test images (by a hash of their bytes, or their pixels where MNIST has them)
to look up their public labels meets images it has never seen. It does not
hide what a permutation keeps: the set of an image's pixel values (README.md,
"4. Grade", says what that leaves open).

The subset is fixed (drawn with :data:`SUBSET_SEED`, scaled as the reference
scales pixels) so every student meets the same task. The training settings
are the reference's (:data:`TRAINING`: the hidden size of
``mlp_core.network.ARCHITECTURES["mlp1"]``; initial weight std, learning
rate, momentum and batch size from the defaults of ``mlp_lab.config.TrainConfig``,
the lab's one place for them), trained for only :data:`EPOCHS` epochs so
the check stays short. The threshold sits well below what the solution
reaches there and well above what common mistakes reach (SGD without
momentum, a cross-entropy gradient without the 1/N), so it separates a
network that learns from one that does not, not a good network from a
slightly better one.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mlp_core.data import DATASETS, load_dataset
from mlp_core.network import ARCHITECTURES
from mlp_lab.config import TrainConfig

from .requests import Builder, Request

#: The fixed MNIST subset: sizes and the seed that picks it.
SUBSET_TRAIN, SUBSET_TEST, SUBSET_SEED = 5000, 1000, 20261127
#: Epochs of training, and the seeds of the initial weights and of the batch order.
EPOCHS, INIT_SEED, ORDER_SEED = 5, 0, 1
#: The test accuracy the student's MLP1 must reach.
THRESHOLD = 0.80


def _training() -> dict:
    """The worker's ``train_mlp1`` parameters: the reference's settings, this check's epochs and seeds."""
    reference = TrainConfig()
    (hidden,) = ARCHITECTURES["mlp1"]
    return {"hidden": hidden, "classes": len(DATASETS["mnist"].classes), "init_std": reference.init_std,
            "lr": reference.lr, "momentum": reference.momentum, "batch_size": reference.batch_size,
            "epochs": EPOCHS, "init_seed": INIT_SEED, "order_seed": ORDER_SEED}


TRAINING: dict = _training()


def load_subset(data_dir: Path | None) -> dict:
    """The fixed subset: ``train_x``, ``train_y``, ``test_x`` and ``test_y`` (which the judge keeps).

    Raises:
        mlp_core.data.DataError: MNIST is not in ``data_dir`` (default: where
            ``mlp_core.data`` looks, e.g. ``$MNIST_DIR``); it is never downloaded here.
    """
    train, test = load_dataset("mnist", data_dir, scaling=TrainConfig().scaling, download=False)
    rng = np.random.default_rng(SUBSET_SEED)
    i = np.sort(rng.choice(len(train.labels), SUBSET_TRAIN, replace=False))
    j = np.sort(rng.choice(len(test.labels), SUBSET_TEST, replace=False))
    return {"train_x": train.images[i], "train_y": train.labels[i].astype(np.int64),
            "test_x": test.images[j], "test_y": test.labels[j].astype(np.int64)}


def end_to_end_request(subset: dict) -> Builder:
    """The request of the check: :data:`TRAINING` and the subset with its pixels permuted (``test_y`` is kept).

    ``rng`` draws one permutation of the pixels (the columns of ``train_x``
    and ``test_x``: (n, 784) -> (n, 784)), applied to the training and the
    test images alike; labels and order of the images are unchanged.
    """
    def build(rng):
        pixels = rng.permutation(subset["train_x"].shape[1])
        return dict(TRAINING), {"train_x": subset["train_x"][:, pixels], "train_y": subset["train_y"],
                                "test_x": subset["test_x"][:, pixels], "test_y": subset["test_y"]}
    return build


def end_to_end_verdict(request: Request, outputs: dict, secrets: dict) -> str:
    """'' when the predictions reach :data:`THRESHOLD` on the kept test labels, else by how much they fall short."""
    labels = secrets["test_y"]
    predictions = outputs.get("predictions")
    if predictions is None or predictions.shape != labels.shape:
        return "the training run returned no prediction per test image"
    accuracy = float(np.mean(predictions == labels))
    if accuracy >= THRESHOLD:
        return ""
    return (f"MLP1 (ReLU, cross-entropy) reached {100 * accuracy:.1f}% test accuracy after {EPOCHS} "
            f"epochs on the fixed MNIST subset; it must reach {100 * THRESHOLD:.0f}%")
