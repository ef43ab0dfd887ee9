"""benchmarks/epoch_time.py and grid_floor.py: --quick smoke runs work and the GEMM FLOPs are counted right.

No timing is asserted: on a shared machine timed tests flake.
"""

import json
import os
import subprocess
import sys

import pytest

from benchmarks.products import gemm_flops
from tests._mnist import REPO

SCRIPT = REPO / "benchmarks" / "epoch_time.py"
HEADER = ("| config | threads | mlp_core s/epoch | GEMM s/epoch | epoch/GEMM | torch s/epoch | mlp_core/torch "
          "| GELU/ReLU | GFLOP/s | % peak |")


def run_benchmark(*args):
    env = {k: v for k, v in os.environ.items() if k != "MNIST_DIR"}  # random data
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True,
                          cwd=REPO, env=env, timeout=300)


def table_rows(stdout: str) -> dict[str, list[str]]:
    rows = {}
    for line in stdout.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("| mlp"):
            rows[cells[0]] = cells
    return rows


def test_quick_run_without_torch_prints_the_table():
    result = run_benchmark("--quick", "--no-torch", "--threads", "1", "--configs", "mlp1-relu,mlp1-gelu")
    assert result.returncode == 0, result.stderr
    assert HEADER in result.stdout
    assert "data: random" in result.stdout
    rows = table_rows(result.stdout)
    assert set(rows) == {"mlp1-relu", "mlp1-gelu"}
    for cells in rows.values():
        assert len(cells) == 10
        assert cells[1] == "1"  # threads
        epoch, products, ratio = float(cells[2]), float(cells[3]), float(cells[4])
        assert epoch > 0 and products > 0
        assert ratio == pytest.approx(epoch / products, rel=0.05)  # of the rounded cells
        assert cells[5] == "not run (--no-torch)"
    assert rows["mlp1-relu"][7] == "-"
    assert float(rows["mlp1-gelu"][7]) > 0  # GELU/ReLU ratio


def test_quick_run_with_torch_and_two_thread_counts_fills_one_table():
    pytest.importorskip("torch", reason="PyTorch is optional: pip install torch==2.13.0")
    result = run_benchmark("--quick", "--threads", "1,2", "--configs", "mlp1-gelu")
    assert result.returncode == 0, result.stderr
    assert HEADER in result.stdout
    lines = [line for line in result.stdout.splitlines() if line.startswith("| mlp1-gelu |")]
    assert [line.split("|")[2].strip() for line in lines] == ["1", "2"]  # one row per thread count
    for line in lines:
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        assert float(cells[5]) > 0 and float(cells[6]) > 0  # torch s/epoch, mlp_core/torch
        assert cells[7] == "-"  # no ReLU run to compare with
    assert "torch 2." in result.stdout and "2 threads" in result.stdout  # the second process had 2


def test_gemm_flops_per_epoch():
    n = 60_000
    # forward and dW for both layers, dX for the second only
    mlp1 = 2 * (2 * n * 784 * 256) + 3 * (2 * n * 256 * 10)
    assert gemm_flops([256], n) == mlp1
    mlp2 = 2 * (2 * n * 784 * 512) + 3 * (2 * n * 512 * 256) + 3 * (2 * n * 256 * 10)
    assert gemm_flops([512, 256], n) == mlp2


@pytest.mark.parametrize(
    "args, expected",
    [
        (["--configs", "mlp3-relu"], "unknown config mlp3-relu; choose from mlp1-relu"),
        (["--repeats", "0"], "it must be a whole number >= 1"),
        (["--threads", "two"], "'two' is not a valid int"),
    ],
)
def test_bad_arguments_give_one_line(args, expected):
    result = run_benchmark(*args)
    assert result.returncode == 2
    assert expected in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


GRID_FLOOR = REPO / "benchmarks" / "grid_floor.py"


def _fake_run(folder, arch, loss, epochs):
    run = {"config": {"architecture": arch}, "epochs_run": epochs}
    (folder / f"{arch}-{loss}-relu-seed0.json").write_text(json.dumps(run))


def test_grid_floor_quick_run_prints_the_three_estimates(tmp_path):
    (tmp_path / "runs").mkdir()
    _fake_run(tmp_path / "runs", "mlp1", "l2", 3)
    _fake_run(tmp_path / "runs", "mlp1", "hinge", 2)
    _fake_run(tmp_path / "runs", "mlp2", "l2", 4)
    result = subprocess.run([sys.executable, str(GRID_FLOOR), "--quick", "--results", str(tmp_path)],
                            capture_output=True, text=True, cwd=REPO, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "epochs per model {'mlp1': 5, 'mlp2': 4}" in result.stdout
    rows = table_rows(result.stdout)
    assert set(rows) == {"mlp1", "mlp2"}
    assert rows["mlp1"][1] == "5" and rows["mlp2"][1] == "4"
    assert all(float(cell) > 0 for cells in rows.values() for cell in cells[2:])
    for cells in rows.values():  # alone/GEMM and paired/GEMM are the ratios of the columns beside them
        assert float(cells[5]) == pytest.approx(float(cells[3]) / float(cells[2]), rel=0.05)
        assert float(cells[6]) == pytest.approx(float(cells[4]) / float(cells[2]), rel=0.05)
    for label in ("GEMM only (the floor)", "alone", "paired"):
        assert label in result.stdout
    assert "no grid.json" in result.stdout


def test_grid_floor_without_runs_says_what_to_do(tmp_path):
    result = subprocess.run([sys.executable, str(GRID_FLOOR), "--quick", "--results", str(tmp_path)],
                            capture_output=True, text=True, cwd=REPO, timeout=60)
    assert result.returncode != 0
    assert "no runs of seed 0" in result.stderr and "run the grid first" in result.stderr


def test_a_missing_mnist_dir_is_one_line_and_exit_2(tmp_path):
    """The error is raised in the thread count's own process and still reaches the user as one line."""
    missing = tmp_path / "no-mnist-here"
    env = {**os.environ, "MNIST_DIR": str(missing)}
    result = subprocess.run([sys.executable, str(SCRIPT), "--quick", "--no-torch", "--threads", "1"],
                            capture_output=True, text=True, cwd=REPO, env=env, timeout=120)
    assert result.returncode == 2
    assert f"MNIST_DIR={missing}" in result.stderr and "does not exist" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


PROFILE = REPO / "benchmarks" / "epoch_profile.py"


def test_epoch_profile_clocks_every_part_and_puts_the_engine_back():
    """Every part is seen (a hook that missed would leave it at 0), and the model and module are restored."""
    code = f"""
import json, runpy
import numpy as np
script = runpy.run_path({str(PROFILE)!r}, run_name="not_main")
training = script["training"]
accuracy, batches = training.accuracy, training.iterate_minibatches
model = script["build_mlp"]("mlp1", "gelu", seed=0)
layers = list(model.layers)
rng = np.random.default_rng(1)
images, labels = rng.uniform(-0.5, 0.5, (500, 784)).astype(np.float32), rng.integers(0, 10, 500)
seconds = script["profiled_epoch"](model, script["SoftmaxCrossEntropyLoss"](),
                                   script["SGD"](model.parameters(), lr=0.01, momentum=0.9),
                                   images, labels, np.random.default_rng(0))
restored = model.layers == layers and training.accuracy is accuracy and training.iterate_minibatches is batches
print(json.dumps({{"seconds": seconds, "restored": restored}}))
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.splitlines()[-1])
    seconds = report["seconds"]
    parts = ("Linear forward + backward", "activations", "loss + accuracy", "SGD step", "batch gathering")
    assert all(seconds[part] > 0 for part in parts), seconds
    assert 0 <= seconds["the rest"] < 0.5 * seconds["epoch"], seconds  # the proxies saw most of the epoch
    assert report["restored"]


def test_epoch_profile_quick_run_prints_its_table():
    result = subprocess.run([sys.executable, str(PROFILE), "--quick", "--configs", "mlp1-gelu"],
                            capture_output=True, text=True, cwd=REPO, timeout=300)
    assert result.returncode == 0, result.stderr
    cells = {}
    for line in result.stdout.splitlines():
        if line.startswith("| ") and not line.startswith("| part"):
            label, value = [c.strip() for c in line.strip().strip("|").split("|")]
            cells[label] = value
    epoch, products = (float(cells[label].split(" s")[0]) for label in ("**epoch**", "products alone"))
    assert epoch > 0 and products > 0
    assert float(cells["epoch over products alone"]) == pytest.approx(epoch / products, rel=0.1)


def test_epoch_profile_rejects_an_unknown_config():
    result = subprocess.run([sys.executable, str(PROFILE), "--configs", "mlp3-relu"],
                            capture_output=True, text=True, cwd=REPO, timeout=60)
    assert result.returncode == 2 and "unknown config mlp3-relu" in result.stderr
