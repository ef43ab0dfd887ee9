"""The student release: a copy of the kit with every answer taken out.

    python -m mlp_core release OUT_DIR [--force]

This repository is the instructor's copy: the code a student writes lives in
``mlp_core`` between two comment lines, :data:`BEGIN_MARKER` and
:data:`END_MARKER` ('#', then BEGIN or END, then SOLUTION; this file never
spells them out, so that no marker checker mistakes it for a marked file),

    <BEGIN_MARKER>
    ...the answer...
    <END_MARKER>

and the written answers live in notebook cells tagged ``solution``. The
release copies a whitelist of the kit (:data:`RELEASED`) to OUT_DIR and

* replaces every solution region by one line at the region's indentation,
  ``raise NotImplementedError("Linear.forward: write this (see
  notebooks/01_linear_layer.ipynb)")``: the function name comes from the
  enclosing ``def`` (found with ``ast``), the notebook from
  :data:`MODULE_NOTEBOOKS` (derived from ``mlp_core.progress.EXERCISES``,
  the student's list of what to write, which must name exactly the stripped
  functions); signatures and docstrings stay;
* clears every notebook's outputs, execution counts and widget state, and
  replaces each ``solution`` cell by a "YOUR ANSWER HERE" cell tagged
  ``answer`` (with ``metadata.mlp_course.question = "<notebook>/Q<k>"``, which
  the autograder uses to collect the written answers);
* copies the committed results (``results/``: the 54 runs of the report's
  grid, their tables and figures, which notebook 08 reads) and the reference
  report's files (``mlp_lab/reference/``, part of ``mlp_lab``) as they are;
* leaves out the instructor's tools (``mlp_instructor/``: this module, the
  grader, the hidden tests and the rubric), instructor-only tests and
  benchmarks (a ``.py`` file of :data:`INSTRUCTOR_ONLY_FOLDERS` with a line
  ``# instructor-only``), caches, data files and the instructor parts of
  every README (between ``<!-- BEGIN INSTRUCTOR -->`` and
  ``<!-- END INSTRUCTOR -->``).

It then checks its own output before moving it into place: every ``.py``
file parses, no solution marker or ``solution`` tag is left, filling the
regions back in gives the original files exactly, no line of any solution
region appears anywhere in the copy, and ``import mlp_core`` (every module)
works from the copy in a fresh interpreter; every ``results/...`` or
``mlp_lab/reference/...`` file a notebook cites that the kit has is in the copy.
If a check fails nothing is written and the error names the file and line.
"""

from __future__ import annotations

import argparse
import ast
import fnmatch
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tokenize
from dataclasses import dataclass, field
from pathlib import Path

from mlp_core.progress import EXERCISES

_WORD = "SOLUTION"
BEGIN_MARKER = f"# BEGIN {_WORD}"
END_MARKER = f"# END {_WORD}"
SOLUTION_TAG = "solution"
ANSWER_TAG = "answer"
ANSWER_TEXT = "YOUR ANSWER HERE"
INSTRUCTOR_ONLY = "# instructor-only"
#: Where a ``.py`` file with an :data:`INSTRUCTOR_ONLY` line stays out of the release: tests that
#: need the instructor's tools or results, and benchmarks that repeat the solution's arithmetic.
INSTRUCTOR_ONLY_FOLDERS: tuple[str, ...] = ("tests", "benchmarks")
README_INSTRUCTOR = ("<!-- BEGIN INSTRUCTOR -->", "<!-- END INSTRUCTOR -->")
#: The instructor's part of pyproject.toml (the ``mlp.commands`` entry points of ``release`` and ``grade``).
PYPROJECT_INSTRUCTOR = ("# BEGIN INSTRUCTOR", "# END INSTRUCTOR")
#: The address of the published kit, as the instructor's copy spells it: each
#: notebook's first code cell (tagged ``colab``) clones it in Google Colab, and
#: the README's Binder link names it. ``release --kit-url URL`` puts the real
#: one in; without it a student in Colab is told to ask for the link.
KIT_URL_PLACEHOLDER = "https://github.com/OWNER/REPO"
#: A kit URL safe to write into a Python string and a Markdown link.
_KIT_URL = re.compile(r"(https?|git|ssh|file)://[^\s\"'\\<>`]+")

#: Which notebook teaches the code of each module (by its number prefix):
#: the NotImplementedError of a removed region points the student there.
#: Derived from the student's own list, ``mlp_core.progress.EXERCISES``.
MODULE_NOTEBOOKS: dict[str, str] = {
    name.split(".", 1)[0]: Path(notebook).name.split("_", 1)[0]
    for notebook, names in EXERCISES.items() for name in names
}

#: What the release copies, relative to the repository root (a whitelist:
#: anything new in the repository stays out until it is named here).
#: Folders are copied recursively, minus :data:`NEVER_COPIED`.
RELEASED: tuple[str, ...] = (
    "mlp_core",
    "mlp_lab",
    "notebooks",
    "tests",
    "benchmarks",  # epoch timing against PyTorch: students can time their own code
    "results",  # the committed runs, tables and figures: notebook 08 shows them
    "conftest.py",  # runs notebooks in quick mode under nbval
    "data/README.md",
    "README.md",
    "LICENSE",
    "pyproject.toml",
    "constraints.txt",  # the exact versions CI and environment.yml install
    "environment.yml",
    "binder",  # Binder's environment (repo2docker reads binder/)
    ".gitignore",
)

#: Never copied, wherever they are (fnmatch patterns on a file or folder name).
NEVER_COPIED: tuple[str, ...] = (
    "__pycache__", "*.pyc", ".ipynb_checkpoints", ".pytest_cache", "*.egg-info",
    ".DS_Store", "*.npz", "*.npy", "*.gz", "*-ubyte", "*.zip",
)

#: Folders of the repository the release must never contain (checked on the output).
WITHHELD: tuple[str, ...] = ("mlp_instructor", ".git", "runs")

#: Files a notebook may cite that the student needs (checked to be released when the kit has them).
CITED_DATA = re.compile(r"(?:results|mlp_lab/reference)/[\w./-]*\w")

#: Solution lines shorter than this are too generic ("return y") to prove a leak.
MIN_LEAK_LENGTH = 10


class ReleaseError(ValueError):
    """The release cannot be made; the message says what is wrong and where."""


# ----------------------------------------------------------------------------
# Solution regions in Python source
# ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Region:
    """One solution region of a source file: a BEGIN_MARKER line, the answer, an END_MARKER line.

    ``begin`` and ``end`` are the 1-based line numbers of the two markers;
    ``indent`` the whitespace before them; ``function`` the qualified name of
    the enclosing def (``"Linear.forward"``), or "" outside any function.
    """

    begin: int
    end: int
    indent: str
    function: str

    def body(self, lines: list[str]) -> list[str]:
        """The lines strictly between the markers (``lines`` without line ends)."""
        return lines[self.begin : self.end - 1]


def _marker_comments(source: str) -> list[tuple[int, str]]:
    """(line number, comment text) of every comment mentioning a solution marker.

    Comments are found with ``tokenize``, so a docstring or string that
    mentions the markers (like this module's) is not mistaken for one. Source
    that does not tokenize (a notebook cell with IPython magics) falls back to
    whole lines that start with '#'.
    """
    pattern = re.compile(r"(BEGIN|END)\s*SOLUTION", re.IGNORECASE)
    found = []
    try:
        for tok in tokenize.generate_tokens(io.StringIO(source).readline):
            if tok.type == tokenize.COMMENT and pattern.search(tok.string):
                found.append((tok.start[0], tok.line))
    except (tokenize.TokenError, SyntaxError, IndentationError):
        found = [
            (n, line) for n, line in enumerate(source.splitlines(), 1)
            if line.lstrip().startswith("#") and pattern.search(line)
        ]
    return found


def find_regions(source: str, filename: str = "<source>") -> list[Region]:
    """The solution regions of ``source``, checked to be well formed.

    Raises:
        ReleaseError: a marker is misspelt, not alone on its line, nested,
            unbalanced, indented differently from its partner, or encloses
            nothing.
    """
    lines = source.splitlines()
    regions: list[Region] = []
    open_line, open_indent = None, ""
    for number, line in _marker_comments(source):
        stripped = line.strip()
        where = f"{filename}:{number}"
        indent = line[: len(line) - len(line.lstrip())]
        if stripped not in (BEGIN_MARKER, END_MARKER):
            raise ReleaseError(
                f"{where}: malformed solution marker {stripped!r}; write exactly "
                f"{BEGIN_MARKER!r} or {END_MARKER!r} alone on the line"
            )
        if stripped == BEGIN_MARKER:
            if open_line is not None:
                raise ReleaseError(f"{where}: {BEGIN_MARKER!r} inside the region opened at line {open_line}")
            open_line, open_indent = number, indent
            continue
        if open_line is None:
            raise ReleaseError(f"{where}: {END_MARKER!r} without a {BEGIN_MARKER!r} before it")
        if indent != open_indent:
            raise ReleaseError(f"{where}: {END_MARKER!r} indented differently from the begin marker at line {open_line}")
        if not any(l.strip() for l in lines[open_line : number - 1]):
            raise ReleaseError(f"{where}: empty solution region (opened at line {open_line})")
        regions.append(Region(open_line, number, open_indent, ""))
        open_line = None
    if open_line is not None:
        raise ReleaseError(f"{filename}:{open_line}: {BEGIN_MARKER!r} is never closed")
    if not regions:
        return regions
    functions = _enclosing_functions(source, filename)
    return [
        Region(r.begin, r.end, r.indent, _innermost(functions, r.begin)) for r in regions
    ]


def _enclosing_functions(source: str, filename: str) -> list[tuple[int, int, str]]:
    """(first line, last line, qualified name) of every function in ``source``."""
    try:
        tree = ast.parse(source, filename)
    except SyntaxError:
        return []
    spans: list[tuple[int, int, str]] = []

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                name = f"{prefix}{child.name}"
                spans.append((child.lineno, child.end_lineno or child.lineno, name))
                visit(child, f"{name}.")
            elif isinstance(child, ast.ClassDef):
                visit(child, f"{prefix}{child.name}.")
            else:
                visit(child, prefix)

    visit(tree, "")
    return spans


def _innermost(spans: list[tuple[int, int, str]], line: int) -> str:
    inside = [s for s in spans if s[0] <= line <= s[1]]
    return max(inside, key=lambda s: s[0])[2] if inside else ""


def not_implemented_line(region: Region, notebook: str) -> str:
    """The line that replaces a region: a raise naming the function and the notebook."""
    what = region.function or "this part"
    message = f"{what}: write this (see {notebook})"
    quoted = f'"{message}"' if '"' not in message and "\\" not in message else repr(message)
    return f"{region.indent}raise NotImplementedError({quoted})"


def strip_solutions(source: str, filename: str, notebook: str) -> tuple[str, list[Region]]:
    """``source`` with every region replaced by its ``raise NotImplementedError``.

    Returns the new source and the regions that were removed (line numbers of
    the original source).
    """
    regions = find_regions(source, filename)
    if not regions:
        return source, regions
    lines = source.splitlines(keepends=True)
    out: list[str] = []
    previous = 0
    for region in regions:
        out.extend(lines[previous : region.begin - 1])
        out.append(not_implemented_line(region, notebook) + "\n")
        previous = region.end
    out.extend(lines[previous:])
    return "".join(out), regions


def fill_in_solutions(
    released: str, original: str, filename: str = "<source>", *, replacements: dict[str, str] | None = None
) -> str:
    """Put the answers back into a released file: what a perfect student hands in.

    Each ``raise NotImplementedError`` line the release wrote becomes the body
    of the matching region of ``original`` (without the markers). A function
    named in ``replacements`` (``{"Sigmoid.backward": "y = self.cache\\nreturn
    ..."}``) gets that code instead, indented to the region: the tests use it
    to write faulty submissions.

    Raises:
        ReleaseError: the released file does not match ``original``'s regions,
            or a replacement names no region.
    """
    replacements = dict(replacements or {})
    original_lines = original.splitlines()
    regions = find_regions(original, filename)
    out = released.splitlines(keepends=True)
    result: list[str] = []
    index = 0
    for line in out:
        if index < len(regions) and _is_release_raise(line, regions[index]):
            region = regions[index]
            if region.function in replacements:
                code = replacements.pop(region.function)
                body = [region.indent + l if l.strip() else "" for l in code.strip("\n").splitlines()]
            else:
                body = region.body(original_lines)
            result.extend(b + "\n" for b in body)
            index += 1
        else:
            result.append(line)
    if index != len(regions):
        raise ReleaseError(f"{filename}: found {index} released regions, expected {len(regions)}")
    if replacements:
        raise ReleaseError(f"{filename}: no solution region in {sorted(replacements)}")
    return "".join(result)


def _is_release_raise(line: str, region: Region) -> bool:
    """Whether ``line`` is the raise :func:`not_implemented_line` wrote for ``region``."""
    what = re.escape(region.function or "this part")
    pattern = rf"{re.escape(region.indent)}raise NotImplementedError\((['\"]){what}: write this \(see .*\)\1\)"
    return re.fullmatch(pattern, line.rstrip("\r\n")) is not None


# ----------------------------------------------------------------------------
# Notebooks
# ----------------------------------------------------------------------------


def read_notebook(path: str | Path) -> dict:
    """A notebook file as a dict, every cell's ``source`` (and output ``text``) joined into one string.

    Plain JSON rather than ``nbformat``, whose import takes seconds: a
    notebook is a JSON document whose multi-line strings may be stored as
    lists of lines (nbformat v4).
    """
    with open(path, encoding="utf-8") as f:
        nb = json.load(f)
    if not isinstance(nb, dict) or nb.get("nbformat") != 4 or not isinstance(nb.get("cells"), list):
        raise ValueError(f"{path} is not a version 4 Jupyter notebook")
    for cell in nb["cells"]:
        if not isinstance(cell, dict):
            raise ValueError(f"{path} has a cell that is not a JSON object")
        cell["source"] = _joined(cell.get("source", ""))
        for output in cell.get("outputs", []):
            if "text" in output:
                output["text"] = _joined(output["text"])
    return nb


def write_notebook(nb: dict, path: str | Path) -> None:
    """Write a notebook as nbformat does (sorted keys, indent 1, sources as lists of lines)."""
    def split(text):
        return text.splitlines(keepends=True) if isinstance(text, str) else text

    out = json.loads(json.dumps(nb))
    for cell in out["cells"]:
        cell["source"] = split(cell.get("source", ""))
        for output in cell.get("outputs", []):
            if "text" in output:
                output["text"] = split(output["text"])
    Path(path).write_text(json.dumps(out, sort_keys=True, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def _joined(value) -> str:
    return "".join(value) if isinstance(value, list) else str(value)


def cell_tags(cell: dict) -> list[str]:
    tags = cell.get("metadata", {}).get("tags", [])
    return list(tags) if isinstance(tags, list) else []


def release_notebook(nb: dict, stem: str, notebook_path: str) -> dict:
    """A student copy of a notebook (as :func:`read_notebook` returns it), changed in place and returned.

    Outputs, execution counts, execution timings and widget state are
    cleared; the k-th cell tagged ``solution`` becomes an answer cell tagged
    ``answer`` with ``metadata.mlp_course.question = "<stem>/Q<k>"``: a
    Markdown cell "YOUR ANSWER HERE", or for a code cell a comment and a
    ``raise NotImplementedError`` naming the question. Code cells with
    solution regions get them replaced like package code.
    """
    nb.get("metadata", {}).pop("widgets", None)
    question = 0
    cells = []
    for cell in nb["cells"]:
        tags = cell_tags(cell)
        if SOLUTION_TAG in tags:
            question += 1
            key = f"{stem}/Q{question}"
            metadata = {"tags": [t for t in tags if t != SOLUTION_TAG] + [ANSWER_TAG],
                        "mlp_course": {"question": key}}
            new = {"cell_type": cell["cell_type"], "metadata": metadata}
            if cell["cell_type"] == "code":
                new["source"] = (f"# {ANSWER_TEXT}\n"
                                 f"raise NotImplementedError({(key + ': write your answer in this cell')!r})")
            else:
                new["source"] = ANSWER_TEXT
            if "id" in cell:
                new["id"] = cell["id"]
            cell = new
        elif cell["cell_type"] == "code":
            cell["source"], _ = strip_solutions(
                cell["source"], f"{notebook_path} (cell {cell.get('id', '?')})", notebook_path
            )
        if cell["cell_type"] == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
        cell.setdefault("metadata", {}).pop("execution", None)
        cells.append(cell)
    nb["cells"] = cells
    return nb


def _notebook_text(nb: dict) -> str:
    """Every cell's source and every text output of a notebook, one string."""
    parts = []
    for cell in nb["cells"]:
        parts.append(cell.get("source", ""))
        for output in cell.get("outputs", []):
            parts.append(str(output.get("text", "")))
            for value in output.get("data", {}).values():
                parts.append(value if isinstance(value, str) else json.dumps(value))
    parts.append(json.dumps(nb.get("metadata", {})))
    return "\n".join(parts)


# ----------------------------------------------------------------------------
# The release
# ----------------------------------------------------------------------------


@dataclass
class ReleaseReport:
    """What a release did: files written and regions and answers removed."""

    out_dir: Path
    files: list[str] = field(default_factory=list)
    regions: dict[str, list[Region]] = field(default_factory=dict)
    answer_cells: dict[str, int] = field(default_factory=dict)
    left_out: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def summary(self) -> str:
        n_regions = sum(len(r) for r in self.regions.values())
        n_answers = sum(self.answer_cells.values())
        lines = [
            f"released {len(self.files)} files to {self.out_dir}: {n_regions} solution regions in "
            f"{len(self.regions)} modules and {n_answers} answer cells in {len(self.answer_cells)} notebooks removed",
        ]
        for module, regions in sorted(self.regions.items()):
            lines.append(f"  {module}: " + ", ".join(r.function for r in regions))
        if self.left_out:
            lines.append("  left out: " + ", ".join(self.left_out))
        lines.extend(f"  warning: {w}" for w in self.warnings)
        return "\n".join(lines)


def repo_root() -> Path:
    """The instructor's repository this package is installed from (it holds ``mlp_core``)."""
    return Path(__file__).resolve().parent.parent


def notebook_for(module: str, source_dir: Path) -> str:
    """The notebook (relative path) that teaches ``module``'s solution regions."""
    prefix = MODULE_NOTEBOOKS.get(module)
    if prefix is None:
        raise ReleaseError(
            f"mlp_core/{module}.py has solution regions but no notebook in MODULE_NOTEBOOKS "
            f"(mlp_instructor/release.py); add the number of the notebook that teaches it"
        )
    found = sorted((source_dir / "notebooks").glob(f"{prefix}_*.ipynb"))
    if found:
        return found[0].relative_to(source_dir).as_posix()
    return f"notebook {prefix} in notebooks/"


def _ignored(name: str) -> bool:
    return any(fnmatch.fnmatch(name, pattern) for pattern in NEVER_COPIED)


def _released_files(source_dir: Path) -> tuple[list[Path], list[str]]:
    """Relative paths of every file the release copies, and what it left out and why."""
    files, left_out = [], []
    for entry in RELEASED:
        path = source_dir / entry
        if path.is_file():
            files.append(Path(entry))
        elif path.is_dir():
            for dirpath, dirnames, filenames in os.walk(path):
                dirnames[:] = sorted(d for d in dirnames if not _ignored(d))
                for name in sorted(filenames):
                    full = Path(dirpath) / name
                    if _ignored(name) or full.is_symlink():
                        continue
                    files.append(full.relative_to(source_dir))
    kept = []
    for rel in files:
        if rel.parts[0] in INSTRUCTOR_ONLY_FOLDERS and rel.suffix == ".py" and _instructor_only(source_dir / rel):
            left_out.append(f"{rel.as_posix()} (instructor-only)")
        else:
            kept.append(rel)
    return kept, left_out


def _instructor_only(path: Path) -> bool:
    with open(path, encoding="utf-8") as f:
        return any(line.strip() == INSTRUCTOR_ONLY for line in f)


def _strip_instructor_parts(text: str, markers: tuple[str, str] = README_INSTRUCTOR) -> str:
    """``text`` without every part between the two ``markers`` (both included)."""
    begin, end = markers
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end) + r"\n?", re.DOTALL)
    return pattern.sub("", text)


def with_kit_url(text: str, kit_url: str | None) -> str:
    """``text`` with :data:`KIT_URL_PLACEHOLDER` replaced by ``kit_url`` (unchanged for None).

    A GitHub address also fills in Binder's short form ``gh/OWNER/REPO``.
    """
    if kit_url is None:
        return text
    text = text.replace(KIT_URL_PLACEHOLDER, kit_url)
    github = re.fullmatch(r"https://github\.com/([^/]+/[^/]+?)(\.git)?/?", kit_url)
    if github:
        text = text.replace("gh/OWNER/REPO", f"gh/{github[1]}")
    return text


def check_kit_url(kit_url: str | None) -> None:
    """Raise ReleaseError unless ``kit_url`` is None or a plain URL (it is written into code)."""
    if kit_url is not None and not _KIT_URL.fullmatch(kit_url):
        raise ReleaseError(
            f"--kit-url {kit_url!r} is not a plain URL: give the address students clone the kit from, "
            "e.g. https://github.com/your-course/mlp-kit (no spaces or quotes)"
        )


def build_release(source_dir: Path, staging: Path, kit_url: str | None = None
                  ) -> tuple[ReleaseReport, dict[str, str]]:
    """Write the release of ``source_dir`` into the empty folder ``staging``.

    Returns the report and, for the self-check, the original text of every
    stripped module by its relative path. ``kit_url``: see :func:`with_kit_url`.
    """
    report = ReleaseReport(out_dir=staging)
    originals: dict[str, str] = {}
    files, report.left_out = _released_files(source_dir)
    for rel in files:
        src, dst = source_dir / rel, staging / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        key = rel.as_posix()
        if rel.parts[0] == "mlp_core" and rel.suffix == ".py":
            text = src.read_text(encoding="utf-8")
            module = rel.stem
            if find_regions(text, key):
                new, regions = strip_solutions(text, key, notebook_for(module, source_dir))
                report.regions[key] = regions
                originals[key] = text
                text = new
            dst.write_text(text, encoding="utf-8")
        elif rel.suffix == ".ipynb":
            try:
                nb = read_notebook(src)
            except ValueError as exc:
                raise ReleaseError(f"{key} cannot be read: {exc}") from None
            release_notebook(nb, rel.stem, key)
            for cell in nb["cells"]:
                if "colab" in cell_tags(cell):
                    cell["source"] = with_kit_url(cell["source"], kit_url)
            report.answer_cells[key] = sum(ANSWER_TAG in cell_tags(c) for c in nb["cells"])
            write_notebook(nb, dst)
        elif rel.name == "README.md":  # the top-level one, benchmarks/README.md, ...
            text = _strip_instructor_parts(src.read_text(encoding="utf-8"))
            dst.write_text(with_kit_url(text, kit_url), encoding="utf-8")
        elif key == "pyproject.toml":  # no entry points of the instructor's commands
            text = _strip_instructor_parts(src.read_text(encoding="utf-8"), PYPROJECT_INSTRUCTOR)
            dst.write_text(text, encoding="utf-8")
        else:
            shutil.copy2(src, dst)
        report.files.append(key)
    _check_exercises(report.regions)
    return report, originals


def _check_exercises(regions: dict[str, list[Region]]) -> None:
    """The stripped functions must be exactly those ``mlp_core.progress.EXERCISES`` lists.

    That list is what the student's kit uses to say what is written and what is
    not (tests/test_progress.py, notebook 08); a function missing from it would
    never be reported, a stale entry would always be.
    """
    stripped = {f"{Path(rel).stem}.{r.function}" for rel, rs in regions.items() for r in rs}
    listed = {name for names in EXERCISES.values() for name in names}
    if stripped - listed:
        raise ReleaseError(
            f"mlp_core/progress.py EXERCISES does not list {sorted(stripped - listed)}, which have solution "
            f"regions; add each under the notebook that teaches it"
        )
    if listed - stripped:
        raise ReleaseError(
            f"mlp_core/progress.py EXERCISES lists {sorted(listed - stripped)}, which have no solution region; "
            f"remove them or mark their code with the solution markers"
        )


# ----------------------------------------------------------------------------
# Self-check
# ----------------------------------------------------------------------------


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
        return _notebook_text(read_notebook(path))
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        return None


def check_release(out_dir: Path, source_dir: Path, originals: dict[str, str] | None = None,
                  *, import_check: bool = True) -> None:
    """Check a release folder; raise :class:`ReleaseError` naming the first problem.

    * no withheld folder (``mlp_instructor/``, ``results/``, ``.git``) is present;
    * every ``.py`` file parses and no solution marker is left in it;
    * no notebook cell is still tagged ``solution``;
    * filling the regions back in reproduces each original module exactly;
    * no distinctive solution line (:func:`solution_lines`) occurs anywhere;
    * ``import mlp_core`` and each of its modules works from the copy alone;
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
        if path.suffix == ".ipynb":
            _check_cited_data(path, rel, out_dir, source_dir)
        if path.suffix == ".py":
            text = path.read_text(encoding="utf-8")
            try:
                ast.parse(text, rel)
            except SyntaxError as exc:
                raise ReleaseError(f"released {rel} does not parse: {exc.msg} at line {exc.lineno}") from None
            markers = [n for n, line in _marker_comments(text)]
            if markers:
                raise ReleaseError(f"released {rel}:{markers[0]} still has a solution marker")
        if path.suffix == ".ipynb":
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
        if filled != _without_markers(original):
            raise ReleaseError(f"filling the answers back into released {rel} does not give the original")
    if import_check:
        _check_imports(out_dir)


def _check_cited_data(notebook: Path, rel: str, out_dir: Path, source_dir: Path) -> None:
    """Every results/ or mlp_lab/reference/ path the notebook cites, and the kit has, is released."""
    for cell in read_notebook(notebook)["cells"]:
        for cited in CITED_DATA.findall(cell["source"]):
            if (source_dir / cited).exists() and not (out_dir / cited).exists():
                raise ReleaseError(f"released {rel} cites {cited}, which the kit has but the release left out")


def _without_markers(source: str) -> str:
    lines = source.splitlines(keepends=True)
    drop = {r.begin for r in find_regions(source)} | {r.end for r in find_regions(source)}
    return "".join(l for n, l in enumerate(lines, 1) if n not in drop)


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
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONSTARTUP")}
    env.update(PYTHONPATH=str(out_dir), PYTHONDONTWRITEBYTECODE="1", MPLBACKEND="Agg")
    proc = subprocess.run(
        [sys.executable, "-c", _IMPORT_CHECK, str(out_dir)],
        cwd=out_dir, env=env, capture_output=True, text=True, timeout=120,
    )
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["(no message)"])[-1]
        raise ReleaseError(f"the released mlp_core or mlp_lab does not import: {last}")


# ----------------------------------------------------------------------------
# Entry point
# ----------------------------------------------------------------------------


def _check_out_dir(out_dir: Path, source_dir: Path, force: bool) -> None:
    out, src = out_dir.resolve(), source_dir.resolve()
    if out == src or out in src.parents:
        raise ReleaseError(f"{out_dir} holds the kit itself; give a new folder outside it")
    for entry in RELEASED:
        if (src / entry).resolve() == out or (src / entry).resolve() in out.parents:
            raise ReleaseError(f"{out_dir} is inside {entry}/, which the release copies; give another folder")
    if out.exists() and not out.is_dir():
        raise ReleaseError(f"{out_dir} is a file; give a folder")
    if out.is_dir() and any(out.iterdir()):
        if not force:
            raise ReleaseError(f"{out_dir} is not empty; give a new folder, or --force to replace its contents")
        if (out / ".git").exists():
            raise ReleaseError(f"{out_dir} is a git repository; refusing to replace it even with --force")


def release(out_dir: str | Path, *, source_dir: str | Path | None = None, force: bool = False,
            import_check: bool = True, kit_url: str | None = None) -> ReleaseReport:
    """Make the student release of ``source_dir`` (default: this repository) in ``out_dir``.

    The release is built and checked in a temporary folder beside
    ``out_dir`` and only then moved into place, so a failed check leaves
    ``out_dir`` as it was.

    Raises:
        ReleaseError: ``out_dir`` is not empty (without ``force``) or is
            inside the kit, a marker is malformed, or a self-check fails.
    """
    source_dir = Path(source_dir) if source_dir is not None else repo_root()
    out_dir = Path(out_dir)
    check_kit_url(kit_url)
    if not (source_dir / "mlp_core" / "__init__.py").is_file():
        raise ReleaseError(f"{source_dir} is not the kit: it has no mlp_core/__init__.py")
    _check_out_dir(out_dir, source_dir, force)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    umask = os.umask(0)
    os.umask(umask)
    staging.chmod(0o777 & ~umask)  # mkdtemp makes it private; the kit is an ordinary folder
    try:
        report, originals = build_release(source_dir, staging, kit_url)
        check_release(staging, source_dir, originals, import_check=import_check)
        if out_dir.exists():
            shutil.rmtree(out_dir)
        os.replace(staging, out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    report.out_dir = out_dir
    return report


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "release", help="write the student kit (answers removed) to a new folder",
        description="Copy the kit to OUT_DIR with every solution region and solution cell removed.",
    )
    p.add_argument("out_dir", type=Path, metavar="OUT_DIR", help="a new or empty folder")
    p.add_argument("--force", action="store_true", help="replace the contents of a non-empty OUT_DIR")
    p.add_argument("--kit-url", default=None, metavar="URL",
                   help="where students will clone the release from (e.g. https://github.com/your-course/mlp-kit): "
                        "the notebooks' Colab cell and the README's Binder link use it")
    p.set_defaults(func=cmd_release)


def cmd_release(args: argparse.Namespace) -> int:
    try:
        report = release(args.out_dir, force=args.force, kit_url=args.kit_url)
    except ReleaseError as exc:
        print(f"python -m mlp_core release: error: {exc}", file=sys.stderr)
        return 1
    print(report.summary())
    return 0
