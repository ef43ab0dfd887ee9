"""Measurements behind the analyses of notebooks 05, 09, 10 and 11.

The reference (the report this kit reproduces) explained its results with
three arguments; this module measures each of them instead of asserting it:

* vanishing gradients (notebook 09): :func:`layer_gradient_norms` gives, for
  every Linear layer, the norm of dE/dW or of the gradient dE/dz arriving at
  its output, so the shrinkage through n sigmoid layers can be set beside the
  bound 4^-n that follows from sigma' <= 1/4;
* Sigmoid with L2 (notebook 10): :func:`sigmoid_l2_output_gradient` and
  :func:`softmax_ce_output_gradient` are the two output gradients written out
  analytically, :func:`output_logits` gives the z they are evaluated at on a
  trained net, :func:`squared_norm_share` and :func:`empirical_cdf` describe
  where the gradient goes, and :func:`reference_printed_l2` converts
  the kit's L2 loss to the scale the reference printed;
* the hinge margin (notebook 11): :func:`score_gaps` and
  :func:`hinge_active_fraction` show whether the outputs can reach the margin
  at all.

:func:`glorot_reinitialise` redraws a network's weights at Glorot's
variance-preserving scale, the fix notebook 09 tests on MLP2 with Sigmoid.

:func:`recorded_run` trains one :class:`~mlp_lab.config.TrainConfig` while
measuring the model at initialisation and after every epoch, and
:func:`sweep` does that for a grid of configs: both are the experiment
runner's (:mod:`mlp_lab.experiments.runner`) on splits held in memory.
:func:`early_stopping_epoch` replays early stopping on a recorded curve
(notebook 05).

Everything here uses only the public API (layers' forward/backward, losses,
``softmax``, ``Sigmoid``, ``train``, ``EarlyStopping``), so it works on the
student's code as soon as that code works.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Sequence

import numpy as np

from mlp_core.activations import Sigmoid
from mlp_core.layers import Linear
from mlp_core.losses import Loss, one_hot, softmax
from mlp_core.network import Sequential
from mlp_core.training import EarlyStopping, History, Split, TrainingDiverged

from .config import TrainConfig
from .experiments import Task, config_id, run_grid, train_run

Measure = Callable[[Sequential, Loss], Any]

# --------------------------------------------------------------------------- #
# Gradient norms per layer (notebook 09)
# --------------------------------------------------------------------------- #


def layer_gradient_norms(
    model: Sequential, loss_fn: Loss, x: np.ndarray, labels: np.ndarray, *, wrt: str = "weight"
) -> dict[str, float]:
    """Norm of the gradient of the loss at every Linear layer, for one batch.

    Runs one forward and one backward pass on ``x`` (N, D) with ``labels`` (N,)
    and returns, for the Linear layers ``linear1`` (next to the input) to
    ``linearL`` (the output layer), in that order:

    * ``wrt="weight"``: the Frobenius norm ||dE/dW_l||, W_l of shape (in, out);
    * ``wrt="output"``: the norm ||dE/dz_l|| of the gradient arriving at the
      layer's output z_l = a_{l-1} W_l + b_l, shape (N, out). This is the
      backpropagated error signal; between consecutive layers it is multiplied
      by W_{l+1}^T and by the activation's derivative f'(z_l), so through a
      sigmoid it shrinks by at least a factor 4 per layer unless the weights
      make up for it.

    E is the batch mean (the losses divide by N), so the norms do not grow
    with the batch size. The pass overwrites every parameter's ``.grad`` and
    the layers' caches; it does not change any weight.
    """
    if wrt not in ("weight", "output"):
        raise ValueError(f"wrt must be 'weight' or 'output', got {wrt!r}")
    linear_at = [i for i, layer in enumerate(model.layers) if isinstance(layer, Linear)]
    if not linear_at:
        raise ValueError("layer_gradient_norms needs a Sequential with at least one Linear layer")
    loss_fn(model.forward(x), labels)
    grad = loss_fn.backward()
    signal = {}
    # Sequential.backward, unrolled to see the gradient entering each layer.
    for i in reversed(range(len(model.layers))):
        if i in linear_at:
            signal[i] = float(np.linalg.norm(grad))
        grad = model.layers[i].backward(grad)
    norms = {}
    for l, i in enumerate(linear_at, 1):
        value = signal[i] if wrt == "output" else float(np.linalg.norm(model.layers[i].W.grad))
        norms[f"linear{l}"] = value
    return norms


def glorot_std(fan_in: int, fan_out: int) -> float:
    """Glorot and Bengio's (2010) standard deviation sqrt(2 / (fan_in + fan_out)).

    A weight matrix W of shape (fan_in, fan_out) drawn from N(0, s^2) with this s
    keeps, on average over the forward and the backward direction, the variance
    of the signal it multiplies: fan_in s^2 = 1 forward, fan_out s^2 = 1 backward,
    and this s is the compromise between the two.
    """
    if fan_in < 1 or fan_out < 1:
        raise ValueError(f"fan_in and fan_out must be positive, got {fan_in} and {fan_out}")
    return float(np.sqrt(2.0 / (fan_in + fan_out)))


def glorot_reinitialise(model: Sequential, seed: int | None = 0) -> list[float]:
    """Redraw every Linear layer's weights from N(0, glorot_std(in, out)^2), biases 0, in place.

    The arrays are overwritten, not replaced, so an optimiser built for ``model``
    (e.g. by ``build_run``) keeps updating the same parameters; their dtype is
    kept. Returns the standard deviation used per Linear layer, first to last
    (for MLP2, 784-512-256-10: sqrt(2/1296), sqrt(2/768), sqrt(2/266)).
    """
    linears = [layer for layer in model.layers if isinstance(layer, Linear)]
    if not linears:
        raise ValueError("glorot_reinitialise needs a Sequential with at least one Linear layer")
    rng = np.random.default_rng(seed)
    stds = []
    for layer in linears:
        fan_in, fan_out = layer.W.data.shape
        std = glorot_std(fan_in, fan_out)
        layer.W.data[...] = rng.standard_normal((fan_in, fan_out)) * std
        layer.b.data[...] = 0
        stds.append(std)
    return stds


# --------------------------------------------------------------------------- #
# Training while measuring (notebooks 09, 10, 11)
# --------------------------------------------------------------------------- #


@dataclass
class RunResult:
    """One training run of a sweep.

    ``measurements[0]`` is taken at initialisation and ``measurements[e]``
    after epoch e. ``error`` is the message of a :class:`TrainingDiverged`
    (then ``history`` holds None and ``measurements`` what was taken before).
    """

    overrides: dict
    config: TrainConfig
    history: History | None
    measurements: list = field(default_factory=list)
    error: str | None = None
    seconds: float = 0.0

    @property
    def diverged(self) -> bool:
        return self.error is not None


def recorded_run(
    config: TrainConfig,
    splits: dict[str, Split],
    measure: Measure | None = None,
    *,
    progress: bool = False,
) -> tuple[Sequential, History, list]:
    """Train ``config`` like :func:`mlp_lab.config.run`, calling ``measure`` along the way.

    ``measure(model, loss_fn)`` is called once before training and once after
    every epoch; its results are returned in that order (epoch 0, 1, 2, ...).
    It may run forward/backward passes (they leave the weights alone), but
    must not update anything. Returns (model, history, measurements).

    One run of the experiment runner (:func:`~mlp_lab.experiments.train_run`)
    on these splits: the network, loss, optimiser and shuffling seed are
    exactly those of ``run(config, splits)``, so both give the same history.
    Any error, a diverging loss too, is raised.
    """
    model, record = train_run(Task(config_id(config), config), splits=splits, measure=measure, recorded=(),
                              progress=progress)
    return model, record.history, record.measurements or []


def sweep(
    base: TrainConfig,
    splits: dict[str, Split],
    grid: dict[str, Sequence],
    measure: Measure | None = None,
    *,
    progress: bool = True,
) -> list[RunResult]:
    """Train ``base`` once for every combination of the values in ``grid``.

    ``grid`` maps TrainConfig field names to lists of values, e.g.
    ``{"output_activation": [None, "sigmoid"], "margin": [1, 5]}`` gives four
    runs, in the order of ``itertools.product``. A run that diverges is
    recorded with its error message instead of stopping the sweep; any other
    error is raised. ``progress`` shows one bar over the runs. The runs are
    the experiment runner's (:func:`~mlp_lab.experiments.run_grid`), in this
    process, on these splits, nothing written.
    """
    unknown = set(grid) - set(TrainConfig.__dataclass_fields__)
    if unknown:
        raise ValueError(
            f"unknown TrainConfig fields {sorted(unknown)} in the grid; valid: "
            f"{sorted(TrainConfig.__dataclass_fields__)}"
        )
    names = list(grid)
    combos = [dict(zip(names, values)) for values in itertools.product(*(grid[n] for n in names))]
    configs = [replace(base, **overrides) for overrides in combos]
    tasks = [Task(f"{config_id(c)}-{i}", c) for i, c in enumerate(configs)]  # one id per combination
    records = run_grid(tasks, None, workers=0, splits=splits, measure=measure, recorded=(TrainingDiverged,),
                       progress=progress, log=lambda line: None).records
    return [
        RunResult(overrides, task.config, r.history if r.ok else None, r.measurements or [], r.error, r.wall_seconds)
        for overrides, task, r in ((o, t, records[t.run_id]) for o, t in zip(combos, tasks))
    ]


def early_stopping_epoch(values: Sequence[float], patience: int, mode: str = "max") -> tuple[int, int]:
    """Replay early stopping on a recorded curve, one value per epoch.

    Feeds ``values`` to :class:`~mlp_core.training.EarlyStopping` (the
    student's ``step``) until it says stop. Returns (best_epoch, stop_epoch),
    1-based: the epoch whose model would be kept and the last epoch trained
    (``len(values)`` if it never stopped).
    """
    if len(values) == 0:
        raise ValueError("early_stopping_epoch needs at least one value")
    stopper = EarlyStopping(patience, mode)
    for epoch, value in enumerate(values, 1):
        if stopper.step(value):
            return stopper.best_epoch, epoch
    return stopper.best_epoch, len(values)


# --------------------------------------------------------------------------- #
# Output gradients: L2 through a sigmoid vs softmax cross-entropy (notebook 10)
# --------------------------------------------------------------------------- #


def sigmoid(z: np.ndarray) -> np.ndarray:
    """sigma(z) = 1 / (1 + exp(-z)) in float64: the engine's ``Sigmoid`` (no overflow), any shape."""
    return Sigmoid().forward(np.asarray(z, dtype=np.float64))


def sigmoid_l2_output_gradient(z: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """dC/dz for C = 1/2 ||sigma(z) - t||^2, one sample per row.

    z: (N, K) pre-activations of the output layer, labels: (N,), t = onehot.
    Returns (N, K): (y - t) sigma'(z) with y = sigma(z), sigma'(z) = y (1 - y).
    Per sample: the batch loss divides this by N.
    """
    y = sigmoid(z)
    t = one_hot(labels, y.shape[1], np.float64)
    return (y - t) * y * (1 - y)


def softmax_ce_output_gradient(z: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """dC/dz for C = -ln softmax(z)_t, one sample per row.

    z: (N, K) logits, labels: (N,). Returns (N, K): softmax(z) - onehot(t).
    No sigma' factor: the gradient is largest when the output is most wrong.
    """
    z = np.asarray(z, dtype=np.float64)
    return softmax(z) - one_hot(labels, z.shape[1], np.float64)


def output_logits(model: Sequential, x: np.ndarray) -> np.ndarray:
    """The output layer's pre-activations z (N, K) for the inputs ``x`` (N, D).

    The forward pass stops after the last Linear layer: for a network with an
    output activation (a Sigmoid after the output layer, ``output_activation=
    "sigmoid"``) this is the z inside y = sigma(z); without one, z is what the
    loss receives. Overwrites the layers' caches, not the weights.
    """
    linear_at = [i for i, layer in enumerate(model.layers) if isinstance(layer, Linear)]
    if not linear_at:
        raise ValueError("output_logits needs a Sequential with at least one Linear layer")
    z = x
    for layer in model.layers[: linear_at[-1] + 1]:
        z = layer.forward(z)
    return np.asarray(z)


def empirical_cdf(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The empirical distribution function of ``values`` (any shape, flattened; NaN not allowed).

    Returns (x, F): x sorted ascending, F[i] = (i + 1) / n, the share of the
    values that are <= x[i]. Plotting F against x (``drawstyle="steps-post"``)
    shows the whole distribution, where a share above one threshold shows one
    point of it.
    """
    x = np.sort(np.asarray(values, dtype=np.float64).ravel())
    if x.size == 0:
        raise ValueError("empirical_cdf needs at least one value")
    if np.isnan(x).any():
        raise ValueError("empirical_cdf got NaN values; drop them first (e.g. values[~np.isnan(values)])")
    return x, np.arange(1, x.size + 1) / x.size


def squared_norm_share(grad: np.ndarray, rows: np.ndarray) -> float:
    """Share of ||G||_F^2 = sum_n ||g_n||^2 that comes from the rows selected by ``rows``.

    grad: (N, K) per-sample gradients g_n = dC_n/dz_n; rows: (N,) booleans.
    The output layer's weight gradient is A^T G / N, so this says how much of
    the update's "energy" the selected samples (e.g. the misclassified ones)
    contribute. Returns 0.0 for an all-zero gradient.
    """
    grad = np.asarray(grad, dtype=np.float64)
    rows = np.asarray(rows, dtype=bool)
    if grad.ndim != 2 or rows.shape != (grad.shape[0],):
        raise ValueError(f"grad must be (N, K) and rows (N,) booleans; got {grad.shape} and {rows.shape}")
    per_sample = np.sum(grad**2, axis=1)
    total = per_sample.sum()
    return float(per_sample[rows].sum() / total) if total > 0 else 0.0


def reference_printed_l2(loss: float, batch_size: int = 100) -> float:
    """What the reference printed for an L2 loss E (the course's 1/(2B) sum ||y - t||^2 per batch).

    The reference printed the batch's unsquared norm 1/(2B) ||Y - T||_F
    (results/l2_loss_check.md). Since ||Y - T||_F = sqrt(2B E), that is
    sqrt(E / (2B)): on batches of 100, sqrt(E / 200). Applied to a mean over
    batches it gives a little more than the mean of the batches' roots
    (Jensen's inequality: the root is concave).
    """
    if loss < 0 or batch_size < 1:
        raise ValueError(f"need a loss >= 0 and a batch size >= 1, got {loss} and {batch_size}")
    return float(np.sqrt(loss / (2 * batch_size)))


# --------------------------------------------------------------------------- #
# The hinge margin and the scale of the outputs (notebook 11)
# --------------------------------------------------------------------------- #


def score_gaps(outputs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """x_t - max_{k != t} x_k for each sample: outputs (N, K), labels (N,) -> (N,).

    Positive when the sample is classified correctly; a hinge loss with margin
    delta is zero for the sample exactly when its gap is at least delta.
    """
    outputs = np.asarray(outputs, dtype=np.float64)
    rows = np.arange(outputs.shape[0])
    true = outputs[rows, labels]
    others = outputs.copy()
    others[rows, labels] = -np.inf
    return true - others.max(axis=1)


def hinge_active_fraction(outputs: np.ndarray, labels: np.ndarray, margin: float) -> float:
    """Share of the N (K - 1) hinge terms max(0, delta - x_t + x_k) that are positive.

    Only those terms pass a gradient. If the outputs lie in an interval of
    width w (w = 1 behind a sigmoid), then x_t - x_k < w, and a margin
    delta >= w keeps every term positive for ever.
    """
    outputs = np.asarray(outputs, dtype=np.float64)
    rows = np.arange(outputs.shape[0])
    terms = margin - outputs[rows, labels][:, None] + outputs
    terms[rows, labels] = 0
    return float(np.sum(terms > 0) / (outputs.shape[0] * (outputs.shape[1] - 1)))


__all__ = [
    "RunResult", "early_stopping_epoch", "empirical_cdf", "glorot_reinitialise", "glorot_std",
    "hinge_active_fraction", "layer_gradient_norms", "output_logits", "recorded_run", "reference_printed_l2",
    "score_gaps", "sigmoid", "sigmoid_l2_output_gradient",
    "softmax_ce_output_gradient", "squared_norm_share", "sweep",
]
