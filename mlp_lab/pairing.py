"""Why L2 costs Sigmoid more than ReLU: what reaches the hidden layer, measured on trained nets (notebook 10).

The reference's grid has L2 cost MLP1 with Sigmoid hidden units about 1.9
points of test accuracy against cross-entropy, and MLP1 with ReLU about 0.1
(results/report/results.md). The loss's gradient at the logits alone cannot
explain a *pairing*: it is the same function of z whatever the hidden units
are. What differs is what the hidden layer receives. For MLP1,
a = x W1 + b1 (N, H), h = f(a), z = h W2 + b2 (N, K), per sample

    g = dC/dz (N, K)                 L2: z - t; cross-entropy: softmax(z) - t
    b = g W2^T (N, H)                the signal arriving at the hidden outputs
    delta = b * f'(a) (N, H)         dC/da, what the hidden weights learn from
    dE/dW1 = x^T delta / N           (D, H)

so the hidden layer's learning signal is the output gradient passed back
through W2 and then multiplied, unit by unit, by the activation's derivative:
sigma'(a) = h (1 - h) <= 1/4 for Sigmoid, 0 or 1 for ReLU.

:func:`hidden_signal` computes these per sample on a probe batch;
:func:`summarise` reduces them to quantiles (all samples, correct ones,
misclassified ones). ``python -m mlp_lab.pairing --out results/sigmoid_l2_pairing.json``
retrains the four MLP1 runs {Sigmoid, ReLU} x {L2, cross-entropy} of seed 0
exactly as the committed grid did (each run's config is read from
``results/report/runs/``, and its history must come out equal to the
committed one, which the script checks and records), measures the probe at
initialisation and after every epoch and writes the summaries of the epochs
in KEPT (each run's summaries[i] belongs to its epochs[i]); notebook 10 reads
that file.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from mlp_core.atomic import atomic_write_text
from mlp_core.layers import Linear
from mlp_core.network import Sequential

from .analysis import recorded_run, softmax_ce_output_gradient
from .config import TrainConfig, load_splits
from .records import first_difference, read_run

#: The four runs compared: MLP1, seed 0, of the committed report grid.
PAIRS = tuple(f"mlp1-{loss}-{activation}" for activation in ("sigmoid", "relu") for loss in ("l2", "cross_entropy"))
#: Quantiles kept of every per-sample (or per-unit) quantity.
QUANTILES = (0.1, 0.5, 0.9)
#: A hidden unit counts as "passing little" on a sample when f'(a) is below this share of f's largest slope.
LOW_SLOPE = 0.1
PROBE = 2000
#: Epochs kept in the file: every one of the first ten, then every fifth, and the best and the last.
KEPT = tuple(range(11)) + tuple(range(15, 101, 5))


def hidden_signal(model: Sequential, x: np.ndarray, labels: np.ndarray, loss: str) -> dict[str, np.ndarray]:
    """Per-sample signals of a one-hidden-layer net (Linear, activation, Linear) on the batch x (N, D).

    Returns float64 arrays: ``wrong`` (N,) bools (misclassified); ``out_true`` (N,) |dC/dz_t|;
    ``out_norm`` (N,) ||dC/dz||; ``back_norm`` (N,) ||g W2^T||; ``hidden_norm`` (N,) ||delta||;
    ``slope`` (N, H) f'(a), the hidden activation's derivative; ``slope_max`` its largest possible value.
    ``loss`` is "l2" (C = 1/2 ||z - t||^2) or "cross_entropy"; the weights are read, never changed.
    """
    linear = [layer for layer in model.layers if isinstance(layer, Linear)]
    if len(linear) != 2 or len(model.layers) != 3:
        raise ValueError(f"hidden_signal needs a Linear-activation-Linear net (MLP1); got {len(model.layers)} layers")
    first, second = (np.asarray(layer.W.data, np.float64) for layer in linear)
    bias1, bias2 = (np.asarray(layer.b.data, np.float64) for layer in linear)
    pre = np.asarray(x, np.float64) @ first + bias1                      # (N, H)
    kind = type(model.layers[1]).__name__.lower()
    if kind == "sigmoid":
        hidden = 0.5 * (1.0 + np.tanh(0.5 * pre))
        slope, slope_max = hidden * (1.0 - hidden), 0.25
    elif kind == "relu":
        hidden = np.maximum(pre, 0.0)
        slope, slope_max = (pre > 0).astype(np.float64), 1.0
    else:
        raise ValueError(f"hidden_signal knows Sigmoid and ReLU hidden units, not {type(model.layers[1]).__name__}")
    logits = hidden @ second + bias2                                     # (N, K)
    rows = np.arange(len(labels))
    if loss == "l2":
        target = np.zeros_like(logits)
        target[rows, labels] = 1.0
        out = logits - target
    elif loss == "cross_entropy":
        out = softmax_ce_output_gradient(logits, labels)
    else:
        raise ValueError(f"loss must be 'l2' or 'cross_entropy', not {loss!r}")
    others = logits.copy()
    others[rows, labels] = -np.inf
    back = out @ second.T                                                # (N, H)
    return {
        "wrong": logits[rows, labels] <= others.max(axis=1),
        "out_true": np.abs(out[rows, labels]),
        "out_norm": np.linalg.norm(out, axis=1),
        "back_norm": np.linalg.norm(back, axis=1),
        "hidden_norm": np.linalg.norm(back * slope, axis=1),
        "slope": slope,
        "slope_max": np.float64(slope_max),
    }


def _quantiles(values: np.ndarray) -> list[float] | None:
    return [float(q) for q in np.quantile(values, QUANTILES)] if values.size else None


def summarise(signal: dict[str, np.ndarray]) -> dict:
    """Quantiles (QUANTILES) of each per-sample signal for all, correct and misclassified samples, and slope facts.

    ``hidden_share_wrong``: the share of sum ||delta||^2 (the hidden layer's squared learning signal) that
    the misclassified samples supply; ``slope_low``: share of (sample, unit) pairs with f'(a) below
    LOW_SLOPE of its largest value; ``gain``: median over samples of ||delta|| / ||g W2^T||, what the
    derivative leaves of the signal that reached the hidden layer.
    """
    wrong = signal["wrong"]
    groups = {"all": np.ones_like(wrong), "correct": ~wrong, "wrong": wrong}
    summary = {"wrong_share": float(wrong.mean()), "count": int(wrong.size)}
    for name in ("out_true", "out_norm", "back_norm", "hidden_norm"):
        summary[name] = {group: _quantiles(signal[name][rows]) for group, rows in groups.items()}
    energy = signal["hidden_norm"] ** 2
    summary["hidden_share_wrong"] = float(energy[wrong].sum() / energy.sum()) if energy.sum() > 0 else 0.0
    slope = signal["slope"]
    summary["slope"] = {group: _quantiles(slope[rows].ravel()) for group, rows in groups.items()}
    summary["slope_mean"] = float(slope.mean())
    summary["slope_low"] = float(np.mean(slope < LOW_SLOPE * signal["slope_max"]))
    with np.errstate(divide="ignore", invalid="ignore"):
        gain = signal["hidden_norm"] / signal["back_norm"]
    summary["gain"] = float(np.median(gain[np.isfinite(gain)]))
    return summary


def measure_run(record_path: Path, splits: dict, probe: int = PROBE) -> dict:
    """Retrain one committed run with its own config, summarising the probe at init and after every epoch."""
    committed = read_run(record_path)
    if committed is None:
        raise FileNotFoundError(f"no run record at {record_path}: it is one of results/report/runs/")
    config = committed.config
    x, labels = splits["train"][0][:probe], splits["train"][1][:probe]
    start = time.perf_counter()
    _, history, summaries = recorded_run(config, splits,
                                         lambda model, loss_fn: summarise(hidden_signal(model, x, labels, config.loss)))
    difference = first_difference(history["test_acc"], committed.history["test_acc"], "test_acc")
    return {
        "config_id": committed.config_id, "seed": committed.seed, "config": config.to_dict(),
        "test_acc": history["test_acc"], "train_acc": history["train_acc"],
        "best_epoch": history.best_epoch, "stop_epoch": history.num_epochs,
        "same_as_committed": difference is None, "difference": difference,
        "epochs": (kept := sorted({e for e in KEPT if e < len(summaries)} | {history.best_epoch, history.num_epochs})),
        "summaries": [_rounded(summaries[e]) for e in kept], "minutes": round((time.perf_counter() - start) / 60, 1),
    }


def _rounded(value):
    """Floats to 4 significant digits, inside dicts and lists (the file stays small; quantiles need no more)."""
    if isinstance(value, float):
        return float(f"{value:.4g}")
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mlp_lab.pairing", description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="results/sigmoid_l2_pairing.json", help="the JSON written (atomically)")
    parser.add_argument("--runs", default="results/report/runs", help="the committed runs whose configs are retrained")
    parser.add_argument("--probe", type=int, default=PROBE, help="training images measured after every epoch")
    parser.add_argument("--max-epochs", type=int, default=None, help="cut every run short (a smoke test)")
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args(argv)
    runs_dir = Path(args.runs)
    if not runs_dir.is_dir():
        parser.error(f"--runs {runs_dir}: no such folder (the committed grid's runs are in results/report/runs)")
    out = {"written_by": "python -m mlp_lab.pairing " + " ".join(argv if argv is not None else sys.argv[1:]),
           "started_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
           "machine": platform.processor() or platform.machine(), "probe": args.probe,
           "quantiles": list(QUANTILES), "low_slope": LOW_SLOPE, "runs": {}}
    splits = None
    for config_id in PAIRS:
        path = runs_dir / f"{config_id}-seed0.json"
        if args.max_epochs is not None:  # a smoke test: the same run, cut short (then it is not the committed one)
            committed = json.loads(path.read_text())
            committed["config"]["max_epochs"] = args.max_epochs
            path = Path(args.out).with_suffix(f".{config_id}.tmp.json")
            path.write_text(json.dumps(committed))
        if splits is None:
            splits = load_splits(TrainConfig.from_dict(json.loads(path.read_text())["config"]), args.data_dir)
        result = measure_run(path, splits, args.probe)
        if args.max_epochs is not None:
            path.unlink()
        out["runs"][config_id] = result
        print(f"{config_id}: {result['stop_epoch']} epochs in {result['minutes']} min, best test accuracy "
              f"{100 * max(result['test_acc']):.2f}%, same history as the committed run: {result['same_as_committed']}",
              flush=True)
    atomic_write_text(args.out, json.dumps(out, separators=(",", ":")).replace('{"config_id"', '\n{"config_id"') + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
