"""The reference's eight figures and the side-by-side comparison of two configurations.

Colour is the activation, line style the loss; accuracies are in % and losses
on a log axis (a hinge loss sums up to K - 1 margins, an L2 loss averages
squared errors below 1: they differ by orders of magnitude).

matplotlib is imported at the top: what imports the report step draws with
it (the ``report`` and ``reproduce`` commands, notebook 08), and the command
line, which imports every command, pays for it at start-up. The
engine and the grid's worker processes never import it.
"""

from __future__ import annotations

import io
import math
import statistics
from pathlib import Path
from typing import Iterable, Sequence

import matplotlib
import matplotlib.pyplot as plt
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from mlp_core.atomic import atomic_write_bytes

from ..records import RunRecord
from ..reference import ACTIVATION_ORDER, LOSS_ORDER, METRICS
from .tables import ACTIVATION_TITLES, LOSS_TITLES, METRIC_TITLES, finished, groups, scale

#: Figure style: colour = activation, line style = loss.
ACTIVATION_COLOURS = {"sigmoid": "#1b9e77", "relu": "#d95f02", "gelu": "#7570b3"}
LOSS_STYLES = {"l2": ":", "cross_entropy": "-", "hinge": "--"}


def mean_curve(records: Sequence[RunRecord], metric: str) -> tuple[list[int], list[float]]:
    """(epochs, mean of ``metric`` over the records that reached each epoch); accuracies in %.

    Runs stop at different epochs: each epoch averages the seeds still training.
    """
    series = [r.metric_curve(metric) for r in records if r.history is not None]
    length = max((len(s) for s in series), default=0)
    epochs, means = [], []
    for i in range(length):
        values = [s[i] for s in series if len(s) > i]
        epochs.append(i + 1)
        means.append(statistics.fmean(values) * scale(metric))
    return epochs, means


def _legend(ax, losses: Iterable[str], activations: Iterable[str]) -> None:
    handles = [Line2D([], [], color=ACTIVATION_COLOURS.get(a, "k"), lw=2.2, label=ACTIVATION_TITLES.get(a, a))
               for a in activations]
    handles += [Line2D([], [], color="0.25", lw=1.6, ls=LOSS_STYLES.get(l, "-"), label=LOSS_TITLES.get(l, l))
                for l in losses]
    ax.legend(handles=handles, title="colour: activation\nline: loss", loc="upper left",
              bbox_to_anchor=(1.01, 1.0), frameon=False, fontsize=9, title_fontsize=9)


def _in_order(names: list[str], order: Sequence[str]) -> list[str]:
    """``names`` in the reference's ``order``, any others after them."""
    return [n for n in order if n in names] + [n for n in names if n not in order]


def plot_curves(results: Sequence[RunRecord], depth: int, metric: str, ax=None, *, acc_floor: float = 90.0):
    """One of the reference's figures: ``metric`` against the epoch for every loss x activation.

    Args:
        results: run records; only finished runs of this ``depth`` (1 or 2) are drawn,
            each configuration as the mean over its seeds (:func:`mean_curve`).
        metric: 'test_acc', 'test_loss', 'train_acc', 'train_loss' (or 'val_*').
        ax: a matplotlib Axes to draw on (default: a new figure).
        acc_floor: accuracy axes start here (%), so the differences near 100% show,
            when every curve ends above it; the axis label then says so.

    Colour is the activation, line style the loss; losses use a log axis,
    because hinge and L2 losses differ by orders of magnitude. Returns the Axes.
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(7.2, 4.2))
    drawn = {cid: finished(rs) for cid, rs in groups(results).items() if rs[0].depth == depth}
    drawn = {cid: rs for cid, rs in drawn.items() if rs}
    if not drawn:
        raise ValueError(f"no finished runs of MLP{depth} in these results")
    lowest = math.inf
    finals = []
    losses, acts = [], []
    for records in drawn.values():
        loss, act = records[0].loss, records[0].activation
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
    n_seeds = max(len(rs) for rs in drawn.values())
    seeds = f"mean of {n_seeds} seeds" if n_seeds > 1 else "one seed"
    ax.set_title(f"MLP{depth}: {METRIC_TITLES.get(metric, metric).split(' (')[0].lower()} per epoch ({seeds})",
                 fontsize=11)
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel(label)
    ax.grid(True, which="major", alpha=0.3)
    _legend(ax, _in_order(losses, LOSS_ORDER), _in_order(acts, ACTIVATION_ORDER))
    return ax


def plot_pair(results: Sequence[RunRecord], config_a: str, config_b: str,
              metrics: Sequence[str] = ("test_acc", "test_loss")):
    """Two configurations side by side: every seed of each, one panel per metric.

    ``config_a``, ``config_b``: config ids like 'mlp1-l2-sigmoid'. Returns the Figure.
    """
    by_config = groups(results)
    for cid in (config_a, config_b):
        if cid not in by_config or not finished(by_config[cid]):
            raise ValueError(f"no finished run of {cid!r}; available: {', '.join(by_config)}")
    fig, axes = plt.subplots(1, len(metrics), figsize=(5.2 * len(metrics), 3.8), squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        for cid, colour in ((config_a, "#d95f02"), (config_b, "#1b9e77")):
            for i, record in enumerate(finished(by_config[cid])):
                values = [v * scale(metric) for v in record.metric_curve(metric)]
                ax.plot(range(1, len(values) + 1), values, color=colour, lw=1.3, alpha=0.85,
                        label=cid if i == 0 else None)
                if record.best_epoch:
                    ax.plot(record.best_epoch, values[record.best_epoch - 1], "o", color=colour, ms=4)
        if not metric.endswith("_acc"):
            ax.set_yscale("log")
        ax.set_xlabel("epoch")
        ax.set_ylabel(METRIC_TITLES.get(metric, metric))
        ax.grid(True, alpha=0.3)
    axes[0][0].legend(frameon=False, fontsize=9, title="one line per seed, dot = best epoch", title_fontsize=8)
    fig.tight_layout()
    return fig


def write_figures(results: Sequence[RunRecord], out_dir: str | Path, metrics: Sequence[str] = METRICS) -> list[Path]:
    """The reference's eight figures as PNG (110 dpi) and SVG: ``out_dir/mlp{d}_{metric}.{png,svg}``.

    Drawn on a bare :class:`~matplotlib.figure.Figure` (no pyplot: no GUI
    backend, nothing to close), with a fixed SVG hash salt and no date, so
    the same runs give the same bytes.
    """
    out_dir = Path(out_dir)
    depths = sorted({r.depth for r in finished(results)})
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
