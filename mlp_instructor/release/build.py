"""What the release copies, and how it changes each file on the way.

The release copies a whitelist of the kit (:data:`RELEASED`) into an empty
folder and

* replaces every solution region of ``mlp_core`` by the engine's placeholder
  (:mod:`.markers`), which sends the student to the notebook that teaches the
  function: the notebook of each module comes from the kit's own list of
  exercises (``mlp_core/progress.py``'s ``EXERCISES``), which must name
  exactly the stripped functions; signatures and docstrings stay;
* clears every notebook's outputs, execution counts and widget state, and
  replaces each ``solution`` cell by an answer cell
  (:func:`mlp_instructor.notebooks.answer_cell`); solution regions in code
  cells are stripped like package code;
* copies the committed results (``results/``: the runs of the reference's
  grid, their tables and figures, which notebook 08 reads) and the reference
  report's files (``mlp_lab/reference/``, part of ``mlp_lab``) as they are;
* leaves out what is not named (the instructor's tools in ``mlp_instructor/``
  are not), instructor-only tests and benchmarks (a ``.py`` file of
  :data:`INSTRUCTOR_ONLY_FOLDERS` with a line :data:`INSTRUCTOR_ONLY`), caches
  and data files (:data:`NEVER_COPIED`), the instructor parts of every README
  and the instructor's entry points in ``pyproject.toml``;
* writes the published kit's address (``--kit-url``) where the kit names
  :data:`KIT_URL_PLACEHOLDER`.
"""

from __future__ import annotations

import ast
import fnmatch
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from mlp_instructor.notebooks import (ANSWER_TAG, SOLUTION_TAG, answer_cell, cell_tags, question_key, read_notebook,
                                      write_notebook)

from . import ReleaseError
from .markers import Region, find_regions, strip_derivations, strip_solutions

INSTRUCTOR_ONLY = "# instructor-only"
#: Where a ``.py`` file with an :data:`INSTRUCTOR_ONLY` line stays out of the release: tests that
#: need the instructor's tools or results, and benchmarks that repeat the solution's arithmetic.
INSTRUCTOR_ONLY_FOLDERS: tuple[str, ...] = ("tests", "benchmarks")
README_INSTRUCTOR = ("<!-- BEGIN INSTRUCTOR -->", "<!-- END INSTRUCTOR -->")
#: The instructor's part of pyproject.toml (the ``mlp.commands`` entry points of ``release`` and ``grade``).
PYPROJECT_INSTRUCTOR = ("# BEGIN INSTRUCTOR", "# END INSTRUCTOR")
#: The address of the published kit, as the instructor's copy spells it: each
#: notebook's first code cell (tagged :data:`COLAB_TAG`) clones it in Google Colab,
#: and the README's Binder link names it. ``release --kit-url URL`` puts the real
#: one in; without it a student in Colab is told to ask for the link.
KIT_URL_PLACEHOLDER = "https://github.com/OWNER/REPO"
COLAB_TAG = "colab"
#: A kit URL safe to write into a Python string and a Markdown link.
_KIT_URL = re.compile(r"(https?|git|ssh|file)://[^\s\"'\\<>`]+")

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


# ----------------------------------------------------------------------------
# The kit's exercises: which notebook teaches each stripped function
# ----------------------------------------------------------------------------


def kit_exercises(source_dir: Path) -> dict[str, tuple[str, ...]]:
    """``EXERCISES`` of the kit's ``mlp_core/progress.py`` (notebook -> ``module.function`` names).

    Read as a literal from the file, never imported: it is the list the
    released kit will hold, whatever copy of ``mlp_core`` this process runs.
    """
    path = source_dir / "mlp_core" / "progress.py"
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    except (OSError, SyntaxError) as exc:
        raise ReleaseError(f"mlp_core/progress.py cannot be read: {exc}") from None
    for node in tree.body:
        targets = (node.targets if isinstance(node, ast.Assign)
                   else [node.target] if isinstance(node, ast.AnnAssign) else [])
        if any(isinstance(t, ast.Name) and t.id == "EXERCISES" for t in targets) and node.value is not None:
            try:
                return {str(nb): tuple(names) for nb, names in ast.literal_eval(node.value).items()}
            except (ValueError, TypeError, AttributeError):
                break
    raise ReleaseError("mlp_core/progress.py has no EXERCISES written as a literal dict of notebook -> names")


def module_notebooks(exercises: dict[str, tuple[str, ...]]) -> dict[str, str]:
    """Module (``"layers"``) -> the number prefix (``"01"``) of the notebook that teaches its functions."""
    return {name.split(".", 1)[0]: Path(notebook).name.split("_", 1)[0]
            for notebook, names in exercises.items() for name in names}


def notebook_for(module: str, source_dir: Path, exercises: dict[str, tuple[str, ...]]) -> str:
    """The notebook (relative path) that teaches ``module``'s solution regions."""
    prefix = module_notebooks(exercises).get(module)
    if prefix is None:
        raise ReleaseError(
            f"mlp_core/{module}.py has solution regions but mlp_core/progress.py EXERCISES names none of its "
            f"functions; add each under the notebook that teaches it"
        )
    found = sorted((source_dir / "notebooks").glob(f"{prefix}_*.ipynb"))
    if found:
        return found[0].relative_to(source_dir).as_posix()
    return f"notebook {prefix} in notebooks/"


def check_exercises(regions: dict[str, list[Region]], exercises: dict[str, tuple[str, ...]]) -> None:
    """The stripped functions (``regions`` by module path) must be exactly those ``exercises`` lists.

    That list is what the student's kit uses to say what is written and what is
    not (tests/test_progress.py, notebook 08); a function missing from it would
    never be reported, a stale entry would always be.
    """
    stripped = {f"{Path(rel).stem}.{r.function}" for rel, rs in regions.items() for r in rs}
    listed = {name for names in exercises.values() for name in names}
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
# What is copied
# ----------------------------------------------------------------------------


def _ignored(name: str) -> bool:
    return any(fnmatch.fnmatch(name, pattern) for pattern in NEVER_COPIED)


def released_files(source_dir: Path) -> tuple[list[Path], list[str]]:
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


# ----------------------------------------------------------------------------
# How each kind of file changes
# ----------------------------------------------------------------------------


def strip_instructor_parts(text: str, markers: tuple[str, str] = README_INSTRUCTOR) -> str:
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


def release_notebook(nb: dict, stem: str, notebook_path: str) -> dict:
    """A student copy of a notebook (as ``read_notebook`` returns it), changed in place and returned.

    Outputs, execution counts, execution timings and widget state are
    cleared; the k-th cell tagged ``solution`` becomes the answer cell of
    question ``<stem>/Q<k>``. Code cells with solution regions get them
    replaced like package code, the placeholder naming ``notebook_path``.
    """
    nb.get("metadata", {}).pop("widgets", None)
    question = 0
    cells = []
    for cell in nb["cells"]:
        if SOLUTION_TAG in cell_tags(cell):
            question += 1
            cell = answer_cell(cell, question_key(stem, question))
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


def build_release(source_dir: Path, staging: Path, kit_url: str | None = None
                  ) -> tuple[ReleaseReport, dict[str, str]]:
    """Write the release of ``source_dir`` into the empty folder ``staging``.

    Returns the report and, for the self-check, the original text of every
    stripped module by its relative path. ``kit_url``: see :func:`with_kit_url`.
    """
    report = ReleaseReport(out_dir=staging)
    originals: dict[str, str] = {}
    exercises = kit_exercises(source_dir)
    files, report.left_out = released_files(source_dir)
    for rel in files:
        src, dst = source_dir / rel, staging / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        key = rel.as_posix()
        if rel.parts[0] == "mlp_core" and rel.suffix == ".py":
            text = strip_derivations(src.read_text(encoding="utf-8"))
            if find_regions(text, key):
                new, regions = strip_solutions(text, key, notebook_for(rel.stem, source_dir, exercises))
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
                if COLAB_TAG in cell_tags(cell):
                    cell["source"] = with_kit_url(cell["source"], kit_url)
            report.answer_cells[key] = sum(ANSWER_TAG in cell_tags(c) for c in nb["cells"])
            write_notebook(nb, dst)
        elif rel.name == "README.md":  # the top-level one, benchmarks/README.md, ...
            text = strip_instructor_parts(src.read_text(encoding="utf-8"))
            dst.write_text(with_kit_url(text, kit_url), encoding="utf-8")
        elif key == "pyproject.toml":  # no entry points of the instructor's commands
            text = strip_instructor_parts(src.read_text(encoding="utf-8"), PYPROJECT_INSTRUCTOR)
            dst.write_text(text, encoding="utf-8")
        else:
            shutil.copy2(src, dst)
        report.files.append(key)
    check_exercises(report.regions, exercises)
    return report, originals
