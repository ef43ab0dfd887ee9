"""The catalogue of typical mistakes (tests/_mistakes.py): each ends in a FAIL that names the function.
# instructor-only

For every mistake, written into a completed student kit (a release with the
answers filled in):

* the checks of its notebook run in a fresh kernel (the parameter and setup
  cells, then the notebook's check cells in order, stopping at the first
  error): the first error must be a ``CheckFailed`` (a FAIL, never a raw
  crash), never none at all (a PASS), and its message must name the function
  and carry the mistake's diagnosis;
* the student's ``pytest`` runs the module's test files: it must fail, and
  its summary must name the function as failing, with the command that shows why.

The right variants must pass both. Only the cells that a mistake needs run
(no training, no figures beyond a few), so the catalogue takes a few minutes.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from mlp_instructor.release.command import release

from ._mistakes import MISTAKES, REPO, RIGHT_VARIANTS, Mistake, completed_kit, write_module
from ._mnist import require_mnist

#: The cells of each notebook that check the student's functions (or set up what a check needs), in order.
CHECK_CELLS: dict[str, tuple[str, ...]] = {
    "notebooks/01_linear_layer.ipynb": (
        "nb01-04", "nb01-05", "nb01-hand", "nb01-hand-check", "nb01-07", "nb01-09", "nb01-11"),
    "notebooks/02_activations.ipynb": (
        "nb02-04", "nb02-05", "nb02-slopes", "nb02-slopes-check", "nb02-backward", "nb02-09", "nb02-13", "nb02-15",
        "nb02-16"),
    "notebooks/03_losses.ipynb": (
        "nb03-04", "nb03-l2-hand", "nb03-l2-hand-check", "nb03-l2-backward", "nb03-softmax", "nb03-06", "nb03-08",
        "nb03-10", "nb03-ce-hand", "nb03-ce-hand-check", "nb03-ce-backward", "nb03-12", "nb03-hinge-hand",
        "nb03-hinge-hand-check", "nb03-hinge-backward", "nb03-14", "nb03-20"),
    "notebooks/04_network_and_optimizer.ipynb": (
        "nb04-04", "f02f3f5c", "nb04-05", "febaedb6", "nb04-07", "nb04-09", "nb04-11"),
    "notebooks/05_training_and_early_stopping.ipynb": ("08964657", "974355a3", "832c55d2"),
    "notebooks/06_generalisation_and_tuning.ipynb": (
        "nb06-forward-check", "nb06-moments-attempt", "nb06-moments-check", "nb06-hand", "nb06-hand-check",
        "nb06-backward-check", "nb06-modes-check"),
    "notebooks/07_error_analysis_and_diagnostics.ipynb": ("nb07-cm-check", "nb07-stats-check"),
}


def check_cells(notebook: str) -> list:
    """The parameter and setup cells of ``notebook``, then its check cells (as nbformat cells)."""
    nb = nbformat.read(REPO / notebook, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code" and "colab" not in c.metadata.get("tags", [])]
    setup = [c for c in code if "parameters" in c.metadata.get("tags", []) or "%autoreload 3" in c.source]
    by_id = {c.id: c for c in code}
    return setup + [by_id[i] for i in CHECK_CELLS[notebook]]


def run_checks(kit: Path, notebook: str) -> tuple[str | None, str, str]:
    """Run the check cells of the kit's copy of ``notebook`` in a fresh kernel.

    Returns (the name of the first error or None, its message, everything printed before it).
    """
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    released = {c.id: c for c in nbformat.read(kit / notebook, as_version=4).cells}
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [released[c.id] for c in check_cells(notebook)]
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONSTARTUP")}
    env.update(PYTHONPATH=str(kit), MLP_NOTEBOOK_QUICK="1", PYTHONDONTWRITEBYTECODE="1", MPLBACKEND="Agg")
    client = NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(kit / "notebooks")}})
    error = None
    try:
        client.execute(env=env)
    except CellExecutionError as caught:
        error = caught
    printed = "\n".join("".join(o.get("text", "")) for c in nb.cells for o in c.get("outputs", []))
    return (error.ename, error.evalue, printed) if error else (None, "", printed)


def start_pytest(kit: Path, files: tuple[str, ...]) -> subprocess.Popen:
    """The student's pytest on ``files`` in ``kit`` (without the notebook plugin, which these files do not use)."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "MLP_NOTEBOOK_QUICK")}
    env.update(PYTHONPATH=str(kit), PYTHONDONTWRITEBYTECODE="1")
    return subprocess.Popen([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:nbval", *files],
                            cwd=kit, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


@pytest.fixture(scope="module")
def kit(tmp_path_factory) -> Path:
    if "MNIST_DIR" not in os.environ:
        os.environ["MNIST_DIR"] = str(require_mnist())  # notebook 04's checks load MNIST
    out = tmp_path_factory.mktemp("mistakes")
    release(out / "release")
    return completed_kit(out / "release", out / "kit")


def run_mistake(kit: Path, mistake: Mistake) -> tuple[tuple, subprocess.CompletedProcess]:
    """Write ``mistake`` into the kit, run its notebook's checks and the student's pytest, put the answer back."""
    module = mistake.exercise.module
    write_module(kit, module, mistake.bodies())
    try:
        tests = start_pytest(kit, mistake.test_files)
        notebook = run_checks(kit, mistake.notebook)
        stdout, _ = tests.communicate(timeout=600)
    finally:
        write_module(kit, module)
    return notebook, subprocess.CompletedProcess(tests.args, tests.returncode, stdout)


@pytest.mark.parametrize("mistake", MISTAKES, ids=lambda m: m.name)
def test_each_mistake_ends_in_a_fail_that_names_the_function(kit, mistake):
    (ename, evalue, printed), tests = run_mistake(kit, mistake)
    assert ename is not None, f"{mistake.name}: every check of {mistake.notebook} passed:\n{printed[-2000:]}"
    assert ename == "CheckFailed", f"{mistake.name}: a raw {ename}, not a FAIL: {evalue}"
    assert "FAIL" in evalue and mistake.named in evalue, f"{mistake.name}: the FAIL does not name {mistake.named}:\n{evalue}"
    missing = [w for w in mistake.words if w not in evalue]
    assert not missing, f"{mistake.name}: the FAIL lacks {missing}:\n{evalue}"
    assert tests.returncode == 1, f"{mistake.name}: the student's pytest did not fail:\n{tests.stdout[-3000:]}"
    assert f"  {mistake.named}: written, FAILING" in tests.stdout, \
        f"{mistake.name}: pytest's summary does not name {mistake.named} as failing:\n{tests.stdout[-3000:]}"
    assert tests.stdout.index("notebook by notebook") < tests.stdout.index("= FAILURES ="), \
        f"{mistake.name}: the summary comes after the failures' details"


@pytest.mark.parametrize("variant", RIGHT_VARIANTS, ids=lambda m: m.name)
def test_right_answers_written_differently_pass_every_check(kit, variant):
    (ename, evalue, printed), tests = run_mistake(kit, variant)
    assert ename is None, f"{variant.name}: a right answer failed {variant.notebook}: {ename}: {evalue}"
    assert tests.returncode == 0, f"{variant.name}: the student's pytest failed a right answer:\n{tests.stdout[-3000:]}"


def test_the_catalogue_is_large_and_covers_every_notebook_with_exercises():
    assert len(MISTAKES) >= 25
    assert len({m.name for m in MISTAKES}) == len(MISTAKES)
    assert {m.notebook for m in MISTAKES} == set(CHECK_CELLS)
    for mistake in MISTAKES + RIGHT_VARIANTS:
        mistake.bodies()  # every edit applies to the solution as it is
