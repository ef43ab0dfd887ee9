"""Solution regions: the answers in the instructor's code, found, taken out and put back.

The code a student writes lives in the instructor's ``mlp_core`` (and in
notebook code cells) between two comment lines, :data:`BEGIN_MARKER` and
:data:`END_MARKER` ('#', then BEGIN or END, then SOLUTION; this file never
spells them out, so that no marker checker mistakes it for a marked file)::

    <BEGIN_MARKER>
    ...the answer...
    <END_MARKER>

:func:`find_regions` finds them and refuses malformed ones, :func:`strip_solutions`
replaces each by the engine's placeholder (``mlp_core.progress.placeholder_line``:
``raise NotImplementedError("Linear.forward: write this (see notebooks/01_linear_layer.ipynb)")``,
the function found with ``ast``), and :func:`fill_in_solutions` puts the answers
back into a released file: the release checks that this gives the original, and
the tests use it to write a perfect (or deliberately faulty) submission.

Docstrings keep the contract of each function (inputs, outputs, shapes, what
is cached) for the student, and the derivatives in a section of their own, a
line ``Derivation:`` and the more indented lines under it: the release takes
those sections out (:func:`strip_derivations`), so that the student derives
each backward pass before a notebook reveals it.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from dataclasses import dataclass

from mlp_core.progress import placeholder_function, placeholder_line

from . import ReleaseError

_WORD = "SOLUTION"
BEGIN_MARKER = f"# BEGIN {_WORD}"
END_MARKER = f"# END {_WORD}"
#: What a placeholder calls a region outside any function.
OUTSIDE_FUNCTIONS = "this part"


#: The line that opens a docstring's derivation section (instructor's copy only).
DERIVATION_HEADING = "Derivation:"


def strip_derivations(source: str) -> str:
    """``source`` without its docstrings' derivation sections.

    A section is a line that reads :data:`DERIVATION_HEADING` and the lines
    after it that are more indented (blank lines inside it included); the
    blank line before it goes too when the section ends its docstring.
    """
    lines = source.splitlines(keepends=True)
    kept: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.strip() != DERIVATION_HEADING:
            kept.append(line)
            i += 1
            continue
        indent = len(line) - len(line.lstrip())
        last = i
        for j in range(i + 1, len(lines)):
            if not lines[j].strip():
                continue
            if len(lines[j]) - len(lines[j].lstrip()) <= indent:
                break
            last = j
        i = last + 1
        while i < len(lines) and not lines[i].strip() and kept and not kept[-1].strip():
            i += 1  # no double blank line where the section was
        if kept and not kept[-1].strip() and i < len(lines) and lines[i].strip() in ('"""', "'''"):
            kept.pop()  # nor a blank line before the docstring's closing quotes
    return "".join(kept)


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

    @property
    def name(self) -> str:
        """What the placeholder calls this region: its function, or :data:`OUTSIDE_FUNCTIONS`."""
        return self.function or OUTSIDE_FUNCTIONS

    def body(self, lines: list[str]) -> list[str]:
        """The lines strictly between the markers (``lines`` without line ends)."""
        return lines[self.begin : self.end - 1]


def marker_comments(source: str) -> list[tuple[int, str]]:
    """(line number, line) of every comment mentioning a solution marker, well formed or not.

    Comments are found with ``tokenize``, so a docstring or string that
    mentions the markers is not mistaken for one. Source that does not
    tokenize (a notebook cell with IPython magics) falls back to whole lines
    that start with '#'.
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
    for number, line in marker_comments(source):
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
    functions = function_spans(source, filename)
    return [
        Region(r.begin, r.end, r.indent, _innermost(functions, r.begin)) for r in regions
    ]


def function_spans(source: str, filename: str) -> list[tuple[int, int, str]]:
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


def strip_solutions(source: str, filename: str, notebook: str) -> tuple[str, list[Region]]:
    """``source`` with every region replaced by its placeholder, at the region's indentation.

    ``notebook`` is where the placeholder sends the student. Returns the new
    source and the regions that were removed (line numbers of the original source).
    """
    regions = find_regions(source, filename)
    if not regions:
        return source, regions
    lines = source.splitlines(keepends=True)
    out: list[str] = []
    previous = 0
    for region in regions:
        out.extend(lines[previous : region.begin - 1])
        out.append(region.indent + placeholder_line(region.name, notebook) + "\n")
        previous = region.end
    out.extend(lines[previous:])
    return "".join(out), regions


def fill_in_solutions(
    released: str, original: str, filename: str = "<source>", *, replacements: dict[str, str] | None = None
) -> str:
    """Put the answers back into a released file: what a perfect student hands in.

    Each placeholder line the release wrote (at the region's indentation,
    naming the region's function) becomes the body of the matching region of
    ``original`` (without the markers). A function named in ``replacements``
    (``{"Sigmoid.backward": "y = self.cache\\nreturn ..."}``) gets that code
    instead, indented to the region: the tests use it to write faulty submissions.

    Raises:
        ReleaseError: the released file does not match ``original``'s regions,
            or a replacement names no region.
    """
    replacements = dict(replacements or {})
    original_lines = original.splitlines()
    regions = find_regions(original, filename)
    result: list[str] = []
    index = 0
    for line in released.splitlines(keepends=True):
        if index < len(regions) and _is_placeholder_of(line, regions[index]):
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


def _is_placeholder_of(line: str, region: Region) -> bool:
    """Whether ``line`` is the placeholder :func:`strip_solutions` wrote for ``region``."""
    text = line.rstrip("\r\n")
    return text.startswith(region.indent + "raise ") and placeholder_function(text) == region.name


def without_markers(source: str) -> str:
    """``source`` with its marker lines removed (the answers stay): what filling in must give back."""
    regions = find_regions(source)
    drop = {r.begin for r in regions} | {r.end for r in regions}
    return "".join(l for n, l in enumerate(source.splitlines(keepends=True), 1) if n not in drop)
