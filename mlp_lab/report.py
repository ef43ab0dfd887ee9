"""Tables, figures, timings and conclusions from a folder of run JSONs.

    python -m mlp_core report RESULTS_DIR

reads ``RESULTS_DIR/runs/*.json`` (written by :mod:`mlp_lab.experiments`) and
writes into ``RESULTS_DIR``:

    results.csv, results.md   one row per configuration: test/train accuracy (%)
                              and loss at the BEST epoch (the one early stopping
                              selects), mean +- std over seeds, beside the
                              report's value and the difference; results.md also
                              compares best-epoch and final-epoch metrics with the
                              report
    results_final.csv         the same at the FINAL (stop) epoch
    timing.csv, timing.md     seconds per epoch and per run, by depth and activation
    summary.md                which of the report's conclusions the numbers confirm
    figures/mlp{1,2}_{test_acc,test_loss,train_acc,train_loss}.{png,svg}
                              the report's eight figures, one curve per loss x activation

The public functions are what notebooks use: :func:`load_results`,
:func:`summary_table`, :func:`reference_agreement`, :func:`timing_table`,
:func:`conclusions`, :func:`plot_curves`, :func:`plot_pair` and
:func:`write_report`. A *record* is one run's JSON as a dict (see
``experiments.train_task``); accuracies are fractions in the records and
percentages in every table and figure, like the report's.
"""

from __future__ import annotations

import csv
import io
import json
import math
import statistics
from pathlib import Path
from typing import Iterable, Sequence

from mlp_core._io import atomic_write_bytes, atomic_write_text

#: The report's table (test/train accuracy in %, losses as the report printed
#: them), a copy of reference/seed_results.csv so the kit needs no other file.
REFERENCE_CSV = """\
hidden_layers,loss,activation,test_acc,test_loss,train_acc,train_loss
1,l2,sigmoid,95.94,0.0155,96.22,0.0156
1,l2,relu,97.97,0.013,98.88,0.0115
1,l2,gelu,97.66,0.014,98.43,0.0128
1,cross_entropy,sigmoid,97.78,0.076,98.79,0.0472
1,cross_entropy,relu,98.05,0.0642,99.16,0.0316
1,cross_entropy,gelu,98.06,0.0667,99.75,0.0145
1,hinge,sigmoid,98.12,0.3836,99.55,0.0864
1,hinge,relu,98.22,0.3587,99.7,0.0591
1,hinge,gelu,98.24,0.3516,99.86,0.0316
2,l2,sigmoid,94.69,0.0156,94.67,0.016
2,l2,relu,98.56,0.0091,99.61,0.0065
2,l2,gelu,98.26,0.0101,99.03,0.0087
2,cross_entropy,sigmoid,97.63,0.0781,98.91,0.0403
2,cross_entropy,relu,98.25,0.0652,99.78,0.0095
2,cross_entropy,gelu,98.12,0.0683,99.21,0.0256
2,hinge,sigmoid,97.91,0.4238,99.37,0.1058
2,hinge,relu,98.32,0.3599,99.52,0.0712
2,hinge,gelu,98.31,0.3664,99.83,0.0268
"""

#: The four metrics of the report's table and figures.
METRICS = ("test_acc", "test_loss", "train_acc", "train_loss")
METRIC_TITLES = {
    "test_acc": "Test accuracy (%)", "test_loss": "Test loss",
    "train_acc": "Train accuracy (%)", "train_loss": "Train loss",
    "val_acc": "Validation accuracy (%)", "val_loss": "Validation loss",
}
LOSS_TITLES = {"l2": "L2", "cross_entropy": "Cross-entropy", "hinge": "Hinge"}
ACTIVATION_TITLES = {"sigmoid": "Sigmoid", "relu": "ReLU", "gelu": "GELU"}
LOSS_ORDER = ("l2", "cross_entropy", "hinge")
ACTIVATION_ORDER = ("sigmoid", "relu", "gelu")
#: Figure style: colour = activation, line style = loss.
ACTIVATION_COLOURS = {"sigmoid": "#1b9e77", "relu": "#d95f02", "gelu": "#7570b3"}
LOSS_STYLES = {"l2": ":", "cross_entropy": "-", "hinge": "--"}
#: Largest |test accuracy difference| (percentage points) counted as reproducing the report.
TOLERANCE_PP = 0.5


# --------------------------------------------------------------------------- #
# Loading
# --------------------------------------------------------------------------- #


def load_reference(path: str | Path | None = None) -> dict[str, dict[str, float]]:
    """The report's numbers by config id ('mlp1-l2-sigmoid' -> {test_acc: 95.94, ...}).

    ``path``: a CSV laid out like seed_results.csv (default: :data:`REFERENCE_CSV`).
    Accuracies stay in percent, as in the report.
    """
    text = REFERENCE_CSV if path is None else Path(path).read_text()
    reference = {}
    for row in csv.DictReader(io.StringIO(text)):
        key = f"mlp{int(row['hidden_layers'])}-{row['loss']}-{row['activation']}"
        reference[key] = {m: float(row[m]) for m in METRICS}
    if not reference:
        raise ValueError(f"{path or 'REFERENCE_CSV'} holds no rows; expected the columns of seed_results.csv")
    return reference


def load_results(results_dir: str | Path) -> list[dict]:
    """Every run record in ``results_dir/runs/*.json``, in the report's order, then by seed.

    Raises ValueError if the folder holds no run JSON.
    """
    runs = Path(results_dir) / "runs"
    records = []
    for path in sorted(runs.glob("*.json")):
        if path.name.startswith("."):
            continue  # a temporary file of an atomic write in progress
        try:
            record = json.loads(path.read_text())
        except ValueError as exc:
            raise ValueError(f"{path} is not valid JSON ({exc}); delete it and run the grid again") from None
        if not isinstance(record, dict) or "config_id" not in record or "status" not in record:
            raise ValueError(f"{path} is not a run record (no config_id/status); it does not belong in {runs}")
        records.append(record)
    if not records:
        raise ValueError(
            f"no run JSON in {runs}; train a grid first: python -m mlp_core reproduce --out {results_dir}"
        )
    return sorted(records, key=lambda r: (_order_key(r), r["seed"]))


def _parts(record: dict) -> tuple[int, str, str]:
    """(depth, loss, activation) of a record."""
    config = record["config"]
    arch = config["architecture"]
    depth = int(arch[3:]) if isinstance(arch, str) and arch.startswith("mlp") else len(arch)
    return depth, config["loss"], config["activation"]


def _order_key(record: dict) -> tuple:
    depth, loss, act = _parts(record)
    return (
        depth,
        LOSS_ORDER.index(loss) if loss in LOSS_ORDER else len(LOSS_ORDER),
        ACTIVATION_ORDER.index(act) if act in ACTIVATION_ORDER else len(ACTIVATION_ORDER),
        record["config_id"],
    )


def _groups(results: Iterable[dict]) -> dict[str, list[dict]]:
    """Records by config id, in the report's order."""
    groups: dict[str, list[dict]] = {}
    for record in sorted(results, key=lambda r: (_order_key(r), r["seed"])):
        groups.setdefault(record["config_id"], []).append(record)
    return groups


def _ok(records: Iterable[dict]) -> list[dict]:
    return [r for r in records if r["status"] == "ok"]


def _scale(metric: str) -> float:
    return 100.0 if metric.endswith("_acc") else 1.0


def _mean_std(values: Sequence[float]) -> tuple[float | None, float | None]:
    """Mean and sample standard deviation (ddof 1; None for fewer than two values)."""
    if not values:
        return None, None
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else None


# --------------------------------------------------------------------------- #
# Tables
# --------------------------------------------------------------------------- #


def summary_table(
    results: Sequence[dict], selection: str = "best", reference: dict | None = None
) -> list[dict]:
    """One row per configuration, in the report's order.

    Args:
        results: run records (:func:`load_results`).
        selection: 'best' (metrics at the epoch early stopping selected) or
            'final' (at the last epoch trained).
        reference: :func:`load_reference` output (default: the report's).

    Each row: config_id, depth, loss, activation, output_activation, runs
    (finished ok), not_ok (diverged or failed), seeds; for every metric m in
    :data:`METRICS`: m_mean, m_std (sample std over seeds, None for one
    seed), m_min, m_max, report_m, diff_m (mean - report); best_epoch_mean,
    stop_epoch_mean; within_tolerance (|diff_test_acc| <= TOLERANCE_PP, None
    without a reference value). Accuracies in percent.
    """
    if selection not in ("best", "final"):
        raise ValueError(f"selection must be 'best' or 'final', got {selection!r}")
    reference = load_reference() if reference is None else reference
    rows = []
    for cid, records in _groups(results).items():
        ok = _ok(records)
        depth, loss, act = _parts(records[0])
        row: dict = {
            "config_id": cid, "depth": depth, "loss": loss, "activation": act,
            "output_activation": records[0]["config"].get("output_activation") or "none",
            "runs": len(ok), "not_ok": len(records) - len(ok), "seeds": [r["seed"] for r in ok],
        }
        ref = reference.get(cid)
        for m in METRICS:
            values = [r[selection][m] * _scale(m) for r in ok if r.get(selection) and m in r[selection]]
            mean, std = _mean_std(values)
            row[f"{m}_mean"], row[f"{m}_std"] = mean, std
            row[f"{m}_min"] = min(values) if values else None
            row[f"{m}_max"] = max(values) if values else None
            row[f"report_{m}"] = ref[m] if ref else None
            row[f"diff_{m}"] = mean - ref[m] if ref and mean is not None else None
        row["best_epoch_mean"] = _mean_std([r["best_epoch"] for r in ok if r["best_epoch"]])[0]
        row["stop_epoch_mean"] = _mean_std([r["stop_epoch"] for r in ok if r["stop_epoch"]])[0]
        diff = row["diff_test_acc"]
        row["within_tolerance"] = None if diff is None else abs(diff) <= TOLERANCE_PP
        rows.append(row)
    return rows


def reference_agreement(results: Sequence[dict], reference: dict | None = None) -> dict[str, dict]:
    """How close the best-epoch and the final-epoch metrics come to the report.

    Returns {'best': {...}, 'final': {...}}, each with, per metric m:
    m_mean_abs_diff (mean over configurations of |mean - report|; percentage
    points for accuracies) and, for test_acc, within_tolerance (how many
    configurations are within TOLERANCE_PP) and configs (how many have a
    report value).
    """
    out = {}
    for selection in ("best", "final"):
        rows = [r for r in summary_table(results, selection, reference) if r["diff_test_acc"] is not None]
        entry: dict = {"configs": len(rows)}
        for m in METRICS:
            diffs = [abs(r[f"diff_{m}"]) for r in rows if r[f"diff_{m}"] is not None]
            entry[f"{m}_mean_abs_diff"] = statistics.fmean(diffs) if diffs else None
        entry["within_tolerance"] = sum(bool(r["within_tolerance"]) for r in rows)
        out[selection] = entry
    return out


def timing_table(results: Sequence[dict]) -> list[dict]:
    """Training time by depth and activation (over all losses and seeds of finished runs).

    Rows: depth, activation, runs, seconds_per_epoch_mean / _std (over runs
    of each run's mean per-epoch train_seconds: forward, backward and update
    on the 60000 training samples, one BLAS thread), fastest_epoch_seconds
    (the fastest epoch of all these runs: like timeit's minimum, the one
    least disturbed by other load on the machine, so the fairest for
    comparing the cost of depths and activations), epochs_mean (epochs
    trained), train_seconds_mean (per run, training only), wall_seconds_mean
    (per run, with data loading and evaluation).
    """
    cells: dict[tuple[int, str], list[dict]] = {}
    for record in _ok(results):
        depth, _, act = _parts(record)
        cells.setdefault((depth, act), []).append(record)
    rows = []
    order = {a: i for i, a in enumerate(ACTIVATION_ORDER)}
    for (depth, act), records in sorted(cells.items(), key=lambda kv: (kv[0][0], order.get(kv[0][1], 9), kv[0][1])):
        spe_mean, spe_std = _mean_std([r["seconds_per_epoch"] for r in records])
        fastest = [min(r["history"]["metrics"]["train_seconds"]) for r in records]
        rows.append({
            "depth": depth, "activation": act, "runs": len(records),
            "seconds_per_epoch_mean": spe_mean, "seconds_per_epoch_std": spe_std,
            "fastest_epoch_seconds": min(fastest),
            "epochs_mean": statistics.fmean(r["epochs_run"] for r in records),
            "train_seconds_mean": statistics.fmean(r["train_seconds"] for r in records),
            "wall_seconds_mean": statistics.fmean(r["wall_seconds"] for r in records),
        })
    return rows


def epochs_to_reach(record: dict, metric: str = "test_acc", level: float = 0.97) -> int | None:
    """First epoch (1-based) at which ``metric`` reaches ``level`` (a fraction for accuracies); None if never."""
    for epoch, value in enumerate(record["history"]["metrics"].get(metric, []), 1):
        if value >= level:
            return epoch
    return None


# --------------------------------------------------------------------------- #
# Conclusions
# --------------------------------------------------------------------------- #


def _verdict(hits: int, total: int) -> str:
    if total == 0:
        return "no data"
    if hits == total:
        return "confirmed"
    return "partly confirmed" if hits else "not confirmed"


def conclusions(results: Sequence[dict], selection: str = "best") -> list[dict]:
    """Check the report's conclusions against the results.

    Returns a list of {'claim', 'verdict', 'evidence'}; verdict is
    'confirmed' (every comparison agrees), 'partly confirmed' (some do),
    'not confirmed' (none does) or 'no data'; the evidence gives the counts. Comparisons use the mean test accuracy
    over seeds at the ``selection`` epoch; "about the same" means within
    TOLERANCE_PP percentage points; speed uses each run's fastest epoch
    (see :func:`timing_table`).
    """
    rows = {(r["depth"], r["loss"], r["activation"]): r for r in summary_table(results, selection)}
    acc = {k: r["test_acc_mean"] for k, r in rows.items() if r["test_acc_mean"] is not None}
    # The fastest epoch of each cell: what a depth or activation costs, with the least disturbance.
    speed = {(t["depth"], t["activation"]): t["fastest_epoch_seconds"] for t in timing_table(results)}
    out = []

    def pairs(keys_a, keys_b):
        return [(a, b) for a, b in zip(keys_a, keys_b) if a in acc and b in acc]

    # Depth, accuracy.
    non_sig = pairs([(1, l, a) for l in LOSS_ORDER for a in ("relu", "gelu")],
                    [(2, l, a) for l in LOSS_ORDER for a in ("relu", "gelu")])
    sig = pairs([(1, l, "sigmoid") for l in LOSS_ORDER], [(2, l, "sigmoid") for l in LOSS_ORDER])
    hits = sum(acc[b] > acc[a] for a, b in non_sig) + sum(acc[b] <= acc[a] for a, b in sig)
    out.append({
        "claim": "Depth: except with Sigmoid, MLP2 is slightly more accurate than MLP1 (and with Sigmoid it is not).",
        "verdict": _verdict(hits, len(non_sig) + len(sig)),
        "evidence": "MLP2 - MLP1 test accuracy (pp): " + ", ".join(
            f"{LOSS_TITLES[a[1]]}+{ACTIVATION_TITLES[a[2]]} {acc[b] - acc[a]:+.2f}" for a, b in non_sig + sig
        ) + f"; {hits} of {len(non_sig) + len(sig)} as claimed.",
    })
    # Depth, speed.
    ratios = [(a, speed[(2, a)] / speed[(1, a)]) for a in ACTIVATION_ORDER if (1, a) in speed and (2, a) in speed]
    out.append({
        "claim": "Depth: MLP2 trains noticeably slower than MLP1.",
        "verdict": _verdict(sum(r > 1.2 for _, r in ratios), len(ratios)),
        "evidence": "fastest epoch, MLP2 / MLP1: " + ", ".join(
            f"{ACTIVATION_TITLES[a]} {r:.2f}x" for a, r in ratios) + " (noticeably: more than 1.2x).",
    })
    # Activation, accuracy.
    comps = [((d, l, "sigmoid"), (d, l, a)) for d in (1, 2) for l in LOSS_ORDER for a in ("relu", "gelu")]
    comps = [(s, o) for s, o in comps if s in acc and o in acc]
    hits = sum(acc[o] > acc[s] for s, o in comps)
    worst = [f"MLP{s[0]} {LOSS_TITLES[s[1]]}: {ACTIVATION_TITLES[o[2]]} {acc[o] - acc[s]:+.2f}"
             for s, o in comps if acc[o] <= acc[s]]
    out.append({
        "claim": "Activation: GELU and ReLU beat Sigmoid.",
        "verdict": _verdict(hits, len(comps)),
        "evidence": f"{hits} of {len(comps)} (depth, loss) comparisons have ReLU/GELU above Sigmoid"
        + (f"; exceptions (pp vs Sigmoid): {'; '.join(worst)}." if worst else "."),
    })
    # Activation, convergence speed.
    reach: dict[tuple, list] = {}
    for record in _ok(results):
        reach.setdefault(_parts(record), []).append(epochs_to_reach(record))

    def median_epochs(key):
        values = [math.inf if v is None else v for v in reach.get(key, [])]
        return statistics.median(values) if values else None

    faster, similar, total = 0, 0, 0
    details = []
    for d in (1, 2):
        for l in LOSS_ORDER:
            s, r, g = (median_epochs((d, l, a)) for a in ACTIVATION_ORDER)
            if None in (s, r, g):
                continue
            total += 1
            faster += r < s
            similar += abs(r - g) <= 2 if math.isfinite(r) and math.isfinite(g) else r == g
            details.append(f"MLP{d} {LOSS_TITLES[l]} {_fmt_epochs(s)}/{_fmt_epochs(r)}/{_fmt_epochs(g)}")
    out.append({
        "claim": "Activation: ReLU converges faster than Sigmoid and about as fast as GELU.",
        "verdict": _verdict(faster + similar, 2 * total),
        "evidence": "median epochs to reach 97% test accuracy, Sigmoid/ReLU/GELU: " + "; ".join(details)
        + f". ReLU faster than Sigmoid in {faster} of {total}; within 2 epochs of GELU in {similar} of {total}.",
    })
    # Activation, cost.
    cost = [(d, speed[(d, "gelu")] / speed[(d, "relu")], speed[(d, "gelu")] / speed[(d, "sigmoid")])
            for d in (1, 2) if all((d, a) in speed for a in ACTIVATION_ORDER)]
    out.append({
        "claim": "Activation: GELU is costlier to compute, so training is slower.",
        "verdict": _verdict(sum(gr > 1 and gs > 1 for _, gr, gs in cost), len(cost)),
        "evidence": "fastest epoch, GELU / ReLU and GELU / Sigmoid: " + "; ".join(
            f"MLP{d} {gr:.2f}x and {gs:.2f}x" for d, gr, gs in cost) + ".",
    })
    # Loss.
    cells = [(d, a) for d in (1, 2) for a in ACTIVATION_ORDER if all((d, l, a) in acc for l in LOSS_ORDER)]
    gaps = [acc[(d, "hinge", a)] - acc[(d, "cross_entropy", a)] for d, a in cells]
    above = [min(acc[(d, "hinge", a)], acc[(d, "cross_entropy", a)]) - acc[(d, "l2", a)] for d, a in cells]
    same = sum(abs(g) <= TOLERANCE_PP for g in gaps)
    better = sum(x > 0 for x in above)
    out.append({
        "claim": "Loss: cross-entropy and hinge perform about the same, slightly better than L2.",
        "verdict": _verdict(same + better, 2 * len(cells)),
        "evidence": f"hinge - cross-entropy within {TOLERANCE_PP} pp in {same} of {len(cells)} (depth, activation) "
        f"cells (mean {statistics.fmean(gaps) if gaps else float('nan'):+.2f} pp); both above L2 in {better} of "
        f"{len(cells)} (worse of the two minus L2: "
        + ", ".join(f"MLP{d} {ACTIVATION_TITLES[a]} {x:+.2f}" for (d, a), x in zip(cells, above)) + ").",
    })
    # Sigmoid + L2.
    worst_hits, worst_details = 0, []
    for d in (1, 2):
        mine = {k: v for k, v in acc.items() if k[0] == d}
        if (d, "l2", "sigmoid") not in mine or len(mine) < 2:
            continue
        others = sorted(v for k, v in mine.items() if k != (d, "l2", "sigmoid"))
        gap = others[0] - mine[(d, "l2", "sigmoid")]
        worst_hits += gap > 0
        worst_details.append(f"MLP{d}: {mine[(d, 'l2', 'sigmoid')]:.2f}%, {gap:+.2f} pp below the next worst")
    out.append({
        "claim": "Sigmoid with L2 is clearly the worst combination.",
        "verdict": _verdict(worst_hits, len(worst_details)),
        "evidence": "; ".join(worst_details) + ".",
    })
    for claim in out:
        if claim["verdict"] == "no data":
            claim["evidence"] = "(these results lack the configurations this claim compares)"
    return out


def _fmt_epochs(value: float) -> str:
    return "never" if math.isinf(value) else f"{value:g}"


# --------------------------------------------------------------------------- #
# Figures
# --------------------------------------------------------------------------- #


def mean_curve(records: Sequence[dict], metric: str) -> tuple[list[int], list[float]]:
    """(epochs, mean of ``metric`` over the records that reached each epoch); accuracies in %.

    Runs stop at different epochs: each epoch averages the seeds still training.
    """
    series = [r["history"]["metrics"].get(metric, []) for r in records if r.get("history")]
    length = max((len(s) for s in series), default=0)
    epochs, means = [], []
    for i in range(length):
        values = [s[i] for s in series if len(s) > i]
        epochs.append(i + 1)
        means.append(statistics.fmean(values) * _scale(metric))
    return epochs, means


def _legend(ax, losses: Iterable[str], activations: Iterable[str]) -> None:
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], color=ACTIVATION_COLOURS.get(a, "k"), lw=2.2, label=ACTIVATION_TITLES.get(a, a))
               for a in activations]
    handles += [Line2D([], [], color="0.25", lw=1.6, ls=LOSS_STYLES.get(l, "-"), label=LOSS_TITLES.get(l, l))
                for l in losses]
    ax.legend(handles=handles, title="colour: activation\nline: loss", loc="upper left",
              bbox_to_anchor=(1.01, 1.0), frameon=False, fontsize=9, title_fontsize=9)


def plot_curves(results: Sequence[dict], depth: int, metric: str, ax=None, *, acc_floor: float = 90.0):
    """One of the report's figures: ``metric`` against the epoch for every loss x activation.

    Args:
        results: run records; only finished runs of this ``depth`` (1 or 2) are drawn,
            each configuration as the mean over its seeds (:func:`mean_curve`).
        metric: 'test_acc', 'test_loss', 'train_acc', 'train_loss' (or 'val_*').
        ax: a matplotlib Axes to draw on (default: a new figure).
        acc_floor: accuracy axes start here (%), so the differences near 100% show,
            when every curve ends above it; the axis label then says so.

    Colour is the activation, line style the loss; losses use a log axis,
    because hinge losses are ~30x larger than L2 ones. Returns the Axes.
    """
    from matplotlib.ticker import MaxNLocator

    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(7.2, 4.2))
    groups = {cid: _ok(rs) for cid, rs in _groups(results).items() if _parts(rs[0])[0] == depth}
    groups = {cid: rs for cid, rs in groups.items() if rs}
    if not groups:
        raise ValueError(f"no finished runs of MLP{depth} in these results")
    lowest = math.inf
    finals = []
    losses, acts = [], []
    for cid, records in groups.items():
        _, loss, act = _parts(records[0])
        epochs, values = mean_curve(records, metric)
        if not values:
            continue
        lowest = min(lowest, min(values))
        finals.append(values[-1])
        losses.append(loss) if loss not in losses else None
        acts.append(act) if act not in acts else None
        ax.plot(epochs, values, color=ACTIVATION_COLOURS.get(act, "k"), ls=LOSS_STYLES.get(loss, "-"),
                lw=1.6, label=f"{LOSS_TITLES.get(loss, loss)} + {ACTIVATION_TITLES.get(act, act)}")
    label = METRIC_TITLES.get(metric, metric)
    if metric.endswith("_acc"):
        # Zoom in only when every curve ends above the floor (the early epochs are cut off).
        if lowest < acc_floor < min(finals):
            ax.set_ylim(acc_floor, 100.05)
            label += f", axis from {acc_floor:g}%"
    else:
        ax.set_yscale("log")
    n_seeds = max(len(rs) for rs in groups.values())
    seeds = f"mean of {n_seeds} seeds" if n_seeds > 1 else "one seed"
    ax.set_title(f"MLP{depth}: {METRIC_TITLES.get(metric, metric).split(' (')[0].lower()} per epoch ({seeds})",
                 fontsize=11)
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel(label)
    ax.grid(True, which="major", alpha=0.3)
    _legend(ax, [l for l in LOSS_ORDER if l in losses] + [l for l in losses if l not in LOSS_ORDER],
            [a for a in ACTIVATION_ORDER if a in acts] + [a for a in acts if a not in ACTIVATION_ORDER])
    return ax


def plot_pair(results: Sequence[dict], config_a: str, config_b: str, metrics: Sequence[str] = ("test_acc", "test_loss")):
    """Two configurations side by side: every seed of each, one panel per metric.

    ``config_a``, ``config_b``: config ids like 'mlp1-l2-sigmoid'. Returns the Figure.
    """
    import matplotlib.pyplot as plt

    groups = _groups(results)
    for cid in (config_a, config_b):
        if cid not in groups or not _ok(groups[cid]):
            raise ValueError(f"no finished run of {cid!r}; available: {', '.join(groups)}")
    fig, axes = plt.subplots(1, len(metrics), figsize=(5.2 * len(metrics), 3.8), squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        for cid, colour in ((config_a, "#d95f02"), (config_b, "#1b9e77")):
            for i, record in enumerate(_ok(groups[cid])):
                values = [v * _scale(metric) for v in record["history"]["metrics"][metric]]
                ax.plot(range(1, len(values) + 1), values, color=colour, lw=1.3, alpha=0.85,
                        label=cid if i == 0 else None)
                if record["best_epoch"]:
                    ax.plot(record["best_epoch"], values[record["best_epoch"] - 1], "o", color=colour, ms=4)
        if not metric.endswith("_acc"):
            ax.set_yscale("log")
        ax.set_xlabel("epoch")
        ax.set_ylabel(METRIC_TITLES.get(metric, metric))
        ax.grid(True, alpha=0.3)
    axes[0][0].legend(frameon=False, fontsize=9, title="one line per seed, dot = best epoch", title_fontsize=8)
    fig.tight_layout()
    return fig


def write_figures(results: Sequence[dict], out_dir: str | Path, metrics: Sequence[str] = METRICS) -> list[Path]:
    """The report's eight figures as PNG (110 dpi) and SVG: ``out_dir/mlp{d}_{metric}.{png,svg}``."""
    import matplotlib
    from matplotlib.figure import Figure  # no pyplot: no GUI backend, nothing to close

    out_dir = Path(out_dir)
    depths = sorted({_parts(r)[0] for r in _ok(results)})
    written = []
    with matplotlib.rc_context({"svg.hashsalt": "mlp_core", "svg.fonttype": "none"}):
        for depth in depths:
            for metric in metrics:
                # A fixed layout with room for the legend on the right: one draw per file.
                fig = Figure(figsize=(8.4, 4.4))
                fig.subplots_adjust(left=0.085, right=0.77, bottom=0.11, top=0.92)
                plot_curves(results, depth, metric, ax=fig.subplots())
                for ext, kw in (("png", {"dpi": 110}), ("svg", {"metadata": {"Date": None}})):
                    buf = io.BytesIO()
                    fig.savefig(buf, format=ext, **kw)
                    path = out_dir / f"mlp{depth}_{metric}.{ext}"
                    atomic_write_bytes(path, buf.getvalue())
                    written.append(path)
    return written


# --------------------------------------------------------------------------- #
# Writing the report
# --------------------------------------------------------------------------- #


def _num(value, digits: int) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def _pm(mean, std, digits: int) -> str:
    if mean is None:
        return "n/a"
    return f"{mean:.{digits}f}" + ("" if std is None else f" ± {std:.{digits}f}")


def _signed(value, digits: int) -> str:
    return "" if value is None else f"{value:+.{digits}f}"


_DIGITS = {"test_acc": 2, "train_acc": 2, "test_loss": 4, "train_loss": 4}


def _csv_text(rows: list[dict], columns: Sequence[str]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow(["" if row.get(c) is None else
                         (" ".join(map(str, row[c])) if isinstance(row.get(c), list) else
                          (f"{row[c]:.10g}" if isinstance(row.get(c), float) else row[c])) for c in columns])
    return buf.getvalue()


SUMMARY_COLUMNS = (
    ["config_id", "depth", "loss", "activation", "output_activation", "runs", "not_ok", "seeds"]
    + [f"{p}{m}{s}" for m in METRICS for p, s in (("", "_mean"), ("", "_std"), ("report_", ""), ("diff_", ""))]
    + ["best_epoch_mean", "stop_epoch_mean", "within_tolerance"]
)
TIMING_COLUMNS = ("depth", "activation", "runs", "seconds_per_epoch_mean", "seconds_per_epoch_std",
                  "fastest_epoch_seconds", "epochs_mean", "train_seconds_mean", "wall_seconds_mean")


def results_markdown(results: Sequence[dict], reference: dict | None = None) -> str:
    """results.md: the 18-row table (best epoch) and the best-vs-final comparison."""
    rows = summary_table(results, "best", reference)
    n_seeds = max((r["runs"] for r in rows), default=0)
    lines = [
        "# Results beside the report",
        "",
        f"Metrics at the best epoch (the one early stopping selects on its monitored metric), "
        f"mean ± sample std over {n_seeds} seed(s); accuracies in %, losses as the report computes them. "
        "'Report' is the report's value, Δ = ours - report.",
        "",
        "| Model | Loss | Activation | Runs | Test acc | Report | Δ | Test loss | Report | Δ | "
        "Train acc | Report | Δ | Train loss | Report | Δ | Best / stop epoch |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        cells = [f"MLP{r['depth']}", LOSS_TITLES.get(r["loss"], r["loss"]),
                 ACTIVATION_TITLES.get(r["activation"], r["activation"]),
                 f"{r['runs']}" + (f" (+{r['not_ok']} failed)" if r["not_ok"] else "")]
        for m in METRICS:
            d = _DIGITS[m]
            cells += [_pm(r[f"{m}_mean"], r[f"{m}_std"], d), _num(r[f"report_{m}"], d), _signed(r[f"diff_{m}"], d)]
        cells.append(f"{_num(r['best_epoch_mean'], 1)} / {_num(r['stop_epoch_mean'], 1)}")
        lines.append("| " + " | ".join(cells) + " |")
    with_ref = [r for r in rows if r["within_tolerance"] is not None]
    outside = [r for r in with_ref if not r["within_tolerance"]]
    lines += [
        "",
        f"**{len(with_ref) - len(outside)} of {len(with_ref)}** configurations have a mean test accuracy "
        f"within {TOLERANCE_PP} percentage points of the report's.",
    ]
    if outside:
        lines += ["", "Outside the tolerance (Δ test accuracy; spread of the seeds):", ""]
        for r in outside:
            spread = (f"seeds {r['test_acc_min']:.2f} to {r['test_acc_max']:.2f}, std {_num(r['test_acc_std'], 2)}"
                      if r["runs"] > 1 else "one seed")
            inside = (r["test_acc_min"] is not None and r["test_acc_min"] <= r["report_test_acc"] <= r["test_acc_max"])
            lines.append(f"- {r['config_id']}: Δ {r['diff_test_acc']:+.2f} pp ({spread}"
                         + ("; the report's value lies within the seeds' range)" if inside else ")"))
    agreement = reference_agreement(results, reference)
    lines += [
        "",
        "## Best epoch or final epoch: which does the report's table show?",
        "",
        "Mean over configurations of |ours - report| (accuracies in percentage points):",
        "",
        "| Epoch | Test acc | Test loss | Train acc | Train loss | Within "
        f"{TOLERANCE_PP} pp |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for selection in ("best", "final"):
        a = agreement[selection]
        lines.append(f"| {selection} | " + " | ".join(_num(a[f'{m}_mean_abs_diff'], _DIGITS[m] + 1) for m in METRICS)
                     + f" | {a['within_tolerance']} of {a['configs']} |")
    closer = _closer(agreement)
    if closer:
        lines += ["", closer]
    failed = [r for r in results if r["status"] != "ok"]
    if failed:
        lines += ["", "## Runs that did not finish", ""]
        for r in failed:
            first = (r.get("error") or "").splitlines()[0] if r.get("error") else ""
            lines.append(f"- {r['run_id']}: {r['status']} after {r['epochs_run']} epochs: {first}")
    return "\n".join(lines) + "\n"


def _closer(agreement: dict) -> str:
    """A sentence on which epoch's metrics match the report better, metric by metric."""
    parts = []
    for m in METRICS:
        b, f = agreement["best"][f"{m}_mean_abs_diff"], agreement["final"][f"{m}_mean_abs_diff"]
        if b is None or f is None:
            continue
        parts.append(f"{METRIC_TITLES[m].split(' (')[0].lower()}: "
                     + ("best" if b < f else "final" if f < b else "tie"))
    return ("Closer to the report, metric by metric: " + "; ".join(parts) + ".") if parts else ""


def timing_markdown(results: Sequence[dict]) -> str:
    """timing.md: seconds per epoch and per run by depth and activation, with the ratios."""
    rows = timing_table(results)
    lines = [
        "# Training time",
        "",
        "Per-epoch training time (forward, backward and update over the training set; evaluation excluded), "
        "measured in worker processes with one BLAS thread each. Workers ran side by side and share the "
        "memory bandwidth, and the machine may have had other load (see the load averages in grid.json), "
        "which slows some epochs more than others: the fastest epoch of each row (as timeit takes the "
        "minimum) is the fairest measure of what a depth or an activation costs, and the ratios below use it.",
        "",
        "| Model | Activation | Runs | s / epoch | Fastest epoch (s) | Epochs | Train s / run | Wall s / run |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| MLP{r['depth']} | {ACTIVATION_TITLES.get(r['activation'], r['activation'])} | {r['runs']} | "
            f"{_pm(r['seconds_per_epoch_mean'], r['seconds_per_epoch_std'], 2)} | {r['fastest_epoch_seconds']:.2f} | "
            f"{r['epochs_mean']:.1f} | {r['train_seconds_mean']:.0f} | {r['wall_seconds_mean']:.0f} |"
        )
    speed = {(r["depth"], r["activation"]): r["fastest_epoch_seconds"] for r in rows}
    ratios = []
    for a in ACTIVATION_ORDER:
        if (1, a) in speed and (2, a) in speed:
            ratios.append(f"MLP2/MLP1 with {ACTIVATION_TITLES[a]}: {speed[(2, a)] / speed[(1, a)]:.2f}x")
    for d in (1, 2):
        for a in ("relu", "sigmoid"):
            if (d, "gelu") in speed and (d, a) in speed:
                ratios.append(f"MLP{d} GELU/{ACTIVATION_TITLES[a]}: {speed[(d, 'gelu')] / speed[(d, a)]:.2f}x")
    if ratios:
        lines += ["", "Ratios of the fastest epochs: " + "; ".join(ratios) + "."]
    return "\n".join(lines) + "\n"


def summary_markdown(results: Sequence[dict], reference: dict | None = None) -> str:
    """summary.md: the report's conclusions, each confirmed or not, with the evidence."""
    rows = summary_table(results, "best", reference)
    with_ref = [r for r in rows if r["within_tolerance"] is not None]
    n_runs = len(results)
    n_ok = len(_ok(results))
    lines = [
        "# Which of the report's conclusions do these numbers confirm?",
        "",
        f"From {n_ok} finished runs ({n_runs - n_ok} diverged or failed) of {len(rows)} configurations; "
        "test accuracies are means over seeds at the best epoch.",
        "",
    ]
    if with_ref:
        within = sum(bool(r["within_tolerance"]) for r in with_ref)
        lines += [f"- Reproduction: {within} of {len(with_ref)} configurations within {TOLERANCE_PP} pp of "
                  "the report's test accuracy (results.md).", ""]
        closer = _closer(reference_agreement(results, reference))
        if closer:
            lines += [f"- {closer}", ""]
    for c in conclusions(results):
        lines.append(f"- **{c['verdict'].capitalize()}**: {c['claim']} {c['evidence']}")
        lines.append("")
    return "\n".join(lines)


def write_report(results_dir: str | Path, reference: str | Path | dict | None = None) -> list[Path]:
    """Write every table, figure and summary of ``results_dir`` (see the module docstring).

    ``reference``: a seed_results.csv-like path or :func:`load_reference`
    dict (default: the report's numbers). Returns the paths written.
    """
    results_dir = Path(results_dir)
    results = load_results(results_dir)
    ref = reference if isinstance(reference, dict) else load_reference(reference)
    written = []

    def put(name: str, text: str) -> None:
        atomic_write_text(results_dir / name, text)
        written.append(results_dir / name)

    put("results.csv", _csv_text(summary_table(results, "best", ref), SUMMARY_COLUMNS))
    put("results_final.csv", _csv_text(summary_table(results, "final", ref), SUMMARY_COLUMNS))
    put("results.md", results_markdown(results, ref))
    put("timing.csv", _csv_text(timing_table(results), TIMING_COLUMNS))
    put("timing.md", timing_markdown(results))
    put("summary.md", summary_markdown(results, ref))
    if _ok(results):
        written += write_figures(results, results_dir / "figures")
    return written


# --------------------------------------------------------------------------- #
# Command line: python -m mlp_core report RESULTS_DIR
# --------------------------------------------------------------------------- #


def add_parser(subparsers) -> None:
    """Add the ``report`` command."""
    p = subparsers.add_parser(
        "report",
        help="write tables, figures, timings and conclusions for a results folder",
        description="Reads RESULTS_DIR/runs/*.json and writes results.{csv,md}, results_final.csv, "
        "timing.{csv,md}, summary.md and figures/ into RESULTS_DIR.",
    )
    p.add_argument("results_dir", type=Path, metavar="RESULTS_DIR", help="folder written by `reproduce`")
    p.add_argument("--reference", type=Path, default=None,
                   help="CSV of the values to compare with (default: the report's seed_results.csv)")
    p.set_defaults(func=cmd_report)


def cmd_report(args) -> int:
    if not args.results_dir.is_dir():
        raise ValueError(f"results folder {args.results_dir} does not exist; give the --out folder of `reproduce`")
    for path in write_report(args.results_dir, args.reference):
        print(f"wrote {path}")
    return 0
