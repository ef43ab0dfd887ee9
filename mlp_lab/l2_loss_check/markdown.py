"""Writing: the L2 study's verdicts (:class:`~mlp_lab.l2_loss_check.verdicts.Verdicts`) as Markdown.

Every number and every conclusion comes from the verdicts; this module only
lays them out, section by section, in the order :func:`write` lists them.
"""

from __future__ import annotations

import math
import statistics

from ..reference import TOLERANCE_PP
from .candidates import CANDIDATE_NAMES, CANDIDATE_TITLES
from .verdicts import (
    KIT, MATCH_TOLERANCE, REPORT_L2, UNSQUARED, Verdicts, accuracy, epoch_matching_train_accuracy, numbers,
    report_fit, within, worst_deviation,
)

#: Subfolder of the study's folder for the runs trained on the unsquared norm.
UNSQUARED_FOLDER = "trained_on_unsquared"
TOL = f"±{MATCH_TOLERANCE:.0%}"


def write(v: Verdicts, out_name: str) -> str:
    """The Markdown of ``v`` for the runs in the folder ``out_name`` (its name, as the text cites it)."""
    lines = _runs(v, out_name) + _candidates(v) + _answer(v) + _number_by_number(v) + _aggregations(v)
    lines += _closeness(v) + _at_train_accuracy(v)
    if v.closest == UNSQUARED:
        lines += _batch_norm_explanation(v)
    if v.unsquared:
        lines += _unsquared_section(v, out_name)
    return "\n".join(lines + _reproduce())


def _runs(v: Verdicts, out_name: str) -> list[str]:
    seed, patience, max_epochs = v.settings
    gap = f"were {v.kit_gap[0]:.1f}-{v.kit_gap[1]:.1f}x the report's" if v.kit_gap else "were larger than the report's"
    lines = [
        "# The L2 loss gap: which definition gives the report's L2 losses?",
        "",
        "Written by `python -m mlp_lab.l2_loss_check` from the runs in "
        f"`{out_name}/` (one JSON per run, every candidate at every epoch); do not edit by hand.",
        "",
        "The kit reproduces the report's L2 accuracies, but its L2 losses (the course's "
        f"1/(2N) Σ‖y−t‖² on the logits) {gap}, by a ratio that differs per row. "
        f"Each L2 configuration below was trained once (seed {seed}, the report's settings, no output "
        f"activation, early stopping on the test accuracy, patience {patience}, up to {max_epochs} epochs), and every "
        "candidate definition was evaluated on that same model at every epoch. Test numbers: mean over "
        "the test set's batches of 100 after the epoch; train numbers: mean over the epoch's batches of "
        "100, each before its update (the course's way; other train aggregations further down).",
        "",
        "## The runs",
        "",
        "| Run | Best / stop epoch | Test acc % (report) | Train acc % (report) | Minutes |",
        "|---|---|---|---|---:|",
    ]
    for row, record in v.records.items():
        best, rep = record.best_epoch, REPORT_L2[row]
        lines.append(
            f"| {row} | {best} / {record.stop_epoch} | {accuracy(record, 'test', best):.2f} ({rep['test_acc']:.2f}) "
            f"| {accuracy(record, 'train', best):.2f} ({rep['train_acc']:.2f}) | {record.wall_seconds / 60:.1f} |"
        )
    if v.missing:
        lines += ["", f"Not trained (yet): {', '.join(v.missing)}. The comparison below covers the rows above only."]
    return lines


def _candidates(v: Verdicts) -> list[str]:
    spread = (f"the kit's L2 losses vary by up to {math.ceil(v.seed_spread)} % between seeds"
              if v.seed_spread is not None else "the kit's L2 losses vary between seeds")
    lines = [
        "",
        "## Every candidate: ours / report at the best epoch",
        "",
        f"Each cell: test-loss ratio / train-loss ratio. A candidate **matches** when all {v.compared} "
        f"ratios are within {TOL} of 1 (the report prints 2-3 digits; {spread}).",
        "",
        "| Candidate | " + " | ".join(v.rows) + f" | Within {TOL} | Worst |ratio−1| | Matches |",
        "|---|" + "---|" * len(v.rows) + "---:|---:|---|",
    ]
    for name, c in v.candidates.items():
        cells = " | ".join(f"{c.ratios[row][0]:.2f} / {c.ratios[row][1]:.2f}" for row in v.rows)
        lines.append(f"| {CANDIDATE_TITLES[name]} | {cells} | {c.within} of {v.compared} | {c.worst:.2f} "
                     f"| {'**yes**' if c.matches else 'no'} |")
    return lines


def _answer(v: Verdicts) -> list[str]:
    lines = ["", "## Answer", ""]
    matching, closest = v.matching, v.candidates[v.closest]
    if matching:
        lines.append(
            f"{len(matching)} of {len(CANDIDATE_NAMES)} candidates {'matches' if len(matching) == 1 else 'match'}: "
            + "; ".join(CANDIDATE_TITLES[n] for n in matching) + "."
        )
    else:
        outliers = [f"{row} {kind} ({ratio:.2f})" for row, kind, ratio in v.outliers()]
        lines.append(
            f"None of the {len(CANDIDATE_NAMES)} candidates matches all {v.compared} numbers at our best epoch. "
            f"The closest is {CANDIDATE_TITLES[v.closest]}: {closest.within} of {v.compared} numbers "
            f"within {TOL}, the exception{'s' if len(outliers) > 1 else ''} "
            f"{', '.join(outliers)}; no other candidate gets more than "
            f"{max(c.within for n, c in v.candidates.items() if n != v.closest)} of them."
        )
    fits = v.fits_at_train_acc()
    others = [n for n in CANDIDATE_NAMES if n not in fits]
    lines += [
        "",
        "At the epoch where our run's train accuracy is the report's (see below), "
        + (f"{' and '.join(CANDIDATE_TITLES[n] for n in fits)} match{'es' if len(fits) == 1 else ''} "
           f"all {v.compared} numbers (worst |ratio−1| "
           f"{', '.join(f'{worst_deviation(v.at_train_acc[n]):.3f}' for n in fits)})"
           if fits else "no candidate matches all of them")
        + f"; no other candidate gets more than {max(within(v.at_train_acc[n]) for n in others)} of {v.compared} "
        f"within {TOL}.",
    ]
    return lines


def _number_by_number(v: Verdicts) -> list[str]:
    lines = [
        "",
        "## The closest candidate and the kit's definition, number by number (best epoch)",
        "",
        "| Run | Candidate | Test loss | Report | Train loss (during epoch) | Last 50 batches | After the epoch | Report |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for row, record in v.records.items():
        for name in dict.fromkeys([v.closest, KIT]):
            n, rep = numbers(record, name, record.best_epoch), REPORT_L2[row]
            lines.append(
                f"| {row} | {name} | {n['test_after_epoch']:.4f} | {rep['test_loss']:.4f} "
                f"| {n['train_during_epoch']:.4f} | {n['train_last_window']:.4f} | {n['train_after_epoch']:.4f} "
                f"| {rep['train_loss']:.4f} |"
            )
    return lines


def _aggregations(v: Verdicts) -> list[str]:
    lines = [
        "",
        "## Which epoch and which train aggregation? (closest candidate, worst |ratio−1|)",
        "",
        "| Train aggregation | Best epoch | Final epoch |",
        "|---|---:|---:|",
    ]
    return lines + [f"| {a} | {best:.3f} | {final:.3f} |" for a, (best, final) in v.aggregations.items()]


def _closeness(v: Verdicts) -> list[str]:
    closest = v.candidates[v.closest].ratios
    lines = [
        "",
        "## How close each row gets (closest candidate, test and train ratio)",
        "",
        "| Run | Test ratio | Train ratio | Train acc % ours − report |",
        "|---|---:|---:|---:|",
    ]
    for row, (test_ratio, train_ratio) in closest.items():
        record = v.records[row]
        gap = accuracy(record, "train", record.best_epoch) - REPORT_L2[row]["train_acc"]
        lines.append(f"| {row} | {test_ratio:.3f} | {train_ratio:.3f} | {gap:+.2f} |")
    geo = statistics.geometric_mean([r for pair in closest.values() for r in pair])
    return lines + ["", f"Geometric mean of the closest candidate's {v.compared} ratios: {geo:.3f}."]


def _at_train_accuracy(v: Verdicts) -> list[str]:
    at = v.at_train_acc[v.closest]
    lines = [
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
    for row, record in v.records.items():
        epoch, rep = epoch_matching_train_accuracy(row, record), REPORT_L2[row]
        lines.append(
            f"| {row} | {epoch} ({record.best_epoch}) | {accuracy(record, 'train', epoch):.2f} ({rep['train_acc']:.2f}) "
            f"| {accuracy(record, 'test', epoch):.2f} ({rep['test_acc']:.2f}) | {at[row][0]:.3f} | {at[row][1]:.3f} |"
        )
    return lines + ["", f"Worst |ratio−1| at these epochs: {worst_deviation(at):.3f} "
                        f"({within(at)} of {v.compared} within {TOL})."]


def _batch_norm_explanation(v: Verdicts) -> list[str]:
    """Why the kit/report ratio differed per row, when the batch norm is the answer."""
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
    for row, record in v.records.items():
        kit = numbers(record, KIT, record.best_epoch)
        test, train, rep = kit["test_after_epoch"], kit["train_during_epoch"], REPORT_L2[row]
        lines.append(
            f"| {row} | {test:.4f} | {math.sqrt(200 * test):.2f} | {test / rep['test_loss']:.2f} "
            f"| {train:.4f} | {math.sqrt(200 * train):.2f} | {train / rep['train_loss']:.2f} |"
        )
    return lines


def _unsquared_section(v: Verdicts, out_name: str) -> list[str]:
    """Runs trained on the unsquared norm itself, beside the course-gradient runs and the report."""
    lines = [
        "",
        "## Printed, or also trained on?",
        "",
        "Could the report have trained on the unsquared norm too (its true gradient, (Y−T)/(2B‖Y−T‖_F)), "
        "not only printed it? The configurations below were trained that way as well "
        f"(`{out_name}/{UNSQUARED_FOLDER}/`), same seed and settings. Accuracies in % at the best epoch; "
        f"the last column counts the report's four numbers reproduced (accuracies within "
        f"{TOLERANCE_PP} pp, printed losses within {TOL}).",
        "",
        "| Run | Trained on | Best / stop epoch | Test acc | Train acc | Printed test loss (unsquared) "
        "| Printed train loss | Report's numbers reproduced |",
        "|---|---|---|---:|---:|---:|---:|---:|",
    ]
    for row, trained in v.unsquared.items():
        rep = REPORT_L2[row]
        lines.append(f"| {row} | report | – | {rep['test_acc']:.2f} | {rep['train_acc']:.2f} "
                     f"| {rep['test_loss']:.4f} | {rep['train_loss']:.4f} | – |")
        for label, record in (("course gradient (y−t)/N", v.records.get(row)), ("unsquared norm, its gradient", trained)):
            if record is None:
                continue
            best = record.best_epoch
            n = numbers(record, UNSQUARED, best)
            lines.append(
                f"| {row} | {label} | {best} / {record.stop_epoch} | {accuracy(record, 'test', best):.2f} "
                f"| {accuracy(record, 'train', best):.2f} | {n['test_after_epoch']:.4f} | {n['train_during_epoch']:.4f} "
                f"| {report_fit(row, record)} of 4 |"
            )
    compared, telling = v.unsquared_rows_telling()
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


def _reproduce() -> list[str]:
    return [
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
