"""How fast can the one-seed `report` grid be on this machine? A lower bound, measured.

    python benchmarks/grid_floor.py                          # epochs from results/report (seed 0)
    python benchmarks/grid_floor.py --results /tmp/grid1     # another grid run; prints its wall time too
    python benchmarks/grid_floor.py --quick                  # smoke run (tests/test_benchmark.py)

The report's protocol fixes how many epochs each of the 18 runs trains (early
stopping on the test accuracy, ``mlp_lab.reference.SETTINGS``); this script
reads those epoch counts from a results folder. It then measures, with one
BLAS thread as the runner's workers use, for MLP1 and MLP2:

    GEMM s/epoch     only the matrix products of one epoch, as mlp_core does
                     them (x W and dW = x^T G per layer, G W^T except in the
                     first layer) plus the forward products of evaluating
                     the 10,000 test images: what no numpy MLP can avoid
    alone s/epoch    the fastest of --epochs real epochs (shuffle, forward, loss, backward, SGD,
                     test evaluation) with nothing else running
    paired s/epoch   the same while a second process trains the same model,
                     as the two workers of the grid do: they share the
                     memory bandwidth and the last-level cache
    alone/GEMM,      how many times its matrix products a real epoch takes
    paired/GEMM      (1.0 would be an epoch of nothing but products)

The products are timed by ``benchmarks/products.py``, which
``benchmarks/epoch_time.py`` uses too. Each time, multiplied by the epochs
and divided over 2 workers, gives the grid's wall time if every epoch took
that long. The GEMM row is a floor for
any numpy implementation on this machine; the gap between it and the paired
row is element-wise work (activations, softmax, the SGD update) and the two
workers slowing each other down.

The data are random values of MNIST's shape: every operation is dense, so
timing does not depend on the values.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mlp_lab.threads import blas_thread_env  # noqa: E402 - imports no numpy

os.environ.update(blas_thread_env(1))  # before numpy loads, as in the grid's workers

import numpy as np  # noqa: E402

from benchmarks.products import epoch_product_seconds  # noqa: E402
from mlp_core.losses import get_loss  # noqa: E402
from mlp_core.network import build_mlp, hidden_sizes_for  # noqa: E402
from mlp_core.optim import SGD  # noqa: E402
from mlp_core.training import train  # noqa: E402
from mlp_lab.reference import SETTINGS  # noqa: E402

TRAIN, TEST, WORKERS = 60_000, 10_000, 2


def epochs_per_architecture(results: Path, seed: int) -> dict[str, int]:
    """Sum of epochs trained by the runs of one seed, per architecture (from the run JSONs)."""
    totals: dict[str, int] = {}
    for path in sorted((results / "runs").glob(f"*-seed{seed}.json")):
        run = json.loads(path.read_text())
        arch = run["config"]["architecture"]
        totals[arch] = totals.get(arch, 0) + run["epochs_run"]
    if not totals:
        raise SystemExit(f"grid_floor: no runs of seed {seed} in {results / 'runs'}: run the grid first")
    return totals


def real_epoch_seconds(arch: str, n_train: int, n_test: int, epochs: int) -> float:
    """Fastest of ``epochs`` real training epochs, test evaluation included (ReLU, cross-entropy).

    The fastest, as timeit takes the minimum: other load on the machine only ever adds time.
    """
    rng = np.random.default_rng(1)
    train_split = (rng.uniform(-0.5, 0.5, (n_train, 784)).astype(np.float32), rng.integers(0, 10, n_train))
    test_split = (rng.uniform(-0.5, 0.5, (n_test, 784)).astype(np.float32), rng.integers(0, 10, n_test))
    model = build_mlp(arch, "relu", init_std=SETTINGS["init_std"], seed=0)
    optimizer = SGD(model.parameters(), lr=SETTINGS["lr"], momentum=SETTINGS["momentum"])
    history = train(model, get_loss("cross_entropy"), optimizer, train_split, test_split,
                    batch_size=SETTINGS["batch_size"], max_epochs=epochs + 1, patience=None, progress=False)
    seconds = [t + e for t, e in zip(history["train_seconds"], history["eval_seconds"])][1:]  # first: warm-up
    return min(seconds)


def _paired_worker(args) -> float:
    return real_epoch_seconds(*args)


def paired_epoch_seconds(arch: str, n_train: int, n_test: int, epochs: int) -> float:
    """The same, measured in two processes training at once (the grid's two workers)."""
    with mp.get_context("spawn").Pool(WORKERS) as pool:
        times = pool.map(_paired_worker, [(arch, n_train, n_test, epochs)] * WORKERS)
    return statistics.mean(times)


def last_grid_minutes(results: Path) -> str:
    log = results / "grid.json"
    if not log.is_file():
        return "no grid.json"
    runs = [i for i in json.loads(log.read_text())["invocations"] if i.get("wall_seconds") and i["skipped"] == 0]
    if not runs:
        return "no invocation that trained a whole grid"
    inv = runs[-1]
    return (f"{inv['wall_seconds'] / 60:.1f} min for {inv['trained']} runs "
            f"({inv['command']}, started {inv['started_at']}, load average {inv['load_average_start']})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--results", type=Path, default=ROOT / "results" / "report",
                        help="a grid's output folder, for the epoch counts (default: results/report)")
    parser.add_argument("--seed", type=int, default=0, help="which seed's runs make the one-seed grid")
    parser.add_argument("--epochs", type=int, default=3, help="real epochs timed per model (the fastest counts)")
    parser.add_argument("--quick", action="store_true", help="smoke run on 2,000 images: measures nothing")
    args = parser.parse_args(argv)

    epochs = epochs_per_architecture(args.results, args.seed)
    n_train, n_test, real_epochs = (2_000, 1_000, 1) if args.quick else (TRAIN, TEST, args.epochs)
    scale = TRAIN / n_train  # --quick times a small epoch and scales it to a full one
    print(f"one-seed grid from {args.results} (seed {args.seed}): epochs per model {epochs}")
    print(f"loadavg at start: {os.getloadavg()}")
    rows = {}
    for arch in sorted(epochs):
        rows[arch] = (
            epoch_product_seconds(hidden_sizes_for(arch), n_train, n_test, 1 if args.quick else 10) * scale,
            real_epoch_seconds(arch, n_train, n_test, real_epochs) * scale,
            paired_epoch_seconds(arch, n_train, n_test, real_epochs) * scale,
        )
    print("\n| model | epochs in the grid | GEMM s/epoch | alone s/epoch | paired s/epoch | alone/GEMM | paired/GEMM |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for arch, (gemm, alone, paired) in rows.items():
        print(f"| {arch} | {epochs[arch]} | {gemm:.2f} | {alone:.2f} | {paired:.2f} "
              f"| {alone / gemm:.2f} | {paired / gemm:.2f} |")
    print(f"\nOne-seed grid on {WORKERS} workers, if every epoch took (minutes):")
    for i, label in enumerate(("GEMM only (the floor)", "alone", "paired")):
        minutes = sum(epochs[a] * rows[a][i] for a in rows) / WORKERS / 60
        print(f"  {label:22s} {minutes:5.1f}")
    print(f"Measured grid in {args.results}: {last_grid_minutes(args.results)}")
    print(f"loadavg at end: {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
