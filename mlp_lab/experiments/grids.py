"""Named grids: lists of :class:`~mlp_lab.config.TrainConfig` s, and their tasks (config x seed).

A *grid* is a named list of configurations (:data:`GRIDS`); with ``seeds=S``
every configuration is trained with seeds 0..S-1, and each (configuration,
seed) is one :class:`Task`. The ``report`` grid is the reference's 18
configurations at its settings (the grid's name is kept as instructors
script it: ``--grid report``); ``l2-loss-check`` its six L2 rows, which the
L2 loss study (:mod:`mlp_lab.l2_loss_check`) trains with its measure.

The two tuning grids of notebook 06 vary settings of one network instead
(:data:`VARIED` names them, and they enter the configuration ids):
``lr-momentum`` (MLP1 and softmax regression, learning rate x momentum) and
``regularisation`` (MLP1, weight decay x dropout), both chosen on a
validation split, never on the test set.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable, Sequence

import numpy as np

from mlp_core.training import evaluate

from ..config import TrainConfig
from ..reference import ACTIVATION_ORDER, DEPTHS, LOSS_ORDER

#: Output activation per loss in the ``report`` grid: none for every loss (the
#: logits go straight to the loss). Settled by measurement
#: (results/output_activation_check.md): with a Sigmoid after the output layer,
#: as the reference's architecture table draws it, the Sigmoid + L2 rows fall
#: short of the reference's accuracies, and cross-entropy and hinge losses as low
#: as the reference's cannot be reached, since a Sigmoid bounds the outputs.
REFERENCE_OUTPUT_ACTIVATION: dict[str, str | None] = {
    "l2": None,
    "cross_entropy": None,
    "hinge": None,
}


@dataclass(frozen=True)
class Task:
    """One run of a grid: a configuration id, its TrainConfig (with its seed)."""

    config_id: str
    config: TrainConfig

    @property
    def seed(self) -> int:
        return self.config.seed

    @property
    def run_id(self) -> str:
        return f"{self.config_id}-seed{self.seed}"


def config_id(config: TrainConfig, varied: Sequence[str] = ()) -> str:
    """'mlp1-l2-sigmoid': architecture, loss and hidden activation (what the reference's table varies).

    The one id of a configuration (file names, tables, the L2 study's rows). An
    architecture name is written as it is ('mlp2'), a depth by its name
    (2: 'mlp2'), a list of hidden sizes as 'h' and the sizes ([512, 256]:
    'h512x256'; []: 'h', no hidden layer). ``varied``: more fields of the
    config, each appended as '-<field><value>' (a tuning grid's, :data:`VARIED`:
    ``("lr", "momentum")`` gives 'mlp1-cross_entropy-relu-lr0.05-momentum0.9').
    """
    arch = config.architecture
    if isinstance(arch, str):
        arch = arch.lower()
    elif isinstance(arch, (int, np.integer)):
        arch = f"mlp{arch}"
    else:
        arch = "h" + "x".join(str(int(size)) for size in arch)
    settings = "".join(f"-{name}{getattr(config, name):g}" for name in varied)
    return f"{arch}-{config.loss}-{config.activation}{settings}"


def reference_configs(output_activations: dict[str, str | None] | None = None, **overrides) -> list[TrainConfig]:
    """The reference's 18 configurations: MLP1/MLP2 x L2/CE/hinge x Sigmoid/ReLU/GELU.

    Settings are TrainConfig's defaults, the reference's
    (:data:`mlp_lab.reference.SETTINGS`). ``output_activations`` maps a loss to its output activation
    (default :data:`REFERENCE_OUTPUT_ACTIVATION`); ``overrides`` replace any
    field (an ``output_activation`` override applies to every loss).
    """
    per_loss = REFERENCE_OUTPUT_ACTIVATION if output_activations is None else output_activations
    configs = []
    for arch in DEPTHS.values():
        for loss in LOSS_ORDER:
            for act in ACTIVATION_ORDER:
                fields = dict(architecture=arch, activation=act, loss=loss, output_activation=per_loss[loss])
                fields.update(overrides)
                configs.append(TrainConfig(**fields))
    return configs


def _grid_reference_as_drawn() -> list[TrainConfig]:
    # The reference's architecture table: an activation after EVERY Linear, the output one included.
    return reference_configs({loss: "same" for loss in LOSS_ORDER})


def _grid_quick() -> list[TrainConfig]:
    return reference_configs(train_subset=10000, test_subset=2000, max_epochs=5)


def _grid_l2() -> list[TrainConfig]:
    return [c for c in reference_configs() if c.loss == "l2"]


def _tuning(epochs: int, **fields) -> TrainConfig:
    """What every tuning grid shares: early stopping watches the accuracy on 10,000 images held out of the
    training set (the test set is only reported) and never stops before the last epoch (patience = epochs),
    so that every curve is whole and the best epoch is the validation split's choice."""
    return TrainConfig(monitor="val_acc", val_size=10000, max_epochs=epochs, patience=epochs, **fields)


#: Learning rates and momenta of the ``lr-momentum`` grid; weight decays and dropouts of ``regularisation``.
LEARNING_RATES = (0.001, 0.01, 0.05, 0.2)
MOMENTA = (0.0, 0.5, 0.9)
WEIGHT_DECAYS = (0.0, 0.0001, 0.001)
DROPOUTS = (0.0, 0.2, 0.5)


def _grid_lr_momentum() -> list[TrainConfig]:
    return [_tuning(20, architecture=arch, lr=lr, momentum=momentum)
            for arch in ("mlp1", []) for lr in LEARNING_RATES for momentum in MOMENTA]


def _grid_regularisation() -> list[TrainConfig]:
    return [_tuning(30, lr=0.05, weight_decay=decay, dropout=p) for decay in WEIGHT_DECAYS for p in DROPOUTS]


#: Named grids: name -> (description, function() -> list of TrainConfig).
GRIDS: dict[str, tuple[str, Callable[[], list[TrainConfig]]]] = {
    "report": ("the reference's 18 runs at its settings", reference_configs),
    "report-as-drawn": (
        "the 18 runs with an activation after the output layer too, as the reference's table draws it",
        _grid_reference_as_drawn,
    ),
    "quick": ("the 18 runs on 10000 train / 2000 test samples for 5 epochs (CI, a first look)", _grid_quick),
    "l2-loss-check": (
        "the reference's six L2 runs (python -m mlp_lab.l2_loss_check trains them with the L2 study's measure)",
        _grid_l2,
    ),
    "lr-momentum": (
        "MLP1 (ReLU, cross-entropy) and softmax regression, learning rate x momentum, 20 epochs, "
        "chosen on a validation split (notebook 06)", _grid_lr_momentum,
    ),
    "regularisation": (
        "MLP1 (ReLU, cross-entropy, lr 0.05, momentum 0.9), weight decay x dropout, 30 epochs, "
        "chosen on a validation split (notebook 06)", _grid_regularisation,
    ),
}

#: The grids that vary settings of one network, and those settings: they enter each run's id
#: (:func:`config_id`), and the report of such a grid is a table over them (:mod:`mlp_lab.tuning`).
VARIED: dict[str, tuple[str, ...]] = {
    "lr-momentum": ("lr", "momentum"),
    "regularisation": ("weight_decay", "dropout"),
}


class TrainingFit:
    """A measure (:mod:`mlp_lab.experiments.runner`): how well the model fits its own training images.

    The loss and accuracy, in evaluation mode (the runner measures in it), on
    the first ``count`` images of the run's training split, at initialisation
    and after every epoch: ``{"train_fit_loss": ..., "train_fit_acc": ...}``.
    The history's ``train_acc`` is the mean over an epoch's batches, each
    measured before its update and, with dropout, on a thinned network; this
    is the trained network itself, comparable with the validation and test
    accuracies (the generalisation gap of notebook 06).
    """

    def __init__(self, count: int = 10000):
        self.count = count
        self.images = self.labels = None

    def begin(self, config: TrainConfig, splits: dict, loss_fn):
        images, labels = splits["train"]
        self.images, self.labels = images[: self.count], labels[: self.count]
        return loss_fn

    def __call__(self, model, loss_fn) -> dict[str, float]:
        loss, accuracy = evaluate(model, loss_fn, self.images, self.labels)
        return {"train_fit_loss": float(loss), "train_fit_acc": float(accuracy)}


#: The measure each grid trains with (``reproduce`` passes it to the runner); a grid not named has none.
MEASURES: dict[str, Callable] = {name: TrainingFit() for name in VARIED}


def make_grid(
    name: str,
    seeds: int | Sequence[int] = 1,
    *,
    validation: bool = False,
    only: Sequence[str] | None = None,
    **overrides,
) -> list[Task]:
    """The tasks of grid ``name``: every configuration x every seed.

    Args:
        seeds: a count S (seeds 0..S-1) or an explicit list of seeds.
        validation: early-stop on a held-out split of the training set
            (``monitor='val_acc'``, 10000 samples) instead of the test set.
        only: keep only configurations whose id (before ``overrides``)
            contains one of these strings (e.g. ``["mlp1-l2"]``).
        overrides: TrainConfig fields to set on every configuration kept
            (e.g. ``dataset='fashion-mnist'``, ``max_epochs=2``).

    Tasks are ordered seed-major (all configurations of seed 0 first), so an
    interrupted grid has finished whole seeds first. The runner validates
    every configuration before it trains any (:func:`~mlp_lab.experiments.run_grid`).
    """
    if name not in GRIDS:
        raise ValueError(f"unknown grid {name!r}; choose one of: {', '.join(GRIDS)}")
    seed_list = list(range(seeds)) if isinstance(seeds, int) else [int(s) for s in seeds]
    if not seed_list or any(s < 0 for s in seed_list):
        raise ValueError(f"seeds must be a count >= 1 or a list of seeds >= 0, got {seeds!r}")
    if validation:
        overrides = {"monitor": "val_acc", **overrides}
    configs = GRIDS[name][1]()
    varied = VARIED.get(name, ())
    if only:
        kept = [c for c in configs if any(s in config_id(c, varied) for s in only)]
        if not kept:
            ids = ", ".join(config_id(c, varied) for c in configs)
            raise ValueError(f"no configuration of grid {name!r} matches {list(only)}; its ids: {ids}")
        configs = kept
    unknown = set(overrides) - set(TrainConfig.__dataclass_fields__)
    if unknown:
        raise ValueError(f"unknown TrainConfig fields {sorted(unknown)}; valid: {sorted(TrainConfig.__dataclass_fields__)}")
    configs = [replace(c, **overrides) for c in configs]
    return [Task(config_id(c, varied), replace(c, seed=s)) for s in seed_list for c in configs]
