"""The inputs of each hidden check, drawn from a seeded generator.

A builder is a function ``rng -> (params, arrays)``: ``params`` (JSON) say
what the worker builds (a layer, a loss, a network, an optimizer and their
options), ``arrays`` hold the numbers. The judge seeds ``rng`` per submission
and per check, so every student gets other inputs, and the same student the
same inputs on a regrade.

Every builder makes inputs whose outputs are clearly non-zero, and some make
sure a known mistake shows whatever the seed: the stability checks hold
entries beyond exp's range (:func:`_plant_beyond_exp_range`; the cross-entropy's, a
label whose probability underflows to 0: :func:`_plant_label_far_below`), and the
``train_epoch`` inputs are drawn until measuring accuracy after each update
(instead of before) changes the result (:func:`_accuracy_depends_on_when_it_is_measured`).
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Callable

import numpy as np

import mlp_core as reference_solution
import mlp_core.training
from mlp_instructor.worker import run_operation

Request = tuple[dict, dict]  # (params, arrays) of one operation
Builder = Callable[[np.random.Generator], Request]


def _normal(rng, *shape, scale=1.0):
    return rng.standard_normal(shape) * scale


def _away_from_zero(rng, *shape, gap=0.1, scale=1.0):
    """Normal values pushed at least ``gap`` away from 0 (ReLU's kink)."""
    x = _normal(rng, *shape, scale=scale)
    return np.sign(x) * (np.abs(x) + gap)


def _plant_beyond_exp_range(rng, x: np.ndarray) -> None:
    """Set two entries of ``x`` (in place) to -750..-1000 and two to +750..+1000.

    exp overflows float64 beyond 709.78 (float32 beyond 88.72), so a naive
    Sigmoid (exp(-x)) or softmax (exp(x)) overflows on these inputs whatever
    the seed; with random draws alone, a seed that happened to draw no entry
    that large would let the naive formula pass.
    """
    flat = x.reshape(-1)  # a view: x is contiguous
    picks = rng.choice(flat.size, 4, replace=False)
    flat[picks] = np.array([-1.0, -1.0, 1.0, 1.0]) * rng.uniform(750, 1000, size=4)


def _plant_label_far_below(rng, x: np.ndarray, labels: np.ndarray) -> None:
    """In one row of ``x`` (in place), put the label's score at -750..-1000 and another class's at +750..+1000.

    The label's softmax probability, e^(-1500) or less, is 0 in float64, so a
    cross-entropy that takes the log of the softmax gets -log(0) = inf where
    the right value is finite (about the gap between the two scores).
    """
    row = int(rng.integers(len(labels)))
    other = (labels[row] + 1 + int(rng.integers(x.shape[1] - 1))) % x.shape[1]
    x[row, labels[row]], x[row, other] = -rng.uniform(750, 1000), rng.uniform(750, 1000)


def linear_request(n_in, n_out, batch, *, dtype="float64", backward=True, input_grad=True):
    def build(rng):
        arrays = {"W": _normal(rng, n_in, n_out), "b": _normal(rng, n_out), "x": _normal(rng, batch, n_in)}
        if backward:
            arrays["G"] = _normal(rng, batch, n_out)
        return {"layer": {"kind": "Linear", "dtype": dtype, "compute_input_grad": input_grad}}, arrays
    return build


def activation_request(kind, shape, *, backward, scale=2.0, gap=0.0, large=False):
    def build(rng):
        x = _away_from_zero(rng, *shape, gap=gap, scale=scale) if gap else _normal(rng, *shape, scale=scale)
        if large:  # half the entries between 50 and 1000 in size: exp(-x) overflows
            mask = rng.random(shape) < 0.5
            x[mask] = np.sign(x[mask]) * rng.uniform(50, 1000, size=mask.sum())
            _plant_beyond_exp_range(rng, x)
        arrays = {"x": x}
        if backward:
            arrays["G"] = _normal(rng, *shape)
        return {"layer": {"kind": kind}}, arrays
    return build


def loss_request(kind, batch, classes, *, backward, scale=1.0, margin=None):
    def build(rng):
        spec = {"kind": kind} | ({"margin": margin} if margin is not None else {})
        labels = rng.permutation(np.arange(batch) % classes)
        x = _normal(rng, batch, classes, scale=scale)
        if scale >= 100:  # a check of numerical stability: make sure a naive exp overflows, and a log of 0 shows
            _plant_beyond_exp_range(rng, x)
            _plant_label_far_below(rng, x, labels)
        return ({"loss": spec, "backward": backward}, {"x": x, "labels": labels.astype(np.int64)})
    return build


def softmax_request(batch, classes, *, scale):
    def build(rng):
        x = _normal(rng, batch, classes, scale=scale)
        if scale >= 100:  # a check of numerical stability: make sure a naive exp overflows
            _plant_beyond_exp_range(rng, x)
        return {}, {"x": x}
    return build


def sgd_request(steps, **options):
    def build(rng):
        arrays = {"p0": _normal(rng, 3, 4), "p1": _normal(rng, 4), "g0": _normal(rng, 3, 4), "g1": _normal(rng, 4)}
        return {"count": 2, "steps": steps, "options": options}, arrays
    return build


def early_stopping_request(mode):
    """A scripted sequence: improvements, a value equal to the best (not an improvement), then a plateau."""
    def build(rng):
        patience = int(rng.integers(2, 4))
        sign = 1.0 if mode == "max" else -1.0
        min_delta = 0.0 if mode == "max" else 0.05
        step = lambda: sign * rng.uniform(0.06, 0.1)  # noqa: E731 - always an improvement by > min_delta
        small = lambda: sign * rng.uniform(0.0, 0.04)  # noqa: E731 - below min_delta (counts only when 0)
        values = [rng.uniform(0.3, 0.5)]
        best = values[0]
        for _ in range(int(rng.integers(2, 4))):
            best = best + step()
            values += [best, best - step() / 2]  # an improvement, then a worse value
        values.append(best + (0.0 if mode == "max" else small()))  # equal (max) or too small a gain (min)
        values += [best - step() * rng.uniform(0.1, 1) for _ in range(patience)]
        options = {"patience": patience, "mode": mode, "min_delta": min_delta}
        return {"options": options}, {"values": np.array(values)}
    return build


def _random_network(rng, activation, sizes, *, first_input_grad=True, w_scale=0.8):
    """Layer specs and weights ("<index>.W", "<index>.b") of Linear-activation-...-Linear."""
    layers, arrays = [], {}
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        index = len(layers)
        layers.append({"kind": "Linear", "dtype": "float64", "compute_input_grad": first_input_grad or i > 0})
        arrays[f"{index}.W"] = _normal(rng, n_in, n_out, scale=w_scale)
        arrays[f"{index}.b"] = _normal(rng, n_out, scale=0.3)
        if i < len(sizes) - 2:
            layers.append({"kind": activation})
    return layers, arrays


def network_request(activation, loss, sizes, **loss_options):
    """A whole network and a loss on 6 samples: the loss value and every layer's gradients."""
    def build(rng):
        layers, arrays = _random_network(rng, activation, sizes)
        arrays["x"] = _normal(rng, 6, sizes[0])
        arrays["labels"] = rng.permutation(np.arange(6) % sizes[-1]).astype(np.int64)
        return {"layers": layers, "loss": {"kind": loss} | loss_options}, arrays
    return build


def sequential_request(activation, sizes, batch):
    """Sequential forward, then backward of a random G = dE/d(output), input gradient included."""
    def build(rng):
        layers, arrays = _random_network(rng, activation, sizes)
        arrays["x"] = _normal(rng, batch, sizes[0])
        arrays["G"] = _normal(rng, batch, sizes[-1])
        return {"layers": layers}, arrays
    return build


def evaluate_request(activation, loss, sizes, count, batch_size):
    """``count`` samples in batches of ``batch_size`` (a smaller last batch when it does not divide)."""
    def build(rng):
        layers, arrays = _random_network(rng, activation, sizes)
        arrays["x"] = _normal(rng, count, sizes[0])
        arrays["labels"] = rng.integers(0, sizes[-1], count).astype(np.int64)
        return {"layers": layers, "loss": {"kind": loss}, "batch_size": batch_size}, arrays
    return build


def train_epoch_request(activation, loss, sizes, count, batch_size, **sgd):
    """One epoch on ``count`` random samples; the shuffling seed is drawn too.

    Inputs are drawn again until recording each batch's accuracy after its
    update, instead of before, changes the epoch's accuracy: on a small random
    network the two often round to the same mean, so without this that mistake
    would pass on some submissions' seeds and not on others'.
    """
    def build(rng):
        for _ in range(_MAX_DRAWS):
            layers, arrays = _random_network(rng, activation, sizes, first_input_grad=False, w_scale=0.5)
            arrays["x"] = _normal(rng, count, sizes[0])
            arrays["labels"] = rng.integers(0, sizes[-1], count).astype(np.int64)
            request = ({"layers": layers, "loss": {"kind": loss}, "batch_size": batch_size, "sgd": sgd,
                        "order_seed": int(rng.integers(2**31))}, arrays)
            if _accuracy_depends_on_when_it_is_measured(request):
                return request
        raise RuntimeError(f"no input in {_MAX_DRAWS} draws tells accuracy before and after the update apart")
    return build


#: How many times a request builder may draw before it gives up (a bug in the check, never a student's).
_MAX_DRAWS = 100


def _train_epoch_measuring_after_update(model, loss_fn, optimizer, images, labels, batch_size, rng):
    """The solution's epoch with one mistake: each batch's accuracy measured after its update."""
    losses, accuracies = [], []
    for x, y in reference_solution.training.iterate_minibatches(images, labels, batch_size, rng):
        losses.append(loss_fn(model.forward(x), y))
        model.backward(loss_fn.backward())
        optimizer.step()
        accuracies.append(reference_solution.training.accuracy(model.forward(x), y))
    return float(np.mean(losses)), float(np.mean(accuracies))


def _accuracy_depends_on_when_it_is_measured(request: Request) -> bool:
    """True if the solution's train_acc differs from the one measured after each update, on ``request``."""
    params, arrays = request
    mistaken = SimpleNamespace(**vars(reference_solution))
    mistaken.train_epoch = _train_epoch_measuring_after_update
    right = run_operation(reference_solution, "train_epoch", params, {k: v.copy() for k, v in arrays.items()})[0]
    wrong = run_operation(mistaken, "train_epoch", params, {k: v.copy() for k, v in arrays.items()})[0]
    return not np.isclose(right["train_acc"], wrong["train_acc"])


def dropout_request(p: float, shape=(64, 100)):
    """x with every entry at least 0.5 from 0 (a 0 in the output can only be a dropped entry), G random, a seed."""
    def build(rng):
        arrays = {"x": _away_from_zero(rng, *shape, gap=0.5), "G": _away_from_zero(rng, *shape, gap=0.1)}
        return {"p": p, "seed": int(rng.integers(2**31))}, arrays
    return build


def confusion_matrix_request(count: int, classes: int, *, num_classes: int | None = None, accuracy: float = 0.6):
    """``count`` labels of ``classes`` classes (every class at least twice, so that pairs repeat), a share
    ``accuracy`` of the predictions right and the rest random; ``num_classes`` (default ``classes``) may be
    larger, leaving rows and columns that stay 0."""
    def build(rng):
        labels = rng.permutation(np.arange(count) % classes)
        wrong = rng.random(count) >= accuracy
        predictions = np.where(wrong, rng.integers(0, classes, count), labels)
        return ({"num_classes": num_classes or classes},
                {"labels": labels.astype(np.int64), "predictions": predictions.astype(np.int64)})
    return build


#: The four statistics of each activation layer (mlp_core.layer_stats.STATISTICS, as the grader asks for them).
ACTIVATION_STATISTICS = ("mean", "std", "inactive", "dead")


def activation_statistics_request(activation, sizes, batch, *, threshold, silenced=2, bias=30.0):
    """A random network whose hidden layers each have ``silenced`` units driven far out of their range
    (bias -``bias``: a ReLU unit that never fires, a Sigmoid or GELU unit whose slope is ~0), so that the
    share of dead units is not 0; pre-activations of scale ~2 elsewhere.

    Drawn again until, in every activation layer, some unit passes no gradient for some samples but not for
    all (a unit counted dead when inactive for *some* sample is then wrong) and, if any slope can be negative
    (GELU), some slope is below -threshold (a signed slope taken for no gradient is then wrong).
    """
    def build(rng):
        for _ in range(_MAX_DRAWS):
            layers, arrays = _random_network(rng, activation, sizes, w_scale=1.0)
            for index, spec in enumerate(layers[:-1]):
                if spec["kind"] == "Linear":
                    arrays[f"{index}.b"][rng.choice(arrays[f"{index}.b"].size, silenced, replace=False)] = -bias
            arrays["x"] = _normal(rng, batch, sizes[0], scale=2.0)
            if _mistakes_show(layers, arrays, threshold, negative_slopes=activation == "GELU"):
                return {"layers": layers, "threshold": threshold, "statistics": list(ACTIVATION_STATISTICS)}, arrays
        raise RuntimeError(f"no input in {_MAX_DRAWS} draws shows the mistakes activation_statistics checks for")
    return build


def _mistakes_show(layers: list[dict], arrays: dict, threshold: float, *, negative_slopes: bool) -> bool:
    """Whether the inputs tell the two mistakes of :func:`activation_statistics_request` from the right answer."""
    model = reference_solution.Sequential(*(_reference_layer(spec, arrays, f"{i}.") for i, spec in enumerate(layers)))
    out = arrays["x"]
    for layer in model.layers:
        out = layer.forward(out)
        if isinstance(layer, reference_solution.Linear):
            continue
        slope = layer.backward(np.ones_like(out))
        passes = np.abs(slope) > threshold
        if not np.any(passes.any(axis=0) & ~passes.all(axis=0)):
            return False
        if negative_slopes and not np.any(slope < -threshold):
            return False
    return True


def _reference_layer(spec: dict, arrays: dict, prefix: str):
    if spec["kind"] != "Linear":
        return getattr(reference_solution, spec["kind"])()
    layer = reference_solution.Linear(*arrays[f"{prefix}W"].shape, dtype=np.float64)
    layer.W.data[...], layer.b.data[...] = arrays[f"{prefix}W"], arrays[f"{prefix}b"]
    return layer
