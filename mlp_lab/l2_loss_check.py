"""Which definition of the L2 loss produced the report's L2 loss numbers?

The kit reproduces the report's accuracies and its cross-entropy and hinge
losses, but its L2 losses (the course's E = 1/(2N) sum_n ||y_n - t_n||^2 on
the logits) are 1.9-3.3 times the report's, by a ratio that differs per row.
This module trains each of the six L2 configurations once (seed 0, the
report's settings, no output activation, early stopping on the test accuracy)
and, on that one model, evaluates every candidate definition of "the L2 loss"
at every epoch, in every way the course could have averaged it:

    test_after_epoch     mean over the test set's batches of 100 of the batch
                         values, after the epoch (the course's test_net)
    train_during_epoch   mean over the epoch's training batches of the batch
                         values, each on the batch's output BEFORE its update
                         (the course's train_net; what the kit's history records)
    train_last_window    the same over the epoch's last 50 batches only (the
                         course printed and logged one mean per 50 batches, so
                         an epoch's last logged value is this)
    train_after_epoch    over the whole training set after the epoch, batches
                         of 100 (computed only at epochs that raise the best
                         test accuracy and at the last epoch: the best epoch is
                         always one of those, and it halves the cost)

A candidate is a function of one batch's outputs y (B, K) and labels (B,)
(t = one-hot rows); see :data:`CANDIDATES`. Candidates that are per-sample
means do not depend on the batch size; the two that take a root of a batch sum
do, so every batch here is the course's 100.

    OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MNIST_DIR=... \\
        python -m mlp_lab.l2_loss_check --out results/l2_loss_check

trains what is missing (one run at a time, resumable: a finished run's JSON
is kept), writes ``<out>/<config-id>-seed0.json`` per run atomically, then
``<out>.md`` (the comparison with the report). ``--report-only`` rewrites the
Markdown from the JSONs without training.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np

from mlp_core._io import atomic_write_text
from mlp_core.activations import get_activation
from mlp_core.losses import L2Loss, one_hot
from mlp_core.network import Sequential
from mlp_core.training import iterate_minibatches
from mlp_lab.config import TrainConfig, build_run, load_splits, train_with_config

#: The report's L2 rows (losses as the report printed them; accuracies in %).
#: A copy of the six L2 lines of the report's table (mlp_lab.report.REFERENCE_CSV
#: holds all 18); tests/test_l2_loss_check.py checks the two agree.
REPORT_L2: dict[str, dict[str, float]] = {
    "mlp1-l2-sigmoid": {"test_acc": 95.94, "test_loss": 0.0155, "train_acc": 96.22, "train_loss": 0.0156},
    "mlp1-l2-relu": {"test_acc": 97.97, "test_loss": 0.0130, "train_acc": 98.88, "train_loss": 0.0115},
    "mlp1-l2-gelu": {"test_acc": 97.66, "test_loss": 0.0140, "train_acc": 98.43, "train_loss": 0.0128},
    "mlp2-l2-sigmoid": {"test_acc": 94.69, "test_loss": 0.0156, "train_acc": 94.67, "train_loss": 0.0160},
    "mlp2-l2-relu": {"test_acc": 98.56, "test_loss": 0.0091, "train_acc": 99.61, "train_loss": 0.0065},
    "mlp2-l2-gelu": {"test_acc": 98.26, "test_loss": 0.0101, "train_acc": 99.03, "train_loss": 0.0087},
}

#: The course evaluated and trained in batches of 100 (the candidates that take a
#: root of a batch sum depend on it).
COURSE_BATCH = 100
#: The course logged one train loss per this many batches (its disp_freq).
DISPLAY_WINDOW = 50
#: A candidate "matches" when every one of the 12 compared numbers (test and
#: train loss of the six rows) is within this relative distance of the report's.
#: The report prints two or three significant digits, and the kit's L2 losses
#: vary by up to 7 % between seeds (results/report/results.md: MLP2 ReLU train).
MATCH_TOLERANCE = 0.10
AGGREGATIONS = ("test_after_epoch", "train_during_epoch", "train_last_window", "train_after_epoch")
SEED = 0


# --------------------------------------------------------------------------- #
# Candidate definitions: one batch's outputs y (B, K), one-hot targets t (B, K)
# --------------------------------------------------------------------------- #


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))  # = 1/(1+e^-x), without overflow warnings


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def half_sum_sq(y: np.ndarray, t: np.ndarray) -> float:
    """(a) The kit's and the course's E = 1/(2B) sum_n ||y_n - t_n||^2."""
    return float(0.5 * np.sum((y - t) ** 2) / y.shape[0])


def half_sum_sq_softmax(y: np.ndarray, t: np.ndarray) -> float:
    """(b) 1/(2B) sum_n ||softmax(y_n) - t_n||^2 (the model trained without it)."""
    return half_sum_sq(_softmax(y), t)


def half_sum_sq_sigmoid(y: np.ndarray, t: np.ndarray) -> float:
    """(c) 1/(2B) sum_n ||sigmoid(y_n) - t_n||^2 (the model trained without it)."""
    return half_sum_sq(_sigmoid(y), t)


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
#: hidden activation (the report's architecture table puts it after the output
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


def split_values(model: Sequential, images: np.ndarray, labels: np.ndarray, hidden_activation: str) -> dict[str, float]:
    """Means over the split's batches of 100 (in order) of every candidate's batch value."""
    per_batch = [
        candidate_values(model.forward(x), y, hidden_activation)
        for x, y in iterate_minibatches(images, labels, COURSE_BATCH, rng=None)
    ]
    return {name: float(np.mean([b[name] for b in per_batch])) for name in CANDIDATE_NAMES}


class RecordingL2Loss(L2Loss):
    """The kit's L2 loss, unchanged, that also evaluates every candidate on the
    first ``batches_per_epoch`` batches it sees after each :meth:`take` (the
    training batches: ``train`` evaluates only after the epoch's last update).
    """

    def __init__(self, batches_per_epoch: int, hidden_activation: str):
        self.batches_per_epoch = batches_per_epoch
        self.hidden_activation = hidden_activation
        self.batches: list[dict[str, float]] = []

    def forward(self, x: np.ndarray, labels: np.ndarray) -> float:
        loss = super().forward(x, labels)
        if len(self.batches) < self.batches_per_epoch:
            self.batches.append(candidate_values(x, labels, self.hidden_activation))
        return loss

    def take(self) -> list[dict[str, float]]:
        """The recorded training batches of the epoch that just ended; starts the next."""
        if len(self.batches) != self.batches_per_epoch:
            raise RuntimeError(
                f"recorded {len(self.batches)} training batches, expected {self.batches_per_epoch}: "
                "the training loop changed how it calls the loss"
            )
        batches, self.batches = self.batches, []
        return batches


# --------------------------------------------------------------------------- #
# One run
# --------------------------------------------------------------------------- #


def config_id(config: TrainConfig) -> str:
    return f"{config.architecture}-{config.loss}-{config.activation}"


def train_and_measure(config: TrainConfig, splits: dict, progress: bool = False) -> dict:
    """Train ``config`` and return its record: the kit's history plus, per
    aggregation and candidate, one value per epoch (None where not computed).
    """
    model, _, optimizer = build_run(config)
    train_images, train_labels = splits["train"]
    batches_per_epoch = math.ceil(len(train_labels) / config.batch_size)
    loss_fn = RecordingL2Loss(batches_per_epoch, config.activation)
    values: dict[str, dict[str, list[float | None]]] = {a: {c: [] for c in CANDIDATE_NAMES} for a in AGGREGATIONS}
    best = {"acc": -1.0, "epoch": 0}

    def on_epoch_end(record: dict) -> None:
        epoch = record["epoch"]
        batches = loss_fn.take()
        during = {c: float(np.mean([b[c] for b in batches])) for c in CANDIDATE_NAMES}
        # The recorder must have seen exactly the batches the history averaged.
        if not math.isclose(during["half_sum_sq"], record["train_loss"], rel_tol=1e-4):
            raise RuntimeError(f"epoch {epoch}: recorded train loss {during['half_sum_sq']} != history {record['train_loss']}")
        window = {c: float(np.mean([b[c] for b in batches[-DISPLAY_WINDOW:]])) for c in CANDIDATE_NAMES}
        test = split_values(model, *splits["test"], config.activation)
        improved = record["test_acc"] > best["acc"]
        if improved:
            best.update(acc=record["test_acc"], epoch=epoch)
        last = epoch == config.max_epochs or (config.patience is not None and epoch - best["epoch"] >= config.patience)
        after = split_values(model, train_images, train_labels, config.activation) if improved or last else None
        for c in CANDIDATE_NAMES:
            values["test_after_epoch"][c].append(test[c])
            values["train_during_epoch"][c].append(during[c])
            values["train_last_window"][c].append(window[c])
            values["train_after_epoch"][c].append(None if after is None else after[c])
        if progress:
            print(f"  epoch {epoch}: test acc {record['test_acc']:.4f}, kit test loss {test['half_sum_sq']:.4f}, "
                  f"batch-norm test loss {test['half_batch_norm']:.5f}", file=sys.stderr, flush=True)

    started = time.time()
    history = train_with_config(config, model, loss_fn, optimizer, splits, progress=False, on_epoch_end=on_epoch_end)
    return {
        "config_id": config_id(config),
        "seed": config.seed,
        "config": config.to_dict(),
        "best_epoch": history.best_epoch or history.num_epochs,
        "stop_epoch": history.num_epochs,
        "history": history.metrics,
        "candidates": values,
        "wall_seconds": round(time.time() - started, 1),
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "versions": {
            "python": platform.python_version(),
            "numpy": np.__version__,
            "blas_threads_env": os.environ.get("OPENBLAS_NUM_THREADS"),
        },
    }


# --------------------------------------------------------------------------- #
# Comparison with the report
# --------------------------------------------------------------------------- #


def run_numbers(record: dict, candidate: str, epoch: int) -> dict[str, float | None]:
    """The numbers one run gives at ``epoch`` (1-based) under ``candidate``, one per aggregation."""
    return {a: record["candidates"][a][candidate][epoch - 1] for a in AGGREGATIONS}


def ratios(records: dict[str, dict], candidate: str, which: str = "best",
           train_aggregation: str = "train_during_epoch") -> dict[str, tuple[float, float]]:
    """config id -> (test ratio, train ratio) = candidate / report at the best or final epoch."""
    out = {}
    for cid, record in records.items():
        epoch = record["best_epoch"] if which == "best" else record["stop_epoch"]
        numbers = run_numbers(record, candidate, epoch)
        report = REPORT_L2[cid]
        out[cid] = (numbers["test_after_epoch"] / report["test_loss"], numbers[train_aggregation] / report["train_loss"])
    return out


def worst_deviation(ratio_rows: dict[str, tuple[float, float]]) -> float:
    """Largest |ratio - 1| over all compared numbers."""
    return max(abs(r - 1) for pair in ratio_rows.values() for r in pair)


def load_records(out: Path) -> dict[str, dict]:
    """config id -> record, from ``out/*.json``, in the report's row order."""
    records = {}
    for path in sorted(out.glob("*.json")):
        record = json.loads(path.read_text())
        records[record["config_id"]] = record
    return {cid: records[cid] for cid in REPORT_L2 if cid in records}


def _fmt_ratio(r: float) -> str:
    return f"{r:.2f}"


def render_markdown(records: dict[str, dict], out_name: str) -> str:
    """The comparison of every candidate with the report, from the run records."""
    if not records:
        raise ValueError("no run records to compare; train first (python -m mlp_lab.l2_loss_check)")
    rows = list(records)
    lines = [
        "# The L2 loss gap: which definition gives the report's L2 losses?",
        "",
        "Written by `python -m mlp_lab.l2_loss_check` from the runs in "
        f"`{out_name}/` (one JSON per run, every candidate at every epoch); do not edit by hand.",
        "",
        "The kit reproduces the report's L2 accuracies, but its L2 losses (the course's "
        "1/(2N) Σ‖y−t‖² on the logits) were 1.9-3.3x the report's, by a ratio that differs per row. "
        "Each L2 configuration below was trained once (seed 0, the report's settings, no output "
        "activation, early stopping on the test accuracy, patience 10, up to 100 epochs), and every "
        "candidate definition was evaluated on that same model at every epoch. Test numbers: mean over "
        "the test set's batches of 100 after the epoch; train numbers: mean over the epoch's batches of "
        "100, each before its update (the course's way; other train aggregations further down).",
        "",
        "## The runs",
        "",
        "| Run | Best / stop epoch | Test acc % (report) | Train acc % (report) | Minutes |",
        "|---|---|---|---|---:|",
    ]
    for cid, record in records.items():
        best = record["best_epoch"]
        h = record["history"]
        rep = REPORT_L2[cid]
        lines.append(
            f"| {cid} | {best} / {record['stop_epoch']} | {100 * h['test_acc'][best - 1]:.2f} ({rep['test_acc']:.2f}) "
            f"| {100 * h['train_acc'][best - 1]:.2f} ({rep['train_acc']:.2f}) | {record['wall_seconds'] / 60:.1f} |"
        )
    missing = [cid for cid in REPORT_L2 if cid not in records]
    if missing:
        lines += ["", f"Not trained (yet): {', '.join(missing)}. The comparison below covers the rows above only."]

    lines += [
        "",
        "## Every candidate: ours / report at the best epoch",
        "",
        f"Each cell: test-loss ratio / train-loss ratio. A candidate **matches** when all {2 * len(rows)} "
        f"ratios are within ±{MATCH_TOLERANCE:.0%} of 1 (the report prints 2-3 digits; the kit's L2 "
        "losses vary by up to 7 % between seeds).",
        "",
        "| Candidate | " + " | ".join(rows) + " | Worst |ratio−1| | Matches |",
        "|---|" + "---|" * len(rows) + "---:|---|",
    ]
    verdicts = {}
    for name in CANDIDATE_NAMES:
        r = ratios(records, name)
        worst = worst_deviation(r)
        verdicts[name] = worst
        cells = " | ".join(f"{_fmt_ratio(r[c][0])} / {_fmt_ratio(r[c][1])}" for c in rows)
        lines.append(f"| {CANDIDATE_TITLES[name]} | {cells} | {worst:.2f} | {'**yes**' if worst <= MATCH_TOLERANCE else 'no'} |")

    matching = [n for n, w in verdicts.items() if w <= MATCH_TOLERANCE]
    closest = min(verdicts, key=verdicts.get)
    lines += ["", "## Answer", ""]
    if matching:
        lines.append(
            f"{len(matching)} of {len(CANDIDATE_NAMES)} candidates match: "
            + "; ".join(CANDIDATE_TITLES[n] for n in matching) + "."
        )
    else:
        lines.append(f"None of the {len(CANDIDATE_NAMES)} candidates matches; the closest is {CANDIDATE_TITLES[closest]} "
                     f"(worst |ratio−1| {verdicts[closest]:.2f}).")

    lines += [
        "",
        "## The closest candidate and the kit's definition, number by number (best epoch)",
        "",
        "| Run | Candidate | Test loss | Report | Train loss (during epoch) | Last 50 batches | After the epoch | Report |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for cid, record in records.items():
        for name in dict.fromkeys([closest, "half_sum_sq"]):
            n = run_numbers(record, name, record["best_epoch"])
            after = "–" if n["train_after_epoch"] is None else f"{n['train_after_epoch']:.4f}"
            lines.append(
                f"| {cid} | {name} | {n['test_after_epoch']:.4f} | {REPORT_L2[cid]['test_loss']:.4f} "
                f"| {n['train_during_epoch']:.4f} | {n['train_last_window']:.4f} | {after} | {REPORT_L2[cid]['train_loss']:.4f} |"
            )

    lines += [
        "",
        "## Which epoch and which train aggregation? (closest candidate, worst |ratio−1|)",
        "",
        "| Train aggregation | Best epoch | Final epoch |",
        "|---|---:|---:|",
    ]
    for aggregation in ("train_during_epoch", "train_last_window", "train_after_epoch"):
        cells = []
        for which in ("best", "final"):
            try:
                cells.append(f"{worst_deviation(ratios(records, closest, which, aggregation)):.3f}")
            except TypeError:  # train_after_epoch is only computed at improving and last epochs
                cells.append("–")
        lines.append(f"| {aggregation} | {cells[0]} | {cells[1]} |")

    lines += [
        "",
        "## How close each row gets (closest candidate, test and train ratio)",
        "",
        "| Run | Test ratio | Train ratio | Train acc % ours − report |",
        "|---|---:|---:|---:|",
    ]
    for cid, (test_ratio, train_ratio) in ratios(records, closest).items():
        record = records[cid]
        gap = 100 * record["history"]["train_acc"][record["best_epoch"] - 1] - REPORT_L2[cid]["train_acc"]
        lines.append(f"| {cid} | {test_ratio:.3f} | {train_ratio:.3f} | {gap:+.2f} |")
    geo = statistics.geometric_mean([r for pair in ratios(records, closest).values() for r in pair])
    lines += ["", f"Geometric mean of the closest candidate's {2 * len(rows)} ratios: {geo:.3f}.", ""]
    return "\n".join(lines)


# --------------------------------------------------------------------------- #
# Command line
# --------------------------------------------------------------------------- #


def l2_configs(max_epochs: int = 100) -> list[TrainConfig]:
    """The six L2 configurations at the report's settings, seed 0, MLP1 first."""
    return [
        TrainConfig(architecture=arch, activation=act, loss="l2", seed=SEED, max_epochs=max_epochs)
        for arch in ("mlp1", "mlp2")
        for act in ("sigmoid", "relu", "gelu")
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mlp_lab.l2_loss_check", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("results/l2_loss_check"),
                        help="folder for the run JSONs; the Markdown goes to <out>.md")
    parser.add_argument("--only", action="append", default=[],
                        help=f"train only this config id (repeatable); one of {', '.join(REPORT_L2)}")
    parser.add_argument("--max-epochs", type=int, default=100, help="epoch cap (the report: 100)")
    parser.add_argument("--data-dir", default=None, help="MNIST folder (default: MNIST_DIR or the cache)")
    parser.add_argument("--report-only", action="store_true", help="only rewrite <out>.md from the JSONs")
    parser.add_argument("--progress", action="store_true", help="print one line per epoch to stderr")
    args = parser.parse_args(argv)
    unknown = [c for c in args.only if c not in REPORT_L2]
    if unknown:
        parser.error(f"unknown config id(s) {unknown}; choose from {', '.join(REPORT_L2)}")

    if not args.report_only:
        splits = None
        for config in l2_configs(args.max_epochs):
            cid = config_id(config)
            path = args.out / f"{cid}-seed{config.seed}.json"
            if (args.only and cid not in args.only) or path.exists():
                continue
            splits = splits or load_splits(config, args.data_dir)  # all six share the data
            print(f"training {cid} (up to {config.max_epochs} epochs)", file=sys.stderr, flush=True)
            record = train_and_measure(config, splits, progress=args.progress)
            atomic_write_text(path, json.dumps(record, indent=1))
            print(f"  wrote {path} ({record['wall_seconds'] / 60:.1f} min, best epoch {record['best_epoch']})",
                  file=sys.stderr, flush=True)
    records = load_records(args.out)
    md_path = args.out.with_suffix(".md")
    atomic_write_text(md_path, render_markdown(records, args.out.name))
    print(f"wrote {md_path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
