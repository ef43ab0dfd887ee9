"""benchmarks/epoch_time.py and grid_floor.py: --quick smoke runs work and the GEMM FLOPs are counted right.

No timing is asserted: on a shared machine timed tests flake.
"""

import importlib.util
import json
import os
import subprocess
import sys

import pytest

from tests._mnist import REPO

SCRIPT = REPO / "benchmarks" / "epoch_time.py"
HEADER = "| config | mlp_core s/epoch | torch s/epoch | mlp_core/torch | GELU/ReLU |"


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


def load_script():
    spec = importlib.util.spec_from_file_location("epoch_time", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_quick_run_without_torch_prints_the_table():
    result = run_benchmark("--quick", "--no-torch", "--threads", "1", "--configs", "mlp1-relu,mlp1-gelu")
    assert result.returncode == 0, result.stderr
    assert HEADER in result.stdout
    assert "data: random" in result.stdout
    rows = table_rows(result.stdout)
    assert set(rows) == {"mlp1-relu", "mlp1-gelu"}
    for cells in rows.values():
        assert len(cells) == 8
        assert float(cells[1]) > 0
        assert cells[2] == "not run (--no-torch)"
    assert rows["mlp1-relu"][4] == "-"
    assert float(rows["mlp1-gelu"][4]) > 0  # GELU/ReLU ratio
    assert float(rows["mlp1-gelu"][5]) == pytest.approx(1.6, abs=0.05)  # GEMM GFLOP of 2000 samples


def test_quick_run_with_torch_fills_the_torch_columns():
    pytest.importorskip("torch", reason="PyTorch is optional: pip install torch==2.13.0")
    result = run_benchmark("--quick", "--threads", "1", "--configs", "mlp1-gelu")
    assert result.returncode == 0, result.stderr
    assert HEADER in result.stdout
    cells = table_rows(result.stdout)["mlp1-gelu"]
    assert float(cells[2]) > 0 and float(cells[3]) > 0
    assert cells[4] == "-"  # no ReLU run to compare with


def test_gemm_flops_per_epoch():
    script = load_script()
    n = 60_000
    # forward and dW for both layers, dX for the second only
    mlp1 = 2 * (2 * n * 784 * 256) + 3 * (2 * n * 256 * 10)
    assert script.gemm_flops([256], n) == mlp1
    mlp2 = 2 * (2 * n * 784 * 512) + 3 * (2 * n * 512 * 256) + 3 * (2 * n * 256 * 10)
    assert script.gemm_flops([512, 256], n) == mlp2


@pytest.mark.parametrize(
    "args, expected",
    [
        (["--configs", "mlp3-relu"], "unknown config mlp3-relu; choose from mlp1-relu"),
        (["--repeats", "0"], "it must be >= 1"),
        (["--threads", "two"], "'two' is not a whole number"),
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
    for label in ("GEMM only (the floor)", "alone", "paired"):
        assert label in result.stdout
    assert "no grid.json" in result.stdout


def test_grid_floor_without_runs_says_what_to_do(tmp_path):
    result = subprocess.run([sys.executable, str(GRID_FLOOR), "--quick", "--results", str(tmp_path)],
                            capture_output=True, text=True, cwd=REPO, timeout=60)
    assert result.returncode != 0
    assert "no runs of seed 0" in result.stderr and "run the grid first" in result.stderr
