"""Which of the functions a student writes are written, and which notebook teaches each.

In the student's kit every function of :data:`EXERCISES` starts out as one line,
the placeholder

    raise NotImplementedError("Linear.forward: write this (see notebooks/01_linear_layer.ipynb)")

and counts as **written** once that line is gone from its body. The check
reads the file on disk (``mlp_core/<module>.py``, parsed with ``ast``), not the
function object in memory, so it sees an edit the moment it is saved, in a
notebook or in pytest.

The placeholder's format lives here and only here: :func:`placeholder_line`
writes it (the release puts it in place of every solution region) and
:func:`placeholder_function` recognises it (the release, filling answers back
in, and :func:`is_written`). Its message names the function, so a student who
runs a notebook early learns what to write and where it is taught.

Used by notebook 08 (retraining needs the code of notebooks 01-05), by the
student's ``pytest`` (``tests/test_progress.py`` and the summary at the end of
the run) and by the release, which checks that this table names exactly the
functions it strips.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent

#: The functions a student writes, by the notebook that teaches them, as
#: ``module.Class.method`` or ``module.function`` (module relative to mlp_core), in the notebook's order.
EXERCISES: dict[str, tuple[str, ...]] = {
    "notebooks/01_linear_layer.ipynb": ("layers.Linear.forward", "layers.Linear.backward"),
    "notebooks/02_activations.ipynb": (
        "activations.Sigmoid.forward", "activations.Sigmoid.backward",
        "activations.ReLU.forward", "activations.ReLU.backward",
        "activations.GELU.forward", "activations.GELU.backward",
    ),
    "notebooks/03_losses.ipynb": (
        "losses.L2Loss.forward", "losses.L2Loss.backward", "losses.softmax",
        "losses.SoftmaxCrossEntropyLoss.forward", "losses.SoftmaxCrossEntropyLoss.backward",
        "losses.HingeLoss.forward", "losses.HingeLoss.backward",
    ),
    "notebooks/04_network_and_optimizer.ipynb": (
        "network.Sequential.forward", "network.Sequential.backward", "optim.SGD.step",
    ),
    "notebooks/05_training_and_early_stopping.ipynb": (
        "training.evaluate", "training.train_epoch", "training.EarlyStopping.step",
    ),
    "notebooks/06_generalisation_and_tuning.ipynb": ("dropout.Dropout.forward", "dropout.Dropout.backward"),
    "notebooks/07_error_analysis_and_diagnostics.ipynb": (
        "metrics.confusion_matrix", "layer_stats.activation_statistics",
    ),
}

#: A placeholder's message: the function's name, then where it is taught.
PLACEHOLDER_MESSAGE = re.compile(r"^(?P<function>[^:]+): write this \(see (?P<notebook>.*)\)$")


def placeholder_message(function: str, notebook: str) -> str:
    """``"Linear.forward: write this (see notebooks/01_linear_layer.ipynb)"``: what the student reads."""
    return f"{function}: write this (see {notebook})"


def placeholder_line(function: str, notebook: str) -> str:
    """The statement that stands for ``function`` in the student's kit (without indentation).

    ``raise NotImplementedError("<placeholder_message>")``: double quotes, or
    ``repr`` where the message holds a quote or a backslash, so the line is
    always valid Python.
    """
    message = placeholder_message(function, notebook)
    quoted = f'"{message}"' if '"' not in message and "\\" not in message else repr(message)
    return f"raise NotImplementedError({quoted})"


def placeholder_function(statement: str | ast.stmt) -> str | None:
    """The function a placeholder names, if ``statement`` is one; else None.

    ``statement`` is a line of code (indentation and a trailing comment are
    allowed) or a parsed statement. A placeholder is a ``raise`` of
    ``NotImplementedError`` called with one string matching
    :data:`PLACEHOLDER_MESSAGE`; any other code, a syntax error included, is not.
    """
    if isinstance(statement, str):
        if "NotImplementedError" not in statement:
            return None
        try:
            body = ast.parse(statement.strip()).body
        except SyntaxError:
            return None
        if len(body) != 1:
            return None
        statement = body[0]
    exc = statement.exc if isinstance(statement, ast.Raise) else None
    if not (isinstance(exc, ast.Call) and isinstance(exc.func, ast.Name) and exc.func.id == "NotImplementedError"
            and len(exc.args) == 1 and isinstance(exc.args[0], ast.Constant) and isinstance(exc.args[0].value, str)):
        return None
    match = PLACEHOLDER_MESSAGE.match(exc.args[0].value)
    return match["function"] if match else None


@dataclass(frozen=True)
class Exercise:
    """One function to write: ``module`` (``"layers"``), ``function`` (``"Linear.forward"``), its notebook."""

    notebook: str
    module: str
    function: str

    @property
    def path(self) -> Path:
        return PACKAGE_DIR / f"{self.module}.py"

    @property
    def written(self) -> bool:
        """False while the function's body still raises its placeholder (:func:`is_written`)."""
        return is_written(self.path, self.function)

    def __str__(self) -> str:
        return f"{self.function} (mlp_core/{self.module}.py, {self.notebook})"


def exercises(notebook: str | None = None) -> list[Exercise]:
    """Every exercise, or those of one notebook (its path, file name or number prefix such as ``"03"``)."""
    found = [
        Exercise(nb, *name.split(".", 1))
        for nb, names in EXERCISES.items()
        if notebook is None or _matches(nb, notebook)
        for name in names
    ]
    if notebook is not None and not found:
        known = ", ".join(Path(nb).name for nb in EXERCISES)
        raise ValueError(f"no exercises for notebook {notebook!r}; the notebooks with exercises are: {known}")
    return found


def still_to_write(*notebooks: str) -> list[Exercise]:
    """The exercises not written yet, of the given notebooks (default: all)."""
    chosen = [e for nb in notebooks for e in exercises(nb)] if notebooks else exercises()
    return [e for e in chosen if not e.written]


class NotWrittenYet(NotImplementedError):
    """Raised by :func:`require_written`; the message lists each missing function and its notebook."""


def require_written(*notebooks: str, purpose: str = "This needs") -> None:
    """Raise :class:`NotWrittenYet` naming every function still to write (of ``notebooks``; default all).

    The message groups the functions by notebook::

        Retraining needs 3 functions you have not written yet:
          notebooks/04_network_and_optimizer.ipynb: SGD.step (mlp_core/optim.py)
          ...
    """
    missing = still_to_write(*notebooks)
    if not missing:
        return
    lines = [f"{purpose} {len(missing)} function{'s' if len(missing) != 1 else ''} you have not written yet:"]
    for nb in EXERCISES:
        names = [e for e in missing if e.notebook == nb]
        if names:
            files = sorted({f"mlp_core/{e.module}.py" for e in names})
            lines.append(f"  {nb}: {', '.join(e.function for e in names)} ({', '.join(files)})")
    raise NotWrittenYet("\n".join(lines))


def progress_lines() -> list[str]:
    """One line per notebook: how many of its functions are written, and which are still to write."""
    lines = []
    for nb in EXERCISES:
        items = exercises(nb)
        todo = [e.function for e in items if not e.written]
        state = "all written" if not todo else "to write: " + ", ".join(todo)
        lines.append(f"{Path(nb).stem}: {len(items) - len(todo)} of {len(items)} written; {state}")
    return lines


def _matches(notebook_path: str, wanted: str) -> bool:
    name = Path(notebook_path).name
    return wanted in (notebook_path, name, Path(notebook_path).stem) or name.startswith(f"{wanted}_")


def is_written(path: str | Path, function: str) -> bool:
    """Whether ``function`` (``"Linear.forward"``) of the Python file ``path`` no longer raises its placeholder.

    Only a placeholder naming ``function`` itself counts: one that names
    another function (code pasted from elsewhere) does not.

    Raises:
        ValueError: the file does not parse, or has no such function (renamed or deleted).
    """
    path = Path(path)
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    except SyntaxError as error:
        raise ValueError(
            f"{path.name} does not parse ({error.msg}, line {error.lineno}): fix it before checking what is written"
        ) from None
    node = _find_function(tree, function.split("."))
    if node is None:
        raise ValueError(f"{path.name} has no function {function}; it must keep its name and signature")
    return not any(isinstance(n, ast.Raise) and placeholder_function(n) == function for n in ast.walk(node))


def _find_function(node: ast.AST, parts: list[str]) -> ast.AST | None:
    for child in getattr(node, "body", []):
        if isinstance(child, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and child.name == parts[0]:
            return child if len(parts) == 1 else _find_function(child, parts[1:])
    return None
