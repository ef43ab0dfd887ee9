"""Where a claim's numbers may come from, for tests/claims.py: committed files, notebook outputs, tables.

A committed file gives every number it holds (the fractions of a JSON or CSV
file also as percentages) and the spans of its tables' rows and columns; its
prose gives no range, since prose is a claim itself. A notebook's outputs give
their numbers, their printed ranges ("1.89 to 3.34") and the spans of the
tables they print. A name in the prose (`results/l2_loss_check.md`,
`seed_results.csv`, `results/report/`) is resolved to the committed files it
means; a path into the kit's folders that does not exist is a stale citation.
"""
# instructor-only

from __future__ import annotations

import csv
import io
import re
from functools import lru_cache
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: Top-level folders of the kit: a path under one of them that a sentence names must exist.
KIT_FOLDERS = ("mlp_core", "mlp_lab", "mlp_instructor", "results", "notebooks", "tests", "benchmarks", "binder")
SOURCE_SUFFIXES = (".md", ".csv", ".json", ".toml", ".txt", ".py", ".yml")

_NUMBER = r"(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:[eE][-+]?\d+)?"
RANGE = re.compile(
    r"(?<![\w.\-/])(?P<from>from\s+)?(?P<between>between\s+)?(?P<a>" + _NUMBER + r")(?P<aunit>\s*(?:%|pp|x|×))?"
    r"(?:(?P<dash>[-–—])|\s+(?P<word>to|and)\s+)(?P<b>" + _NUMBER + r")(?![\w.]\d|[-–]\d)")
SOURCE_NUMBER = re.compile(r"[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:[eE][-+]?\d+)?")
CODE_SPAN = re.compile(r"`[^`]*`")
PATH_LIKE = re.compile(r"[\w.{}<>*,-]*(?:/[\w.{}<>*,-]+)+/?|[\w-]+\.(?:md|json|csv|toml|py|ipynb)\b")


# --------------------------------------------------------------------------- #
# Sources
# --------------------------------------------------------------------------- #


def _drop(text: str, pattern: re.Pattern | str) -> str:
    return re.sub(pattern, lambda m: " " * len(m.group(0)), text)


def _numbers_in(text: str) -> list[float]:
    return [float(s.replace(",", "")) for s in SOURCE_NUMBER.findall(text)]


@lru_cache(maxsize=None)
def file_numbers(relative: str) -> tuple[frozenset, tuple]:
    """(values, ranges) a committed file shows: every number in it (fractions of JSON/CSV also x 100), and the
    spans of its tables' rows and columns."""
    path = ROOT / relative
    text = path.read_text(errors="replace")
    values = set(_numbers_in(text))
    if path.suffix in (".json", ".csv"):
        values |= {v * 100 for v in values if abs(v) <= 1}
    tables = markdown_tables(text) if path.suffix == ".md" else []
    if path.suffix == ".csv":
        rows = list(csv.reader(io.StringIO(text)))
        tables.append(rows)
        tables.append([[_percent(c) for c in row] for row in rows])
    # A file's prose is a claim itself (results/l2_loss_check.md's "1.9-3.3x" is one, issue 20 case 9): its ranges
    # are not evidence; its tables' spans are.
    return frozenset(abs(v) for v in values), tuple(table_ranges(tables))


def _percent(cell: str) -> str:
    try:
        v = float(cell)
    except ValueError:
        return cell
    return repr(100 * v) if abs(v) <= 1 else cell


def markdown_tables(text: str) -> list[list[list[str]]]:
    """Every pipe table of a markdown text, as rows of cells (the separator row dropped)."""
    tables, current = [], []
    for line in text.splitlines() + [""]:
        if line.strip().startswith("|"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if not all(re.fullmatch(r":?-{2,}:?", c) for c in cells if c):
                current.append(cells)
        elif current:
            tables.append(current)
            current = []
    return tables


def text_tables(text: str) -> list[list[list[str]]]:
    """Blocks of printed lines with the same count of numbers: a fixed-width table's body, as cells."""
    tables, current, width = [], [], None
    for line in text.splitlines() + [""]:
        numbers = [m.group(0) for m in re.finditer(r"(?<![\w.\-])" + SOURCE_NUMBER.pattern + r"(?![\w])", line)]
        if numbers and len(numbers) == width:
            current.append(numbers)
            continue
        if len(current) >= 2:
            tables.append(current)
        current, width = ([numbers], len(numbers)) if numbers else ([], None)
    return tables


def printed_ranges(text: str) -> list[tuple[float, float]]:
    out = []
    for m in RANGE.finditer(text):
        a, b = (float(m.group(k).replace(",", "")) for k in ("a", "b"))
        out.append((min(a, b), max(a, b)))
    return out


def table_ranges(tables: list[list[list[str]]], group: bool = True) -> list[tuple[float, float]]:
    """The (smallest, largest) value of every row and column, and (``group``) of every column over the rows
    sharing one value of another column (MLP1's rows, the rows of one thread)."""
    out = []

    def add(values):
        values = [abs(v) for v in values]
        if len(values) >= 2:
            out.append((min(values), max(values)))

    for table in tables:
        parsed = [[_numbers_in(cell) for cell in row] for row in table]
        for row in parsed:
            add([v for cell in row for v in cell])
            for k in range(1, max((len(cell) for cell in row), default=0)):   # cells like "0.056 s (7 %)"
                add([cell[k] for cell in row if len(cell) > k])
                add([cell[0] for cell in row if len(cell) > k])
        width = max((len(r) for r in parsed), default=0)
        for j in range(width):
            for k in range(max((len(r[j]) for r in parsed if j < len(r)), default=0)):
                column = [r[j][k] for r in parsed if j < len(r) and k < len(r[j])]
                add(column)
                for g in range(width if group else 0):
                    keys = {row[g] for row in table if g < len(row) and g != j}
                    if g == j or not 2 <= len(keys) <= 6:
                        continue
                    for key in keys:
                        add([r[j][k] for r, row in zip(parsed, table)
                             if g < len(row) and row[g] == key and j < len(r) and k < len(r[j])])
    return out


def output_text(cell) -> str:
    """Everything a code cell printed or displayed, as text (images and widgets left out)."""
    parts = []
    for out in cell.get("outputs", []):
        if out.get("output_type") == "stream":
            parts.append(_joined(out.get("text", "")))
        elif out.get("output_type") in ("execute_result", "display_data"):
            data = out.get("data", {})
            for kind in ("text/markdown", "text/plain"):
                if kind in data and "application/vnd.jupyter.widget-view+json" not in data:
                    parts.append(_joined(data[kind]))
                    break
        elif out.get("output_type") == "error":
            parts.append(_joined(out.get("evalue", "")))
    return "".join(p if p.endswith("\n") else p + "\n" for p in parts)


def _joined(text) -> str:
    return "".join(text) if isinstance(text, list) else str(text)


@lru_cache(maxsize=None)
def reference_files() -> tuple[str, ...]:
    folder = ROOT / "mlp_lab" / "reference"
    return tuple(str(p.relative_to(ROOT)) for p in sorted(folder.iterdir()) if p.suffix in (".md", ".csv"))


@lru_cache(maxsize=None)
def _all_files() -> tuple[str, ...]:
    out = []
    for folder in KIT_FOLDERS:
        base = ROOT / folder
        if base.is_dir():
            out += [str(p.relative_to(ROOT)) for p in base.rglob("*") if p.is_file() and "__pycache__" not in p.parts
                    and ".ipynb_checkpoints" not in p.parts]
    out += [p.name for p in ROOT.iterdir() if p.is_file()]
    return tuple(sorted(out))


def resolve(name: str) -> list[str] | None:
    """The committed files a name in the prose means: itself, a folder's files, or the files it ends.
    None: a path in one of the kit's folders that does not exist (a stale citation)."""
    name = name.strip().strip("`'\"()[],;:").removeprefix("../").removeprefix("./")
    if not name or any(c in name for c in "<>{}*") or "://" in name or re.search(r"(?:^|/)(?:NN|DIR|OUT|NAME|ID|RESULTS_DIR)(?:[_/.]|$)", name):
        return []                         # a template (DIR/runs/<id>.json, notebooks/NN_name.ipynb), not a file
    path = ROOT / name
    if path.is_file():
        return [name] if path.suffix in SOURCE_SUFFIXES else []
    if path.is_dir():   # a folder: the files in it, not in its subfolders (name results/report/runs/ for the runs)
        return [f for f in _all_files() if Path(f).parent == Path(name.rstrip("/")) and Path(f).suffix in SOURCE_SUFFIXES
                and (ROOT / f).stat().st_size < 2_000_000]
    matches = [f for f in _all_files() if f.endswith("/" + name.rstrip("/")) or f == name.rstrip("/")]
    if matches:
        return [f for f in matches if Path(f).suffix in SOURCE_SUFFIXES]
    folder_matches = [f for f in _all_files() if ("/" + name.rstrip("/") + "/") in ("/" + f)]
    if folder_matches:
        return [f for f in folder_matches if Path(f).suffix in SOURCE_SUFFIXES and (ROOT / f).stat().st_size < 2_000_000]
    top = name.split("/")[0]
    looks_like_file = re.search(r"\.(?:md|json|csv|toml|py|ipynb|txt)$", name) or name.endswith("/")
    return None if top in KIT_FOLDERS and "/" in name and looks_like_file else []


def named_paths(text: str) -> list[str]:
    """Every path-like name a text gives (in code spans or not)."""
    names = []
    for span in CODE_SPAN.findall(text) + [_drop(text, CODE_SPAN)]:
        for m in PATH_LIKE.finditer(span.strip("`")):
            token = m.group(0)
            if "/" in token or re.search(r"\.(md|json|csv|toml|py|ipynb)$", token):
                names.append(token.rstrip(".,;:"))
    return names


