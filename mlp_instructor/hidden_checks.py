"""The hidden checks and their verdicts: trusted code, never shown to a submission.

A :class:`Check` is a name (``item.what``: the rubric gives points per item,
see ``rubric.toml``), a description, an operation of the sandboxed worker
(:data:`mlp_instructor.worker.OPERATIONS`) and a builder of its inputs from a
seeded random generator. The judge sends the operation and the inputs to the
sandbox, gets the outputs back, runs the *same* operation on the instructor's
solution (this repository's ``mlp_core``) in its own process, and compares:
expected values, tolerances and this file never enter the sandbox.

The inputs are drawn per submission (the seed mixes the submission's content
hash), so the public tests' numbers, or another student's outputs, are of no
use. Every builder makes outputs that are clearly non-zero (gradients
included), and :func:`self_test` checks at start-up that the reference
passes every check, that a reply of zeros fails every check, and that the
reference's analytic gradients match numerical ones.

Failure messages say what is wrong (shape, NaN, wrong values and by how
much, a numpy overflow warning, an exception and where) without quoting the
inputs or the expected values.

Adding a check: a builder returning ``(params, arrays)`` for an existing
operation, a :class:`Check` in :func:`build_checks`, and a rubric item (or a
pattern of an existing one) covering its name. A new kind of computation
needs an operation in ``worker.py`` too (as ``sequential``, ``evaluate`` and
``train_epoch`` have).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Callable

import numpy as np

import mlp_core as reference_solution
import mlp_core.training
from mlp_core.gradcheck import numerical_gradient  # the instructor's own: this runs in the trusted process

from .worker import run_operation

Request = tuple[dict, dict]  # (params, arrays) of one operation


@dataclass(frozen=True)
class Compare:
    """Compare the output ``key`` (called ``label`` in messages) with the reference's."""

    key: str
    label: str
    rtol: float = 1e-5
    atol: float = 1e-7
    exact: bool = False  # booleans and integers: equal, element by element


@dataclass(frozen=True)
class Check:
    name: str  # "<rubric item>.<what>", e.g. "linear.backward"
    what: str  # shown to the student: what was computed, never with which numbers
    op: str
    build: Callable[[np.random.Generator], Request]
    compare: tuple[Compare, ...] = ()
    #: Fail when numpy warns (overflow, invalid value) while the student's code runs.
    no_warnings: bool = False
    #: Seconds for this check (None: the rubric's default).
    timeout: float | None = None
    #: A verdict of its own, for checks without a reference output: (request, outputs, secrets) -> message or "".
    verdict: Callable[[Request, dict, dict], str] | None = None
    #: Inputs the judge keeps (never sent), given to ``verdict``.
    secret_keys: tuple[str, ...] = field(default=())


# ----------------------------------------------------------------------------
# Builders: the inputs of each check, from a seeded generator
# ----------------------------------------------------------------------------


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
    the seed; random draws alone left it to chance (about 7 % of seeds had no
    such entry).
    """
    flat = x.reshape(-1)  # a view: x is contiguous
    picks = rng.choice(flat.size, 4, replace=False)
    flat[picks] = np.array([-1.0, -1.0, 1.0, 1.0]) * rng.uniform(750, 1000, size=4)


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
        if scale >= 100:  # a check of numerical stability: make sure a naive exp overflows
            _plant_beyond_exp_range(rng, x)
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


def network_request(activation, loss, sizes, **loss_options):
    def build(rng):
        layers, arrays = [], {}
        for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            index = len(layers)
            layers.append({"kind": "Linear", "dtype": "float64"})
            arrays[f"{index}.W"] = _normal(rng, n_in, n_out, scale=0.8)
            arrays[f"{index}.b"] = _normal(rng, n_out, scale=0.3)
            if i < len(sizes) - 2:
                layers.append({"kind": activation})
        arrays["x"] = _normal(rng, 6, sizes[0])
        arrays["labels"] = rng.permutation(np.arange(6) % sizes[-1]).astype(np.int64)
        return {"layers": layers, "loss": {"kind": loss} | loss_options}, arrays
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
    update, instead of before, changes the epoch's accuracy: otherwise that
    mistake would pass on some submissions' seeds and not on others' (random
    draws alone hid it on 14 % and 33 % of seeds for the two checks below).
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


# ----------------------------------------------------------------------------
# The end-to-end check: the judge keeps the test labels
# ----------------------------------------------------------------------------

#: MLP1 trained by the worker's loop over the student's train_epoch; the solution reaches 87.3%.
TRAINING = {"hidden": 256, "classes": 10, "init_std": 0.01, "lr": 0.01, "momentum": 0.9,
            "batch_size": 100, "epochs": 5, "init_seed": 0, "order_seed": 1}
END_TO_END_THRESHOLD = 0.80


def end_to_end_verdict(request: Request, outputs: dict, secrets: dict) -> str:
    labels = secrets["test_y"]
    predictions = outputs.get("predictions")
    if predictions is None or predictions.shape != labels.shape:
        return "the training run returned no prediction per test image"
    accuracy = float(np.mean(predictions == labels))
    if accuracy >= END_TO_END_THRESHOLD:
        return ""
    return (f"MLP1 (ReLU, cross-entropy) reached {100 * accuracy:.1f}% test accuracy after {TRAINING['epochs']} "
            f"epochs on the fixed MNIST subset; it must reach {100 * END_TO_END_THRESHOLD:.0f}%")


def end_to_end_request(data: dict) -> Callable[[np.random.Generator], Request]:
    """The fixed subset (``data``: train_x, train_y, test_x, test_y); test_y is kept by the judge."""
    def build(rng):
        return dict(TRAINING), data
    return build


# ----------------------------------------------------------------------------
# The checks
# ----------------------------------------------------------------------------

_Y = (Compare("y", "the output"),)
_DX = (Compare("dx", "the returned gradient dE/dx"),)
_LIN_BACK = (Compare("W_grad", "W.grad (x^T G, summed over the batch)"), Compare("b_grad", "b.grad (G summed over the batch)"),
             Compare("dx", "the returned dE/dx (G W^T)"))
_VALUE = (Compare("value", "the loss value"),)
_SGD = (Compare("p0", "the weights after the steps"), Compare("p1", "the biases after the steps"))
_STOP = (Compare("decisions", "the stop decisions", exact=True), Compare("best", "best"),
         Compare("best_epoch", "best_epoch", exact=True))


def _network_compare(sizes) -> tuple[Compare, ...]:
    out = [Compare("value", "the loss value")]
    for i in range(len(sizes) - 1):
        out += [Compare(f"{2 * i}.W_grad", f"the gradient of layer {2 * i}'s W", rtol=1e-5),
                Compare(f"{2 * i}.b_grad", f"the gradient of layer {2 * i}'s b", rtol=1e-5)]
    return tuple(out)


def _sequential_compare(sizes) -> tuple[Compare, ...]:
    out = [Compare("y", "the output of forward"), Compare("dx", "the gradient backward returns (dE/dx)")]
    for i in range(len(sizes) - 1):
        out += [Compare(f"{2 * i}.W_grad", f"the gradient of layer {2 * i}'s W"),
                Compare(f"{2 * i}.b_grad", f"the gradient of layer {2 * i}'s b")]
    return tuple(out)


def _epoch_compare(sizes) -> tuple[Compare, ...]:
    out = [Compare("train_loss", "the mean of the batch losses", rtol=1e-6),
           Compare("train_acc", "the mean of the batch accuracies (before each update)", rtol=1e-6)]
    for i in range(len(sizes) - 1):
        out += [Compare(f"{2 * i}.W", f"layer {2 * i}'s W after the epoch", rtol=1e-6),
                Compare(f"{2 * i}.b", f"layer {2 * i}'s b after the epoch", rtol=1e-6)]
    return tuple(out)


_EVALUATE = (Compare("loss", "the loss over the split"), Compare("accuracy", "the accuracy over the split"))


def build_checks(mnist_subset: dict | None) -> list[Check]:
    """Every hidden check; the end-to-end one needs the MNIST subset (None leaves it out)."""
    checks = [
        Check("linear.forward", "Linear.forward of a batch (y = x W + b)", "layer",
              linear_request(6, 4, 7, backward=False), _Y),
        Check("linear.forward_float32", "Linear.forward in float32 (keep the dtype)", "layer",
              linear_request(5, 3, 4, dtype="float32", backward=False), (Compare("y", "the output", rtol=1e-4, atol=1e-5),)),
        Check("linear.backward", "Linear.backward of a batch: W.grad, b.grad, dE/dx", "layer",
              linear_request(5, 3, 9), _LIN_BACK),
        Check("linear.backward_first_layer", "Linear.backward with compute_input_grad=False (returns None, fills W.grad)",
              "layer", linear_request(4, 2, 3, input_grad=False),
              (Compare("dx_is_none", "whether it returned None", exact=True), Compare("W_grad", "W.grad"))),
        Check("sigmoid.forward", "Sigmoid.forward", "layer", activation_request("Sigmoid", (4, 5), backward=False), _Y),
        Check("sigmoid.backward", "Sigmoid.backward (dE/dy * y (1 - y))", "layer",
              activation_request("Sigmoid", (3, 6), backward=True), _DX),
        Check("sigmoid.large_inputs", "Sigmoid forward and backward on inputs up to +-1000 (no overflow warning)",
              "layer", activation_request("Sigmoid", (4, 8), backward=True, large=True), _Y + _DX, no_warnings=True),
        Check("relu.forward", "ReLU.forward", "layer", activation_request("ReLU", (4, 5), backward=False, gap=0.1), _Y),
        Check("relu.backward", "ReLU.backward (the gradient passes where x > 0 only)", "layer",
              activation_request("ReLU", (3, 6), backward=True, gap=0.1), _DX),
        Check("gelu.forward", "GELU.forward (tanh approximation)", "layer",
              activation_request("GELU", (4, 5), backward=False), _Y),
        Check("gelu.backward", "GELU.backward", "layer", activation_request("GELU", (3, 6), backward=True), _DX),
        Check("l2.forward", "L2Loss.forward (1/(2N) sum ||x - t||^2)", "loss",
              loss_request("L2Loss", 5, 4, backward=False), _VALUE),
        Check("l2.backward", "L2Loss.backward ((x - t) / N)", "loss", loss_request("L2Loss", 6, 3, backward=True),
              _VALUE + _DX),
        Check("softmax.values", "softmax of a batch of scores (rows of probabilities)", "softmax",
              softmax_request(5, 4, scale=3.0), _Y),
        Check("softmax.large_scores", "softmax of scores of size up to ~1000 (no overflow warning, no NaN)",
              "softmax", softmax_request(4, 6, scale=600.0), _Y, no_warnings=True),
        Check("cross_entropy.forward", "SoftmaxCrossEntropyLoss.forward (mean over the batch)", "loss",
              loss_request("SoftmaxCrossEntropyLoss", 5, 4, backward=False, scale=2.0), _VALUE),
        Check("cross_entropy.backward", "SoftmaxCrossEntropyLoss.backward ((softmax(x) - t) / N)", "loss",
              loss_request("SoftmaxCrossEntropyLoss", 6, 5, backward=True, scale=2.0), _VALUE + _DX),
        Check("cross_entropy.large_logits", "SoftmaxCrossEntropyLoss on logits of size up to ~1000 "
              "(subtract the max first; no overflow warning)", "loss",
              loss_request("SoftmaxCrossEntropyLoss", 4, 5, backward=True, scale=600.0), _VALUE + _DX, no_warnings=True),
        Check("hinge.forward", "HingeLoss.forward with the default margin 5", "loss",
              loss_request("HingeLoss", 5, 4, backward=False, scale=3.0), _VALUE),
        Check("hinge.forward_other_margin", "HingeLoss(margin=2).forward (use self.margin)", "loss",
              loss_request("HingeLoss", 5, 4, backward=False, scale=3.0, margin=2.0), _VALUE),
        Check("hinge.backward", "HingeLoss(margin=1.5).backward", "loss",
              loss_request("HingeLoss", 6, 4, backward=True, scale=2.0, margin=1.5), _VALUE + _DX),
        Check("sgd.plain", "SGD.step without momentum, 1 step (p <- p - lr grad)", "sgd", sgd_request(1, lr=0.1), _SGD),
        Check("sgd.momentum", "SGD.step with momentum 0.9, 3 steps (v <- momentum v + grad; p <- p - lr v)", "sgd",
              sgd_request(3, lr=0.1, momentum=0.9), _SGD),
        Check("sgd.weight_decay", "SGD.step with weight_decay 0.5 and decay_biases=False, 2 steps", "sgd",
              sgd_request(2, lr=0.1, weight_decay=0.5, decay_biases=False), _SGD),
        Check("sgd.momentum_and_weight_decay", "SGD.step with momentum 0.8 and weight_decay 0.1, 4 steps", "sgd",
              sgd_request(4, lr=0.05, momentum=0.8, weight_decay=0.1), _SGD),
        Check("early_stopping.max", "EarlyStopping(mode='max').step on a scripted sequence of accuracies",
              "early_stopping", early_stopping_request("max"), _STOP),
        Check("early_stopping.min_delta", "EarlyStopping(mode='min', min_delta=0.05).step on a scripted sequence of losses",
              "early_stopping", early_stopping_request("min"), _STOP),
        Check("network_gradcheck.relu_cross_entropy", "whole-network gradient: Linear-ReLU-Linear-ReLU-Linear, cross-entropy",
              "network", network_request("ReLU", "SoftmaxCrossEntropyLoss", [5, 7, 6, 4]), _network_compare([5, 7, 6, 4])),
        Check("network_gradcheck.sigmoid_l2", "whole-network gradient: Linear-Sigmoid-Linear, L2 loss",
              "network", network_request("Sigmoid", "L2Loss", [4, 6, 3]), _network_compare([4, 6, 3])),
        Check("network_gradcheck.gelu_hinge", "whole-network gradient: Linear-GELU-Linear, hinge loss (margin 1)",
              "network", network_request("GELU", "HingeLoss", [5, 6, 4], margin=1.0), _network_compare([5, 6, 4])),
        Check("sequential.forward_backward", "Sequential of Linear-ReLU-Linear-ReLU-Linear: forward, then backward "
              "(the output, the returned dE/dx and every layer's gradients)", "sequential",
              sequential_request("ReLU", [5, 7, 6, 4], 8), _sequential_compare([5, 7, 6, 4])),
        Check("sequential.sigmoid", "Sequential of Linear-Sigmoid-Linear: forward, then backward", "sequential",
              sequential_request("Sigmoid", [4, 6, 3], 5), _sequential_compare([4, 6, 3])),
        Check("training.evaluate", "evaluate: loss and accuracy over 23 samples in batches of 10 "
              "(the last batch, of 3, counts by its size)", "evaluate",
              evaluate_request("ReLU", "SoftmaxCrossEntropyLoss", [5, 8, 4], 23, 10), _EVALUATE),
        Check("training.evaluate_l2", "evaluate with the L2 loss, one batch larger than the split", "evaluate",
              evaluate_request("Sigmoid", "L2Loss", [4, 6, 3], 17, 1000), _EVALUATE),
        Check("training.train_epoch", "train_epoch: one epoch of 47 samples in batches of 10, SGD with momentum 0.9 "
              "(the mean batch loss and accuracy, and the weights after the epoch)", "train_epoch",
              train_epoch_request("ReLU", "SoftmaxCrossEntropyLoss", [5, 8, 4], 47, 10, lr=0.1, momentum=0.9),
              _epoch_compare([5, 8, 4])),
        Check("training.train_epoch_hinge", "train_epoch with the hinge loss (margin 5), plain SGD, batches of 16",
              "train_epoch", train_epoch_request("GELU", "HingeLoss", [4, 6, 3], 40, 16, lr=0.05),
              _epoch_compare([4, 6, 3])),
    ]
    if mnist_subset is not None:
        checks.append(Check(
            "end_to_end.mlp1_mnist",
            f"end to end: MLP1 (ReLU, cross-entropy) trained {TRAINING['epochs']} epochs on a fixed MNIST subset "
            f"must reach {100 * END_TO_END_THRESHOLD:.0f}% test accuracy",
            "train_mlp1", end_to_end_request(mnist_subset), verdict=end_to_end_verdict, secret_keys=("test_y",),
        ))
    return checks


# ----------------------------------------------------------------------------
# Verdicts
# ----------------------------------------------------------------------------


def split_secrets(check: Check, request: Request) -> tuple[Request, dict]:
    """(what is sent to the sandbox, what the judge keeps)."""
    params, arrays = request
    kept = {k: arrays[k] for k in check.secret_keys}
    sent = {k: v for k, v in arrays.items() if k not in check.secret_keys}
    return (params, sent), kept


def reference_outputs(check: Check, request: Request) -> tuple[dict, list[str]]:
    """The instructor's solution on the same inputs (in the trusted process): outputs and numpy warnings."""
    if check.verdict is not None:
        return {}, []
    return run_operation(reference_solution, check.op, *request)


def compare(check: Check, outputs: dict, expected: dict) -> str:
    """'' when every compared output matches, else what is wrong (no values quoted)."""
    for c in check.compare:
        want = expected[c.key]
        got = outputs.get(c.key)
        if got is None:
            return f"{c.label}: nothing came back"
        if got.shape != want.shape:
            return f"{c.label}: shape {got.shape}, expected {want.shape}"
        if c.exact:
            if not np.array_equal(got, want):
                wrong = int(np.sum(got != want))
                return f"{c.label}: {wrong} of {want.size} wrong"
            continue
        got = got.astype(np.float64)
        if not np.all(np.isfinite(got)):
            return f"{c.label}: contains NaN or infinity"
        if not np.all(np.abs(got - want) <= c.atol + c.rtol * np.abs(want)):
            err = float(np.linalg.norm(got - want) / max(float(np.linalg.norm(want)), 1e-12))
            return f"{c.label}: wrong values (relative error {err:.1e})"
    return ""


def verdict(check: Check, request: Request, header: dict, outputs: dict, expected: dict, secrets: dict) -> str:
    """'' when the check passes, else the reason it failed, for the student's feedback."""
    if not header.get("ok"):
        where = header.get("where") or ""
        error = str(header.get("error", "an unknown error"))[:400]
        return f"raised {error}" + (f" [{where[:200]}]" if where else "")
    if check.no_warnings:
        warned = [w[:200] for w in header.get("warnings", []) if isinstance(w, str) and w.startswith("RuntimeWarning")]
        if warned:
            return f"numpy warned while your code ran ({warned[0]}): use a numerically stable formula"
    if check.verdict is not None:
        return check.verdict(request, outputs, secrets)
    return compare(check, outputs, expected)


# ----------------------------------------------------------------------------
# Self-test of the checks (run once per grading run, before anyone is graded)
# ----------------------------------------------------------------------------


def _reference_gradient_errors(check: Check, request: Request) -> list[tuple[str, float]]:
    """Relative errors of the reference's analytic gradients against numerical ones."""
    params, arrays = request
    arrays = {k: v.copy() for k, v in arrays.items()}
    outputs = run_operation(reference_solution, check.op, params, arrays)[0]

    def f() -> float:
        out = run_operation(reference_solution, check.op, params, arrays)[0]
        if check.op in ("layer", "sequential"):
            return float(np.sum(out["y"] * arrays["G"]))
        return float(out["value"])

    pairs = []
    if check.op == "layer" and "G" in arrays:
        pairs = [("dx", "x")] if "dx" in outputs else []
        pairs += [("W_grad", "W"), ("b_grad", "b")] if "W_grad" in outputs else []
    elif check.op == "loss" and "dx" in outputs:
        pairs = [("dx", "x")]
    elif check.op == "network":
        pairs = [(k, k.replace("_grad", "")) for k in outputs if k.endswith("_grad")]
    elif check.op == "sequential":
        pairs = [("dx", "x")] + [(k, k.replace("_grad", "")) for k in outputs if k.endswith("_grad")]
    errors = []
    for out_key, in_key in pairs:
        numeric = numerical_gradient(f, arrays[in_key])
        analytic = outputs[out_key]
        errors.append((out_key, float(np.linalg.norm(analytic - numeric) /
                                      max(np.linalg.norm(analytic) + np.linalg.norm(numeric), 1e-12))))
    return errors


def self_test(checks: list[Check], seed: int = 0) -> list[str]:
    """Problems with the checks themselves (an empty list when they are sound).

    For each check: the reference passes it; a reply of zeros (every output
    zeroed, booleans False) fails it; every compared float output is clearly
    non-zero; and in float64, the reference's analytic gradients match
    central differences (relative error < 1e-6).
    """
    problems = []
    for index, check in enumerate(checks):
        if check.verdict is not None:
            continue
        request = check.build(np.random.default_rng([seed, index]))
        expected, warned = reference_outputs(check, request)
        if verdict(check, request, {"ok": True, "warnings": warned}, expected, expected, {}):
            problems.append(f"{check.name}: the reference solution fails it")
        zeros = {k: np.zeros_like(v) for k, v in expected.items()}
        if not verdict(check, request, {"ok": True}, zeros, expected, {}):
            problems.append(f"{check.name}: a reply of zeros passes it")
        for c in check.compare:
            value = expected[c.key]
            if not c.exact and float(np.max(np.abs(value))) < 1e-3:
                problems.append(f"{check.name}: the expected {c.label} is (nearly) zero")
        if check.op in ("layer", "loss", "network", "sequential") and request[0].get("layer", {}).get("dtype", "float64") == "float64":
            for key, err in _reference_gradient_errors(check, request):
                if err > 1e-6:
                    problems.append(f"{check.name}: the reference's {key} differs from the numerical gradient ({err:.1e})")
    return problems
