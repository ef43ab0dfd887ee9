"""Static checks of the course notebooks; no kernel is started.

Every notebook, in the instructor's copy and in the student's kit, must have
the parts listed in ``notebook_problems`` (``test_notebook_structure``). The
instructor's copy is also committed executed, so that a reader on GitHub sees
every output and figure: ``tests/test_committed_notebooks.py`` (instructor-only:
a student's kit has its outputs cleared) fails when one is committed
unexecuted, with an error output or too large. Running them is nbval's job:
``pytest --nbval-lax notebooks/``.
"""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

NOTEBOOK_DIR = Path(__file__).resolve().parent.parent / "notebooks"

EXPECTED_NOTEBOOKS = (
    "00_setup_and_data.ipynb",
    "01_linear_layer.ipynb",
    "02_activations.ipynb",
    "03_losses.ipynb",
    "04_network_and_optimizer.ipynb",
    "05_training_and_early_stopping.ipynb",
    "06_generalisation_and_tuning.ipynb",
    "07_error_analysis_and_diagnostics.ipynb",
    "08_full_comparison.ipynb",
    "09_vanishing_gradients.ipynb",
    "10_sigmoid_with_l2.ipynb",
    "11_output_activation_and_margin.ipynb",
)

MAX_BYTES = 2_000_000
QUICK_VARIABLE = "MLP_NOTEBOOK_QUICK"
#: The setup cell's line that makes an edit of mlp_core take effect on the next run of a cell
#: (mode 2 of IPython 9 ignores later edits of a from-imported class: tests/test_autoreload.py).
AUTORELOAD = "%autoreload 3"


def _tags(cell) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def notebook_problems(nb: nbformat.NotebookNode, *, executed: bool = True) -> list[str]:
    """Everything wrong with a notebook, one readable sentence each; [] if none.

    Every notebook must: be valid nbformat v4 with the python3 kernel; open
    with a Markdown cell saying what the student will learn; have a code cell
    tagged ``parameters`` that reads MLP_NOTEBOOK_QUICK, a code cell that
    turns on ``%autoreload 3``, and no empty code cell. With ``executed``
    (the instructor's committed copy) it must also have every code cell
    executed, in order, top to bottom in one kernel, with no error output,
    and hold at least one Markdown cell tagged ``solution``.
    """
    problems = []
    try:
        nbformat.validate(nb)
    except nbformat.ValidationError as error:
        problems.append(f"not a valid nbformat v4 notebook: {error.message}")
    kernel = nb.get("metadata", {}).get("kernelspec", {}).get("name")
    if kernel != "python3":
        problems.append(f"kernelspec is {kernel!r}, expected 'python3'")

    cells = nb.get("cells", [])
    if not cells or cells[0].cell_type != "markdown":
        problems.append("the first cell must be Markdown saying what the student will learn")
    elif "you will learn" not in cells[0].source.lower():
        problems.append("the first Markdown cell must say what the student will learn ('you will learn ...')")

    counts = []
    for index, cell in enumerate(cells):
        if cell.cell_type != "code":
            continue
        if not cell.source.strip():
            problems.append(f"cell {index} is an empty code cell: delete it")
            continue
        if not executed:
            continue
        if cell.get("execution_count") is None:
            problems.append(f"cell {index} was not executed (execution_count is null)")
        else:
            counts.append(cell.execution_count)
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                problems.append(
                    f"cell {index} has an error output: {output.get('ename')}: {output.get('evalue')}"
                )
    if counts != sorted(set(counts)):
        problems.append(
            "execution counts are not strictly increasing: restart the kernel and run all cells "
            "from the top before committing"
        )

    params = [c for c in cells if c.cell_type == "code" and "parameters" in _tags(c)]
    if not params:
        problems.append("no code cell is tagged 'parameters'")
    elif not any(QUICK_VARIABLE in c.source for c in params):
        problems.append(f"the 'parameters' cell does not read {QUICK_VARIABLE}")

    if not any(c.cell_type == "code" and AUTORELOAD in c.source.splitlines() for c in cells):
        problems.append(f"no code cell turns on {AUTORELOAD!r}: without it an edit of mlp_core needs a kernel restart")

    if executed and not any(c.cell_type == "markdown" and "solution" in _tags(c) for c in cells):
        problems.append("no Markdown cell is tagged 'solution' (the answers to the questions)")
    return problems


def notebook_file_problems(path: Path) -> list[str]:
    """``notebook_problems`` of the file at ``path``, plus its size limit."""
    size = path.stat().st_size
    problems = [] if size < MAX_BYTES else [
        f"file is {size:,} bytes, the limit is {MAX_BYTES:,}: lower the figures' dpi or shrink outputs"
    ]
    try:
        nb = nbformat.read(path, as_version=4)
    except Exception as error:  # any parse failure is the finding itself
        return problems + [f"cannot be read as a notebook: {error}"]
    return problems + notebook_problems(nb)


def test_the_twelve_notebooks_are_there():
    present = sorted(p.name for p in NOTEBOOK_DIR.glob("*.ipynb"))
    missing = sorted(set(EXPECTED_NOTEBOOKS) - set(present))
    unexpected = sorted(set(present) - set(EXPECTED_NOTEBOOKS))
    assert not missing and not unexpected, f"missing: {missing}; unexpected: {unexpected}"


@pytest.mark.parametrize("name", EXPECTED_NOTEBOOKS)
def test_notebook_structure(name):
    path = NOTEBOOK_DIR / name
    assert path.exists(), f"notebooks/{name} is missing"
    problems = notebook_problems(nbformat.read(path, as_version=4), executed=False)
    assert not problems, f"notebooks/{name}:\n  " + "\n  ".join(problems)


# --------------------------------------------------------------------------- #
# The checker itself, on small synthetic notebooks
# --------------------------------------------------------------------------- #


def _good_notebook() -> nbformat.NotebookNode:
    v4 = nbformat.v4
    nb = v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    params = v4.new_code_cell('import os\nQUICK = os.environ.get("MLP_NOTEBOOK_QUICK") == "1"',
                              execution_count=1)
    params.metadata["tags"] = ["parameters"]
    setup = v4.new_code_cell("%load_ext autoreload\n%autoreload 3\nimport numpy", execution_count=2)
    work = v4.new_code_cell("print(1 + 1)", execution_count=3,
                            outputs=[v4.new_output("stream", name="stdout", text="2\n")])
    answer = v4.new_markdown_cell("**Answer.** 2.")
    answer.metadata["tags"] = ["solution"]
    nb.cells = [v4.new_markdown_cell("# Title\n\nIn this notebook you will learn to add."), params, setup, work,
                v4.new_markdown_cell("**1.** What is 1 + 1?"), answer]
    return nb


def test_checker_accepts_a_good_notebook():
    assert notebook_problems(_good_notebook()) == []


def test_a_students_copy_needs_no_outputs_and_no_solutions():
    nb = _good_notebook()
    _unexecuted(nb)
    _no_solution(nb)
    assert notebook_problems(nb, executed=False) == []
    assert len(notebook_problems(nb)) == 2


def _with_error_output(nb):
    nb.cells[3].outputs.append(nbformat.v4.new_output(
        "error", ename="AssertionError", evalue="FAIL something", traceback=["..."]))


def _unexecuted(nb):
    nb.cells[3].execution_count = None
    nb.cells[3].outputs = []


def _out_of_order(nb):
    nb.cells[1].execution_count = 5


def _no_parameters(nb):
    nb.cells[1].metadata["tags"] = []


def _parameters_ignore_quick(nb):
    nb.cells[1].source = "EPOCHS = 3"


def _no_solution(nb):
    nb.cells[5].metadata["tags"] = []


def _no_autoreload(nb):
    nb.cells[2].source = "%load_ext autoreload\n%autoreload 2\nimport numpy"


def _code_first(nb):
    nb.cells.insert(0, nbformat.v4.new_code_cell("x = 1", execution_count=0))


def _first_cell_silent(nb):
    nb.cells[0].source = "# Title"


def _other_kernel(nb):
    nb.metadata["kernelspec"]["name"] = "julia-1.10"


def _empty_code_cell(nb):
    nb.cells.append(nbformat.v4.new_code_cell(""))


@pytest.mark.parametrize("spoil, expected", [
    (_with_error_output, "error output: AssertionError: FAIL something"),
    (_unexecuted, "was not executed"),
    (_out_of_order, "not strictly increasing"),
    (_no_parameters, "tagged 'parameters'"),
    (_parameters_ignore_quick, "does not read MLP_NOTEBOOK_QUICK"),
    (_no_solution, "tagged 'solution'"),
    (_code_first, "first cell must be Markdown"),
    (_first_cell_silent, "what the student will learn"),
    (_other_kernel, "kernelspec"),
    (_empty_code_cell, "empty code cell"),
    (_no_autoreload, "turns on '%autoreload 3'"),
])
def test_checker_catches(spoil, expected):
    nb = _good_notebook()
    spoil(nb)
    problems = notebook_problems(nb)
    assert any(expected in p for p in problems), problems


def test_checker_catches_error_and_unexecuted_cells_in_a_file(tmp_path):
    nb = _good_notebook()
    _with_error_output(nb)
    nb.cells.append(nbformat.v4.new_code_cell("print('never run')"))
    path = tmp_path / "bad.ipynb"
    nbformat.write(nb, path)
    problems = notebook_file_problems(path)
    assert any("error output" in p for p in problems), problems
    assert any("cell 6 was not executed" in p for p in problems), problems


def test_checker_catches_an_oversized_file(tmp_path):
    nb = _good_notebook()
    nb.cells[3].outputs = [nbformat.v4.new_output("stream", name="stdout", text="x" * MAX_BYTES)]
    path = tmp_path / "big.ipynb"
    nbformat.write(nb, path)
    assert any("limit is" in p for p in notebook_file_problems(path))


def test_checker_reports_an_unreadable_file(tmp_path):
    path = tmp_path / "broken.ipynb"
    path.write_text(json.dumps({"cells": "not a list"})[:-3])
    assert any("cannot be read" in p for p in notebook_file_problems(path))


# --------------------------------------------------------------------------- #
# The notebooks where the student writes: where to write, and derive before reading
# --------------------------------------------------------------------------- #

#: The notebooks whose functions the student writes (mlp_core.progress), and those that ask for derivations first.
WRITING_NOTEBOOKS = ("01_linear_layer.ipynb", "02_activations.ipynb", "03_losses.ipynb",
                     "04_network_and_optimizer.ipynb", "05_training_and_early_stopping.ipynb",
                     "06_generalisation_and_tuning.ipynb", "07_error_analysis_and_diagnostics.ipynb")
DERIVING_NOTEBOOKS = {"01_linear_layer.ipynb": 1, "02_activations.ipynb": 1, "03_losses.ipynb": 3,
                      "06_generalisation_and_tuning.ipynb": 2}
ATTEMPT, DERIVATION = "attempt", "derivation"


def derivation_problems(nb: nbformat.NotebookNode, pairs: int) -> list[str]:
    """What is wrong with the order of attempts and derivations; [] if nothing.

    Cells tagged ``attempt`` (the student's derivation by hand, a code cell to
    fill in, and the cell that checks it at once) and cells tagged
    ``derivation`` (the derivation itself, Markdown) must alternate in groups
    (in the instructor's copy and in a student's, where the function's body is
    one ``raise NotImplementedError`` line),
    an attempt first: every derivation comes after the attempt it answers,
    and there are ``pairs`` such pairs.
    """
    groups: list[tuple[str, list]] = []
    for index, cell in enumerate(nb.cells):
        tag = next((t for t in (ATTEMPT, DERIVATION) if t in _tags(cell)), None)
        if tag and groups and groups[-1][0] == tag and groups[-1][1][-1][0] == index - 1:
            groups[-1][1].append((index, cell))
        elif tag:
            groups.append((tag, [(index, cell)]))
    problems = []
    kinds = [kind for kind, _ in groups]
    if kinds != [ATTEMPT, DERIVATION] * pairs:
        problems.append(f"expected {pairs} attempt/derivation pairs in that order, found {kinds}")
    for kind, cells in groups:
        where = ", ".join(str(i) for i, _ in cells)
        if kind == DERIVATION and any(c.cell_type != "markdown" for _, c in cells):
            problems.append(f"derivation cells {where} must be Markdown")
        if kind == ATTEMPT and not any(c.cell_type == "code" and "def " in c.source for _, c in cells):
            problems.append(f"attempt cells {where} hold no function for the student to fill in")
        if kind == ATTEMPT and not any(c.cell_type == "code" and "check" in c.source for _, c in cells):
            problems.append(f"attempt cells {where} do not check the attempt at once")
    return problems


@pytest.mark.parametrize("name", sorted(DERIVING_NOTEBOOKS))
def test_each_derivation_comes_after_the_students_attempt(name):
    nb = nbformat.read(NOTEBOOK_DIR / name, as_version=4)
    problems = derivation_problems(nb, DERIVING_NOTEBOOKS[name])
    assert not problems, f"notebooks/{name}:\n  " + "\n  ".join(problems)


def test_the_order_check_catches_a_derivation_before_its_attempt():
    nb = nbformat.read(NOTEBOOK_DIR / "01_linear_layer.ipynb", as_version=4)
    reveal = next(i for i, c in enumerate(nb.cells) if DERIVATION in _tags(c))
    attempt = next(i for i, c in enumerate(nb.cells) if ATTEMPT in _tags(c))
    nb.cells.insert(attempt, nb.cells.pop(reveal))
    assert any("in that order" in p for p in derivation_problems(nb, 1))


@pytest.mark.parametrize("name", WRITING_NOTEBOOKS)
def test_the_notebook_says_where_to_write_in_a_students_kit(name):
    """A release has no solution markers: the student replaces each function's `raise NotImplementedError` line."""
    nb = nbformat.read(NOTEBOOK_DIR / name, as_version=4)
    assert "raise NotImplementedError" in nb.cells[0].source, f"{name}: the first cell must say where to write"
    markers = (f"BEGIN {'SOLUTION'}", f"END {'SOLUTION'}")
    said = [i for i, c in enumerate(nb.cells) if c.cell_type == "markdown" and any(m in c.source for m in markers)]
    assert not said, f"{name}: Markdown cells {said} tell the student about markers a release does not have"
