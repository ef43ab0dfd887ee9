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
# The placeholder and its detection, on small modules written to a temporary folder
# --------------------------------------------------------------------------- #


def module(forward_body: str, other_body: str = "return 0") -> str:
    """A small module whose ``Layer.forward`` has ``forward_body``, as a student's file would."""
    return (
        "class Layer:\n"
        "    def forward(self, x):\n"
        '        """Doc."""\n'
        f"        {forward_body}\n"
        "\n"
        "    def backward(self, g):\n"
        "        return g * 2\n"
        "\n"
        "    def other(self):\n"
        f"        {other_body}\n"
    )


def test_the_placeholder_names_the_function_and_its_notebook():
    line = progress.placeholder_line("Linear.forward", "notebooks/01_linear_layer.ipynb")
    assert line == 'raise NotImplementedError("Linear.forward: write this (see notebooks/01_linear_layer.ipynb)")'
    with pytest.raises(NotImplementedError, match=r"^Linear.forward: write this \(see notebooks/01_linear_layer"):
        exec(line)
    assert progress.placeholder_function("    " + line + "  # still to do") == "Linear.forward"
    odd = progress.placeholder_line("f", 'notes "quoted" \\ here')  # always valid Python, whatever the text
    assert progress.placeholder_function(odd) == "f"
    for other in ("raise NotImplementedError", 'raise NotImplementedError("not yet")', "return x",
                  'raise ValueError("f: write this (see x)")', "raise NotImplementedError(", ""):
        assert progress.placeholder_function(other) is None, other


def test_a_function_is_written_once_its_placeholder_is_gone(tmp_path):
    path = tmp_path / "mod.py"
    placeholder = progress.placeholder_line("Layer.forward", "notebooks/01_linear_layer.ipynb")
    path.write_text(module(placeholder, other_body=placeholder))
    assert not progress.is_written(path, "Layer.forward")
    assert progress.is_written(path, "Layer.backward")
    assert progress.is_written(path, "Layer.other")  # a placeholder naming another function does not count
    path.write_text(module("return x", other_body=placeholder))
    assert progress.is_written(path, "Layer.forward")
    path.write_text(module("y = x\n        " + placeholder))  # written in part, the placeholder still there
    assert not progress.is_written(path, "Layer.forward")


def test_an_exercise_reads_its_own_file(tmp_path, monkeypatch):
    path = tmp_path / "layers.py"
    placeholder = progress.placeholder_line("Layer.forward", "notebooks/01_linear_layer.ipynb")
    path.write_text(module(placeholder))
    monkeypatch.setattr(progress, "PACKAGE_DIR", tmp_path)
    exercise = progress.Exercise("notebooks/01_linear_layer.ipynb", "layers", "Layer.forward")
    assert not exercise.written
    path.write_text(module("return x"))  # saved: seen at once, no reload
    assert exercise.written


def test_a_missing_function_or_broken_file_is_named(tmp_path):
    path = tmp_path / "mod.py"
    path.write_text(module("return x"))
    with pytest.raises(ValueError, match="mod.py has no function Layer.step; it must keep its name"):
        progress.is_written(path, "Layer.step")
    path.write_text(module("return x") + "\ndef broken(:\n")
    with pytest.raises(ValueError, match=r"mod.py does not parse \(.*line 12\)"):
        progress.is_written(path, "Layer.forward")


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
