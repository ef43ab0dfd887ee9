"""What a student wrote, taken out of a submission read as the grader reads it.

The exercises are found in the release the students were given: every
function of ``mlp_core/*.py`` and of the notebooks' code cells that holds a
placeholder line (``mlp_core.progress.placeholder_function``; the written
answers' cells are not code exercises). A student's *fragments* are, for each
of those functions, its text in their kit: the function in their module (any
class method by its qualified name, as ``Linear.forward``), or the last code
cell of their notebook that defines it at the top level. In ``mlp_core`` the
functions a student added (helpers absent from the release) are fragments
too. A module that does not parse is one fragment, the whole file.

Submissions are read with the grader's own functions
(:mod:`mlp_instructor.grading.submissions`): folders or zips, the zip's size
and file caps, no symbolic link followed, one kit per submission, only
``mlp_core/**/*.py`` and ``notebooks/*.ipynb`` regular files under their size
caps. Nothing of a submission is imported or run.
"""

from __future__ import annotations

import ast
import re
import shutil
import tempfile
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

from mlp_core.progress import placeholder_function
from mlp_instructor.grading.submissions import Submission, SubmissionError, find_kits, printable, take_kit, unpack_zip
from mlp_instructor.notebooks import read_notebook
from mlp_instructor.release.markers import function_spans

#: Longest fragment compared, in characters (a 2 MB module of generated code is cut, and the note says so).
MAX_FRAGMENT_CHARS = 100_000


@dataclass(frozen=True)
class Fragment:
    """One piece of a student's code: ``label`` (``"mlp_core/layers.py: Linear.forward"``) and its source text."""

    label: str
    text: str


@dataclass
class StudentCode:
    """A submission's fragments, or why it has none (``problem``), and notes on what was left out."""

    student: str
    fragments: list[Fragment] = field(default_factory=list)
    problem: str = ""
    notes: list[str] = field(default_factory=list)


def exercise_functions(release: Path) -> dict[str, list[str]]:
    """Relative path (``mlp_core/layers.py``, ``notebooks/09_....ipynb``) -> the functions it asks students to write.

    Read from the released kit ``release``: the functions holding a
    placeholder line, in the order of the file.
    """
    found: dict[str, list[str]] = {}
    sources = [(p.relative_to(release).as_posix(), p.read_text(encoding="utf-8"))
               for p in sorted((release / "mlp_core").rglob("*.py"))]
    for path in sorted((release / "notebooks").glob("*.ipynb")):
        cells = read_notebook(path)["cells"]
        code = "\n".join(c["source"] for c in cells if c.get("cell_type") == "code")
        sources.append((path.relative_to(release).as_posix(), code))
    for rel, text in sources:
        names: list[str] = []
        for line in text.splitlines():
            name = placeholder_function(line)
            if name and name not in names:
                names.append(name)
        if names:
            found[rel] = names
    return found


def starter_texts(release: Path) -> list[str]:
    """Every text of the release a student starts from: each ``mlp_core`` module, each notebook code cell."""
    texts = [p.read_text(encoding="utf-8") for p in sorted((release / "mlp_core").rglob("*.py"))]
    for path in sorted((release / "notebooks").glob("*.ipynb")):
        texts += [c["source"] for c in read_notebook(path)["cells"] if c.get("cell_type") == "code"]
    return texts


def _parse(source: str) -> ast.Module | None:
    """``source`` parsed, IPython's ``%magic`` and ``!shell`` lines read as blank; None if it does not parse."""
    lines = ["" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines()]
    try:
        return ast.parse("\n".join(lines))
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


def _fragment(label: str, lines: list[str], first: int, last: int, notes: list[str]) -> Fragment:
    text = textwrap.dedent("\n".join(lines[first - 1 : last])) + "\n"
    if len(text) > MAX_FRAGMENT_CHARS:
        notes.append(f"{label}: only its first {MAX_FRAGMENT_CHARS} characters are compared")
        text = text[:MAX_FRAGMENT_CHARS]
    return Fragment(label, text)


def module_fragments(rel: str, source: str, exercises: list[str], released_names: set[str],
                     notes: list[str]) -> list[Fragment]:
    """The fragments of one student module: its exercise functions, then the functions it added."""
    lines = source.splitlines()
    try:
        found = function_spans(source, rel)
    except (ValueError, RecursionError, MemoryError):  # too deep for the parser: as if it did not parse
        found = []
    spans = {name: (first, last) for first, last, name in found}
    if not spans and _parse(source) is None:
        notes.append(f"{rel} does not parse: the whole file is compared")
        return [_fragment(f"{rel} (the whole file)", lines, 1, len(lines), notes)] if lines else []
    fragments, taken = [], []
    for name in exercises:
        if name in spans:
            fragments.append(_fragment(f"{rel}: {name}", lines, *spans[name], notes))
            taken.append(spans[name])
    for name, (first, last) in spans.items():
        inside = any(a <= first and last <= b for a, b in taken)
        if name not in released_names and not inside:
            fragments.append(_fragment(f"{rel}: {name} (added)", lines, first, last, notes))
            taken.append((first, last))
    return fragments


def notebook_fragments(rel: str, path: Path, exercises: list[str], notes: list[str]) -> list[Fragment]:
    """The fragments of one student notebook: each exercise function, from the last code cell defining it."""
    try:
        cells = read_notebook(path)["cells"]
    except Exception as exc:  # noqa: BLE001 - a broken notebook is the student's, noted
        notes.append(f"{rel} cannot be read ({type(exc).__name__}): its exercises are not compared")
        return []
    defines = re.compile(r"^(async\s+)?def\s+(" + "|".join(map(re.escape, exercises)) + r")\b", re.MULTILINE)
    latest: dict[str, Fragment] = {}
    for cell in cells:
        source = cell.get("source") if cell.get("cell_type") == "code" else None
        wanted = isinstance(source, str) and defines.search(source)  # parse only the cells that may define one
        tree = _parse(source) if wanted else None
        if tree is None:
            continue
        lines = source.splitlines()
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name in exercises:
                first = min([node.lineno] + [d.lineno for d in node.decorator_list])
                latest[node.name] = _fragment(f"{rel}: {node.name}", lines, first, node.end_lineno or first, notes)
    return [latest[name] for name in exercises if name in latest]


def kit_fragments(copy: Path, exercises: dict[str, list[str]], released: dict[str, set[str]],
                  notes: list[str]) -> list[Fragment]:
    """Every fragment of a kit copied out by ``take_kit`` (``copy/mlp_core``, ``copy/notebooks``)."""
    fragments: list[Fragment] = []
    for rel, names in exercises.items():
        path = copy / rel
        if not path.is_file():
            continue
        if rel.endswith(".ipynb"):
            fragments += notebook_fragments(rel, path, names, notes)
        else:
            source = path.read_bytes().decode("utf-8", "replace")
            fragments += module_fragments(rel, source, names, released.get(rel, set()), notes)
    return fragments


def released_function_names(release: Path) -> dict[str, set[str]]:
    """Relative path of each release module -> the qualified names of the functions it defines."""
    names = {}
    for path in sorted((release / "mlp_core").rglob("*.py")):
        rel = path.relative_to(release).as_posix()
        names[rel] = {name for _, _, name in function_spans(path.read_text(encoding="utf-8"), rel)}
    return names


def read_submission(submission: Submission, exercises: dict[str, list[str]],
                    released: dict[str, set[str]]) -> StudentCode:
    """A submission's code, read as the grader reads it (in a private temporary folder, removed after)."""
    code = StudentCode(submission.student, problem=submission.problem)
    if code.problem:
        return code
    base = Path(tempfile.mkdtemp(prefix="mlp-similarity-"))
    try:
        path = submission.path
        if path.is_file():
            unpacked = base / "unpacked"
            unpacked.mkdir()
            skipped = unpack_zip(path, unpacked)
            if skipped:
                code.notes.append(f"left out of the zip: {len(skipped)} entries")
            path = unpacked
        kits = find_kits(path)
        if len(kits) != 1:
            code.problem = (f"the submission holds {len(kits)} copies of the kit" if kits
                            else "no mlp_core package (mlp_core/__init__.py) in the submission")
            return code
        take_kit(kits[0], base / "copy")
        code.fragments = kit_fragments(base / "copy", exercises, released, code.notes)
    except SubmissionError as exc:
        code.problem = printable(str(exc))
    except OSError as exc:
        code.problem = f"a file cannot be read ({type(exc).__name__}: {printable(str(exc))})"
    except Exception as exc:  # noqa: BLE001 - a reader bug costs one submission's comparison, never the run
        code.problem = f"not read (similarity error {type(exc).__name__}: {printable(str(exc))}); please report it"
    finally:
        shutil.rmtree(base, ignore_errors=True)
    return code
