"""What you have written so far: one test per notebook, passing once all its functions are written.

Each function you write in ``mlp_core`` starts out in your kit as a line
``raise NotImplementedError("Linear.forward: write this (see notebooks/01_linear_layer.ipynb)")``.
``test_notebook_functions_are_written[01_linear_layer]`` is skipped ("not
written yet", naming what is left) until every function notebook 01 asks for
no longer raises it; the other test files check that what you wrote is right. The end of every ``pytest`` run prints the same
list (``tests/conftest.py``). The list itself is ``mlp_core.progress.EXERCISES``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from mlp_core import progress

NOTEBOOKS = list(progress.EXERCISES)


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda nb: Path(nb).stem)
def test_notebook_functions_are_written(notebook):
    """Skipped, "not written yet", until every function of the notebook is written (tests/conftest.py turns
    NotWrittenYet into that skip); fails if a listed function is missing from its file."""
    progress.require_written(notebook, purpose=f"{notebook}")
    assert all(e.written for e in progress.exercises(notebook))


def test_every_listed_function_exists_with_its_notebook():
    root = Path(progress.__file__).resolve().parents[1]
    for exercise in progress.exercises():
        assert exercise.path.is_file(), exercise
        assert (root / exercise.notebook).is_file(), exercise
        exercise.written  # raises if the function is missing from its file


# --------------------------------------------------------------------------- #
# The detection itself, on a small module written to a temporary folder
# --------------------------------------------------------------------------- #

MODULE = '''\
class Layer:
    def forward(self, x):
        """Doc."""
        raise NotImplementedError("Layer.forward: write this (see notebooks/01_linear_layer.ipynb)")

    def backward(self, g):
        return g * 2

    def other(self):
        raise NotImplementedError("Layer.forward: write this (see notebooks/01_linear_layer.ipynb)")
'''


def test_a_function_is_written_once_its_placeholder_is_gone(tmp_path):
    path = tmp_path / "mod.py"
    path.write_text(MODULE)
    assert progress._has_placeholder(path, "Layer.forward")
    assert not progress._has_placeholder(path, "Layer.backward")
    assert not progress._has_placeholder(path, "Layer.other")  # a placeholder naming another function
    path.write_text(MODULE.replace('        raise NotImplementedError("Layer.forward: write this (see notebooks/'
                                   '01_linear_layer.ipynb)")\n\n    def backward', '        return x\n\n    def backward'))
    assert not progress._has_placeholder(path, "Layer.forward")


def test_a_missing_function_or_broken_file_is_named(tmp_path):
    path = tmp_path / "mod.py"
    path.write_text(MODULE)
    with pytest.raises(ValueError, match="mod.py has no function Layer.step; it must keep its name"):
        progress._has_placeholder(path, "Layer.step")
    path.write_text(MODULE + "\ndef broken(:\n")
    with pytest.raises(ValueError, match=r"mod.py does not parse \(.*line 12\)"):
        progress._has_placeholder(path, "Layer.forward")


def test_require_written_names_each_missing_function_and_its_notebook(monkeypatch):
    written = {"Linear.forward", "Linear.backward", "SGD.step", "Sequential.forward", "Sequential.backward",
               "evaluate"}
    monkeypatch.setattr(progress.Exercise, "written", property(lambda e: e.function in written))
    with pytest.raises(progress.NotWrittenYet) as caught:
        progress.require_written("01", "04", "05", purpose="Retraining needs")
    assert str(caught.value) == (
        "Retraining needs 2 functions you have not written yet:\n"
        "  notebooks/05_training_and_early_stopping.ipynb: train_epoch, EarlyStopping.step (mlp_core/training.py)"
    )
    progress.require_written("01", "04")  # all written: returns quietly
    lines = progress.progress_lines()
    assert lines[0] == "01_linear_layer: 2 of 2 written; all written"
    assert lines[1].startswith("02_activations: 0 of 6 written; to write: Sigmoid.forward, Sigmoid.backward,")
    with pytest.raises(ValueError, match="no exercises for notebook '08'"):
        progress.exercises("08")
