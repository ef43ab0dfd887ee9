"""The candidates: every definition of "the L2 loss" the reference could have printed, and their measure.

A candidate is a function of one batch's outputs y (B, K) and its one-hot
targets t (B, K) (:data:`CANDIDATES`). Candidates that are per-sample means do
not depend on the batch size; the two that take a root of a batch sum do, so
every batch here is the course's 100 (:data:`COURSE_BATCH`).

:class:`CandidateMeasure` is the study's measure for the experiment runner
(:func:`mlp_lab.experiments.run_grid`): after every epoch it evaluates every
candidate on the run's own model, aggregated in each way the course could have
averaged it (:data:`AGGREGATIONS`):

    test_after_epoch     mean over the test set's batches of 100 of the batch
                         values, after the epoch (the course's test_net)
    train_during_epoch   mean over the epoch's training batches of the batch
                         values, each on the batch's output BEFORE its update
                         (the course's train_net; what the kit's history records)
    train_last_window    the same over the epoch's last 50 batches only (the
                         course printed and logged one mean per 50 batches, so
                         an epoch's last logged value is this)
    train_after_epoch    over the whole training set after the epoch, batches of 100
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from mlp_core.activations import Sigmoid, get_activation
from mlp_core.losses import Loss, one_hot, softmax
from mlp_core.network import Sequential
from mlp_core.training import Split, iterate_minibatches

#: The course evaluated and trained in batches of 100.
COURSE_BATCH = 100
#: The course logged one train loss per this many batches (its disp_freq).
DISPLAY_WINDOW = 50
#: The ways of averaging a candidate over an epoch (see the module docstring).
AGGREGATIONS = ("test_after_epoch", "train_during_epoch", "train_last_window", "train_after_epoch")


def half_sum_sq(y: np.ndarray, t: np.ndarray) -> float:
    """(a) The kit's and the course's E = 1/(2B) sum_n ||y_n - t_n||^2."""
    return float(0.5 * np.sum((y - t) ** 2) / y.shape[0])


def half_sum_sq_softmax(y: np.ndarray, t: np.ndarray) -> float:
    """(b) 1/(2B) sum_n ||softmax(y_n) - t_n||^2 (the model trained without it)."""
    return half_sum_sq(softmax(y), t)


def half_sum_sq_sigmoid(y: np.ndarray, t: np.ndarray) -> float:
    """(c) 1/(2B) sum_n ||sigmoid(y_n) - t_n||^2 (the model trained without it)."""
    return half_sum_sq(Sigmoid().forward(y), t)


def half_mean_sq(y: np.ndarray, t: np.ndarray) -> float:
    """(d) 1/(2BK) sum_{n,k} (y_nk - t_nk)^2: a mean over classes too."""
    return float(0.5 * np.mean((y - t) ** 2))


def mean_sq(y: np.ndarray, t: np.ndarray) -> float:
    """(d) 1/(BK) sum_{n,k} (y_nk - t_nk)^2: numpy's np.mean of the squares (MSE)."""
    return float(np.mean((y - t) ** 2))


def sum_sq(y: np.ndarray, t: np.ndarray) -> float:
    """(e) 1/B sum_n ||y_n - t_n||^2: without the 1/2."""
    return float(np.sum((y - t) ** 2) / y.shape[0])


def half_batch_sum_sq(y: np.ndarray, t: np.ndarray) -> float:
    """(h) 1/2 sum_n ||y_n - t_n||^2: summed over the batch, not averaged."""
    return float(0.5 * np.sum((y - t) ** 2))


def half_sum_sq_pm1(y: np.ndarray, t: np.ndarray) -> float:
    """(h) 1/(2B) sum_n ||y_n - (2 t_n - 1)||^2: targets in {-1, 1}."""
    return half_sum_sq(y, 2 * t - 1)


def half_sum_sq_clipped(y: np.ndarray, t: np.ndarray) -> float:
    """(h) 1/(2B) sum_n ||clip(y_n, 0, 1) - t_n||^2: outputs clipped to the targets' range."""
    return half_sum_sq(np.clip(y, 0.0, 1.0), t)


def half_sample_norm(y: np.ndarray, t: np.ndarray) -> float:
    """(h) 1/(2B) sum_n ||y_n - t_n||: each sample's norm, not squared."""
    return float(0.5 * np.sum(np.linalg.norm(y - t, axis=1)) / y.shape[0])


def half_batch_norm(y: np.ndarray, t: np.ndarray) -> float:
    """(h) 1/(2B) ||Y - T||_F: the norm of the whole (B, K) batch, not squared.

    What ``0.5 * np.linalg.norm(y - t) / B`` computes when the formula's
    ||y - t||^2 loses its square. With E_a = :func:`half_sum_sq` of the same
    batch, ||Y - T||_F = sqrt(2 B E_a), so this is sqrt(E_a / (2B)): on batches
    of 100, sqrt(E_a / 200), a concave function of the kit's loss.
    """
    return float(0.5 * np.linalg.norm(y - t) / y.shape[0])


def root_mean_sq(y: np.ndarray, t: np.ndarray) -> float:
    """(h) sqrt(1/(BK) sum_{n,k} (y_nk - t_nk)^2): the RMSE of the batch."""
    return float(np.sqrt(np.mean((y - t) ** 2)))


Candidate = Callable[[np.ndarray, np.ndarray], float]

#: name -> candidate; the names are the JSON keys and the Markdown rows.
CANDIDATES: dict[str, Candidate] = {
    "half_sum_sq": half_sum_sq,
    "half_sum_sq_softmax": half_sum_sq_softmax,
    "half_sum_sq_sigmoid": half_sum_sq_sigmoid,
    "half_mean_sq": half_mean_sq,
    "mean_sq": mean_sq,
    "sum_sq": sum_sq,
    "half_batch_sum_sq": half_batch_sum_sq,
    "half_sum_sq_pm1": half_sum_sq_pm1,
    "half_sum_sq_clipped": half_sum_sq_clipped,
    "half_sample_norm": half_sample_norm,
    "half_batch_norm": half_batch_norm,
    "root_mean_sq": root_mean_sq,
}

#: Every candidate's name: those above, then the one that depends on the run's
#: hidden activation (the reference's architecture table puts it after the output
#: layer too): 1/(2B) sum_n ||act(y_n) - t_n||^2.
CANDIDATE_NAMES: tuple[str, ...] = (*CANDIDATES, "half_sum_sq_hidden_act")

#: What each candidate is, in one line (the Markdown's legend).
CANDIDATE_TITLES: dict[str, str] = {
    "half_sum_sq": "(a) 1/(2N) Σ‖y−t‖² on the logits (the kit, the course)",
    "half_sum_sq_softmax": "(b) the same on softmax(y)",
    "half_sum_sq_sigmoid": "(c) the same on sigmoid(y)",
    "half_sum_sq_hidden_act": "(c') the same on the hidden activation applied to y (the report's architecture table)",
    "half_mean_sq": "(d) 1/(2NK) Σ (y−t)², a mean over classes",
    "mean_sq": "(d) 1/(NK) Σ (y−t)² (np.mean of the squares)",
    "sum_sq": "(e) 1/N Σ‖y−t‖², without the 1/2",
    "half_batch_sum_sq": "(h) 1/2 Σ‖y−t‖² per batch, not divided by N",
    "half_sum_sq_pm1": "(h) 1/(2N) Σ‖y−(2t−1)‖², targets in {−1, 1}",
    "half_sum_sq_clipped": "(h) 1/(2N) Σ‖clip(y,0,1)−t‖²",
    "half_sample_norm": "(h) 1/(2N) Σ‖y−t‖, each sample's norm not squared",
    "half_batch_norm": "(h) 1/(2N) ‖Y−T‖_F, the batch's norm not squared (np.linalg.norm without **2)",
    "root_mean_sq": "(h) √(1/(NK) Σ (y−t)²), the batch RMSE",
}


def candidate_values(outputs: np.ndarray, labels: np.ndarray, hidden_activation: str) -> dict[str, float]:
    """Every candidate on one batch. outputs: (B, K) logits, labels: (B,) ints.

    Computed in float64 whatever the network's dtype. ``hidden_activation``
    ('sigmoid', 'relu', 'gelu') is applied to the outputs for
    ``half_sum_sq_hidden_act``.
    """
    y = outputs.astype(np.float64)
    t = one_hot(labels, y.shape[1], np.float64)
    values = {name: fn(y, t) for name, fn in CANDIDATES.items()}
    values["half_sum_sq_hidden_act"] = half_sum_sq(get_activation(hidden_activation).forward(y), t)
    return values


def mean_values(batches: list[dict[str, float]]) -> dict[str, float]:
    """Each candidate's mean over the given batches' values (each batch counts once)."""
    return {name: float(np.mean([b[name] for b in batches])) for name in CANDIDATE_NAMES}


def split_values(model: Sequential, images: np.ndarray, labels: np.ndarray, hidden_activation: str) -> dict[str, float]:
    """Means over the split's batches of 100 (in order) of every candidate's batch value."""
    return mean_values([
        candidate_values(model.forward(x), y, hidden_activation)
        for x, y in iterate_minibatches(images, labels, COURSE_BATCH, rng=None)
    ])


class WatchedLoss(Loss):
    """A loss, unchanged, that evaluates every candidate on each batch it trains on.

    A training batch is one whose gradient is asked for: its candidates are
    computed at :meth:`backward`, on the outputs its :meth:`forward` saw, so an
    evaluation (forward only) is never counted. :meth:`take` hands over the
    batches of the epoch that just ended.
    """

    def __init__(self, loss: Loss, hidden_activation: str):
        self.loss = loss
        self.hidden_activation = hidden_activation
        self.batch: tuple[np.ndarray, np.ndarray] | None = None
        self.batches: list[dict[str, float]] = []

    def forward(self, x: np.ndarray, labels: np.ndarray) -> float:
        value = self.loss.forward(x, labels)
        self.batch = (x, labels)
        return value

    def backward(self) -> np.ndarray:
        self.batches.append(candidate_values(*self.batch, self.hidden_activation))
        return self.loss.backward()

    def take(self) -> list[dict[str, float]]:
        """The training batches since the last call, in order; starts anew."""
        batches, self.batches = self.batches, []
        return batches


class CandidateMeasure:
    """The study's measure: every candidate, in every aggregation, after every epoch of a run.

    For the runner (``run_grid(..., measure=CandidateMeasure())``):
    :meth:`begin` wraps the run's loss in a :class:`WatchedLoss`, and each call
    returns ``{aggregation: {candidate: value}}``; at initialisation, before
    any training batch, it returns None (no epoch to compare).
    """

    def __init__(self):
        self.splits: dict[str, Split] = {}
        self.hidden_activation = "relu"

    def begin(self, config, splits: dict[str, Split], loss_fn: Loss) -> WatchedLoss:
        """A run starts: its config (for the hidden activation), its splits and the loss it trains on."""
        self.splits, self.hidden_activation = splits, config.activation
        return WatchedLoss(loss_fn, config.activation)

    def __call__(self, model: Sequential, loss_fn: WatchedLoss) -> dict[str, dict[str, float]] | None:
        batches = loss_fn.take()
        if not batches:
            return None
        return {
            "test_after_epoch": split_values(model, *self.splits["test"], self.hidden_activation),
            "train_during_epoch": mean_values(batches),
            "train_last_window": mean_values(batches[-DISPLAY_WINDOW:]),
            "train_after_epoch": split_values(model, *self.splits["train"], self.hidden_activation),
        }
