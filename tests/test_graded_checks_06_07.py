"""The hidden checks of notebooks 06 and 07 (Dropout, confusion_matrix, activation_statistics), judged in process.
# instructor-only

For many seeds (each submission draws its own inputs): the solution passes
every check, right answers written another way pass, a reply of zeros fails,
and each typical mistake fails the check meant for it, with a reason that
says what is wrong. The sandbox is not needed for this: the worker's
operations run here on a namespace that stands for a student's mlp_core.
"""
# instructor-only

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

import mlp_core
from mlp_instructor.hidden_checks.catalogue import build_checks
from mlp_instructor.hidden_checks.verdicts import reference_outputs, verdict
from mlp_instructor.worker import run_operation

CHECKS = {c.name: c for c in build_checks(None)}
NEW = [name for name in CHECKS if name.split(".")[0] in ("dropout", "confusion_matrix", "activation_statistics")]
SEEDS = range(40)


def judge(student, name: str, seed: int) -> str:
    """The verdict of check ``name`` on the ``student`` namespace, with the inputs of ``seed``."""
    check = CHECKS[name]
    request = check.build(np.random.default_rng([seed, 7]))
    expected, _ = reference_outputs(check, request)
    params, arrays = request
    try:
        outputs, warned = run_operation(student, check.op, params, {k: v.copy() for k, v in arrays.items()})
    except Exception as error:  # noqa: BLE001 - what the sandbox would report
        return verdict(check, request, {"ok": False, "error": f"{type(error).__name__}: {error}"}, {}, expected, {})
    return verdict(check, request, {"ok": True, "warnings": warned}, outputs, expected, {})


def student(**replaced) -> SimpleNamespace:
    """mlp_core with some of its names replaced, as a submission's mlp_core would have them."""
    return SimpleNamespace(**{**vars(mlp_core), **replaced})


def test_there_are_checks_for_the_three_new_functions_with_non_zero_answers():
    assert {name.split(".")[0] for name in NEW} == {"dropout", "confusion_matrix", "activation_statistics"}
    assert len(NEW) == 8


@pytest.mark.parametrize("name", NEW)
def test_the_solution_passes_and_a_reply_of_zeros_fails_whatever_the_seed(name):
    check = CHECKS[name]
    for seed in SEEDS:
        assert judge(mlp_core, name, seed) == "", (name, seed)
        request = check.build(np.random.default_rng([seed, 7]))
        expected, _ = reference_outputs(check, request)
        outputs, _ = run_operation(mlp_core, check.op, *request)
        zeros = {k: np.zeros_like(v) for k, v in outputs.items()}
        assert verdict(check, request, {"ok": True}, zeros, expected, {}), (name, seed)


# --------------------------------------------------------------------------- #
# Dropout: right answers drawn another way pass; typical mistakes fail
# --------------------------------------------------------------------------- #


class KeepBelowOneMinusP(mlp_core.Dropout):
    """Right: kept where u < 1 - p."""

    def forward(self, x):
        if not self.training:
            self.cache = None
            return x
        self.cache = (self.rng.random(x.shape) < 1 - self.p) / (1 - self.p)
        return x * self.cache


class Binomial(mlp_core.Dropout):
    """Right: a binomial draw per entry, the mask kept as booleans."""

    def forward(self, x):
        if not self.training:
            self.cache = None
            return x
        self.cache = self.rng.binomial(1, 1 - self.p, size=x.shape).astype(bool)
        return np.where(self.cache, x / (1 - self.p), 0.0)

    def backward(self, grad_output):
        return grad_output if self.cache is None else np.where(self.cache, grad_output / (1 - self.p), 0.0)


@pytest.mark.parametrize("variant", [KeepBelowOneMinusP, Binomial])
def test_a_mask_drawn_another_right_way_passes(variant):
    for name in [n for n in NEW if n.startswith("dropout.")]:
        for seed in SEEDS:
            assert judge(student(Dropout=variant), name, seed) == "", (variant.__name__, name, seed)


def _dropout(forward=None, backward=None):
    return type("Mistaken", (mlp_core.Dropout,), {k: v for k, v in (("forward", forward), ("backward", backward)) if v})


def _train_only(draw):
    """A forward that returns x in evaluation mode and x * draw(self, x) (kept as the mask) in training mode."""
    def forward(self, x):
        if not self.training:
            self.cache = None
            return x
        self.cache = draw(self, x)
        return x * self.cache
    return forward


MISTAKES = {
    "no inverted scaling": (_dropout(_train_only(lambda self, x: (self.rng.random(x.shape) >= self.p) * 1.0)),
                            "dropout.training_forward", "divides them by 1 - p"),
    "p taken as the keep probability": (
        _dropout(_train_only(lambda self, x: (self.rng.random(x.shape) < self.p) / self.p)),
        "dropout.training_forward", "not to keep it"),
    "the global generator": (
        _dropout(_train_only(lambda self, x: (np.random.random(x.shape) >= self.p) / (1 - self.p))),
        "dropout.training_forward", "self.rng"),
    "one mask for every row": (
        _dropout(_train_only(lambda self, x: (self.rng.random(x.shape[1]) >= self.p) / (1 - self.p))),
        "dropout.training_forward", "same mask"),
    "backward draws a new mask": (
        _dropout(backward=lambda self, g: g * (self.rng.random(g.shape) >= self.p) / (1 - self.p)),
        "dropout.backward", "forward's mask"),
    "backward forgets the scaling": (
        _dropout(backward=lambda self, g: g if self.cache is None else g * (self.cache > 0)),
        "dropout.backward", "divided by 1 - p"),
    "evaluation mode scales by 1 - p": (
        _dropout(lambda self, x: x * (1 - self.p) if not self.training else mlp_core.Dropout.forward(self, x)),
        "dropout.evaluation_mode", "the output in evaluation mode: wrong values"),
    "drops in evaluation mode too": (
        _dropout(lambda self, x: (self.train(), mlp_core.Dropout.forward(self, x))[1]),
        "dropout.evaluation_mode", "in evaluation mode"),
}


@pytest.mark.parametrize("mistake", MISTAKES, ids=str)
def test_each_dropout_mistake_fails_its_check_with_a_reason(mistake):
    cls, name, words = MISTAKES[mistake]
    for seed in range(10):
        message = judge(student(Dropout=cls), name, seed)
        assert words in message, (mistake, seed, message)


def test_a_mask_drawn_once_and_kept_fails_the_new_mask_check():
    class Frozen(mlp_core.Dropout):
        mask = None

        def forward(self, x):
            if self.mask is None:
                self.mask = (self.rng.random(x.shape) >= self.p) / (1 - self.p)
            self.cache = self.mask
            return x * self.mask if self.training else x

    assert "draw a new mask at every pass" in judge(student(Dropout=Frozen), "dropout.training_forward", 0)


# --------------------------------------------------------------------------- #
# confusion_matrix and activation_statistics
# --------------------------------------------------------------------------- #


def transposed(labels, predictions, num_classes=10):
    return mlp_core.confusion_matrix(predictions, labels, num_classes)


def fancy_index(labels, predictions, num_classes=10):
    counts = np.zeros((num_classes, num_classes), dtype=np.int64)
    counts[labels, predictions] += 1  # a repeated pair is counted once
    return counts


def floats(labels, predictions, num_classes=10):
    return mlp_core.confusion_matrix(labels, predictions, num_classes).astype(np.float64)


@pytest.mark.parametrize("wrong, words", [(transposed, "the counts"), (fancy_index, "the counts"),
                                          (floats, "whether the counts are integers")])
def test_confusion_matrix_mistakes_fail(wrong, words):
    for name in ("confusion_matrix.counts", "confusion_matrix.absent_classes"):
        for seed in SEEDS:
            assert words in judge(student(confusion_matrix=wrong), name, seed), (wrong.__name__, name, seed)


def _statistics(*, signed=False, any_sample=False, ddof=0, linear_too=False):
    """activation_statistics written with one of four typical mistakes."""
    kinds = tuple(mlp_core.ACTIVATIONS.values())

    def stats_of(model, x, *, threshold=0.0):
        out, found = x, {}
        for index, layer in enumerate(model.layers):
            out = layer.forward(out)
            if isinstance(layer, kinds) or (linear_too and isinstance(layer, mlp_core.Linear)):
                slope = layer.backward(np.ones_like(out)) if isinstance(layer, kinds) else np.ones_like(out)
                passes = (slope if signed else np.abs(slope)) > threshold
                dead = ~passes.all(axis=0) if any_sample else ~passes.any(axis=0)
                found[index] = {"mean": float(out.mean()), "std": float(np.std(out, ddof=ddof)),
                                "inactive": float(np.mean(~passes)), "dead": float(np.mean(dead))}
        return found
    return stats_of


@pytest.mark.parametrize("mistake, names", [
    (dict(signed=True), ["activation_statistics.gelu"]),  # GELU's negative slopes taken for no gradient
    (dict(any_sample=True), NEW[-3:]),  # dead where the slope vanishes for some sample, not every one
    (dict(ddof=1), NEW[-3:]),
    (dict(linear_too=True), NEW[-3:]),  # the Linear layers reported too
])
def test_activation_statistics_mistakes_fail(mistake, names):
    wrong = _statistics(**mistake)
    assert all(name.startswith("activation_statistics.") for name in names)
    for name in names:
        for seed in SEEDS:
            assert judge(student(activation_statistics=wrong), name, seed), (mistake, name, seed)
    assert _statistics()  # the same code without the mistake is right:
    for seed in range(5):
        assert judge(student(activation_statistics=_statistics()), names[0], seed) == ""
