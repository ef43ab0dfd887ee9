"""Deciding: what the L2 study's runs say about each candidate, returned as data.

The runs are :class:`~mlp_lab.records.RunRecord` s whose ``measurements[e]``
holds every candidate in every aggregation after epoch e
(:class:`~mlp_lab.l2_loss_check.candidates.CandidateMeasure`), keyed here by
the reference's row they stand for (:func:`row_id`, 'mlp1-l2-sigmoid').
:func:`decide` compares them with the reference's L2 rows and returns a
:class:`Verdicts`: which candidate matches, how closely, at which epoch,
whether training on the unsquared norm could have given the reference's
numbers. :mod:`~mlp_lab.l2_loss_check.markdown` only writes these down.

A ratio is a candidate's value over the reference's printed loss; a candidate
*matches* when every ratio is within :data:`MATCH_TOLERANCE` of 1. An accuracy
reproduces the reference's within ``mlp_lab.reference.TOLERANCE_PP``, the
kit's one tolerance.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field, replace
from typing import Iterable

from ..config import TrainConfig
from ..experiments import config_id
from ..records import RunRecord
from ..reference import TOLERANCE_PP, load_reference
from .candidates import AGGREGATIONS, CANDIDATE_NAMES

#: The reference's L2 rows (losses as the reference printed them; accuracies in %).
REPORT_L2: dict[str, dict[str, float]] = {cid: row for cid, row in load_reference().items() if "-l2-" in cid}
#: A candidate "matches" when every one of the compared numbers (test and train loss of each
#: row) is within this relative distance of the reference's. The reference prints two or three
#: significant digits, and the kit's L2 losses vary between seeds by several per cent.
MATCH_TOLERANCE = 0.10
#: Which epoch of a run to compare: 'best' (early stopping's), 'final' (the
#: stop epoch) or 'train_acc' (the one whose train accuracy is the reference's).
EPOCH_CHOICES = ("best", "final", "train_acc")
#: What the course's L2 loss is among the candidates, and what the unsquared norm is.
KIT = "half_sum_sq"
UNSQUARED = "half_batch_norm"

Ratios = dict[str, tuple[float, float]]  # row id -> (test ratio, train ratio)


def row_id(config: TrainConfig) -> str:
    """The reference's row a run of the study stands for: its config id with the L2 loss, whatever it trained on."""
    return config_id(replace(config, loss="l2"))


def numbers(record: RunRecord, candidate: str, epoch: int) -> dict[str, float]:
    """What one run gives at ``epoch`` (1-based) under ``candidate``, one number per aggregation."""
    return {a: record.measurements[epoch][a][candidate] for a in AGGREGATIONS}


def accuracy(record: RunRecord, split: str, epoch: int) -> float:
    """The run's ``split`` ('test', 'train') accuracy at ``epoch`` (1-based), in %."""
    return 100 * record.metric_curve(f"{split}_acc")[epoch - 1]


def epoch_matching_train_accuracy(row: str, record: RunRecord) -> int:
    """The epoch (1-based; the first on ties) whose train accuracy is nearest the reference's."""
    target = REPORT_L2[row]["train_acc"] / 100
    accs = record.metric_curve("train_acc")
    return min(range(1, len(accs) + 1), key=lambda e: abs(accs[e - 1] - target))


def chosen_epoch(row: str, record: RunRecord, which: str) -> int:
    """The 1-based epoch of ``record`` that ``which`` (one of :data:`EPOCH_CHOICES`) names."""
    if which == "best":
        return record.best_epoch
    if which == "final":
        return record.stop_epoch
    if which == "train_acc":
        return epoch_matching_train_accuracy(row, record)
    raise ValueError(f"unknown epoch choice {which!r}; choose one of: {', '.join(EPOCH_CHOICES)}")


def ratios(records: dict[str, RunRecord], candidate: str, which: str = "best",
           train_aggregation: str = "train_during_epoch") -> Ratios:
    """Row id -> (test ratio, train ratio) = candidate / reference at the epoch ``which`` names."""
    out = {}
    for row, record in records.items():
        n = numbers(record, candidate, chosen_epoch(row, record, which))
        out[row] = (n["test_after_epoch"] / REPORT_L2[row]["test_loss"],
                    n[train_aggregation] / REPORT_L2[row]["train_loss"])
    return out


def worst_deviation(ratio_rows: Ratios) -> float:
    """Largest |ratio - 1| over all compared numbers."""
    return max(abs(r - 1) for pair in ratio_rows.values() for r in pair)


def within(ratio_rows: Ratios, tolerance: float = MATCH_TOLERANCE) -> int:
    """How many of the compared numbers are within ``tolerance`` of the reference's."""
    return sum(abs(r - 1) <= tolerance for pair in ratio_rows.values() for r in pair)


def report_fit(row: str, record: RunRecord, candidate: str = UNSQUARED) -> int:
    """How many of the reference's four numbers a run reproduces at its best epoch: accuracies
    within ``TOLERANCE_PP``, losses (as ``candidate`` prints them) within :data:`MATCH_TOLERANCE`."""
    best, report = record.best_epoch, REPORT_L2[row]
    n = numbers(record, candidate, best)
    return sum([
        abs(accuracy(record, "test", best) - report["test_acc"]) <= TOLERANCE_PP,
        abs(accuracy(record, "train", best) - report["train_acc"]) <= TOLERANCE_PP,
        abs(n["test_after_epoch"] / report["test_loss"] - 1) <= MATCH_TOLERANCE,
        abs(n["train_during_epoch"] / report["train_loss"] - 1) <= MATCH_TOLERANCE,
    ])


def check_record(row: str, record: RunRecord, trained_on: str) -> None:
    """Raise ValueError unless the run finished with a measurement per epoch, and the measure saw
    exactly the training batches the history averaged (``trained_on``: the candidate its loss is)."""
    if not record.ok:
        raise ValueError(f"{row}: the run {record.status} ({(record.error or '').splitlines()[0]}); "
                         "train it again (the study retrains failed runs)")
    if record.measurements is None or len(record.measurements) != record.stop_epoch + 1:
        raise ValueError(f"{row}: the run has no candidate measurements for each of its epochs; "
                         "train it with python -m mlp_lab.l2_loss_check (not python -m mlp_core reproduce)")
    for epoch, loss in enumerate(record.metric_curve("train_loss"), 1):
        seen = numbers(record, trained_on, epoch)["train_during_epoch"]
        if not math.isclose(seen, loss, rel_tol=1e-4):
            raise ValueError(f"{row}, epoch {epoch}: the measured train loss {seen} is not the history's {loss}: "
                             "the measure did not see the batches the training loop averaged")


@dataclass
class Candidate:
    """One candidate at the runs' best epochs: its ratios, how many are within the tolerance, the worst."""

    name: str
    ratios: Ratios
    within: int
    worst: float

    @property
    def matches(self) -> bool:
        return self.worst <= MATCH_TOLERANCE


@dataclass
class Verdicts:
    """What :func:`decide` found, in the order the Markdown tells it.

    ``rows``: the rows compared; ``missing``: the reference's L2 rows not
    trained; ``settings``: (seed, patience, max epochs) the runs trained with;
    ``kit_gap``: (smallest, largest) kit/reference test-loss ratio over the L2
    rows of the report grid (mean over its seeds), the gap that asked the
    question, and ``seed_spread``: the largest relative standard deviation (%)
    over seeds of the grid's L2 losses (each None without that grid);
    ``candidates``: every candidate;
    ``closest``: the candidate with the smallest worst deviation;
    ``at_train_acc``: every candidate's ratios at the epoch whose train accuracy
    is the reference's; ``aggregations``: per train aggregation, the closest
    candidate's worst deviation at the best and the final epoch; ``unsquared``:
    the rows also trained on the unsquared norm, with their record (or {}).
    """

    records: dict[str, RunRecord]
    rows: list[str]
    missing: list[str]
    settings: tuple[int, int | None, int]
    kit_gap: tuple[float, float] | None
    seed_spread: float | None
    candidates: dict[str, Candidate]
    closest: str
    at_train_acc: dict[str, Ratios]
    aggregations: dict[str, tuple[float, float]]
    unsquared: dict[str, RunRecord] = field(default_factory=dict)

    @property
    def compared(self) -> int:
        """How many numbers each candidate is compared on: test and train loss per row."""
        return 2 * len(self.rows)

    @property
    def matching(self) -> list[str]:
        return [name for name, c in self.candidates.items() if c.matches]

    def outliers(self) -> list[tuple[str, str, float]]:
        """(row, 'test' or 'train', ratio) of the closest candidate's numbers outside the tolerance."""
        return [(row, kind, ratio) for row, pair in self.candidates[self.closest].ratios.items()
                for kind, ratio in zip(("test", "train"), pair) if abs(ratio - 1) > MATCH_TOLERANCE]

    def fits_at_train_acc(self) -> list[str]:
        """The candidates that match every number at the epochs where the train accuracy is the reference's."""
        return [n for n in CANDIDATE_NAMES if worst_deviation(self.at_train_acc[n]) <= MATCH_TOLERANCE]

    def unsquared_rows_telling(self) -> tuple[list[str], list[str]]:
        """(rows trained both ways, those where only the course gradient reproduces all four numbers)."""
        compared = [row for row in self.unsquared if row in self.records]
        telling = [row for row in compared
                   if report_fit(row, self.records[row]) == 4 > report_fit(row, self.unsquared[row])]
        return compared, telling


def grid_facts(grid: Iterable[RunRecord]) -> tuple[tuple[float, float] | None, float | None]:
    """From the report grid's L2 runs: (smallest, largest) ratio of the kit's best-epoch test loss
    (mean over seeds) to the reference's, and the largest relative standard deviation over seeds (%)
    of a best-epoch loss, test or train. (None, None) without L2 runs; no spread with one seed."""
    losses: dict[tuple[str, str], list[float]] = {}
    for record in grid:
        if record.ok and record.config_id in REPORT_L2:
            for metric in ("test_loss", "train_loss"):
                losses.setdefault((record.config_id, metric), []).append(record.best[metric])
    gaps = [statistics.fmean(v) / REPORT_L2[row]["test_loss"] for (row, m), v in losses.items() if m == "test_loss"]
    spreads = [100 * statistics.stdev(v) / statistics.fmean(v) for v in losses.values() if len(v) > 1]
    return ((min(gaps), max(gaps)) if gaps else None), (max(spreads) if spreads else None)


def decide(records: dict[str, RunRecord], unsquared: dict[str, RunRecord] | None = None,
           grid: Iterable[RunRecord] = ()) -> Verdicts:
    """The verdicts on the runs ``records`` (row id -> the run trained on the course's L2 loss).

    ``unsquared``: row id -> a run trained on the unsquared norm (its own
    gradient), if any; ``grid``: the report grid's runs, for the gap that
    started the study. Raises ValueError without a run, or for a run that
    :func:`check_record` refuses.
    """
    if not records:
        raise ValueError("no run records to compare; train first (python -m mlp_lab.l2_loss_check)")
    unsquared = unsquared or {}
    for row, record in records.items():
        check_record(row, record, KIT)
    for row, record in unsquared.items():
        check_record(row, record, UNSQUARED)
    candidates = {}
    for name in CANDIDATE_NAMES:
        r = ratios(records, name)
        candidates[name] = Candidate(name, r, within(r), worst_deviation(r))
    closest = min(candidates, key=lambda n: candidates[n].worst)
    config = next(iter(records.values())).config
    gap, spread = grid_facts(grid)
    return Verdicts(
        records=records, rows=list(records), missing=[row for row in REPORT_L2 if row not in records],
        settings=(config.seed, config.patience, config.max_epochs), kit_gap=gap, seed_spread=spread,
        candidates=candidates, closest=closest,
        at_train_acc={n: ratios(records, n, "train_acc") for n in CANDIDATE_NAMES},
        aggregations={a: tuple(worst_deviation(ratios(records, closest, which, a)) for which in ("best", "final"))
                      for a in ("train_during_epoch", "train_last_window", "train_after_epoch")},
        unsquared=unsquared,
    )
