"""The checks of the notebook exercises: functions a student writes in a notebook cell, run in the sandbox.

Each :data:`EXERCISES` entry names a notebook, a function whose body holds a
solution region there, its rubric item and how the check calls it.
:func:`build_exercise_checks` makes one :class:`~.verdicts.Check` per entry
with the worker's ``notebook`` operation; its requests carry the
*instructor's* source of the function, taken from the instructor's notebook
(the single source of truth, :func:`mlp_instructor.grading.notebook_code.extract`),
so :func:`~.verdicts.reference_outputs` and :func:`~.verdicts.self_test`
run the solution as they run ``mlp_core``'s; the judge swaps in the student's
source (:func:`student_request`) before a request enters the sandbox.

The compared outputs are the flattened returned value
(:func:`mlp_instructor.worker.exercises.flatten`): which arrays it has is the
same for every seed, so they are read off one draw of the solution.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from mlp_instructor.grading.notebook_code import extract, exercise_functions

from .requests import Request, network_request
from .verdicts import Check, Compare, reference_outputs

LOSSES, ACTIVATIONS = ("l2", "cross_entropy", "hinge"), ("sigmoid", "relu", "gelu")


@dataclass(frozen=True)
class NotebookExercise:
    """One notebook exercise's check: ``function`` of ``notebook``, called on what ``inputs`` draws."""

    notebook: str  # the file name, e.g. "02_activations.ipynb"
    function: str
    item: str  # the rubric item (and the check's name before the dot)
    what: str  # the call, as the feedback names it
    inputs: Callable[[np.random.Generator], tuple[list, dict]]  # rng -> (argument specs, arrays)
    provide: tuple[str, ...] = ()  # names the worker defines (worker.exercises)


def _no_arguments(rng) -> tuple[list, dict]:
    return [], {}


def _one_array(shape, scale=2.0, zeros=0, gap=0.0):
    """One argument x: normal entries (at least ``gap`` from 0), ``zeros`` of them exactly 0."""
    def draw(rng):
        x = rng.standard_normal(shape) * scale
        x = np.sign(x) * (np.abs(x) + gap)
        x.reshape(-1)[rng.choice(x.size, zeros, replace=False)] = 0.0
        return [{"array": "x"}], {"x": x}
    return draw


def _array_and_p(rng) -> tuple[list, dict]:
    return [{"array": "x"}, {"value": float(rng.uniform(0.1, 0.8))}], {"x": rng.standard_normal((3, 5)) * 2}


def _grid_rows(rng) -> list[dict]:
    """The 18 rows (depth x loss x activation) of a made-up comparison table, in a random order."""
    rows = [{"depth": d, "loss": loss, "activation": a, "test_acc_mean": float(rng.uniform(85, 99)),
             "test_acc_std": float(rng.uniform(0.05, 0.5))} for d in (1, 2) for loss in LOSSES for a in ACTIVATIONS]
    return [rows[i] for i in rng.permutation(len(rows))]


def _rows_without_two_mlp2_pairs(rng) -> tuple[list, dict]:
    """depth_gains: two (loss, activation) pairs have no MLP2 row (7 pairs have both depths)."""
    rows = _grid_rows(rng)
    drop = rng.choice([r for r in range(len(rows)) if rows[r]["depth"] == 2], 2, replace=False)
    return [{"value": [r for i, r in enumerate(rows) if i not in drop]}], {}


def _rows_with_two_losses_missing(rng) -> tuple[list, dict]:
    """loss_gaps: of two (depth, activation) pairs the L2 row, of another the hinge row, is missing (3 complete)."""
    rows = _grid_rows(rng)
    pairs = [(d, a) for d in (1, 2) for a in ACTIVATIONS]
    picks = rng.choice(len(pairs), 3, replace=False)
    gone = {(*pairs[picks[0]], "l2"), (*pairs[picks[1]], "l2"), (*pairs[picks[2]], "hinge")}
    return [{"value": [r for r in rows if (r["depth"], r["activation"], r["loss"]) not in gone]}], {}


def _rows_and_a_depth(rng) -> tuple[list, dict]:
    """gap_below_next_worst: the other depth holds a row below every row of this one but Sigmoid + L2."""
    rows, depth = _grid_rows(rng), int(rng.integers(1, 3))
    others = [r for r in rows if r["depth"] == depth and (r["loss"], r["activation"]) != ("l2", "sigmoid")]
    lowest = min(r["test_acc_mean"] for r in others)
    trap = next(r for r in rows if r["depth"] != depth and (r["loss"], r["activation"]) != ("l2", "sigmoid"))
    trap["test_acc_mean"] = lowest - float(rng.uniform(1, 5))
    return [{"value": rows}, {"value": depth}], {}


def _network_batch(rng) -> tuple[list, dict]:
    """weight_gradient_norms: a Linear-Sigmoid-Linear-Sigmoid-Linear of the student's mlp_core, cross-entropy."""
    params, arrays = network_request("Sigmoid", "SoftmaxCrossEntropyLoss", [6, 8, 7, 4])(rng)
    return [{"network": {"layers": params["layers"]}}, {"loss": params["loss"]}, {"array": "x"},
            {"array": "labels"}], arrays


def _logits_and_labels(rng) -> tuple[list, dict]:
    z = rng.standard_normal((7, 5)) * 3
    return [{"array": "z"}, {"array": "labels"}], {"z": z, "labels": rng.permutation(np.arange(7) % 5).astype(np.int64)}


def _sweep(rng) -> tuple[list, dict]:
    """margin_sweep: a base config, three margins; recorded_run is the worker's stand-in."""
    base = {"margin": 5.0, "seed": int(rng.integers(0, 9)), "activation": str(rng.choice(ACTIVATIONS)),
            "max_epochs": int(rng.integers(2, 6))}
    margins = [float(m) for m in rng.choice([0.2, 0.5, 1.0, 2.0, 10.0], 3, replace=False)]
    return [{"config": base}, {"token": "splits"}, {"value": margins}, {"token": "measure"}], {}


EXERCISES: tuple[NotebookExercise, ...] = (
    NotebookExercise("01_linear_layer.ipynb", "gradients_by_hand", "nb01_gradients_by_hand",
             "gradients_by_hand(): dE/dW, dE/db, dE/dX of the example", _no_arguments),
    NotebookExercise("02_activations.ipynb", "sigmoid_slope", "nb02_sigmoid_slope", "sigmoid_slope(x) on a batch",
             _one_array((4, 6), scale=3.0)),
    NotebookExercise("02_activations.ipynb", "relu_slope", "nb02_relu_slope",
                     "relu_slope(x) on a batch with exact zeros",
             _one_array((4, 6), zeros=3, gap=0.1)),
    NotebookExercise("02_activations.ipynb", "gelu_slope", "nb02_gelu_slope", "gelu_slope(x) on a batch",
             _one_array((4, 6), scale=2.0)),
    NotebookExercise("03_losses.ipynb", "l2_gradient_by_hand", "nb03_l2_gradient_by_hand",
             "l2_gradient_by_hand(): dE/dx of the example", _no_arguments),
    NotebookExercise("03_losses.ipynb", "ce_gradient_by_hand", "nb03_ce_gradient_by_hand",
             "ce_gradient_by_hand(): dE/dx of the example", _no_arguments),
    NotebookExercise("03_losses.ipynb", "hinge_gradient_by_hand", "nb03_hinge_gradient_by_hand",
             "hinge_gradient_by_hand(): dE/dx of the example", _no_arguments),
    NotebookExercise("06_generalisation_and_tuning.ipynb", "dropout_mean", "nb06_dropout_mean",
             "dropout_mean(x, p) on a batch", _array_and_p),
    NotebookExercise("06_generalisation_and_tuning.ipynb", "dropout_variance", "nb06_dropout_variance",
             "dropout_variance(x, p) on a batch", _array_and_p),
    NotebookExercise("06_generalisation_and_tuning.ipynb", "dropout_gradient_by_hand", "nb06_dropout_gradient_by_hand",
             "dropout_gradient_by_hand(): dE/dx of the example", _no_arguments),
    NotebookExercise("08_full_comparison.ipynb", "depth_gains", "nb08_depth_gains",
             "depth_gains(rows) on a made-up table, some MLP2 rows missing", _rows_without_two_mlp2_pairs),
    NotebookExercise("08_full_comparison.ipynb", "loss_gaps", "nb08_loss_gaps",
             "loss_gaps(rows) on a made-up table, some losses missing", _rows_with_two_losses_missing),
    NotebookExercise("08_full_comparison.ipynb", "gap_below_next_worst", "nb08_gap_below_next_worst",
             "gap_below_next_worst(rows, depth) on a made-up table of both depths", _rows_and_a_depth),
    NotebookExercise("09_vanishing_gradients.ipynb", "weight_gradient_norms", "nb09_weight_gradient_norms",
             "weight_gradient_norms(model, loss_fn, x, labels) on a network of your mlp_core", _network_batch),
    NotebookExercise("10_sigmoid_with_l2.ipynb", "output_gradients", "nb10_output_gradients",
             "output_gradients(z, labels) on a batch of logits", _logits_and_labels),
    NotebookExercise("11_output_activation_and_margin.ipynb", "margin_sweep", "nb11_margin_sweep",
             "margin_sweep(base, splits, margins, measure) with a stand-in for recorded_run", _sweep,
             provide=("recorded_run",)),
)


def _label(key: str) -> str:
    """What a flattened output is, in words: ``result[2].1`` -> "item 2 of entry 3's value of the returned value"."""
    text, parts = "the returned value", re.findall(r"\[(\d+)\]|\.(\d+)|#(\w+)", key[len("result"):])
    for entry, item, mark in parts:
        if entry:
            text = f"entry {int(entry) + 1} (by sorted key) of {text}"
        elif item:
            text = f"item {int(item) + 1} of {text}"
        elif mark == "key":
            text = text.replace("entry", "the key of entry", 1)
        else:
            text = f"the number of {mark} of {text}"
    return text


def _request(exercise: NotebookExercise, source: str) -> Callable[[np.random.Generator], Request]:
    def build(rng):
        args, arrays = exercise.inputs(rng)
        return {"notebook": exercise.notebook, "function": exercise.function, "source": source,
                "filename": f"notebooks/{exercise.notebook}", "args": args, "provide": list(exercise.provide)}, arrays
    return build


def build_exercise_checks(notebooks: Path) -> list[Check]:
    """One check per notebook exercise, the solution's source read from the instructor's ``notebooks`` folder.

    Raises:
        ValueError: the folder's exercises (functions with a solution region)
            are not exactly those of :data:`EXERCISES`, or one cannot be extracted.
    """
    found = {(nb, f) for nb, functions in exercise_functions(notebooks).items() for f in functions}
    listed = {(e.notebook, e.function) for e in EXERCISES}
    if found != listed:
        unchecked = ", ".join(f"{f} ({nb})" for nb, f in sorted(found - listed)) or "none"
        gone = ", ".join(f"{f} ({nb})" for nb, f in sorted(listed - found)) or "none"
        raise ValueError(f"the notebook exercises in {notebooks} and the checks of hidden_checks/exercises.py "
                         f"differ: without a check: {unchecked}; checked but not in the notebooks: {gone}")
    checks = []
    for exercise in EXERCISES:
        source = extract(Path(notebooks) / exercise.notebook, exercise.function, exercise.provide).source
        build = _request(exercise, source)
        sample, _ = reference_outputs(Check("", "", "notebook", build), build(np.random.default_rng(0)))
        order = sorted(sample, key=lambda k: (re.sub(r"#\w+$", "", k), "#" not in k, k))  # an entry's key first
        compare = tuple(Compare(key, _label(key), rtol=1e-6, atol=1e-9, exact="#" in key) for key in order)
        notebook = exercise.notebook.split("_", 1)[0]
        checks.append(Check(f"{exercise.item}.values", f"{exercise.what} (notebook {notebook}; graded alone: the "
                            "definitions of its cell and the notebook's imports)", "notebook", build, compare))
    return checks


def student_request(request: Request, source: str) -> Request:
    """``request`` with the student's source of the function in place of the solution's (a new params dict)."""
    params, arrays = request
    return {**params, "source": source}, arrays
