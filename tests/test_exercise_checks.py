"""The checks of notebooks 08-11 fail a wrong answer, and say what is wrong with it.

Each case takes a notebook's cells up to its exercise's check, puts a typical
wrong answer in place of the solution (in the notebook's own words, the body
of the function the student writes), runs them in this process (IPython magics
dropped, matplotlib without a display, quick mode) and expects the check to
raise ``FAIL ...`` with the hint that names the mistake. The wrong answers are
near-solutions, so this file stays in the instructor's copy.
"""
# instructor-only

from __future__ import annotations

import ast
import json
import os
import re
from pathlib import Path

import pytest

from tests._mnist import require_mnist

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"

#: (notebook, exercise, wrong body, text of its check cell, what the failure must say)
WRONG = [
    ("08_full_comparison.ipynb", "depth_gains",
     '    acc = {(r["depth"], r["loss"], r["activation"]): r["test_acc_mean"] for r in rows}\n'
     '    return {(l, a): acc[1, l, a] - acc[2, l, a] for d, l, a in acc if d == 1 and (2, l, a) in acc}\n',
     "MADE_UP = {", "every sign is flipped"),
    ("08_full_comparison.ipynb", "loss_gaps",
     '    acc = {(r["depth"], r["loss"], r["activation"]): r["test_acc_mean"] for r in rows}\n'
     '    return {(d, a): (acc[d, "hinge", a] - acc[d, "cross_entropy", a],\n'
     '                     max(acc[d, "hinge", a], acc[d, "cross_entropy", a]) - acc[d, "l2", a])\n'
     '            for d, l, a in acc if l == "l2"}\n',
     "MADE_UP = {", "the worse (the smaller accuracy, min)"),
    ("08_full_comparison.ipynb", "gap_below_next_worst",
     '    sig = next(r["test_acc_mean"] for r in rows if r["depth"] == depth and (r["loss"], r["activation"]) == ("l2", "sigmoid"))\n'
     '    return sig, min(r["test_acc_mean"] for r in rows if (r["loss"], r["activation"]) != ("l2", "sigmoid")) - sig\n',
     "MADE_UP = {", "only the rows of that depth"),
    ("09_vanishing_gradients.ipynb", "weight_gradient_norms",
     "    loss_fn(model.forward(x), labels)\n    g = loss_fn.backward()\n    model.backward(g)\n"
     "    return np.array([np.linalg.norm(l.W.grad) for l in model.layers if isinstance(l, Linear)][::-1])\n",
     "def diagnosis(yours, numeric):", "reverse order"),
    ("09_vanishing_gradients.ipynb", "weight_gradient_norms",
     "    loss_fn(model.forward(x), labels)\n    g = loss_fn.backward()\n    model.backward(g)\n"
     "    return np.array([np.linalg.norm(l.W.grad) / len(x) for l in model.layers if isinstance(l, Linear)])\n",
     "def diagnosis(yours, numeric):", "scale nothing"),
    ("10_sigmoid_with_l2.ipynb", "output_gradients",
     "    g_l2 = z - T\n    e = np.exp(z - z.max())\n    g_ce = e / e.sum() - T\n",
     "def diagnosis(g_ce, expected):", "normalise exp(z) over each row"),
    ("10_sigmoid_with_l2.ipynb", "output_gradients",
     "    g_l2 = z - T\n    e = np.exp(z - z.max(axis=1, keepdims=True))\n    g_ce = e / e.sum(axis=1, keepdims=True)\n",
     "def diagnosis(g_ce, expected):", "subtract the one-hot target"),
    ("11_output_activation_and_margin.ipynb", "margin_sweep",
     "    return {m: recorded_run(base, splits, measure)[1:] for m in margins}\n",
     "yours = margin_sweep(tiny", "replace(base, margin=margin)"),
]


def _python(source: str) -> str:
    return "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines())


def _with_body(source: str, function: str, body: str) -> str:
    """A cell's source with the solution region of `function` (between its BEGIN/END SOLUTION lines) replaced by `body`."""
    node = next(n for n in ast.parse(source).body if isinstance(n, ast.FunctionDef) and n.name == function)
    lines = source.splitlines(keepends=True)
    inside = range(node.lineno - 1, len(lines))
    begin = next(i for i in inside if lines[i].strip() == "# BEGIN SOLUTION")
    end = next(i for i in inside if lines[i].strip() == "# END SOLUTION")
    return "".join(lines[: begin + 1]) + body + "".join(lines[end:])


@pytest.mark.parametrize("notebook, function, body, check_marker, said", WRONG,
                         ids=[f"{n[:2]}-{f}-{i}" for i, (n, f, *_rest) in enumerate(WRONG)])
def test_a_wrong_answer_fails_with_its_diagnosis(notebook, function, body, check_marker, said, monkeypatch):
    if notebook.startswith(("09", "10", "11")):
        monkeypatch.setenv("MNIST_DIR", str(require_mnist()))
    monkeypatch.setenv("MLP_NOTEBOOK_QUICK", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.chdir(NOTEBOOKS)
    cells = [c for c in json.loads((NOTEBOOKS / notebook).read_text())["cells"] if c["cell_type"] == "code"]
    namespace: dict = {"__name__": "__notebook__"}
    for cell in cells:
        source = "".join(cell["source"])
        if "colab" in cell.get("metadata", {}).get("tags", []):
            continue
        if re.search(rf"^def {function}\(", source, re.M):
            source = _with_body(source, function, body)
        if check_marker in source:
            with pytest.raises(AssertionError) as failure:
                exec(compile(_python(source), notebook, "exec"), namespace)
            message = str(failure.value)
            assert message.startswith("FAIL") and said in message, f"{notebook}, {function}: the check said {message!r}"
            return
        exec(compile(_python(source), notebook, "exec"), namespace)
    pytest.fail(f"{notebook}: no cell holds {check_marker!r}")


def test_the_right_answers_pass(monkeypatch):
    """The same machinery with the solutions in place: every check cell runs through (08, no data needed)."""
    monkeypatch.setenv("MLP_NOTEBOOK_QUICK", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.chdir(NOTEBOOKS)
    namespace: dict = {"__name__": "__notebook__"}
    cells = [c for c in json.loads((NOTEBOOKS / "08_full_comparison.ipynb").read_text())["cells"] if c["cell_type"] == "code"]
    for cell in cells:
        source = "".join(cell["source"])
        if "colab" in cell.get("metadata", {}).get("tags", []):
            continue
        exec(compile(_python(source), "08", "exec"), namespace)
        if "MADE_UP = {" in source:
            break
    assert "made_up" in namespace and os.getcwd() == str(NOTEBOOKS)
