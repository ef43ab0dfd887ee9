"""The student release is built from the BEGIN/END SOLUTION markers: every region of the kit is well formed,
stripped to its placeholder and restored exactly (what the release does, with the release's own functions)."""
# instructor-only
# (the student release has no markers left to find, so this file stays out of it)

import ast
from pathlib import Path

import pytest

from mlp_core import progress
from mlp_instructor.notebooks import read_notebook
from mlp_instructor.release.markers import (fill_in_solutions, find_regions, marker_comments, strip_solutions,
                                            without_markers)

REPO = Path(__file__).resolve().parents[1]
MARKED = [p for p in sorted((REPO / "mlp_core").glob("**/*.py")) if marker_comments(p.read_text())]


def test_the_kit_has_solution_regions_to_release():
    assert {p.name for p in MARKED} >= {"layers.py", "activations.py", "losses.py", "network.py", "optim.py",
                                        "training.py"}


@pytest.mark.parametrize("path", MARKED, ids=lambda p: p.name)
def test_each_region_is_stripped_to_its_placeholder_and_restored_exactly(path, tmp_path):
    """Every region sits in a function; the stripped module parses, keeps no marker and no line of an answer,
    and its placeholders are what the student's progress report reads as "to write"; filling the answers
    back in gives the module exactly, minus the markers."""
    source = path.read_text()
    regions = find_regions(source, path.name)  # raises, naming the line, on a malformed marker
    assert all(r.function for r in regions), [r.begin for r in regions if not r.function]
    stripped, removed = strip_solutions(source, path.name, "notebooks/NN_the_notebook.ipynb")
    assert removed == regions
    ast.parse(stripped)
    assert marker_comments(stripped) == []
    answer_lines = {line.strip() for r in regions for line in r.body(source.splitlines())}
    kept_lines = {line.strip() for line in stripped.splitlines()}
    outside = {line.strip() for n, line in enumerate(source.splitlines(), 1)
               if not any(r.begin <= n <= r.end for r in regions)}
    assert not (answer_lines - outside) & kept_lines  # an answer line survives only where the module has it anyway
    student = tmp_path / path.name
    student.write_text(stripped)
    assert [progress.is_written(student, r.function) for r in regions] == [False] * len(regions)
    filled = fill_in_solutions(stripped, source, path.name)
    assert filled == without_markers(source)
    student.write_text(filled)
    assert all(progress.is_written(student, r.function) for r in regions)


@pytest.mark.parametrize("path", sorted((REPO / "notebooks").glob("*.ipynb")), ids=lambda p: p.stem)
def test_solution_regions_in_notebook_cells_are_well_formed(path):
    for cell in read_notebook(path)["cells"]:
        if cell["cell_type"] == "code":
            find_regions(cell["source"], f"{path.name} (cell {cell.get('id', '?')})")
