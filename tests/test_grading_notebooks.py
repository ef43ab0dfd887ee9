"""The notebook exercises in the grade: taken out of the notebook with ast, run in the sandbox, judged outside.

One release of this repository; from it a class: the full solution, the
release as it is (nothing written), one submission per notebook-exercise
fault (each a typical wrong answer in one function), one whose exercise cells
are hostile (what ``tests/grading_attacks.py`` tries, from inside a notebook
function: reading and writing outside, forking, a huge output, a hang; and a
top-level statement beside a definition, which must never run) and one whose
notebooks are broken (a cell that does not parse, a notebook deleted, a
function renamed). All graded in one ``grade`` run, in sandboxes.
"""
# instructor-only

from __future__ import annotations

import csv
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest

import mlp_core
from mlp_instructor.grading import GradingError
from mlp_instructor.grading.command import grade
from mlp_instructor.grading.documents import file_stem, md_inline
from mlp_instructor.grading.judge import Grader
from mlp_instructor.grading.notebook_code import ExtractionError, extract
from mlp_instructor.grading.rubric import DEFAULT_RUBRIC, load_rubric
from mlp_instructor.hidden_checks.exercises import EXERCISES, build_exercise_checks, student_request
from mlp_instructor.hidden_checks.verdicts import reference_outputs, self_test, verdict
from mlp_instructor.notebooks import read_notebook, write_notebook
from mlp_instructor.release.markers import fill_in_solutions, strip_solutions
from mlp_instructor.worker import run_operation

from . import grading_attacks as attacks
from ._mnist import require_mnist
from .test_grading import sandbox_processes, tree_digest

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = REPO / "notebooks"
ITEM = {e.function: e.item for e in EXERCISES}

#: One typical wrong answer per notebook exercise: function -> the code of its solution region.
FAULTS: dict[str, str] = {
    "gradients_by_hand": "grad_W = [[1, -2], [2, 0], [3, 4]]\ngrad_b = [2, 1]\ngrad_X = [[1, 0, 2], [0, 2, -2]]",
    "sigmoid_slope": "return 1 / (1 + np.exp(-x))",  # the Sigmoid itself, not its slope
    "relu_slope": "return np.where(x >= 0, 1.0, 0.0)",  # 1 at x = 0
    "gelu_slope": "t = np.tanh(GELU_C * (x + GELU_A * x ** 3))\nreturn 0.5 * (1 + t)",  # the product rule's half
    "l2_gradient_by_hand": "return [[0.2, -0.2, 0.0], [-0.5, 0.5, 0.0]]",  # without the 1/N
    "ce_gradient_by_hand": "return [[-0.125, -0.125, 0.25], [0.375, -0.125, -0.25]]",  # the sign
    "hinge_gradient_by_hand": "return [[-1.0, 1.0, 0.0], [1.0, 1.0, -2.0]]",  # without the 1/N
    "dropout_mean": "return x * (1 - p)",  # forgets the inverted scaling
    "dropout_variance": "return x ** 2 * p * (1 - p)",
    "dropout_gradient_by_hand": "return [[1, 0, 3], [0, 1, 0]]",  # without the 1 / (1 - p)
    "depth_gains": 'acc = {(r["depth"], r["loss"], r["activation"]): r["test_acc_mean"] for r in rows}\n'
                   'return {(l, a): acc[1, l, a] - acc[2, l, a] for d, l, a in acc if d == 1 and (2, l, a) in acc}',
    "loss_gaps": 'acc = {(r["depth"], r["loss"], r["activation"]): r["test_acc_mean"] for r in rows}\n'
                 'return {(d, a): (acc[d, "hinge", a] - acc[d, "cross_entropy", a],\n'
                 '                 max(acc[d, "hinge", a], acc[d, "cross_entropy", a]) - acc[d, "l2", a])\n'
                 '        for d, l, a in acc\n'
                 '        if l == "l2" and (d, "hinge", a) in acc and (d, "cross_entropy", a) in acc}',
    "gap_below_next_worst": 'sig = next(r["test_acc_mean"] for r in rows if r["depth"] == depth and '
                            '(r["loss"], r["activation"]) == ("l2", "sigmoid"))\n'
                            'return sig, min(r["test_acc_mean"] for r in rows if (r["loss"], r["activation"]) != '
                            '("l2", "sigmoid")) - sig',  # the other depth's rows too
    "weight_gradient_norms": "loss_fn(model.forward(x), labels)\nmodel.backward(loss_fn.backward())\n"
                             "return np.array([np.linalg.norm(l.W.grad) for l in model.layers "
                             "if isinstance(l, Linear)][::-1])",  # last to first
    "output_gradients": "g_l2 = z - T\ne = np.exp(z - z.max(axis=1, keepdims=True))\n"
                        "g_ce = e / e.sum(axis=1, keepdims=True)",  # without the one-hot target
    "margin_sweep": "return {m: recorded_run(base, splits, measure)[1:] for m in margins}",  # the margin never set
}

#: Hostile exercise bodies: each tries something from inside a notebook function, and computes nothing right.
_FIND = "exec({find!r}, g)"
HOSTILE: dict[str, str] = {
    # reads outside: the instructor's notebook, and with it the answer (which would score)
    "sigmoid_slope": "g = {}\n" + _FIND + "\nfor d, _, names in g['_walk']():\n"
                     "    for name in names:\n"
                     "        if name == '02_activations.ipynb':\n"
                     "            try:\n"
                     "                text = open(d + '/' + name).read()\n"
                     "            except OSError:\n"
                     "                continue\n"
                     "            if 'BEGIN SOLUTION' in text:\n"
                     "                s = 1 / (1 + np.exp(-x))\n"
                     "                return s * (1 - s)\n"
                     "raise RuntimeError('LEAK: nothing found')",
    # writes outside: every gradebook, notebook and folder it can reach
    "relu_slope": "g = {}\n" + _FIND + "\nfor d, _, names in g['_walk']():\n"
                  "    if not g['_may_write'](d):\n"
                  "        continue\n"
                  "    try:\n"
                  "        if 'gradebook.csv' in names:\n"
                  "            open(d + '/gradebook.csv', 'a').write('mlp-attack-was-here,100\\n')\n"
                  "        for name in names:\n"
                  "            if name.endswith('.ipynb'):\n"
                  "                open(d + '/' + name, 'a').write('mlp-attack-was-here')\n"
                  "        open(d + '/mlp-attack-was-here', 'w').write('x')\n"
                  "    except OSError:\n"
                  "        pass\n"
                  "return np.zeros_like(x)",
    # forks: up to 200 children, each in a session of its own, sleeping under a name the test looks for
    "gelu_slope": "import os\n"
                  "children = 0\n"
                  "for _ in range(200):\n"
                  "    try:\n"
                  "        if os.fork() == 0:\n"
                  "            try:\n"
                  "                os.setsid()\n"
                  "                os.execv('/usr/bin/sleep', ['mlp-attack-was-here', '60'])\n"
                  "            finally:\n"
                  "                os._exit(0)\n"
                  "        children += 1\n"
                  "    except OSError:\n"
                  "        break\n"
                  "raise RuntimeError(f'ACHIEVED: {children} children')",
    # a huge output: 50 MB printed, and a 128 MB reply
    "dropout_mean": "print('x' * 50_000_000)\nreturn np.ones((4000, 4000))",
    # hangs
    "dropout_variance": "while True:\n    pass",
}
#: A statement beside a definition in an exercise's cell: never taken out, so never run (it would fail the item).
TOP_LEVEL = "raise SystemExit('a top-level statement of the cell ran')\n"


def write_notebook_cases(kit: Path, subs: Path) -> None:
    """The class of this module (see its docstring)."""
    for name, build in [("full", lambda k: attacks.fill(k)), ("released", lambda k: None),
                        *[(f"fault_{f}", lambda k, f=f: attacks.fill(k, {f: FAULTS[f]})) for f in FAULTS]]:
        build(Path(shutil.copytree(kit, subs / name)))
    hostile = Path(shutil.copytree(kit, subs / "nb_hostile"))
    allowed = str(subs.resolve().parent)
    find = attacks._FIND.replace("@ALLOWED@", allowed)
    attacks.fill(hostile, {f: body.replace("{find!r}", repr(find)) for f, body in HOSTILE.items()})
    path = hostile / "notebooks" / "06_generalisation_and_tuning.ipynb"
    nb = read_notebook(path)
    cell = next(c for c in nb["cells"] if "def dropout_gradient_by_hand" in c["source"])
    cell["source"] = TOP_LEVEL + cell["source"]
    write_notebook(nb, path)
    broken = Path(shutil.copytree(kit, subs / "nb_broken"))
    attacks.fill(broken)
    (broken / "notebooks" / "08_full_comparison.ipynb").unlink()
    for stem, old, new in [("03_losses", "def l2_gradient_by_hand():", "def l2_gradient_by_hand(:"),
                           ("10_sigmoid_with_l2", "def output_gradients(", "def output_gradient(")]:
        path = broken / "notebooks" / f"{stem}.ipynb"
        nb = read_notebook(path)
        cell = next(c for c in nb["cells"] if old in c["source"])
        cell["source"] = cell["source"].replace(old, new)
        write_notebook(nb, path)


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """(gradebook rows, output folder, digests before, the folder of the class)."""
    from mlp_instructor.release.command import release

    mnist = require_mnist()
    kit = tmp_path_factory.mktemp("release") / "kit"
    release(kit, import_check=False)
    tmp = tmp_path_factory.mktemp("nbclass")
    subs = tmp / "submissions"
    subs.mkdir()
    write_notebook_cases(kit, subs)
    before = {"subs": tree_digest(subs), "repo": instructor_files()}
    out = tmp / "gradebook"
    grade(subs, out, data_dir=mnist, memory_mb=1024, log=lambda line: None)
    processes = sandbox_processes()
    with open(out / "gradebook.csv", newline="") as f:
        rows = {row["student"]: row for row in csv.DictReader(f)}
    return rows, out, before, subs, processes


def instructor_files() -> dict[str, dict[str, str]]:
    """The instructor's code and notebooks, file by file (what a hostile cell would like to change)."""
    return {name: tree_digest(REPO / name) for name in ("mlp_instructor", "mlp_core", "notebooks")}


def points() -> dict[str, float]:
    return {item.id: item.points for item in load_rubric(DEFAULT_RUBRIC).items}


def notebook_items() -> list[str]:
    return [item.id for item in load_rubric(DEFAULT_RUBRIC).items if item.section == "notebooks"]


def scores(rows, student) -> dict[str, float]:
    return {item: float(rows[student][item]) for item in points()}


def feedback(out: Path, student: str) -> str:
    return (out / "feedback" / f"{file_stem(student)}.md").read_text()


def test_the_rubric_gives_mlp_core_70_and_the_notebook_exercises_20():
    rubric = load_rubric(DEFAULT_RUBRIC)
    by_section: dict[str, float] = {}
    for item in rubric.items:
        by_section[item.section] = by_section.get(item.section, 0) + item.points
    assert round(by_section["mlp_core"], 2) == 70 and round(by_section["notebooks"], 2) == 20
    assert sorted(notebook_items()) == sorted(ITEM.values())


@pytest.mark.parametrize("function", sorted(FAULTS))
def test_each_notebook_fault_costs_exactly_its_item(graded, function):
    rows, out, *_ = graded
    got, full, item = scores(rows, f"fault_{function}"), points(), ITEM[function]
    assert got[item] < full[item]
    assert {i: v for i, v in got.items() if i != item} == {i: p for i, p in full.items() if i != item}
    assert md_inline(f"{function}(") in feedback(out, f"fault_{function}")


def test_the_solution_gets_every_notebook_item(graded):
    rows, *_ = graded
    assert scores(rows, "full") == points()


def test_the_released_notebooks_score_0_on_the_notebook_items_with_not_written_yet(graded):
    rows, out, *_ = graded
    got = scores(rows, "released")
    assert all(got[i] == 0 for i in notebook_items())
    page = feedback(out, "released")
    for exercise in EXERCISES:
        reason = f"{exercise.function} in notebooks/{exercise.notebook} is not written yet"
        assert md_inline(reason) in page, reason


def test_a_hostile_notebook_cell_scores_0_on_its_item_and_changes_nothing_outside(graded):
    rows, out, before, subs, processes = graded
    got, full = scores(rows, "nb_hostile"), points()
    attacked = {ITEM[f] for f in HOSTILE}
    assert all(got[i] == 0 for i in attacked)
    assert {i: v for i, v in got.items() if i not in attacked} == {i: p for i, p in full.items() if i not in attacked}
    page = feedback(out, "nb_hostile")
    assert "LEAK: nothing found" in page and "timed out" in page
    children = int(page.split("ACHIEVED: ")[1].split(" children")[0])
    assert 0 < children < load_rubric(DEFAULT_RUBRIC).processes  # it forked, up to the limit, and they are gone:
    assert tree_digest(subs) == before["subs"]
    assert instructor_files() == before["repo"]
    assert [p for p in subs.parent.rglob(f"*{attacks.MARK}*")] + [p for p in REPO.rglob(f"*{attacks.MARK}*")] == []
    # (only this class's: other grading runs on the machine share the sandbox's uids)
    assert [p for p in processes + sandbox_processes() if attacks.MARK in p] == []
    with open(out / "gradebook.csv") as f:
        assert attacks.MARK not in f.read()


def test_a_broken_notebook_costs_only_its_items_with_the_reason(graded):
    rows, out, *_ = graded
    got, full = scores(rows, "nb_broken"), points()
    lost = {ITEM["l2_gradient_by_hand"], ITEM["output_gradients"], ITEM["depth_gains"], ITEM["loss_gaps"],
            ITEM["gap_below_next_worst"]}
    assert all(got[i] == 0 for i in lost)
    assert {i: v for i, v in got.items() if i not in lost} == {i: p for i, p in full.items() if i not in lost}
    page = feedback(out, "nb_broken")
    for reason in ("does not parse: SyntaxError", "notebooks/08_full_comparison.ipynb is not in the submission",
                   "notebooks/10_sigmoid_with_l2.ipynb has no code cell that defines output_gradients"):
        assert md_inline(reason) in page, reason


def test_only_the_definitions_and_the_imports_they_need_are_taken_out(tmp_path):
    path = tmp_path / "nb.ipynb"
    cells = ["import numpy as np\nimport os\nfrom mlp_lab.analysis import recorded_run, score_gaps\n",
             "SCALE = 3  # a global: not taken\nprint('side effect')\n\n\n@staticmethod\ndef helper(x):\n"
             "    return np.tanh(x)\n\n\ndef f(x):\n    %time 1\n    return helper(x) * score_gaps(x) + os.sep\n"
             "f(1)\n",
             "import numpy as np  # a later binding of the same name: the earlier is kept\n"]
    write_notebook({"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [
        {"cell_type": "code", "id": f"c{i}", "metadata": {}, "source": c, "outputs": [], "execution_count": None}
        for i, c in enumerate(cells)]}, path)
    source = extract(path, "f").source
    lines = source.splitlines()
    assert lines[4] == "@staticmethod" and lines[9] == "def f(x):"  # the lines they hold in their cell
    assert "SCALE" not in source and "print" not in source and "f(1)" not in source and "%time" not in source
    assert source.count("import numpy as np") == 1 and "from mlp_lab.analysis import score_gaps" in source
    assert "recorded_run" not in source and "import os" in source
    assert "import score_gaps" not in extract(path, "f", provide=("score_gaps",)).source
    with pytest.raises(ExtractionError, match="has no code cell that defines g"):
        extract(path, "g")


def test_every_fault_fails_its_check_whatever_the_seed():
    """Each submission draws its own inputs: every fault above must fail on every seed, the solution pass."""
    checks = {c.name.split(".")[0]: c for c in build_exercise_checks(NOTEBOOKS)}
    assert self_test(list(checks.values()), seed=7) == []
    kit = REPO / "notebooks"
    for function, body in FAULTS.items():
        exercise = next(e for e in EXERCISES if e.function == function)
        check = checks[exercise.item]
        cell = next(c["source"] for c in read_notebook(kit / exercise.notebook)["cells"]
                    if f"def {function}(" in c["source"])
        faulty = _with_region(cell, function, body)
        for seed in range(30):
            request = check.build(np.random.default_rng(seed))
            expected, _ = reference_outputs(check, request)
            sent = student_request(request, _extract_from(faulty, exercise))
            try:
                outputs, _ = run_operation(mlp_core, "notebook", sent[0], {k: v.copy() for k, v in sent[1].items()})
            except Exception:  # noqa: BLE001 - a fault may raise: that fails it too
                continue
            assert verdict(check, sent, {"ok": True}, outputs, expected, {}), (function, seed)


def _with_region(cell: str, function: str, body: str) -> str:
    """The instructor's cell with ``body`` in place of ``function``'s solution region (the others' answers kept)."""
    released, _ = strip_solutions(cell, "cell", "notebooks/cell.ipynb")
    return fill_in_solutions(released, cell, "cell", replacements={function: body})


def _extract_from(cell: str, exercise) -> str:
    """The source the judge would take out of a copy of the instructor's notebook whose cell reads ``cell``."""
    nb = read_notebook(NOTEBOOKS / exercise.notebook)
    for c in nb["cells"]:
        if f"def {exercise.function}(" in c["source"] and c["cell_type"] == "code":
            c["source"] = cell
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / exercise.notebook
        write_notebook(nb, path)
        return extract(path, exercise.function, exercise.provide).source


def test_an_exercise_without_a_check_stops_grading(tmp_path):
    shutil.copytree(NOTEBOOKS, tmp_path / "notebooks")
    path = tmp_path / "notebooks" / "04_network_and_optimizer.ipynb"
    nb = read_notebook(path)
    nb["cells"].append({"cell_type": "code", "id": "new", "metadata": {}, "outputs": [], "execution_count": None,
                        "source": "def new_exercise(x):\n    # BEGIN " + "SOLUTION\n    return x\n    # END "
                                  + "SOLUTION\n"})
    write_notebook(nb, path)
    with pytest.raises(ValueError, match=r"without a check: new_exercise \(04_network_and_optimizer.ipynb\)"):
        build_exercise_checks(tmp_path / "notebooks")
    shutil.copytree(REPO / "mlp_core", tmp_path / "mlp_core")
    with pytest.raises(GradingError, match="the notebook exercises cannot be graded"):
        Grader(source_dir=tmp_path, data_dir=require_mnist(), sandbox=False)
