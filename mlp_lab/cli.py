"""Command line: ``mlp COMMAND ...``, also run as ``python -m mlp_core COMMAND ...``.

    python -m mlp_core data       [--dataset mnist] [--data-dir DIR]
    python -m mlp_core train      [--arch mlp1] [--activation relu] [--loss cross_entropy] ...
    python -m mlp_core reproduce  [--grid report] [--seeds 3] [--out DIR]   (mlp_lab.experiments)
    python -m mlp_core report     RESULTS_DIR                               (mlp_lab.report)

``--grid report`` is the reference's grid (the report this kit reproduces);
the ``report`` command writes the report step's tables and figures.
    python -m mlp_core release|grade ...      (the instructor's copy only: the mlp.commands plugins)

Every mistake in the arguments ends with one line on stderr that says what
was wrong and lists the valid choices, and exit status 2; never a traceback.
The parser only parses: each value is checked by the code that owns it
(``TrainConfig.validate`` asks the engine's checks, ``make_grid`` and
``run_grid`` check theirs), once, before anything runs, and
:func:`~mlp_lab.argtypes.checked` turns its error into that one line. The
defaults are ``TrainConfig()``'s, the reference's (``mlp_lab.reference.SETTINGS``).
"""

from __future__ import annotations

import sys
from importlib.metadata import entry_points
from pathlib import Path

from mlp_core.activations import ACTIVATIONS
from mlp_core.data import SCALINGS, DataError, describe_dataset
from mlp_core.losses import LOSSES
from mlp_core.network import OUTPUT_ACTIVATIONS
from mlp_core.training import TrainingDiverged

from .argtypes import OneLineParser, add_data_arguments, architecture, checked, integer, real
from .config import TrainConfig, run
from .experiments import command as reproduce_command
from .experiments import config_id
from .experiments.cluster import ExtraNotInstalled
from .records import compare_results
from .report import command as report_command

#: The train command's defaults: the config's, which are the reference's settings.
DEFAULTS = TrainConfig()

#: The entry-point group through which other wings add commands: the instructor's tools add
#: ``release`` and ``grade`` (pyproject.toml of the instructor's copy); a release declares none.
COMMAND_PLUGINS = "mlp.commands"


def build_parser() -> OneLineParser:
    parser = OneLineParser(prog="python -m mlp_core", description="A hand-written numpy MLP on MNIST.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)

    p = sub.add_parser("data", help="verify (or fetch) a dataset; print its checksums and shapes")
    add_data_arguments(p)
    p.add_argument("--no-download", action="store_true", help="never download, only use local files")
    p.set_defaults(func=cmd_data)

    p = sub.add_parser("train", help="train one model and save its history as JSON")
    p.add_argument("--arch", type=architecture, default=DEFAULTS.architecture,
                   help="mlp1 (784-256-10), mlp2 (784-512-256-10), depth 1 or 2, or sizes like 512,256 "
                   "(default %(default)s)")
    p.add_argument("--activation", default=DEFAULTS.activation, choices=list(ACTIVATIONS))
    p.add_argument("--output-activation", default=DEFAULTS.output_activation or "none",
                   choices=list(OUTPUT_ACTIVATIONS),
                   help="activation after the output layer (default %(default)s: logits go to the loss)")
    p.add_argument("--loss", default=DEFAULTS.loss, choices=list(LOSSES))
    p.add_argument("--margin", type=real, default=DEFAULTS.margin, help="hinge margin (default %(default)s)")
    p.add_argument("--lr", type=real, default=DEFAULTS.lr, help="learning rate (default %(default)s)")
    p.add_argument("--momentum", type=real, default=DEFAULTS.momentum, help="(default %(default)s)")
    p.add_argument("--weight-decay", type=real, default=DEFAULTS.weight_decay, help="(default %(default)s)")
    p.add_argument("--no-decay-biases", action="store_true", help="exempt biases from weight decay")
    p.add_argument("--dropout", type=real, default=DEFAULTS.dropout,
                   help="probability of dropping each hidden unit in training (default %(default)s: no dropout)")
    p.add_argument("--init-std", type=real, default=DEFAULTS.init_std, help="weight init std (default %(default)s)")
    p.add_argument("--batch-size", type=integer, default=DEFAULTS.batch_size, help="(default %(default)s)")
    p.add_argument("--epochs", type=integer, default=DEFAULTS.max_epochs, help="maximum epochs (default %(default)s)")
    p.add_argument("--patience", type=integer, default=DEFAULTS.patience or 0,
                   help="early-stopping patience in epochs; 0 turns early stopping off (default %(default)s)")
    p.add_argument("--monitor", choices=["test", "val"], default=DEFAULTS.monitor.split("_")[0],
                   help="early-stop on test accuracy (the reference) or on a validation split")
    p.add_argument("--val-size", type=integer, default=DEFAULTS.val_size,
                   help="validation samples (default %(default)s)")
    p.add_argument("--seed", type=integer, default=DEFAULTS.seed, help="(default %(default)s)")
    p.add_argument("--scaling", choices=list(SCALINGS), default=DEFAULTS.scaling,
                   help="pixels as (x-128)/255 (the course) or x/255")
    p.add_argument("--train-subset", type=integer, default=None, help="use only N training samples")
    p.add_argument("--test-subset", type=integer, default=None, help="use only N test samples")
    add_data_arguments(p)
    p.add_argument("--out", type=Path, default=None,
                   help="history JSON path (default runs/<config-id>-seed<seed>.json, e.g. mlp1-l2-relu-seed0)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_train, parser=p)

    reproduce_command.add_parser(sub)
    report_command.add_parser(sub)
    p = sub.add_parser(
        "compare", help="check that two results folders hold the same runs, bit for bit outside timings",
        description="For every run the two folders both hold (RESULTS/runs/<run-id>.json), compare "
        "everything but when, where and how fast it ran: config, status, every metric of every epoch. "
        "Exit 0 if they are all equal, 1 if any differs (its first difference is printed).",
    )
    p.add_argument("first", type=Path, help="a results folder, e.g. results/report")
    p.add_argument("second", type=Path, help="another, e.g. a grid retrained with reproduce --out")
    p.set_defaults(func=cmd_compare)
    add_plugin_commands(sub)
    return parser


def add_plugin_commands(sub) -> None:
    """Commands registered in the :data:`COMMAND_PLUGINS` entry-point group (the lab imports none of them).

    A plugin whose package is not there (a kit installed over an instructor's copy, say) is left out.
    """
    for plugin in entry_points(group=COMMAND_PLUGINS):
        try:
            add_parsers = plugin.load()
        except ModuleNotFoundError as exc:
            if exc.name is None or not plugin.value.startswith(exc.name):
                raise
            continue
        add_parsers(sub)


def cmd_data(args) -> int:
    print(describe_dataset(args.dataset, args.data_dir, download=not args.no_download))
    return 0


def cmd_train(args) -> int:
    config = checked(args.parser, lambda: TrainConfig(
        architecture=args.arch,
        activation=args.activation,
        loss=args.loss,
        output_activation=None if args.output_activation == "none" else args.output_activation,
        margin=args.margin,
        init_std=args.init_std,
        lr=args.lr,
        momentum=args.momentum,
        weight_decay=args.weight_decay,
        decay_biases=not args.no_decay_biases,
        dropout=args.dropout,
        batch_size=args.batch_size,
        max_epochs=args.epochs,
        patience=args.patience or None,
        monitor=f"{args.monitor}_acc",
        val_size=args.val_size,
        seed=args.seed,
        dataset=args.dataset,
        scaling=args.scaling,
        train_subset=args.train_subset,
        test_subset=args.test_subset,
    ).validate())
    run_id = f"{config_id(config)}-seed{config.seed}"
    out = args.out or Path("runs") / f"{run_id}.json"
    print(f"training {run_id} -> {out}", flush=True)

    def print_epoch(record: dict) -> None:
        parts = [f"epoch {record['epoch']:3d}"]
        for split in ("train", "val", "test"):
            if f"{split}_loss" in record:
                parts.append(f"{split} loss {record[split + '_loss']:.4f} acc {100 * record[split + '_acc']:.2f}%")
        parts.append(f"{record['train_seconds']:.2f}s")
        print(" | ".join(parts), flush=True)

    _, history = run(config, data_dir=args.data_dir, progress=False, on_epoch_end=print_epoch)
    history.save(out)
    best = history.best()
    stop = "early stop" if history.stopped_early else "all epochs"
    print(
        f"done after {history.num_epochs} epochs ({stop}); best epoch {history.best_epoch}: "
        f"test acc {100 * best['test_acc']:.2f}%; history saved to {out}"
    )
    return 0


def cmd_compare(args) -> int:
    equal, different, unmatched = compare_results(args.first, args.second)
    for run_id, difference in different.items():
        print(f"{run_id}: differs at {difference}")
    if unmatched:  # e.g. a one-seed grid against three seeds: a count is enough for many
        listed = ", ".join(unmatched) if len(unmatched) <= 6 else f"{', '.join(unmatched[:3])}, ..."
        print(f"in one folder only (not compared): {len(unmatched)} runs ({listed})")
    print(f"{len(equal)} of {len(equal) + len(different)} runs in both {args.first} and {args.second} are "
          "the same, bit for bit, in everything but their timings")
    return 0 if equal and not different else 1


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (DataError, ValueError, TrainingDiverged, OSError, ExtraNotInstalled) as exc:
        print(f"python -m mlp_core {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
