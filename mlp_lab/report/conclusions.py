"""The reference's conclusions, each checked against the results: confirmed, partly, or not.

Each claim is one function of the numbers it compares, returning
{'claim', 'verdict', 'evidence'}. Accuracies are means over seeds
(``acc[(depth, loss, activation)]``, in %), speeds the fastest epoch of a
(depth, activation) cell in seconds (``speed[(depth, activation)]``, see
:func:`~mlp_lab.report.tables.timing_table`).
"""

from __future__ import annotations

import math
import statistics
from typing import Sequence

from ..records import RunRecord
from ..reference import ACTIVATION_ORDER, DEPTHS, LOSS_ORDER, TOLERANCE_PP
from .tables import (
    ACTIVATION_TITLES, LOSS_TITLES, epochs_to_reach, finished, summary_table, timing_table,
)

Accuracy = dict[tuple[int, str, str], float]
Speed = dict[tuple[int, str], float]
#: The activations the reference set against Sigmoid.
MODERN = ("relu", "gelu")


def conclusions(results: Sequence[RunRecord], selection: str = "best") -> list[dict]:
    """Check the reference's conclusions against the results.

    Returns a list of {'claim', 'verdict', 'evidence'}; verdict is
    'confirmed' (every comparison agrees), 'partly confirmed' (some do),
    'not confirmed' (none does) or 'no data'; the evidence gives the counts.
    Comparisons use the mean test accuracy over seeds at the ``selection``
    epoch; "about the same" means within TOLERANCE_PP percentage points;
    speed uses each run's fastest epoch (see :func:`timing_table`).
    """
    acc = {(r["depth"], r["loss"], r["activation"]): r["test_acc_mean"]
           for r in summary_table(results, selection) if r["test_acc_mean"] is not None}
    # The fastest epoch of each cell: what a depth or activation costs, with the least disturbance.
    speed = {(t["depth"], t["activation"]): t["fastest_epoch_seconds"] for t in timing_table(results)}
    claims = [
        depth_accuracy(acc),
        depth_speed(speed),
        activation_accuracy(acc),
        activation_convergence(finished(results)),
        activation_cost(speed),
        loss_comparison(acc),
        sigmoid_l2_worst(acc),
    ]
    for claim in claims:
        if claim["verdict"] == "no data":
            claim["evidence"] = "(these results lack the configurations this claim compares)"
    return claims


def verdict(hits: int, total: int) -> str:
    """'confirmed' if all ``total`` comparisons agree, 'partly confirmed' if some, else 'not confirmed'."""
    if total == 0:
        return "no data"
    if hits == total:
        return "confirmed"
    return "partly confirmed" if hits else "not confirmed"


def _claim(claim: str, hits: int, total: int, evidence: str) -> dict:
    return {"claim": claim, "verdict": verdict(hits, total), "evidence": evidence}


def depth_accuracy(acc: Accuracy) -> dict:
    """MLP2 beats MLP1 except with Sigmoid (where it does not)."""
    def pairs(keys_a, keys_b):
        return [(a, b) for a, b in zip(keys_a, keys_b) if a in acc and b in acc]

    non_sig = pairs([(1, l, a) for l in LOSS_ORDER for a in MODERN], [(2, l, a) for l in LOSS_ORDER for a in MODERN])
    sig = pairs([(1, l, "sigmoid") for l in LOSS_ORDER], [(2, l, "sigmoid") for l in LOSS_ORDER])
    hits = sum(acc[b] > acc[a] for a, b in non_sig) + sum(acc[b] <= acc[a] for a, b in sig)
    total = len(non_sig) + len(sig)
    return _claim(
        "Depth: except with Sigmoid, MLP2 is slightly more accurate than MLP1 (and with Sigmoid it is not).",
        hits, total,
        "MLP2 - MLP1 test accuracy (pp): " + ", ".join(
            f"{LOSS_TITLES[a[1]]}+{ACTIVATION_TITLES[a[2]]} {acc[b] - acc[a]:+.2f}" for a, b in non_sig + sig
        ) + f"; {hits} of {total} as claimed.",
    )


def depth_speed(speed: Speed) -> dict:
    """An MLP2 epoch takes more than 1.2 times an MLP1 epoch."""
    ratios = [(a, speed[(2, a)] / speed[(1, a)]) for a in ACTIVATION_ORDER if (1, a) in speed and (2, a) in speed]
    return _claim(
        "Depth: MLP2 trains noticeably slower than MLP1.",
        sum(r > 1.2 for _, r in ratios), len(ratios),
        "fastest epoch, MLP2 / MLP1: " + ", ".join(
            f"{ACTIVATION_TITLES[a]} {r:.2f}x" for a, r in ratios) + " (noticeably: more than 1.2x).",
    )


def activation_accuracy(acc: Accuracy) -> dict:
    """ReLU and GELU above Sigmoid at every depth and loss."""
    comps = [((d, l, "sigmoid"), (d, l, a)) for d in DEPTHS for l in LOSS_ORDER for a in MODERN]
    comps = [(s, o) for s, o in comps if s in acc and o in acc]
    hits = sum(acc[o] > acc[s] for s, o in comps)
    worst = [f"MLP{s[0]} {LOSS_TITLES[s[1]]}: {ACTIVATION_TITLES[o[2]]} {acc[o] - acc[s]:+.2f}"
             for s, o in comps if acc[o] <= acc[s]]
    return _claim(
        "Activation: GELU and ReLU beat Sigmoid.",
        hits, len(comps),
        f"{hits} of {len(comps)} (depth, loss) comparisons have ReLU/GELU above Sigmoid"
        + (f"; exceptions (pp vs Sigmoid): {'; '.join(worst)}." if worst else "."),
    )


def activation_convergence(ok: Sequence[RunRecord]) -> dict:
    """ReLU reaches 97% test accuracy sooner than Sigmoid, and within 2 epochs of GELU (medians over seeds)."""
    reach: dict[tuple, list] = {}
    for record in ok:
        reach.setdefault((record.depth, record.loss, record.activation), []).append(epochs_to_reach(record))

    def median_epochs(key):
        values = [math.inf if v is None else v for v in reach.get(key, [])]
        return statistics.median(values) if values else None

    faster, similar, total = 0, 0, 0
    details = []
    for d in DEPTHS:
        for l in LOSS_ORDER:
            s, r, g = (median_epochs((d, l, a)) for a in ACTIVATION_ORDER)
            if None in (s, r, g):
                continue
            total += 1
            faster += r < s
            similar += abs(r - g) <= 2 if math.isfinite(r) and math.isfinite(g) else r == g
            details.append(f"MLP{d} {LOSS_TITLES[l]} {_epochs(s)}/{_epochs(r)}/{_epochs(g)}")
    return _claim(
        "Activation: ReLU converges faster than Sigmoid and about as fast as GELU.",
        faster + similar, 2 * total,
        "median epochs to reach 97% test accuracy, Sigmoid/ReLU/GELU: " + "; ".join(details)
        + f". ReLU faster than Sigmoid in {faster} of {total}; within 2 epochs of GELU in {similar} of {total}.",
    )


def _epochs(value: float) -> str:
    return "never" if math.isinf(value) else f"{value:g}"


def activation_cost(speed: Speed) -> dict:
    """A GELU epoch takes longer than a ReLU and a Sigmoid epoch of the same depth."""
    cost = [(d, speed[(d, "gelu")] / speed[(d, "relu")], speed[(d, "gelu")] / speed[(d, "sigmoid")])
            for d in DEPTHS if all((d, a) in speed for a in ACTIVATION_ORDER)]
    return _claim(
        "Activation: GELU is costlier to compute, so training is slower.",
        sum(gr > 1 and gs > 1 for _, gr, gs in cost), len(cost),
        "fastest epoch, GELU / ReLU and GELU / Sigmoid: " + "; ".join(
            f"MLP{d} {gr:.2f}x and {gs:.2f}x" for d, gr, gs in cost) + ".",
    )


def loss_comparison(acc: Accuracy) -> dict:
    """Hinge within TOLERANCE_PP of cross-entropy, and both above L2, in every (depth, activation) cell."""
    cells = [(d, a) for d in DEPTHS for a in ACTIVATION_ORDER if all((d, l, a) in acc for l in LOSS_ORDER)]
    gaps = [acc[(d, "hinge", a)] - acc[(d, "cross_entropy", a)] for d, a in cells]
    above = [min(acc[(d, "hinge", a)], acc[(d, "cross_entropy", a)]) - acc[(d, "l2", a)] for d, a in cells]
    same = sum(abs(g) <= TOLERANCE_PP for g in gaps)
    better = sum(x > 0 for x in above)
    return _claim(
        "Loss: cross-entropy and hinge perform about the same, slightly better than L2.",
        same + better, 2 * len(cells),
        f"hinge - cross-entropy within {TOLERANCE_PP} pp in {same} of {len(cells)} (depth, activation) "
        f"cells (mean {statistics.fmean(gaps) if gaps else float('nan'):+.2f} pp); both above L2 in {better} of "
        f"{len(cells)} (worse of the two minus L2: "
        + ", ".join(f"MLP{d} {ACTIVATION_TITLES[a]} {x:+.2f}" for (d, a), x in zip(cells, above)) + ").",
    )


def sigmoid_l2_worst(acc: Accuracy) -> dict:
    """Sigmoid with L2 below every other configuration of its depth."""
    hits, details = 0, []
    for d in DEPTHS:
        mine = {k: v for k, v in acc.items() if k[0] == d}
        if (d, "l2", "sigmoid") not in mine or len(mine) < 2:
            continue
        others = sorted(v for k, v in mine.items() if k != (d, "l2", "sigmoid"))
        gap = others[0] - mine[(d, "l2", "sigmoid")]
        hits += gap > 0
        details.append(f"MLP{d}: {mine[(d, 'l2', 'sigmoid')]:.2f}%, {gap:+.2f} pp below the next worst")
    return _claim("Sigmoid with L2 is clearly the worst combination.", hits, len(details), "; ".join(details) + ".")
