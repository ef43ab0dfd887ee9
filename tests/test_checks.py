"""The notebooks' checks: every FAIL carries a diagnosis, a crash becomes a FAIL, blame lands on the right function.

The patterns of mlp_core.diagnosis on known arrays; the crash explanations on
real mlp_core classes whose methods are replaced, for one test, by faulty code
compiled under the real file name (that is how a student's function is
recognised in a traceback); the gradient checker's names; the initialisation
scales; and the blame rule of the student's pytest summary (tests/conftest.py).
"""
# instructor-only
# (its faulty code repeats lines of the solution, which a release must not contain)

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

import mlp_core
from mlp_core import Linear, ReLU, Sequential, Sigmoid, get_loss
from mlp_core import gradcheck
from mlp_core.checks import (CheckFailed, all_checks, check, check_close, check_loss_gradient,
                             check_module_gradients, check_network_gradients, guard)
from mlp_core.diagnosis import compare, describe_factor, explain_crash
from mlp_core.init import glorot_std, he_std, init_std, lecun_std

PACKAGE = Path(mlp_core.__file__).resolve().parent

# --------------------------------------------------------------------------- #
# Values: got and expected at the worst entry, and the pattern
# --------------------------------------------------------------------------- #


def test_a_match_has_no_diagnosis():
    assert compare([1.0, 2.0], [1.0, 2.0 + 1e-9]) is None


def test_the_worst_entry_is_shown_with_its_index_and_the_input_there():
    x = np.array([[0.5, -1.0, 2.0]])
    text = compare([[1.0, 2.0, 3.5]], [[1.0, 2.0, 3.0]], inputs={"x": x})
    assert text.splitlines()[0] == "got 3.5, expected 3 at [0, 2], where x = 2"
    assert "1 of 3 entries differ" in text


@pytest.mark.parametrize("factor, sizes, words", [
    (1 / 3, {"N": 2, "K": 3}, "1/3 of the expected (1/K, K = 3)"),
    (2.0, {"N": 2}, "2 times the expected (N, N = 2; or a factor 1/2 missing)"),
    (4.0, {"N": 4, "K": 10}, "4 times the expected (N, N = 4)"),
    (-1.0, {}, "opposite sign of the expected (a factor -1)"),
    (0.5, {"K": 3}, "1/2 of the expected (or a factor 1/2 too many)"),
    (7.25, {}, "7.25 times the expected"),
])
def test_a_constant_factor_is_named(factor, sizes, words):
    expected = np.array([[1.0, -2.0, 0.5], [3.0, 0.25, -1.0]])
    assert words in compare(factor * expected, expected, sizes=sizes)


def test_a_single_number_names_only_a_meaningful_factor():
    assert "it is 1/3 of the expected (1/K, K = 3)" in compare(0.145 / 3, 0.145, sizes={"N": 2, "K": 3})
    assert "times" not in compare(1.23, 1.0)  # 1.23 is no pattern for one number


def test_a_transpose_is_named_by_shape_and_by_value():
    expected = np.arange(6.0).reshape(3, 2)
    assert compare(expected.T, expected) == ("shape (2, 3), expected (3, 2): the shape of the transpose, and the "
                                             "values are exactly the transpose of the expected")
    square = np.array([[1.0, 2.0], [3.0, 4.0]])
    assert "the values are the transpose of the expected" in compare(square.T, square)


def test_other_shape_mistakes_are_named():
    expected = np.ones((4, 3))
    assert compare(np.ones(3), expected).endswith("axis 0 (the batch) is missing")
    assert compare(np.ones((3, 4, 1)).reshape(12)[:12].reshape(2, 6), expected).endswith("right numbers in the wrong shape")


def test_an_offset_such_as_the_bias_is_named():
    b = np.array([0.5, -1.0])
    expected = np.array([[7.5, -2.0], [3.5, -3.0]])
    assert "every entry is the expected minus the bias b ([0.5, -1])" in compare(expected - b, expected,
                                                                                offsets={"the bias b": b})
    assert "it is the expected plus the margin (5)" in compare(16.5, 11.5, offsets={"the margin": 5.0})


def test_wrong_only_where_the_input_is_zero_or_at_a_named_mask():
    x = np.array([[-1.0, 0.0, 1.0]])
    assert "wrong exactly where x = 0, right everywhere else" in compare([[0.0, 1.0, 1.0]], [[0.0, 0.0, 1.0]],
                                                                         inputs={"x": x})
    true_class = np.array([[True, False, False], [False, False, True]])
    got = np.array([[-0.5, 0.5, 0.0], [0.5, 0.5, -0.5]])
    expected = np.array([[-0.5, 0.5, 0.0], [0.5, 0.5, -1.0]])
    assert "wrong only at the true class (1 of those 2 entries)" in compare(got, expected,
                                                                         masks={"at the true class": true_class})


def test_a_named_variant_and_nan_and_none():
    exact = np.array([0.1, 0.2])
    assert "these are the values of the exact form" in compare(exact, [0.15, 0.25], variants={"the exact form": exact})
    assert "nan or inf" in compare([np.nan, 1.0], [1.0, 1.0])
    assert compare(None, [1.0]).startswith("got None")


def test_describe_factor_in_words():
    assert describe_factor(0.25, {"N": 4}, "the value found numerically") == \
        "every entry is 1/4 of the value found numerically (1/N, N = 4)"


# --------------------------------------------------------------------------- #
# PASS, FAIL and blocks of checks
# --------------------------------------------------------------------------- #


def test_check_close_prints_pass_and_raises_a_fail_with_its_diagnosis_and_hint(capsys):
    check_close("two numbers", [1.0, 2.0], [1.0, 2.0])
    assert capsys.readouterr().out == "PASS two numbers: largest difference 0.00e+00\n"
    with pytest.raises(CheckFailed) as failed:
        check_close("L2Loss.forward", 0.29, 0.145, sizes={"N": 2}, hint="a mean over the rows")
    assert str(failed.value) == ("FAIL L2Loss.forward: got 0.29, expected 0.145\n"
                                 "  it is 2 times the expected (N, N = 2; or a factor 1/2 missing)\n"
                                 "  hint: a mean over the rows")
    assert isinstance(failed.value, AssertionError)


def test_every_check_of_a_block_runs_and_the_block_lists_every_fail(capsys):
    with pytest.raises(CheckFailed) as failed:
        with all_checks():
            check_close("first", 1.0, 2.0)
            check(True, "second")
            check(False, "third", "evidence", "hint")
    out = capsys.readouterr().out
    assert out == "FAIL first (below)\nPASS second\nFAIL third (below)\n"
    assert str(failed.value).startswith("2 checks failed:\nFAIL first: got 1, expected 2")
    assert "FAIL third: evidence\n  hint: hint" in str(failed.value)


def test_a_crash_in_a_block_is_a_fail_that_says_the_rest_did_not_run():
    with pytest.raises(CheckFailed) as failed:
        with all_checks():
            check(True, "before")
            Linear(3, 2).forward(np.ones((2, 4), dtype=np.float32))  # the given shape check raises
            check(True, "never reached")
    assert "FAIL Linear.forward: crashed in Linear(3, 2): ValueError: Linear(3, 2) expects input" in str(failed.value)
    assert "(the checks after it in this block did not run)" in str(failed.value)


def test_a_function_as_actual_is_guarded_so_the_other_checks_run(capsys):
    with pytest.raises(CheckFailed) as failed:
        with all_checks():
            check_close("softmax: a crash", lambda: None + 1, 1.0)
            check_close("a later check", 1.0, 1.0)
    assert "PASS a later check" in capsys.readouterr().out
    assert "FAIL softmax: softmax raised TypeError" in str(failed.value)
    assert "likely cause: a None where an array was expected" in str(failed.value)


def test_not_written_yet_passes_through_every_guard():
    with pytest.raises(NotImplementedError, match="^Linear.forward: write this"):
        with all_checks():
            check_close("x", lambda: (_ for _ in ()).throw(
                NotImplementedError("Linear.forward: write this (see notebooks/01_linear_layer.ipynb)")), 1.0)
    with pytest.raises(NotImplementedError):
        with guard("Linear.forward"):
            raise NotImplementedError("Linear.forward: write this (see notebooks/01_linear_layer.ipynb)")


def test_a_guard_outside_a_block_raises_the_fail_without_the_raw_traceback():
    with pytest.raises(CheckFailed) as failed:
        with guard("softmax"):
            raise ZeroDivisionError("division by zero")
    assert str(failed.value) == "FAIL softmax: softmax raised ZeroDivisionError: division by zero"
    assert failed.value.__suppress_context__


# --------------------------------------------------------------------------- #
# Crashes of the student's functions: the function, the layer, the likely cause
# --------------------------------------------------------------------------- #


def faulty(module: str, source: str):
    """The class defined by ``source``, compiled as if it were in mlp_core/<module>.py (a student's code)."""
    namespace = {"np": np}
    exec(compile(source, str(PACKAGE / f"{module}.py"), "exec"), namespace)
    return namespace


def test_an_empty_cache_blames_the_forward(monkeypatch):
    code = faulty("layers", "class Linear:\n    def forward(self, x):\n        return x @ self.W.data\n")
    monkeypatch.setattr(Linear, "forward", code["Linear"].forward)
    layer = Linear(3, 2)
    layer.forward(np.ones((2, 3), dtype=np.float32))
    with pytest.raises(AttributeError) as crash:
        layer.backward(np.ones((2, 2), dtype=np.float32))
    blamed, text = explain_crash(crash.value)
    assert blamed == "Linear.forward"
    assert text.startswith("Linear.backward crashed in Linear(3, 2): AttributeError:")
    assert "likely cause: an empty cache: Linear.backward reads self.cache, which is None" in text
    assert "shapes: grad_output (2, 2), x None, self.cache None, W (3, 2), b (2,)" in text


def test_layers_visited_in_the_wrong_order_blame_sequential_backward_and_name_the_layer(monkeypatch):
    code = faulty("network", "class Sequential:\n    def backward(self, grad_output):\n"
                             "        grad = grad_output\n        for layer in self.layers:\n"
                             "            grad = layer.backward(grad)\n        return grad\n")
    monkeypatch.setattr(Sequential, "backward", code["Sequential"].backward)
    net = Sequential(Linear(4, 5, rng=0), Sigmoid(), Linear(5, 3, rng=1))
    net.forward(np.ones((6, 4), dtype=np.float32))
    with pytest.raises(CheckFailed) as failed:
        with guard("Sequential.backward"):
            net.backward(np.ones((6, 3), dtype=np.float32))
    message = str(failed.value)
    assert message.startswith("FAIL Sequential.backward: Linear.backward crashed in layer 0 Linear(4, 5)")
    assert ("likely cause: layer 0 Linear(4, 5) was given a gradient of shape (6, 3), but its output had shape "
            "(6, 5): the layers are visited in the wrong order") in message


def test_a_layer_given_the_networks_input_blames_sequential_forward(monkeypatch):
    code = faulty("network", "class Sequential:\n    def forward(self, x):\n        for layer in self.layers:\n"
                             "            out = layer.forward(x)\n        return out\n")
    monkeypatch.setattr(Sequential, "forward", code["Sequential"].forward)
    net = Sequential(Linear(4, 5, rng=0), ReLU(), Linear(5, 3, rng=1))
    with pytest.raises(ValueError) as crash:
        net.forward(np.ones((2, 4), dtype=np.float32))
    blamed, text = explain_crash(crash.value)
    assert blamed == "Sequential.forward"
    assert "layer 2 Linear(5, 3) was given the network's input itself, not what layer 1 ReLU() returned" in text


def test_a_none_passed_down_the_chain_is_named(monkeypatch):
    code = faulty("activations", "class ReLU:\n    def backward(self, grad_output):\n        grad_output * 2\n")
    monkeypatch.setattr(ReLU, "backward", code["ReLU"].backward)
    net = Sequential(Linear(4, 5, rng=0, compute_input_grad=False), ReLU(), Linear(5, 3, rng=1))
    net.forward(np.ones((2, 4), dtype=np.float32))
    with pytest.raises(TypeError) as crash:
        net.backward(np.ones((2, 3), dtype=np.float32))
    blamed, text = explain_crash(crash.value)
    assert blamed == "Sequential.backward"
    assert "layer 0 Linear(4, 5) was given None as its gradient" in text


# --------------------------------------------------------------------------- #
# Gradient checks: named parameters, forward first, the failing component
# --------------------------------------------------------------------------- #


def test_a_gradient_of_the_wrong_shape_or_missing_is_named():
    with pytest.raises(ValueError, match=r"^the gradient of W has shape \(2, 3\), but must have shape \(3, 2\)"):
        gradcheck.relative_error(np.ones((2, 3)), np.ones((3, 2)), "the gradient of W")
    with pytest.raises(ValueError, match="the gradient of the input is None: backward returned nothing"):
        gradcheck.relative_error(None, np.ones(3), "the gradient of the input")
    assert not gradcheck.returns_input_gradient(Linear(2, 2, compute_input_grad=False))
    assert not gradcheck.returns_input_gradient(Sequential(Linear(2, 2, compute_input_grad=False), ReLU()))
    assert gradcheck.returns_input_gradient(Sigmoid())


class TransposedLinear(Linear):
    def backward(self, grad_output):
        result = super().backward(grad_output)
        self.W.grad = self.W.grad.T.copy()
        return result


def test_the_gradient_check_fails_naming_the_parameter_and_its_shape(capsys):
    with pytest.raises(CheckFailed, match=r"FAIL TransposedLinear.backward: gradient of W: the gradient of W has "
                                          r"shape \(3, 5\), but must have shape \(5, 3\)"):
        with all_checks():
            check_module_gradients(TransposedLinear(5, 3, init_std=1.0, rng=0), np.ones((4, 5)))
    assert "PASS TransposedLinear.backward: gradient of b" in capsys.readouterr().out


class HalfSigmoid(Sigmoid):
    def backward(self, grad_output):
        return 0.5 * super().backward(grad_output)


def test_a_wrong_gradient_shows_the_worst_entry_against_the_numerical_one():
    x = np.random.default_rng(0).standard_normal((4, 5))
    with pytest.raises(CheckFailed) as failed:
        check_module_gradients(HalfSigmoid(), x)
    message = str(failed.value)
    assert message.startswith("FAIL HalfSigmoid.backward: gradient of the input: relative error 3.33e-01 >= 1e-06")
    assert "every entry is 1/2 of the value found numerically" in message


class CubeL2(mlp_core.L2Loss):
    """A wrong forward (cubes instead of squares) under a right backward."""

    def forward(self, x, labels):
        super().forward(x, labels)
        return float(np.sum(np.abs(self.cache) ** 3) / (2 * x.shape[0]))


def test_a_wrong_forward_is_blamed_before_the_backward_is_compared_with_it():
    x = np.array([[0.2, 0.8, 0.0], [0.5, 0.5, 0.0]])
    with pytest.raises(CheckFailed) as failed:
        check_loss_gradient(CubeL2(), np.ones((4, 3)), np.array([0, 1, 2, 0]), forward_case=(x, np.array([1, 0]), 0.145))
    assert str(failed.value).startswith("FAIL CubeL2.forward (the gradient check needs it right first): got")
    assert "backward" not in str(failed.value).splitlines()[0].replace("the gradient check", "")


def test_a_network_check_names_the_component_that_fails_its_own_check():
    rng = np.random.default_rng(0)
    net = Sequential(Linear(6, 5, init_std=1.0, rng=0, compute_input_grad=False), HalfSigmoid(),
                     Linear(5, 3, init_std=1.0, rng=1))
    with pytest.raises(CheckFailed) as failed:
        check_network_gradients(net, get_loss("cross_entropy"), rng.standard_normal((4, 6)), np.array([0, 1, 2, 0]),
                                what="backpropagation through a half sigmoid")
    assert "hint: layer 1 HalfSigmoid() (its backward, or its forward) fails its own gradient check" in str(failed.value)


# --------------------------------------------------------------------------- #
# Initialisation scales (notebook 01, section 4)
# --------------------------------------------------------------------------- #


def test_the_three_initialisation_rules():
    assert lecun_std(784) == pytest.approx(1 / 28)
    assert glorot_std(784, 256) == pytest.approx(math.sqrt(2 / 1040))
    assert glorot_std(100, 100) == pytest.approx(lecun_std(100))  # equal fans: the two conditions agree
    assert he_std(784) == pytest.approx(math.sqrt(2) / 28)
    assert init_std("glorot", 512, 256) == glorot_std(512, 256) and init_std("he", 512, 256) == he_std(512)
    with pytest.raises(ValueError, match="choose one of: lecun, glorot, he"):
        init_std("xavier", 3, 3)
    with pytest.raises(ValueError, match="fan_out must be a whole number >= 1"):
        glorot_std(3, 0)


def test_glorot_keeps_the_harmonic_mean_of_the_forward_and_backward_variances():
    fan_in, fan_out = 784, 256
    assert glorot_std(fan_in, fan_out) ** 2 == pytest.approx(2 / (1 / (1 / fan_in) + 1 / (1 / fan_out)))


def test_lecuns_scale_keeps_the_forward_variance_of_a_linear_layer():
    x = np.random.default_rng(0).standard_normal((2000, 400))
    z = Linear(400, 300, init_std=lecun_std(400), rng=1, dtype=np.float64).forward(x)
    assert z.var() == pytest.approx(x.var(), rel=0.05)


# --------------------------------------------------------------------------- #
# The student's pytest summary: whom a failing test blames
# --------------------------------------------------------------------------- #


def test_the_summary_blames_the_function_no_other_failure_explains(monkeypatch):
    from tests import conftest

    monkeypatch.setattr(conftest, "_calls", {
        "a": {"Linear.forward"}, "b": {"Linear.forward", "Linear.backward"},
        "c": {"Linear.forward", "Linear.backward", "Sequential.forward"}, "d": {"Sigmoid.backward", "ReLU.forward"},
        "e": {"Linear.backward"},
    })
    monkeypatch.setattr(conftest, "_results", {t: ("failed", "x") for t in "abcd"} | {"e": ("passed", "")})
    monkeypatch.setattr(conftest, "_crashed_in", {})
    blamed = conftest._blame()
    # a blames Linear.forward alone, which explains b and c; d's two functions: the later in the course's order
    assert blamed == {"Linear.forward": ["a", "b", "c"], "ReLU.forward": ["d"]}
    monkeypatch.setattr(conftest, "_crashed_in", {"d": "Sigmoid.backward"})
    assert conftest._blame()["Sigmoid.backward"] == ["d"]
