"""The command line: bad values give one clear line and a non-zero exit, never a traceback."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from mlp_lab.cli import build_parser, main
from tests._mnist import REPO, require_mnist


def run_cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "mlp_core", *args], capture_output=True, text=True,
                          cwd=REPO, env=env, timeout=300)


@pytest.mark.parametrize(
    "args, expected",
    [
        (["train", "--activation", "swish"], "choose from 'sigmoid', 'relu', 'gelu', 'tanh', 'identity'"),
        (["train", "--loss", "mse"], "choose from 'l2', 'cross_entropy', 'hinge'"),
        (["train", "--lr", "-0.1"], "it must be > 0"),
        (["train", "--lr", "fast"], "'fast' is not a valid float"),
        (["train", "--batch-size", "0"], "must be a whole number >= 1"),
        (["train", "--momentum", "1"], "must be in [0, 1)"),
        (["train", "--arch", "mlp7"], "use mlp1, mlp2, a depth 1 or 2, or hidden sizes"),
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
            assert "release" in proc.stdout and "grade" in proc.stdout
    assert outputs[0].stdout == outputs[1].stdout


def test_a_command_plugin_whose_package_is_gone_is_left_out(monkeypatch):
    """An mlp.commands entry point left behind by an old install, its package removed, costs nothing."""
    from importlib.metadata import EntryPoint

    import mlp_lab.cli as cli

    stale = EntryPoint(name="old", value="no_such_package_xyz.commands:add_parsers", group=cli.COMMAND_PLUGINS)
    monkeypatch.setattr(cli, "entry_points", lambda group: [stale] if group == cli.COMMAND_PLUGINS else [])
    parser = cli.build_parser()
    assert parser.parse_args(["data"]).command == "data"
