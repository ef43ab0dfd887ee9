"""The command line: bad values give one clear line and a non-zero exit, never a traceback.

The parser only parses; each value is checked by the code that owns it (the
engine's constructors and train, through TrainConfig.validate), and its
message is the line the user reads.
"""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from mlp_lab.cli import build_parser, main
from mlp_lab.config import TrainConfig
from mlp_lab.reference import SETTINGS
from tests._mnist import REPO, require_mnist


def run_cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "mlp_core", *args], capture_output=True, text=True,
                          cwd=REPO, env=env, timeout=300)


@pytest.mark.parametrize(
    "args, expected",
    [
        (["train", "--activation", "swish"], "choose from 'sigmoid', 'relu', 'gelu', 'tanh', 'identity'"),
        (["train", "--loss", "mse"], "choose from 'l2', 'cross_entropy', 'hinge'"),
        (["train", "--lr", "-0.1"], "train: error: learning rate must be > 0, got -0.1"),
        (["train", "--lr", "fast"], "'fast' is not a valid float"),
        (["train", "--batch-size", "0"], "batch_size must be a whole number >= 1, got 0"),
        (["train", "--batch-size", "1.5"], "'1.5' is not a valid int"),
        (["train", "--momentum", "1"], "momentum must be in [0, 1), got 1.0"),
        (["train", "--margin", "0", "--loss", "hinge"], "hinge margin must be positive, got 0.0"),
        (["train", "--init-std", "-1"], "init_std (the standard deviation of the initial weights) must be >= 0"),
        (["train", "--patience", "-2"], "patience must be a whole number of epochs >= 1, got -2"),
        (["train", "--epochs", "0"], "max_epochs must be a whole number >= 1, got 0"),
        (["train", "--train-subset", "0"], "train_subset must be a whole number of samples >= 1"),
        (["train", "--seed", "-1"], "seed must be a whole number >= 0, got -1"),
        (["train", "--arch", "mlp7"], "unknown architecture 'mlp7'; choose one of: mlp1, mlp2, or give a list"),
        (["train", "--arch", "512,-3"], "hidden sizes must be positive, got [512, -3]"),
        (["train", "--data-dir", "/no/such/folder"], "does not exist"),
        (["data", "--dataset", "cifar"], "choose from 'mnist', 'fashion-mnist'"),
        (["frobnicate"], "invalid choice"),
    ],
)
def test_bad_arguments_one_line_no_traceback(args, expected, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert expected in err
    assert len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err


def test_bad_argument_in_a_real_process():
    result = run_cli("train", "--activation", "swish")
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


def test_parser_accepts_sizes_and_depths():
    parser = build_parser()
    assert parser.parse_args(["train", "--arch", "512,256"]).arch == [512, 256]
    assert parser.parse_args(["train", "--arch", "2"]).arch == "mlp2"
    assert parser.parse_args(["train", "--arch", "MLP1"]).arch == "mlp1"
    assert parser.parse_args(["train", "--arch", "3"]).arch == [3]  # not a depth of the reference: a size


def test_the_train_defaults_are_the_references_settings_written_once():
    """reference.SETTINGS -> TrainConfig's defaults -> the command line's defaults."""
    assert {name: getattr(TrainConfig(), name) for name in SETTINGS} == dict(SETTINGS)
    args = build_parser().parse_args(["train"])
    as_parsed = {"init_std": args.init_std, "lr": args.lr, "momentum": args.momentum,
                 "weight_decay": args.weight_decay, "batch_size": args.batch_size, "max_epochs": args.epochs,
                 "patience": args.patience, "monitor": f"{args.monitor}_acc", "margin": args.margin,
                 "scaling": args.scaling}
    assert as_parsed == dict(SETTINGS)


def test_data_command_prints_checksums_and_shapes():
    folder = require_mnist()
    result = run_cli("data", "--data-dir", str(folder), "--no-download")
    assert result.returncode == 0, result.stderr
    assert "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2" in result.stdout
    assert "60000" in result.stdout and "10000" in result.stdout


def test_data_command_with_an_empty_folder_fails_clearly(tmp_path):
    result = run_cli("data", "--data-dir", str(tmp_path), "--no-download")
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert "train-images-idx3-ubyte" in result.stderr


def test_train_command_prints_epochs_and_saves_history(tmp_path):
    folder = require_mnist()
    out = tmp_path / "h.json"
    result = run_cli("train", "--data-dir", str(folder), "--train-subset", "500", "--test-subset", "200",
                     "--epochs", "2", "--activation", "gelu", "--loss", "hinge", "--seed", "1",
                     "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("epoch ") >= 2 and "test loss" in result.stdout
    saved = json.loads(out.read_text())
    assert saved["config"]["activation"] == "gelu" and saved["config"]["loss"] == "hinge"
    assert len(saved["metrics"]["test_acc"]) == 2


def test_the_mlp_script_and_python_m_mlp_core_are_the_same_command_line():
    """`mlp` (the console script) and `python -m mlp_core` (which runs it) list the same commands; the
    instructor's `release` and `grade` (the mlp.commands entry points) only in the instructor's copy."""
    script = Path(sys.executable).with_name("mlp")
    assert script.exists(), f"no `mlp` script beside {sys.executable}: install the kit with pip install -e ."
    outputs = [subprocess.run(command + ["--help"], capture_output=True, text=True, cwd=REPO, timeout=120)
               for command in ([str(script)], [sys.executable, "-m", "mlp_core"])]
    instructors_copy = (REPO / "mlp_instructor").is_dir()
    for proc in outputs:
        assert proc.returncode == 0, proc.stderr
        for command in ("data", "train", "reproduce", "report", "compare"):
            assert command in proc.stdout
        if instructors_copy:
            assert "release" in proc.stdout and "grade" in proc.stdout and "similarity" in proc.stdout
    assert outputs[0].stdout == outputs[1].stdout


def test_a_command_plugin_whose_package_is_gone_is_left_out(monkeypatch):
    """An mlp.commands entry point left behind by an old install, its package removed, costs nothing."""
    from importlib.metadata import EntryPoint

    import mlp_lab.cli as cli

    stale = EntryPoint(name="old", value="no_such_package_xyz.commands:add_parsers", group=cli.COMMAND_PLUGINS)
    monkeypatch.setattr(cli, "entry_points", lambda group: [stale] if group == cli.COMMAND_PLUGINS else [])
    parser = cli.build_parser()
    assert parser.parse_args(["data"]).command == "data"
