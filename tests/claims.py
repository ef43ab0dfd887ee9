"""Reading the kit's prose for numbers, and finding each where it says it comes from (tests/test_claims.py).

A **document** is a notebook, README.md or benchmarks/README.md; a **unit** is
one markdown cell (a notebook) or one paragraph, list item or table (a README),
with the sources its sentences may use:

* a notebook's *solution* cells (the instructor's answers, removed from the
  student's release) may quote that notebook's committed outputs;
* every other markdown cell is what a student reads beside outputs that are
  cleared, then reprinted by their own run: its numbers may come only from
  the reference (``mlp_lab/reference/``) or from a committed file it names; a
  number of our run belongs in a cell that prints it (a ``Markdown`` display
  made from the values just computed);
* a README paragraph may quote the reference, the files it names, and the
  tables of its own section (the dated tables of measurements).

A number is found when a source holds a value that rounds to it at the
digits it is written with (``95.86`` matches 95.8633; ``8 s`` matches 8.4).
A range ("0.62 to 0.90", "1.9-3.3x", "between 4 and 5") must be a range a
source shows: printed as a range, or the smallest and largest value of one
row or column of one of its tables (or of the rows of a table that share one
value of another column). Constants, formulas and other digits that are no
claims are listed in ``tests/claims_exceptions.py``.
"""
# instructor-only

from __future__ import annotations

import json
import math
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from . import claims_exceptions as exceptions
from .claims_sources import (  # noqa: F401  (re-exported for tests/test_claims.py)
    CODE_SPAN, RANGE, ROOT, _NUMBER, _drop, _joined, _numbers_in, file_numbers, markdown_tables, named_paths, output_text,
    printed_ranges, reference_files, resolve, table_ranges, text_tables,
)

READMES = ("README.md", "benchmarks/README.md")
STATED = re.compile(
    r"(?<![\w.\-/])(?P<sign>[-+−±])?(?P<num>" + _NUMBER + r")"
    r"(?:\s*(?:\\times|×)\s*10\^\{?(?P<exp>[-−]?\d+)\}?)?"
    r"(?P<unit>\s*(?:%|pp\b|percentage points?|x\b|×|times\b|s\b|seconds?\b|min\b|minutes?\b|ms\b|us\b|µs\b))?"
    r"(?![\w])")
MATH_DISPLAY = re.compile(r"\$\$.*?\$\$", re.S)
MATH_INLINE = re.compile(r"(?<!\\)\$(?!\$)(.+?)(?<!\\)\$", re.S)
LINK_TARGET = re.compile(r"\]\([^)]*\)|https?://\S+")
ABSOLUTE_PATH = re.compile(r"(?<![\w.:/~])/(?:home|work|root|tmp|Users|mnt|srv|opt|var|usr/local)/[\w.-]+")


@dataclass
class Number:
    text: str
    value: float
    tolerance: float
    unit: str = ""


@dataclass
class Unit:
    """One checked piece of prose and what it may be checked against."""

    document: str
    where: str
    text: str
    sources: list[str] = field(default_factory=list)   # repo-relative files or "outputs:<notebook>" or "table:<doc>#<n>"
    tables: list[list[list[str]]] = field(default_factory=list)
    named: list[str] = field(default_factory=list)      # every path-like name the text gives


# --------------------------------------------------------------------------- #
# Numbers
# --------------------------------------------------------------------------- #


def parse_number(text: str, exp: str | None = None) -> Number:
    """A written number and the tolerance its digits imply (half a unit of its last digit)."""
    plain = text.replace(",", "")
    mantissa, _, e = plain.lower().partition("e")
    decimals = len(mantissa.partition(".")[2])
    power = int(e) if e else 0
    if exp:
        power += int(exp.replace("−", "-"))
    value = float(mantissa) * 10.0 ** power
    return Number(text, value, 0.5 * 10.0 ** (power - decimals))


def prose_of(text: str) -> str:
    """The text with code, display math, link targets, formulas that hold and exempt patterns blanked out.
    Every character keeps its position, so a sentence of the text is the same slice of this."""
    for pattern in (CODE_SPAN, MATH_DISPLAY, r"\\\[.*?\\\]", LINK_TARGET, r"<!--.*?-->", r"<[^>]+>"):
        text = _drop(text, re.compile(pattern, re.S) if isinstance(pattern, str) else pattern)

    def math(m):
        body = m.group(1)
        body = re.sub(r"\\begin\{pmatrix\}.*?\\end\{pmatrix\}", " ", body, flags=re.S)   # example data
        body = re.sub(r"(\d)(?:\\,|\{,\})(\d)", r"\1,\2", body)
        body = re.sub(r"(\d+(?:\.\d+)?)\s*(?:\\times|\\cdot|×)\s*10\^\{?([-−]?\d+)\}?", r"\1e\2", body)
        body = re.sub(r"(?<![\d.])10\^\{?([-−]?\d+)\}?", r"1e\1", body).replace("e−", "e-")
        body = without_formulas(body)
        body = re.sub(r"\\[dt]?frac\s*\{?\d+\}?\s*\{?\d+\}?", " ", body)
        body = re.sub(r"[_^]\{[^}]*\}|[_^]\w", lambda x: " " * len(x.group(0)), body)
        body = re.sub(r"\\[a-zA-Z]+", " ", body)
        return (" " + body + " ").ljust(len(m.group(0)))[: len(m.group(0))]

    text = MATH_INLINE.sub(math, text)
    for pattern, _why in exceptions.EXEMPT_PATTERNS:
        text = _drop(text, re.compile(pattern, re.M))
    return text


def _evaluate(part: str) -> float | None:
    """The value of a LaTeX part made only of numbers and arithmetic, else None."""
    expr = re.sub(r"\\[dt]?frac\s*\{([^}]*)\}\s*\{([^}]*)\}", r"((\1)/(\2))", part)
    expr = re.sub(r"\\sqrt\s*\{([^}]*)\}", r"((\1)**0.5)", expr)
    for latex, python in (("\\cdot", "*"), ("\\times", "*"), ("×", "*"), ("^", "**"), ("{", "("), ("}", ")"),
                          ("\\left", ""), ("\\right", ""), (",", ""), ("−", "-"), ("\\ln", "L")):
        expr = expr.replace(latex, python)
    if not re.fullmatch(r"[\d.eE+\-*/() L]*", expr) or not re.search(r"\d", expr) or re.search(r"[a-zA-Z]{2}", expr):
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return float(eval(expr, {"__builtins__": {}, "L": math.log}))  # only digits, operators and log
    except Exception:
        return None


def without_formulas(body: str) -> str:
    """Inline math with its arithmetic that holds blanked: of the parts between =, \\approx and \\to, those
    that are numbers or arithmetic of numbers must agree at the rounding each is written with
    (``0.58 / 4 = 0.145``, ``\\sqrt{0.98 \\cdot 0.02 / 10,000} \\approx 0.0014``). Other parts stay."""
    pieces = re.split(r"(=|\\approx|≈)", body)
    parts = pieces[::2]
    values = [_evaluate(p) for p in parts]
    numeric = [(v, p) for v, p in zip(values, parts) if v is not None]
    if len(numeric) < 2:
        return body
    for (x, _), (y, written) in zip(numeric, numeric[1:]):
        digits = re.fullmatch(r"\s*-?[\d,]+(?:\.(\d+))?(?:e(-?\d+))?\s*", written)
        tolerance = (0.5 * 10.0 ** (int(digits.group(2) or 0) - len(digits.group(1) or "")) if digits
                     else 1e-9 * max(abs(x), abs(y), 1))
        if abs(x - y) > tolerance * (1 + 1e-9) + 1e-12:
            return body
    return "".join(" " * len(piece) if i % 2 == 0 and values[i // 2] is not None else piece
                   for i, piece in enumerate(pieces))


def stated_numbers(text: str) -> tuple[list[Number], list[tuple[Number, Number]]]:
    """(single numbers, ranges) in text already passed through prose_of that need a source.
    Small bare integers (0-10) and constants are dropped."""
    ranges, taken = [], []
    for m in RANGE.finditer(text):
        if m.group("from") and not m.group("between"):
            continue                      # "from A to B": a change, two values, not a range
        if m.group("word") == "and" and not m.group("between"):
            continue                      # "A and B": two values
        a, b = parse_number(m.group("a")), parse_number(m.group("b"))
        if a.value == b.value or (a.value > b.value and not m.group("dash")):
            continue
        if not (_needs_source(a, "") or _needs_source(b, "")):
            continue
        ranges.append((a, b))
        taken.append(m.span("a"))
        taken.append(m.span("b"))
    singles = []
    for m in STATED.finditer(text):
        if any(s <= m.start("num") < e for s, e in taken):
            continue
        number = parse_number(m.group("num"), m.group("exp"))
        number.unit = (m.group("unit") or "").strip()
        if _needs_source(number, number.unit):
            singles.append(number)
    return singles, ranges


def _needs_source(number: Number, unit: str) -> bool:
    v = abs(number.value)
    if any(abs(v - c) <= 1e-12 for c in exceptions.CONSTANTS):
        return False
    if any(rounds_to(c, number) for c in exceptions.FORMULAS):
        return False
    is_int = re.fullmatch(r"[\d,]+", number.text) is not None
    return not (is_int and v <= 10 and not unit)


# --------------------------------------------------------------------------- #
# Documents
# --------------------------------------------------------------------------- #


def notebook_units(path: Path) -> list[Unit]:
    nb = json.loads(path.read_text())
    name = path.name
    outputs = "\n".join(output_text(c) for c in nb["cells"] if c["cell_type"] == "code")
    units = []
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "markdown":
            continue
        text = _joined(cell["source"])
        solution = "solution" in cell.get("metadata", {}).get("tags", [])
        unit = Unit(name, f"cell {i}" + (" (solution)" if solution else ""), text, named=named_paths(text))
        if solution:
            unit.sources.append(f"outputs:{name}")
        units.append(unit)
    _OUTPUTS[name] = outputs
    return units


_OUTPUTS: dict[str, str] = {}


def readme_units(relative: str) -> list[Unit]:
    """Paragraphs, list items and tables of a README; each sees the tables of its own section."""
    text = (ROOT / relative).read_text()
    text = re.sub(r"```.*?```", lambda m: "\n" * m.group(0).count("\n"), text, flags=re.S)
    sections = re.split(r"(?m)^(?=#{1,3} )", text)
    units = []
    for section in sections:
        heading = section.splitlines()[0] if section.strip() else ""
        tables = markdown_tables(section)
        blocks = re.split(r"\n\s*\n|\n(?=\s*[-*] )|\n(?=\|)|(?<=\|)\n(?!\|)", section)
        for block in blocks:
            if not block.strip() or block.strip().startswith("|"):
                continue
            line = text[: text.find(block.strip()[:60])].count("\n") + 1 if block.strip()[:60] in text else 0
            units.append(Unit(relative, f"line {line} ({heading.strip('# ')[:40]})", block,
                              tables=tables, named=named_paths(block)))
    return units


def documents() -> list[str]:
    return sorted(p.name for p in (ROOT / "notebooks").glob("*.ipynb")) + list(READMES)


def units_of(document: str) -> list[Unit]:
    if document.endswith(".ipynb"):
        return notebook_units(ROOT / "notebooks" / document)
    return readme_units(document)


# --------------------------------------------------------------------------- #
# The check
# --------------------------------------------------------------------------- #


SENTENCE_END = re.compile(r"(?<=[.!?:;])\s+(?=[A-Z*(\[`$])|\n(?=\s*[-*] )")


def sentences(text: str) -> list[tuple[str, str]]:
    """(sentence, the same with its non-claims blanked) for every sentence of a text."""
    blank = prose_of(text)
    assert len(blank) == len(text)
    out, start = [], 0
    for m in list(SENTENCE_END.finditer(text)) + [None]:
        end = m.start() if m else len(text)
        if text[start:end].strip():
            out.append((text[start:end].strip(), blank[start:end]))
        start = m.end() if m else end
    return out


def _sources_of(unit: Unit) -> tuple[set[float], list[tuple[float, float]], list[str]]:
    values: set[float] = set()
    ranges: list[tuple[float, float]] = []
    stale = []
    files = list(reference_files())
    for name in unit.named:
        found = resolve(name)
        if found is None:
            stale.append(name)
        else:
            files += found
    for f in dict.fromkeys(files):
        v, r = file_numbers(f)
        values |= v
        ranges += r
    for source in unit.sources:
        if source.startswith("outputs:"):
            text = _OUTPUTS[source.removeprefix("outputs:")]
            values |= {abs(v) for v in _numbers_in(text)}
            ranges += printed_ranges(text) + table_ranges(markdown_tables(text)) + table_ranges(text_tables(text), False)
    for table in unit.tables:
        values |= {abs(v) for row in table for cell in row for v in _numbers_in(cell)}
    ranges += table_ranges(unit.tables)
    return values, ranges, stale


def rounds_to(source: float, number: Number) -> bool:
    """Does ``source`` round (half up, in magnitude) to the number as written? 1.85 -> 1.9, 3.35 -> 3.4, not 3.3."""
    d, half = abs(source) - abs(number.value), number.tolerance
    fuzz = 1e-9 * half
    return -half - fuzz <= d < half - fuzz


def _found(number: Number, values: set[float]) -> bool:
    return any(rounds_to(s, number) for s in values)


def _found_range(a: Number, b: Number, ranges: list[tuple[float, float]]) -> bool:
    lo, hi = sorted((a, b), key=lambda n: abs(n.value))
    return any(rounds_to(x, lo) and rounds_to(y, hi) for x, y in ranges)


@dataclass
class Problem:
    document: str
    where: str
    sentence: str
    what: str

    def __str__(self) -> str:
        return f"{self.document} {self.where}: {self.what}\n      in: {self.sentence[:300]}"


def check_unit(unit: Unit) -> list[Problem]:
    problems = []
    values, ranges, stale = _sources_of(unit)
    for name in stale:
        problems.append(Problem(unit.document, unit.where, name, f"names `{name}`, which is not in the kit"))
    for sentence, blanked in sentences(unit.text):
        for pattern, evidence in exceptions.KNOWN_FALSE:
            if re.search(pattern, sentence):
                problems.append(Problem(unit.document, unit.where, sentence, f"a retracted claim ({evidence})"))
        singles, spans = stated_numbers(blanked)
        missing = [n.text + (f" {n.unit}" if n.unit else "") for n in singles if not _found(n, values)]
        bad_ranges = [f"{a.text} to {b.text}" for a, b in spans if not _found_range(a, b, ranges)]
        where = ("this notebook's outputs, " if any(s.startswith("outputs:") for s in unit.sources) else
                 "its section's tables, " if unit.tables else "")
        if missing:
            problems.append(Problem(unit.document, unit.where, sentence,
                                    f"{', '.join(missing)} not found in {where}the reference or the files it names"
                                    + ("" if unit.sources or unit.tables or not unit.document.endswith(".ipynb") else
                                       " (a student's own run prints other numbers: print it from the computed "
                                       "values instead)")))
        if bad_ranges:
            problems.append(Problem(unit.document, unit.where, sentence,
                                    f"range {', '.join(bad_ranges)} is no row's or column's span, nor a printed "
                                    f"range, in {where}the reference or the files it names"))
    return problems


def check_document(document: str) -> list[Problem]:
    problems = []
    for unit in units_of(document):
        problems += check_unit(unit)
    if document.endswith(".ipynb"):
        for m in ABSOLUTE_PATH.finditer(_OUTPUTS[document]):
            problems.append(Problem(document, "outputs", m.group(0),
                                    "an output prints an absolute path of the machine it ran on (print it relative "
                                    "to the kit)"))
    return problems
