"""The release's check of its own output, run before the output is moved into place.

A release that leaks one answer is worse than none, and one that does not
import wastes a class's first hour; so the release refuses to finish unless
its copy passes :func:`check_release`. The strongest of the checks is the
leak check: every distinctive line of every solution region
(:func:`solution_lines`) is searched for in every released file, so an
answer copied into a public test, a README or a notebook output is caught
too, not only one the stripping missed.
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

from mlp_instructor.notebooks import SOLUTION_TAG, cell_tags, notebook_text, read_notebook

from . import ReleaseError
from .markers import DERIVATION_HEADING, fill_in_solutions, find_regions, marker_comments, without_markers

#: Folders of the repository the release must never contain.
WITHHELD: tuple[str, ...] = ("mlp_instructor", ".git", "runs")

#: Files a notebook may cite that the student needs (checked to be released when the kit has them).
CITED_DATA = re.compile(r"(?:results|mlp_lab/reference)/[\w./-]*\w")

#: Solution lines shorter than this are too generic ("return y") to prove a leak.
MIN_LEAK_LENGTH = 10


def solution_lines(source_dir: Path) -> dict[str, str]:
    """Distinctive lines of every solution region of the kit, each with where it comes from.

    A line is distinctive when, stripped, it is at least
    :data:`MIN_LEAK_LENGTH` characters long and does not also appear (as a
    whole line) outside the regions in ``mlp_core``: ``y = self.cache`` in
    Tanh is the student's to read, not a leak.
    """
    outside: set[str] = set()
    inside: dict[str, str] = {}

    def collect(text: str, where: str) -> None:
        lines = text.splitlines()
        covered = set()
        for region in find_regions(text, where):
            covered.update(range(region.begin, region.end + 1))
            for number in range(region.begin + 1, region.end):
                stripped = lines[number - 1].strip()
                if len(stripped) >= MIN_LEAK_LENGTH:
                    inside.setdefault(stripped, f"{where}:{number}")
        outside.update(l.strip() for n, l in enumerate(lines, 1) if n not in covered)

    for path in sorted((source_dir / "mlp_core").glob("**/*.py")):
        collect(path.read_text(encoding="utf-8"), path.relative_to(source_dir).as_posix())
    for path in sorted((source_dir / "notebooks").glob("*.ipynb")):
        nb = read_notebook(path)
        rel = path.relative_to(source_dir).as_posix()
        for cell in nb["cells"]:
            if SOLUTION_TAG in cell_tags(cell):
                for number, line in enumerate(cell["source"].splitlines(), 1):
                    if len(line.strip()) >= MIN_LEAK_LENGTH:
                        inside.setdefault(line.strip(), f"{rel} (cell {cell.get('id', '?')}, line {number})")
            elif cell["cell_type"] == "code":
                collect(cell["source"], f"{rel} (cell {cell.get('id', '?')})")
    return {line: where for line, where in inside.items() if line not in outside}


def _released_text(path: Path) -> str | None:
    """The text of a released file to search for leaks (None for binary files)."""
    if path.suffix == ".ipynb":
        return notebook_text(read_notebook(path))
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        return None


def check_release(out_dir: Path, source_dir: Path, originals: dict[str, str] | None = None,
                  *, import_check: bool = True) -> None:
    """Check the release ``out_dir`` of the kit ``source_dir``; raise :class:`ReleaseError` naming the first problem.

    * no withheld folder (:data:`WITHHELD`: ``mlp_instructor/``, ``.git``,
      ``runs/``) is present, and ``pyproject.toml`` registers no instructor command;
    * every ``.py`` file parses and no solution marker is left in it, nor a
      docstring's derivation section in ``mlp_core``;
    * no notebook cell is still tagged ``solution``;
    * filling the regions back in reproduces each original module exactly
      (``originals``: relative path -> the text before stripping);
    * no distinctive solution line (:func:`solution_lines`) occurs anywhere;
    * ``import mlp_core`` and ``mlp_lab`` and each of their modules works from
      the copy alone (unless ``import_check`` is False);
    * every file a released notebook cites under ``results/`` or
      ``mlp_lab/reference/`` (:data:`CITED_DATA`) is in the copy if the kit has it.
    """
    for name in WITHHELD:
        if (out_dir / name).exists():
            raise ReleaseError(f"the release contains {name}/, which must never be released")
    pyproject = out_dir / "pyproject.toml"
    if pyproject.exists() and "mlp.commands" in pyproject.read_text(encoding="utf-8"):
        raise ReleaseError("the released pyproject.toml still registers the instructor's commands (mlp.commands)")
    leaks = solution_lines(source_dir)
    for path in sorted(p for p in out_dir.rglob("*") if p.is_file()):
        rel = path.relative_to(out_dir).as_posix()
        if path.suffix == ".py":
            text = path.read_text(encoding="utf-8")
            try:
                ast.parse(text, rel)
            except SyntaxError as exc:
                raise ReleaseError(f"released {rel} does not parse: {exc.msg} at line {exc.lineno}") from None
            markers = [n for n, _ in marker_comments(text)]
            if markers:
                raise ReleaseError(f"released {rel}:{markers[0]} still has a solution marker")
            derivations = [n for n, line in enumerate(text.splitlines(), 1) if line.strip() == DERIVATION_HEADING]
            if derivations and rel.startswith("mlp_core/"):
                raise ReleaseError(f"released {rel}:{derivations[0]} still has a docstring's derivation section")
        if path.suffix == ".ipynb":
            _check_cited_data(path, rel, out_dir, source_dir)
            for cell in read_notebook(path)["cells"]:
                if SOLUTION_TAG in cell_tags(cell):
                    raise ReleaseError(f"released {rel} still has a cell tagged {SOLUTION_TAG!r}")
        text = _released_text(path)
        if text is None:
            continue
        for line, where in leaks.items():
            if line in text:
                number = next((n for n, l in enumerate(text.splitlines(), 1) if line in l), "?")
                raise ReleaseError(
                    f"the release leaks a solution line: {rel}:{number} contains {line!r} from {where}"
                )
    for rel, original in (originals or {}).items():
        filled = fill_in_solutions((out_dir / rel).read_text(encoding="utf-8"), original, rel)
        if filled != without_markers(original):
            raise ReleaseError(f"filling the answers back into released {rel} does not give the original")
    if import_check:
        _check_imports(out_dir)


def _check_cited_data(notebook: Path, rel: str, out_dir: Path, source_dir: Path) -> None:
    """Every results/ or mlp_lab/reference/ path the notebook cites, and the kit has, is released."""
    for cell in read_notebook(notebook)["cells"]:
        for cited in CITED_DATA.findall(cell["source"]):
            if (source_dir / cited).exists() and not (out_dir / cited).exists():
                raise ReleaseError(f"released {rel} cites {cited}, which the kit has but the release left out")


_IMPORT_CHECK = """
import importlib, pathlib, pkgutil, sys
root = pathlib.Path(sys.argv[1]).resolve()
for name in ("mlp_core", "mlp_lab"):
    package = importlib.import_module(name)
    if root not in pathlib.Path(package.__file__).resolve().parents:
        sys.exit(f"{name} was imported from {package.__file__}, not from the release")
    for info in pkgutil.walk_packages(package.__path__, prefix=name + "."):
        if not info.name.endswith("__main__"):
            importlib.import_module(info.name)
"""


def _check_imports(out_dir: Path) -> None:
    """Import every module of the released mlp_core and mlp_lab in a fresh interpreter, from the copy."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONSTARTUP")}
    env.update(PYTHONPATH=str(out_dir), PYTHONDONTWRITEBYTECODE="1", MPLBACKEND="Agg")
    proc = subprocess.run(
        [sys.executable, "-c", _IMPORT_CHECK, str(out_dir)],
        cwd=out_dir, env=env, capture_output=True, text=True, timeout=120,
    )
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["(no message)"])[-1]
        raise ReleaseError(f"the released mlp_core or mlp_lab does not import: {last}")
