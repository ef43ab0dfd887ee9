"""A notebook exercise's function, taken out of a notebook as source: read with ``ast``, never run here.

A notebook exercise is a function whose body holds a solution region in the
instructor's notebook (:func:`exercise_functions`). :func:`extract` takes one
from a notebook, the student's or the instructor's alike:

* the code cell that defines it at its top level (the last such cell, as
  running the notebook in order would leave it), IPython lines (``%``, ``!``)
  dropped;
* of that cell only the function definitions (decorators included), at the
  lines they hold in the cell, so a traceback's line is the cell's; every
  other statement is left out (blank lines), and so is every other cell;
* then the imports those definitions need: the top-level ``import`` and
  ``from ... import`` of any code cell of the notebook that bind a name the
  definitions use (the binding at or before the function's cell, else the
  first after it), each reduced to those names and wrapped in ``try: ...
  except ImportError: pass`` (a module the sandbox lacks leaves the name
  undefined, which fails only if the function uses it). Names in ``provide``
  are left to the worker.

The result is executed in the sandbox (:mod:`mlp_instructor.worker.exercises`)
for a student, in the judge for the instructor's solution. A notebook that is
missing, unreadable or without the function, a cell that does not parse, and
a function still raising the release's placeholder each give an
:class:`ExtractionError` whose message is the reason the feedback shows.
:class:`NotebookCode` reads and parses a notebook once for all its exercises.
"""

from __future__ import annotations

import ast
import builtins
from dataclasses import dataclass
from pathlib import Path

from mlp_core.progress import placeholder_function
from mlp_instructor.notebooks import read_notebook
from mlp_instructor.release.markers import BEGIN_MARKER


class ExtractionError(ValueError):
    """The function cannot be taken out of the notebook; the message says why, for the student."""


@dataclass(frozen=True)
class Extracted:
    """A function's source as the worker executes it, and the id of the cell it came from."""

    source: str
    cell: str


def _python(source: str) -> str:
    """A cell's code with its IPython lines (``%magic``, ``!shell``) blanked, line numbers kept."""
    return "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines())


def _code_cells(nb: dict) -> list[tuple[str, str]]:
    """(cell id or its position, code) of every code cell."""
    return [(str(cell.get("id") or f"#{i + 1}"), _python(str(cell.get("source", ""))))
            for i, cell in enumerate(nb["cells"]) if isinstance(cell, dict) and cell.get("cell_type") == "code"]


def _defines(tree: ast.Module, function: str) -> ast.FunctionDef | None:
    found = [n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.name == function]
    return found[-1] if found else None


def exercise_functions(notebooks: Path) -> dict[str, tuple[str, ...]]:
    """Notebook file name -> the functions whose bodies hold a solution region (the instructor's notebooks)."""
    found: dict[str, tuple[str, ...]] = {}
    for path in sorted(Path(notebooks).glob("*.ipynb")):
        names: list[str] = []
        for _, code in _code_cells(read_notebook(path)):
            if BEGIN_MARKER not in code:
                continue
            for node in ast.parse(code).body:
                if isinstance(node, ast.FunctionDef) and BEGIN_MARKER in (ast.get_source_segment(code, node) or ""):
                    names.append(node.name)
        if names:
            found[path.name] = tuple(names)
    return found


def _used_names(nodes: list[ast.stmt]) -> set[str]:
    return {n.id for node in nodes for n in ast.walk(node) if isinstance(n, ast.Name)}


def _bound_by(alias: ast.alias, node: ast.stmt) -> str:
    return alias.asname or (alias.name.split(".")[0] if isinstance(node, ast.Import) else alias.name)


def _imports(cells: list[tuple[int, ast.Module]], at: int, needed: set[str]) -> list[str]:
    """One guarded import statement per needed name the notebook's top-level imports bind."""
    candidates: dict[str, list[tuple[int, str]]] = {}
    for index, tree in cells:
        for node in tree.body:
            if not isinstance(node, (ast.Import, ast.ImportFrom)) or getattr(node, "level", 0) \
                    or getattr(node, "module", "") == "__future__":
                continue
            for alias in node.names:
                name = _bound_by(alias, node)
                if alias.name != "*" and name in needed:
                    one = (ast.Import(names=[alias]) if isinstance(node, ast.Import)
                           else ast.ImportFrom(module=node.module, names=[alias], level=0))
                    candidates.setdefault(name, []).append((index, ast.unparse(one)))
    statements = []
    for name in sorted(candidates):
        before = [statement for index, statement in candidates[name] if index <= at]
        statement = before[-1] if before else candidates[name][0][1]
        statements.append(f"try:\n    {statement}\nexcept ImportError:\n    pass")
    return statements


class NotebookCode:
    """A notebook's code cells, read and parsed once; :meth:`function` takes one function out.

    Raises ExtractionError (when the notebook is missing or unreadable) from
    :meth:`function`, so that each function's item reports it.
    """

    def __init__(self, path: Path):
        self.where = f"notebooks/{path.name}"
        self.problem = ""
        self.cells: list[tuple[str, str]] = []
        #: index of a code cell -> its tree, or why it does not parse (parsed when first needed)
        self._trees: dict[int, ast.Module | str] = {}
        if not path.is_file():
            self.problem = f"{self.where} is not in the submission"
            return
        try:
            self.cells = _code_cells(read_notebook(path))
        except Exception as exc:  # noqa: BLE001 - any broken file is the student's, reported
            self.problem = f"{self.where} cannot be read ({type(exc).__name__})"

    def _tree(self, index: int) -> ast.Module | str:
        if index not in self._trees:
            try:
                self._trees[index] = ast.parse(self.cells[index][1])
            except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:  # too deeply nested: the last two
                line = getattr(exc, "lineno", None)
                self._trees[index] = f"{type(exc).__name__}" + (f" on its line {line}" if line else "")
        return self._trees[index]

    def _parsed(self, word: str) -> list[tuple[int, ast.Module | str]]:
        """(index, tree or why not) of the code cells whose text holds ``word`` (the others cannot matter)."""
        return [(i, self._tree(i)) for i, (_, code) in enumerate(self.cells) if word in code]

    def function(self, function: str, provide: tuple[str, ...] = ()) -> Extracted:
        """The source of ``function`` (see the module's docstring).

        Raises:
            ExtractionError: the notebook is missing or unreadable, no cell
                defines the function, its cell does not parse, or it is not written yet.
        """
        if self.problem:
            raise ExtractionError(self.problem)
        candidates = self._parsed(f"def {function}")
        holders = [(index, tree, node) for index, tree in candidates if isinstance(tree, ast.Module)
                   for node in [_defines(tree, function)] if node is not None]
        last = holders[-1][0] if holders else -1
        broken = [(i, why) for i, why in candidates if isinstance(why, str) and i > last]
        if broken:
            index, why = broken[-1]
            raise ExtractionError(f"the cell of {self.where} that defines {function} (cell {self.cells[index][0]}) "
                                  f"does not parse: {why}")
        if not holders:
            raise ExtractionError(f"{self.where} has no code cell that defines {function} (a top-level def)")
        index, tree, node = holders[-1]
        if any(placeholder_function(statement) for statement in node.body):
            raise ExtractionError(f"{function} in {self.where} is not written yet "
                                  "(it still raises NotImplementedError)")
        cell_id, code = self.cells[index]
        definitions = [n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
        source_lines = code.splitlines()
        lines = [""] * len(source_lines)
        for definition in definitions:
            first = min([definition.lineno] + [d.lineno for d in definition.decorator_list])
            lines[first - 1:definition.end_lineno] = source_lines[first - 1:definition.end_lineno]
        needed = _used_names(definitions) - {d.name for d in definitions} - set(dir(builtins)) - set(provide)
        imports = [(i, tree) for i, tree in self._parsed("import") if isinstance(tree, ast.Module)]
        return Extracted("\n".join(lines + _imports(imports, index, needed)) + "\n", cell_id)


def extract(path: Path, function: str, provide: tuple[str, ...] = ()) -> Extracted:
    """The source of ``function`` from the notebook at ``path``: :meth:`NotebookCode.function` of one notebook."""
    return NotebookCode(path).function(function, provide)
