"""No notebook has its exercise's answer one import away (issue 20).

A notebook whose student writes a function in the notebook itself (a ``def``
with a ``# BEGIN SOLUTION`` region) checks it with known values, properties,
a case by hand or numbers the instructor's solution wrote into a committed
file: never by calling a reference implementation of the same thing. Each
such function is listed below with the names that compute its answer; the
notebook's code must not import or use any of them.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

NOTEBOOK_DIR = Path(__file__).resolve().parent.parent / "notebooks"

#: notebook -> {exercise function: names (functions, classes, modules) that compute its answer}
REFERENCES: dict[str, dict[str, set[str]]] = {
    "08_full_comparison.ipynb": {
        # mlp_lab.report.conclusions computes every verdict the three functions lead to
        "depth_gains": {"conclusions", "depth_accuracy", "summary_markdown"},
        "loss_gaps": {"conclusions", "loss_comparison", "summary_markdown"},
        "gap_below_next_worst": {"conclusions", "sigmoid_l2_worst", "summary_markdown"},
    },
    "09_vanishing_gradients.ipynb": {"weight_gradient_norms": {"layer_gradient_norms"}},
    "10_sigmoid_with_l2.ipynb": {
        # N * SoftmaxCrossEntropyLoss.backward() and softmax(z) - t are g_ce itself
        "output_gradients": {"softmax_ce_output_gradient", "SoftmaxCrossEntropyLoss", "softmax"},
    },
    "11_output_activation_and_margin.ipynb": {"margin_sweep": {"sweep"}},
    # 01-03: derivations by hand (issue 19), checked against central differences of the student's own forward
    # (numerical_gradient, the gradient check's method) by design; what would hand over the analytic answer is
    # the gradient checker's backward side, which these notebooks never call directly
    "01_linear_layer.ipynb": {"gradients_by_hand": {"module_gradients", "network_gradients"}},
    "02_activations.ipynb": {name: {"module_gradients"} for name in ("sigmoid_slope", "relu_slope", "gelu_slope")},
    "03_losses.ipynb": {name: {"loss_gradient"} for name in
                        ("l2_gradient_by_hand", "ce_gradient_by_hand", "hinge_gradient_by_hand")},
    # the kit computes none of these: they are checked against outputs of the student's Dropout and central
    # differences of a fixed mask
    "06_generalisation_and_tuning.ipynb": {"dropout_mean": set(), "dropout_variance": set(),
                                           "dropout_gradient_by_hand": set()},
}


def _cells(path: Path) -> list[str]:
    nb = json.loads(path.read_text())
    return ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"]


def _python(source: str) -> str:
    """A code cell without its IPython magics and shell lines, so that ast can read it."""
    return "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines())


def exercises(path: Path) -> set[str]:
    """The functions of a notebook whose bodies hold a solution region."""
    found = set()
    for source in _cells(path):
        if "# BEGIN SOLUTION" not in source:
            continue
        for node in ast.walk(ast.parse(_python(source))):
            if isinstance(node, ast.FunctionDef) and "# BEGIN SOLUTION" in ast.get_source_segment(_python(source), node):
                found.add(node.name)
    return found


def used_names(path: Path) -> dict[str, int]:
    """Every name a notebook's code imports, reads or reaches as an attribute, with the cell it first appears in."""
    names: dict[str, int] = {}
    for i, source in enumerate(_cells(path)):
        tree = ast.parse(_python(source))
        # the exercise's own body (the solution, or a student's answer in a filled-in kit, where the markers are
        # gone) may name what it computes, e.g. a local `softmax`
        own = set(REFERENCES.get(path.name, {}))
        tree.body = [node for node in tree.body if not (isinstance(node, ast.FunctionDef) and (
            node.name in own or "# BEGIN SOLUTION" in (ast.get_source_segment(_python(source), node) or "")))]
        for node in ast.walk(tree):
            found = []
            if isinstance(node, ast.Import):
                found = [part for alias in node.names for part in alias.name.split(".")]
            elif isinstance(node, ast.ImportFrom):
                found = (node.module or "").split(".") + [alias.name for alias in node.names]
            elif isinstance(node, ast.Attribute):
                found = [node.attr]
            elif isinstance(node, ast.Name):
                found = [node.id]
            for name in found:
                names.setdefault(name, i)
    return names


NOTEBOOKS = sorted(p.name for p in NOTEBOOK_DIR.glob("*.ipynb"))


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_every_exercise_of_a_notebook_says_what_its_answer_would_be(name):
    declared = set(REFERENCES.get(name, {}))
    found = exercises(NOTEBOOK_DIR / name)
    if not found and not any("# BEGIN SOLUTION" in source for source in _cells(NOTEBOOK_DIR / name)):
        # a student's kit: the release stripped the solution regions; the functions are still defined there
        code = "\n".join(_cells(NOTEBOOK_DIR / name))
        missing = [f for f in declared if not re.search(rf"^def {f}\(", code, re.M)]
        assert not missing, f"{name} no longer defines {missing}: update REFERENCES in this file"
        return
    assert found == declared, (
        f"{name}: exercise functions {sorted(found)}, but REFERENCES in this file lists "
        f"{sorted(declared)}: name, for each function the student writes in the notebook, what computes its answer")


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_no_notebook_uses_its_exercises_reference(name):
    used = used_names(NOTEBOOK_DIR / name)
    for exercise, forbidden in REFERENCES[name].items():
        hits = sorted(forbidden & set(used))
        assert not hits, (f"{name} uses {hits} (first in code cell {used[hits[0]]}), which compute the answer of its "
                          f"exercise {exercise}: check it with known values, properties or committed data instead")


def test_the_check_catches_an_import(tmp_path):
    nb = {"cells": [{"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None,
                     "source": "%autoreload 3\nfrom mlp_lab.analysis import layer_gradient_norms as reference\n"}]}
    path = tmp_path / "x.ipynb"
    path.write_text(json.dumps(nb))
    assert "layer_gradient_norms" in used_names(path)
    nb["cells"][0]["source"] = "import mlp_lab.analysis\nmlp_lab.analysis.sweep(1)\n"
    path.write_text(json.dumps(nb))
    assert {"sweep", "analysis"} <= set(used_names(path))


def test_exercises_are_found(tmp_path):
    nb = {"cells": [{"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None,
                     "source": "def f(x):\n    # BEGIN SOLUTION\n    return x\n    # END SOLUTION\n\ndef g():\n    pass\n"}]}
    path = tmp_path / "x.ipynb"
    path.write_text(json.dumps(nb))
    assert exercises(path) == {"f"}
    assert re.search("sweep", str(REFERENCES))
