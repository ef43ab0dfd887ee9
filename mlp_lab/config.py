"""From a configuration to a trained run: the wiring between the lab and the engine.

A :class:`TrainConfig` names everything one run depends on (architecture,
activations, loss, optimiser settings, early stopping, data and seed); its
defaults are the settings of the reference (the report this kit reproduces),
read from :data:`mlp_lab.reference.SETTINGS`. :func:`build_run` turns it into
the engine's objects (network, loss, optimiser), :func:`load_splits` into the
data, and :func:`run` trains it with :func:`mlp_core.training.train`.
Everything that trains from a config (the CLI, the experiment runner, the
analyses) goes through here.

Each setting is checked by the code that owns it: the engine's constructors
and ``train`` check theirs (with the ``check_*`` functions they call), and
:meth:`TrainConfig.validate` asks those same functions about a whole config
before any data is loaded or weight drawn. An entry point validates once (the
command line, the experiment runner); :func:`build_run` and :func:`run` do
not validate again.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from mlp_core.arguments import is_whole_number
from mlp_core.data import load_dataset, subset, train_validation_split
from mlp_core.dropout import check_dropout_probability
from mlp_core.losses import Loss
from mlp_core.network import Sequential, build_mlp, check_mlp_arguments
from mlp_core.optim import SGD, check_sgd_arguments
from mlp_core.training import History, Split, check_train_arguments, train

from .losses import get_loss
from .reference import SETTINGS


@dataclass
class TrainConfig:
    """Everything that defines one training run; defaults are the reference's settings.

    ``architecture`` is 'mlp1', 'mlp2' or a list of hidden sizes;
    ``loss`` one of ``mlp_core.losses.LOSSES`` or ``mlp_lab.losses.LAB_LOSSES``;
    ``output_activation`` None (logits to the loss) or one of
    ``mlp_core.network.OUTPUT_ACTIVATIONS``; ``patience`` None trains all
    ``max_epochs``; ``monitor`` 'test_acc' (the reference) or 'val_acc' (a
    held-out split of ``val_size`` training samples); ``scaling`` one of
    ``mlp_core.data.SCALINGS``; ``train_subset``/``test_subset`` use that
    many random samples; ``dropout`` the probability of a ``Dropout`` after
    every hidden activation (0: none, the reference).

    Fields added after the first committed runs (:data:`LATER_FIELDS`) are
    written by :meth:`to_dict` only when they differ from the value every
    earlier run had: the records of those runs stay byte for byte what they
    were, and a run trained at that value is written exactly as before, so
    ``python -m mlp_core compare`` finds a retrained grid equal to the committed
    one.
    """

    architecture: str | list[int] = "mlp1"
    activation: str = "relu"
    loss: str = "cross_entropy"
    output_activation: str | None = None
    margin: float = SETTINGS["margin"]
    init_std: float = SETTINGS["init_std"]
    lr: float = SETTINGS["lr"]
    momentum: float = SETTINGS["momentum"]
    weight_decay: float = SETTINGS["weight_decay"]
    decay_biases: bool = True
    batch_size: int = SETTINGS["batch_size"]
    max_epochs: int = SETTINGS["max_epochs"]
    patience: int | None = SETTINGS["patience"]
    monitor: str = SETTINGS["monitor"]
    val_size: int = 10000
    seed: int = 0
    dataset: str = "mnist"
    scaling: str = SETTINGS["scaling"]
    train_subset: int | None = None
    test_subset: int | None = None
    dropout: float = 0.0

    def to_dict(self) -> dict:
        """The fields as a dict (the run records' JSON), without a later field at its original value."""
        d = asdict(self)
        for name, original in LATER_FIELDS.items():
            if d[name] == original:
                del d[name]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        unknown = set(d) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown config keys {sorted(unknown)}; valid: {sorted(cls.__dataclass_fields__)}")
        return cls(**d)

    def validate(self) -> "TrainConfig":
        """Raise ValueError naming the bad field, before any data is loaded or weight drawn.

        Each setting is checked by the function that owns it, the one its
        constructor calls (``check_mlp_arguments`` for the network,
        ``get_loss`` for the loss and its margin, ``check_sgd_arguments``,
        ``check_train_arguments``); checked here are only the fields no
        constructor owns (the sample counts and the seed). Returns the config.
        """
        check_mlp_arguments(self.architecture, self.activation, self.output_activation, init_std=self.init_std)
        get_loss(self.loss, margin=self.margin)
        check_sgd_arguments(self.lr, self.momentum, self.weight_decay)
        check_dropout_probability(self.dropout)
        check_train_arguments(self.batch_size, self.max_epochs, self.patience, self.monitor)
        for name in ("train_subset", "test_subset"):
            value = getattr(self, name)
            if value is not None and not is_whole_number(value, 1):
                raise ValueError(f"{name} must be a whole number of samples >= 1 (or None for all), got {value!r}")
        if not is_whole_number(self.val_size, 1):
            raise ValueError(f"val_size must be a whole number of samples >= 1, got {self.val_size!r}")
        if not is_whole_number(self.seed, 0):
            raise ValueError(f"seed must be a whole number >= 0, got {self.seed!r}")
        return self


#: The fields added to :class:`TrainConfig` after the first committed runs, and the value those runs had.
LATER_FIELDS: dict[str, object] = {"dropout": 0.0}

#: The dataset :func:`load_splits` keeps with ``cache=True``: (dataset, scaling, folder) -> (train, test).
_CACHED: dict[tuple, tuple] = {}


def load_splits(config: TrainConfig, folder: str | Path | None = None, *, cache: bool = False) -> dict[str, Split]:
    """The 'train', 'test' (and 'val' when monitoring it) splits a config asks for.

    ``cache=True`` keeps the last dataset loaded in this process (read-only), so
    that a worker training run after run loads it once; the splits are the same
    either way. Without it nothing is kept (a notebook's memory stays its own).
    """
    if not cache:
        return split_data(config, *load_dataset(config.dataset, folder, scaling=config.scaling))
    key = (config.dataset, config.scaling, None if folder is None else str(folder))
    if key not in _CACHED:
        _CACHED.clear()  # one dataset in memory per process is enough
        datasets = load_dataset(config.dataset, folder, scaling=config.scaling)
        for dataset in datasets:
            for array in dataset:
                array.setflags(write=False)  # shared by every run of the process: none may change it
        _CACHED[key] = datasets
    return split_data(config, *_CACHED[key])


def split_data(config: TrainConfig, train_set, test_set) -> dict[str, Split]:
    """Cut loaded train/test Datasets into the splits a config asks for (seeded by config.seed)."""
    seeds = np.random.SeedSequence(config.seed).spawn(3)
    splits = {}
    if config.monitor.startswith("val"):
        train_set, val_set = train_validation_split(train_set, config.val_size, seed=seeds[0])
        splits["val"] = tuple(val_set)
    if config.train_subset:
        train_set = subset(train_set, config.train_subset, seed=seeds[1])
    if config.test_subset:
        test_set = subset(test_set, config.test_subset, seed=seeds[2])
    splits["train"], splits["test"] = tuple(train_set), tuple(test_set)
    return splits


def build_run(config: TrainConfig) -> tuple[Sequential, Loss, SGD]:
    """The network, loss and optimiser a config describes (weights seeded by config.seed).

    Their constructors check the settings they are given (an entry point has
    already asked the same checks through :meth:`TrainConfig.validate`).
    """
    model = build_mlp(
        config.architecture,
        config.activation,
        output_activation=config.output_activation,
        init_std=config.init_std,
        dropout=config.dropout,
        seed=np.random.default_rng(config.seed),
    )
    optimizer = SGD(
        model.parameters(), config.lr, config.momentum, config.weight_decay,
        decay_biases=config.decay_biases,
    )
    return model, get_loss(config.loss, margin=config.margin), optimizer


def run(
    config: TrainConfig,
    splits: dict[str, Split] | None = None,
    *,
    data_dir: str | Path | None = None,
    progress: bool = True,
    on_epoch_end: Callable[[dict], None] | None = None,
) -> tuple[Sequential, History]:
    """Load the data (unless ``splits`` are given), build and train one config."""
    model, loss_fn, optimizer = build_run(config)
    splits = splits if splits is not None else load_splits(config, data_dir)
    history = train_with_config(
        config, model, loss_fn, optimizer, splits, progress=progress, on_epoch_end=on_epoch_end
    )
    return model, history


def train_with_config(
    config: TrainConfig,
    model: Sequential,
    loss_fn: Loss,
    optimizer: SGD,
    splits: dict[str, Split],
    *,
    progress: bool = True,
    on_epoch_end: Callable[[dict], None] | None = None,
) -> History:
    """``train`` with the batch size, epochs, early stopping and shuffling seed of ``config``.

    For callers that need the model before training starts (e.g. to measure
    it at initialisation); ``run`` is build_run + this.
    """
    return train(
        model, loss_fn, optimizer, splits["train"], splits.get("test"),
        val_split=splits.get("val"),
        batch_size=config.batch_size,
        max_epochs=config.max_epochs,
        patience=config.patience,
        monitor=config.monitor,
        seed=np.random.default_rng([config.seed, 1]),
        progress=progress,
        on_epoch_end=on_epoch_end,
        config=config.to_dict(),
    )
