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
Markdown from the JSONs without training. ``--objective unsquared`` trains on
the best-matching candidate itself (:class:`UnsquaredL2Loss`, into
``<out>/trained_on_unsquared/``), to tell a loss the report only printed from
one it also trained on.
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

from mlp_core.atomic import atomic_write_text
from mlp_core.activations import get_activation
from mlp_core.losses import L2Loss, Loss, one_hot
from mlp_core.network import Sequential
from mlp_core.training import iterate_minibatches
from mlp_lab.config import TrainConfig, build_run, load_splits, train_with_config
from mlp_lab.reference import load_reference

#: The reference's L2 rows (losses as the reference printed them; accuracies in %).
REPORT_L2: dict[str, dict[str, float]] = {
    cid: row for cid, row in load_reference().items() if "-l2-" in cid
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
#: Test-accuracy distance (percentage points) counted as reproducing the report
#: (the kit's criterion, mlp_lab.report.TOLERANCE_PP).
ACCURACY_TOLERANCE_PP = 0.5
#: Subfolder of ``--out`` for the runs trained on :class:`UnsquaredL2Loss`.
UNSQUARED_FOLDER = "trained_on_unsquared"
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


class UnsquaredL2Loss(Loss):
    """The unsquared batch norm as a training objective, with its own gradient:

        E = 1/(2B) ||Y - T||_F,     dE/dY = (Y - T) / (2B ||Y - T||_F).

    Only to test whether the report could have TRAINED on :func:`half_batch_norm`
    (rather than only printed it): its gradient is the course's (Y - T)/B
    divided by 2 ||Y - T||_F, several times smaller once the fit is good.
    """

    def forward(self, x: np.ndarray, labels: np.ndarray) -> float:
        """x: (B, K) outputs, labels: (B,) -> 1/(2B) ||x - t||_F (float)."""
        self._check(x, labels)
        residual = x - one_hot(labels, x.shape[1], x.dtype)
        norm = float(np.linalg.norm(residual))
        self.cache = (residual, norm)
        return 0.5 * norm / x.shape[0]

    def backward(self) -> np.ndarray:
        """-> dE/dx: (B, K); zero where the outputs equal the targets exactly."""
        residual, norm = self.cache
        return residual / (2 * residual.shape[0] * norm) if norm > 0 else np.zeros_like(residual)


#: Training objective -> (its loss class, the candidate that equals its value).
OBJECTIVES: dict[str, tuple[type[Loss], str]] = {
    "course": (L2Loss, "half_sum_sq"),
    "unsquared": (UnsquaredL2Loss, "half_batch_norm"),
}


class RecordingLoss(Loss):
    """A loss, unchanged, that also evaluates every candidate on the first
    ``batches_per_epoch`` batches it sees after each :meth:`take` (the training
    batches: ``train`` evaluates only after the epoch's last update).
    """

    def __init__(self, loss: Loss, batches_per_epoch: int, hidden_activation: str):
        self.loss = loss
        self.batches_per_epoch = batches_per_epoch
        self.hidden_activation = hidden_activation
        self.batches: list[dict[str, float]] = []

    def forward(self, x: np.ndarray, labels: np.ndarray) -> float:
        value = self.loss.forward(x, labels)
        if len(self.batches) < self.batches_per_epoch:
            self.batches.append(candidate_values(x, labels, self.hidden_activation))
        return value

    def backward(self) -> np.ndarray:
        return self.loss.backward()

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


def train_and_measure(config: TrainConfig, splits: dict, progress: bool = False, objective: str = "course") -> dict:
    """Train ``config`` and return its record: the kit's history plus, per
    aggregation and candidate, one value per epoch (None where not computed).

    ``objective``: 'course' trains on the kit's L2 loss (config.loss must be
    'l2'), 'unsquared' on :class:`UnsquaredL2Loss` instead (see :data:`OBJECTIVES`).
    """
    if objective not in OBJECTIVES:
        raise ValueError(f"unknown objective {objective!r}; choose one of: {', '.join(OBJECTIVES)}")
    if config.loss != "l2":
        raise ValueError(f"the L2 check trains L2 configurations only, got loss {config.loss!r}")
    loss_class, trained_candidate = OBJECTIVES[objective]
    model, _, optimizer = build_run(config)
    train_images, train_labels = splits["train"]
    batches_per_epoch = math.ceil(len(train_labels) / config.batch_size)
    loss_fn = RecordingLoss(loss_class(), batches_per_epoch, config.activation)
    values: dict[str, dict[str, list[float | None]]] = {a: {c: [] for c in CANDIDATE_NAMES} for a in AGGREGATIONS}
    best = {"acc": -1.0, "epoch": 0}

    def on_epoch_end(record: dict) -> None:
        epoch = record["epoch"]
        batches = loss_fn.take()
        during = {c: float(np.mean([b[c] for b in batches])) for c in CANDIDATE_NAMES}
        # The recorder must have seen exactly the batches the history averaged.
        if not math.isclose(during[trained_candidate], record["train_loss"], rel_tol=1e-4):
            raise RuntimeError(
                f"epoch {epoch}: recorded train loss {during[trained_candidate]} != history {record['train_loss']}"
            )
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
        "objective": objective,
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


#: Which epoch of a run to compare: 'best' (early stopping's), 'final' (the
#: stop epoch) or 'train_acc' (the one whose train accuracy is the report's).
EPOCH_CHOICES = ("best", "final", "train_acc")


def chosen_epoch(record: dict, which: str) -> int:
    """The 1-based epoch of ``record`` that ``which`` (one of :data:`EPOCH_CHOICES`) names."""
    if which == "best":
        return record["best_epoch"]
    if which == "final":
        return record["stop_epoch"]
    if which == "train_acc":
        return epoch_matching_train_accuracy(record)
    raise ValueError(f"unknown epoch choice {which!r}; choose one of: {', '.join(EPOCH_CHOICES)}")


def ratios(records: dict[str, dict], candidate: str, which: str = "best",
           train_aggregation: str = "train_during_epoch") -> dict[str, tuple[float, float]]:
    """config id -> (test ratio, train ratio) = candidate / report at the epoch ``which`` names."""
    out = {}
    for cid, record in records.items():
        numbers = run_numbers(record, candidate, chosen_epoch(record, which))
        report = REPORT_L2[cid]
        out[cid] = (numbers["test_after_epoch"] / report["test_loss"], numbers[train_aggregation] / report["train_loss"])
    return out


def worst_deviation(ratio_rows: dict[str, tuple[float, float]]) -> float:
    """Largest |ratio - 1| over all compared numbers."""
    return max(abs(r - 1) for pair in ratio_rows.values() for r in pair)


def render_folder(out: Path) -> str:
    """The Markdown for the run records in ``out`` (and ``out/trained_on_unsquared``)."""
    return render_markdown(load_records(out), out.name, load_records(out / UNSQUARED_FOLDER))


def within(ratio_rows: dict[str, tuple[float, float]], tolerance: float = MATCH_TOLERANCE) -> int:
    """How many of the compared numbers are within ``tolerance`` of the report's."""
    return sum(abs(r - 1) <= tolerance for pair in ratio_rows.values() for r in pair)


def epoch_matching_train_accuracy(record: dict) -> int:
    """The epoch (1-based; the first on ties) whose train accuracy is nearest the report's."""
    target = REPORT_L2[record["config_id"]]["train_acc"] / 100
    accs = record["history"]["train_acc"]
    return min(range(1, len(accs) + 1), key=lambda e: abs(accs[e - 1] - target))


def load_records(out: Path) -> dict[str, dict]:
    """config id -> record, from ``out/*.json``, in the report's row order."""
    records = {}
    for path in sorted(out.glob("*.json")):
        record = json.loads(path.read_text())
        records[record["config_id"]] = record
    return {cid: records[cid] for cid in REPORT_L2 if cid in records}


def _fmt_ratio(r: float) -> str:
    return f"{r:.2f}"


def render_markdown(records: dict[str, dict], out_name: str, unsquared: dict[str, dict] | None = None) -> str:
    """The comparison of every candidate with the report, from the run records.

    ``unsquared``: records of runs trained on :class:`UnsquaredL2Loss` (the
    section on whether the report could have trained on it), if any.
    """
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
        "| Candidate | " + " | ".join(rows) + f" | Within ±{MATCH_TOLERANCE:.0%} | Worst |ratio−1| | Matches |",
        "|---|" + "---|" * len(rows) + "---:|---:|---|",
    ]
    verdicts = {}
    for name in CANDIDATE_NAMES:
        r = ratios(records, name)
        worst = worst_deviation(r)
        verdicts[name] = worst
        cells = " | ".join(f"{_fmt_ratio(r[c][0])} / {_fmt_ratio(r[c][1])}" for c in rows)
        lines.append(f"| {CANDIDATE_TITLES[name]} | {cells} | {within(r)} of {2 * len(rows)} | {worst:.2f} "
                     f"| {'**yes**' if worst <= MATCH_TOLERANCE else 'no'} |")

    matching = [n for n, w in verdicts.items() if w <= MATCH_TOLERANCE]
    closest = min(verdicts, key=verdicts.get)
    closest_ratios = ratios(records, closest)
    lines += ["", "## Answer", ""]
    if matching:
        lines.append(
            f"{len(matching)} of {len(CANDIDATE_NAMES)} candidates {'matches' if len(matching) == 1 else 'match'}: "
            + "; ".join(CANDIDATE_TITLES[n] for n in matching) + "."
        )
    else:
        outliers = [
            f"{cid} {kind} ({ratio:.2f})"
            for cid, pair in closest_ratios.items()
            for kind, ratio in zip(("test", "train"), pair)
            if abs(ratio - 1) > MATCH_TOLERANCE
        ]
        lines.append(
            f"None of the {len(CANDIDATE_NAMES)} candidates matches all {2 * len(rows)} numbers at our best epoch. "
            f"The closest is {CANDIDATE_TITLES[closest]}: {within(closest_ratios)} of {2 * len(rows)} numbers "
            f"within ±{MATCH_TOLERANCE:.0%}, the exception{'s' if len(outliers) > 1 else ''} "
            f"{', '.join(outliers)}; no other candidate gets more than "
            f"{max(within(ratios(records, n)) for n in CANDIDATE_NAMES if n != closest)} of them."
        )
    matched = {n: ratios(records, n, "train_acc") for n in CANDIDATE_NAMES}
    matched_fits = [n for n in CANDIDATE_NAMES if worst_deviation(matched[n]) <= MATCH_TOLERANCE]
    others = [n for n in CANDIDATE_NAMES if n not in matched_fits]
    lines += [
        "",
        "At the epoch where our run's train accuracy is the report's (see below), "
        + (f"{' and '.join(CANDIDATE_TITLES[n] for n in matched_fits)} match{'es' if len(matched_fits) == 1 else ''} "
           f"all {2 * len(rows)} numbers (worst |ratio−1| "
           f"{', '.join(f'{worst_deviation(matched[n]):.3f}' for n in matched_fits)})"
           if matched_fits else "no candidate matches all of them")
        + f"; no other candidate gets more than {max(within(matched[n]) for n in others)} of {2 * len(rows)} "
        f"within ±{MATCH_TOLERANCE:.0%}.",
    ]

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
        # train_after_epoch exists at both: the best epoch raised the test accuracy, the final one ended the run
        cells = [f"{worst_deviation(ratios(records, closest, which, aggregation)):.3f}" for which in ("best", "final")]
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
    lines += ["", f"Geometric mean of the closest candidate's {2 * len(rows)} ratios: {geo:.3f}."]
    lines += [
        "",
        "## At the epoch where our train accuracy is the report's (closest candidate)",
        "",
        "The report's run of a row is another seed and need not stop where ours does: a run further "
        "along has a higher train accuracy and a lower train loss. Taking, for each row, the epoch of our "
        "run whose train accuracy is nearest the report's (chosen on the accuracy, never on a loss):",
        "",
        "| Run | Epoch (best) | Train acc % (report) | Test acc % (report) | Test ratio | Train ratio |",
        "|---|---|---|---|---:|---:|",
    ]
    at_matched = ratios(records, closest, "train_acc")
    for cid, record in records.items():
        epoch = epoch_matching_train_accuracy(record)
        h, report = record["history"], REPORT_L2[cid]
        lines.append(
            f"| {cid} | {epoch} ({record['best_epoch']}) | {100 * h['train_acc'][epoch - 1]:.2f} ({report['train_acc']:.2f}) "
            f"| {100 * h['test_acc'][epoch - 1]:.2f} ({report['test_acc']:.2f}) "
            f"| {at_matched[cid][0]:.3f} | {at_matched[cid][1]:.3f} |"
        )
    lines += ["", f"Worst |ratio−1| at these epochs: {worst_deviation(at_matched):.3f} "
                  f"({within(at_matched)} of {2 * len(rows)} within ±{MATCH_TOLERANCE:.0%})."]
    if closest == "half_batch_norm":
        lines += _batch_norm_explanation(records)
    if unsquared:
        lines += _unsquared_section(records, unsquared, out_name)
    lines += [
        "",
        "## Reproduce",
        "",
        "    OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 python -m mlp_lab.l2_loss_check --out results/l2_loss_check",
        "    OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 python -m mlp_lab.l2_loss_check --out results/l2_loss_check \\",
        "        --objective unsquared --only mlp1-l2-sigmoid --only mlp1-l2-relu",
        "",
        "train the runs that are missing in the folder (one at a time), then rewrite this file; "
        "`--report-only` only rewrites it.",
        "",
    ]
    return "\n".join(lines)


def _batch_norm_explanation(records: dict[str, dict]) -> list[str]:
    """Why the kit/report ratio differed per row, if the batch norm is the answer."""
    lines = [
        "",
        "## Why the kit/report ratio differed per row",
        "",
        "On a batch of B = 100, ‖Y−T‖_F = √(2B·E) for the kit's E = 1/(2B) Σ‖y−t‖², so the report's "
        "number is √(E/200) per batch: not a rescaling of the kit's loss but its square root. The "
        "ratio kit/report is then about √(200·E): larger the larger the loss, which is why it "
        "differed per row and was largest for the poorly fitted Sigmoid rows. (The mean of the batches' "
        "roots is a little below the root of the mean, by Jensen's inequality, so the ratio should sit "
        "a little above √(200·E); the report's own run, another seed, adds noise either way.)",
        "",
        "| Run | Kit test loss E | √(200·E) | Kit / report, test | Kit train loss E | √(200·E) | Kit / report, train |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for cid, record in records.items():
        kit = run_numbers(record, "half_sum_sq", record["best_epoch"])
        test, train = kit["test_after_epoch"], kit["train_during_epoch"]
        report = REPORT_L2[cid]
        lines.append(
            f"| {cid} | {test:.4f} | {math.sqrt(200 * test):.2f} | {test / report['test_loss']:.2f} "
            f"| {train:.4f} | {math.sqrt(200 * train):.2f} | {train / report['train_loss']:.2f} |"
        )
    return lines


def report_fit(record: dict, cid: str, candidate: str = "half_batch_norm") -> int:
    """How many of the report's four numbers a run reproduces at its best epoch:
    accuracies within :data:`ACCURACY_TOLERANCE_PP`, losses (as ``candidate``
    prints them) within :data:`MATCH_TOLERANCE` relative."""
    best, h, report = record["best_epoch"], record["history"], REPORT_L2[cid]
    n = run_numbers(record, candidate, best)
    return sum([
        abs(100 * h["test_acc"][best - 1] - report["test_acc"]) <= ACCURACY_TOLERANCE_PP,
        abs(100 * h["train_acc"][best - 1] - report["train_acc"]) <= ACCURACY_TOLERANCE_PP,
        abs(n["test_after_epoch"] / report["test_loss"] - 1) <= MATCH_TOLERANCE,
        abs(n["train_during_epoch"] / report["train_loss"] - 1) <= MATCH_TOLERANCE,
    ])


def _unsquared_section(records: dict[str, dict], unsquared: dict[str, dict], out_name: str) -> list[str]:
    """Runs trained on the unsquared norm itself, beside the course-gradient runs and the report."""
    lines = [
        "",
        "## Printed, or also trained on?",
        "",
        "Could the report have trained on the unsquared norm too (its true gradient, (Y−T)/(2B‖Y−T‖_F)), "
        "not only printed it? The configurations below were trained that way as well "
        f"(`{out_name}/{UNSQUARED_FOLDER}/`), same seed and settings. Accuracies in % at the best epoch; "
        f"the last column counts the report's four numbers reproduced (accuracies within "
        f"{ACCURACY_TOLERANCE_PP} pp, printed losses within ±{MATCH_TOLERANCE:.0%}).",
        "",
        "| Run | Trained on | Best / stop epoch | Test acc | Train acc | Printed test loss (unsquared) "
        "| Printed train loss | Report's numbers reproduced |",
        "|---|---|---|---:|---:|---:|---:|---:|",
    ]
    for cid, trained in unsquared.items():
        report = REPORT_L2[cid]
        lines.append(f"| {cid} | report | – | {report['test_acc']:.2f} | {report['train_acc']:.2f} "
                     f"| {report['test_loss']:.4f} | {report['train_loss']:.4f} | – |")
        for label, record in (("course gradient (y−t)/N", records.get(cid)), ("unsquared norm, its gradient", trained)):
            if record is None:
                continue
            best, h = record["best_epoch"], record["history"]
            n = run_numbers(record, "half_batch_norm", best)
            lines.append(
                f"| {cid} | {label} | {best} / {record['stop_epoch']} | {100 * h['test_acc'][best - 1]:.2f} "
                f"| {100 * h['train_acc'][best - 1]:.2f} | {n['test_after_epoch']:.4f} | {n['train_during_epoch']:.4f} "
                f"| {report_fit(record, cid)} of 4 |"
            )
    compared = [cid for cid in unsquared if cid in records]
    telling = [cid for cid in compared if report_fit(records[cid], cid) == 4 > report_fit(unsquared[cid], cid)]
    lines.append("")
    if compared and telling == compared:
        lines.append(
            "In every row compared, only the course gradient reproduces all four of the report's numbers: the "
            "report trained on the course's (y−t)/N and printed the unsquared norm, a forward and a backward "
            "that no longer belong to the same loss."
        )
    else:
        lines.append(f"The runs do not tell the two apart in every row ({len(telling)} of {len(compared)} do).")
    return lines


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
    parser.add_argument("--objective", choices=list(OBJECTIVES), default="course",
                        help="train on the course's L2 loss (default) or on the unsquared norm "
                             f"(runs go to <out>/{UNSQUARED_FOLDER}/)")
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
            folder = args.out if args.objective == "course" else args.out / UNSQUARED_FOLDER
            path = folder / f"{cid}-seed{config.seed}.json"
            if (args.only and cid not in args.only) or path.exists():
                continue
            splits = splits or load_splits(config, args.data_dir)  # all six share the data
            print(f"training {cid} on the {args.objective} objective (up to {config.max_epochs} epochs)",
                  file=sys.stderr, flush=True)
            record = train_and_measure(config, splits, progress=args.progress, objective=args.objective)
            atomic_write_text(path, json.dumps(record, indent=1))
            print(f"  wrote {path} ({record['wall_seconds'] / 60:.1f} min, best epoch {record['best_epoch']})",
                  file=sys.stderr, flush=True)
    md_path = args.out.with_suffix(".md")
    atomic_write_text(md_path, render_folder(args.out))
    print(f"wrote {md_path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
