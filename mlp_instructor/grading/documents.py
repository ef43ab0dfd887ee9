"""Feedback and answer pages: one document structure, rendered to Markdown and to HTML; safe names.

Every piece of text that comes from a student (ids, answers, error
messages of their code, file names) is escaped by both renderers alike:
HTML-escaped in both (Markdown renders inline HTML), Markdown's own
punctuation backslash-escaped in Markdown (a line's first characters only
where they would start a heading, a list, a quote or a rule: ``3.33 / 10``
stays as it is), and multi-line student text shown verbatim in a code block
(a ``<pre>`` in HTML, a fence longer than any run of backticks in it in
Markdown). A notebook's Markdown cell (:class:`Cell`: a written answer, a
question) is that code block in Markdown and is rendered, math included, in
HTML by :mod:`.markup`, which lets no HTML of the text through. On a terminal, every line is
:func:`terminal_text`: control characters (a newline, an ANSI escape, a
right-to-left override) are shown as escapes, never obeyed. File names
come from :func:`file_stem`, CSV cells from :func:`csv_cell`.
"""

from __future__ import annotations

import hashlib
import html
import re
import unicodedata
from dataclasses import dataclass

from .markup import markdown_html
from .submissions import printable

# ----------------------------------------------------------------------------
# The document structure
# ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Heading:
    level: int
    text: str


@dataclass(frozen=True)
class Para:
    text: str
    strong: bool = False


@dataclass(frozen=True)
class Table:
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class Items:
    """A bullet list; each item is (mark, text): mark is "PASS", "FAIL" or ""."""

    items: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Verbatim:
    text: str


@dataclass(frozen=True)
class Cell:
    """A notebook's Markdown cell (LaTeX math between dollars included), shown as the notebook shows it."""

    text: str


Block = Heading | Para | Table | Items | Verbatim | Cell

#: Markdown's punctuation where it could start or end markup: always a backslash, a backtick, brackets and a
#: tilde; "_" unless inside a word (train_epoch), "*" unless between spaces (dE/dy * y); "|" in a table cell.
_MD_SPECIAL = re.compile(r"[\\`\[\]~]|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])|(?<!\s)\*|\*(?!\s)")
#: What starts a heading, a list, a quote or a rule (setext or thematic) at the start of a line: escaped there.
_MD_LINE_START = re.compile(r"^(?:[#+-](?=\s|$)|#{2,6}(?=\s|$)|>|=+\s*$|-(?=(?:\s*-){2,}\s*$))")
_MD_LINE_START_NUMBER = re.compile(r"^(\d{1,9})([.)])(?=\s|$)")  # "1. " or "1)": an ordered list


def md_inline(text: str, cell: bool = False) -> str:
    """Plain text safe inside a Markdown line (``cell``: a table's cell): HTML-escaped, punctuation escaped, one line."""
    text = " ".join(printable(str(text)).split())
    text = _MD_SPECIAL.sub(lambda m: "\\" + m[0], html.escape(text, quote=False))
    if cell:
        text = text.replace("|", "\\|")
    text = _MD_LINE_START.sub(lambda m: "\\" + m[0], text)
    return _MD_LINE_START_NUMBER.sub(r"\1\\\2", text)


def to_markdown(blocks: list[Block]) -> str:
    out: list[str] = []
    for block in blocks:
        if isinstance(block, Heading):
            out += ["#" * block.level + " " + md_inline(block.text), ""]
        elif isinstance(block, Para):
            text = md_inline(block.text)
            out += [f"**{text}**" if block.strong else text, ""]
        elif isinstance(block, Table):
            out.append("| " + " | ".join(md_inline(h, cell=True) for h in block.header) + " |")
            out.append("|" + " --- |" * len(block.header))
            out += ["| " + " | ".join(md_inline(c, cell=True) for c in row) + " |" for row in block.rows]
            out.append("")
        elif isinstance(block, Items):
            out += [f"- {mark + ' ' if mark else ''}{md_inline(text)}" for mark, text in block.items]
            out.append("")
        elif isinstance(block, (Verbatim, Cell)):  # a cell's source: what the student wrote, as written
            text = printable(block.text)
            longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
            fence = "`" * max(3, longest + 1)
            out += [fence, text, fence, ""]
    return "\n".join(out)


_STYLE = ("body{font-family:sans-serif;max-width:60em;margin:2em auto;line-height:1.4}"
          "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.3em .6em;vertical-align:top;"
          "text-align:left}td+td,th+th{white-space:nowrap}"
          ".PASS{color:#060}.FAIL{color:#a00}pre{white-space:pre-wrap;background:#f6f6f6;padding:.5em}"
          ".cell{border-left:3px solid #ccd;padding:.1em 1em;margin:.5em 0;overflow-x:auto}"
          "code.tex{background:#fff3e0}")


def to_html(blocks: list[Block], title: str) -> str:
    e = lambda text: html.escape(printable(str(text)))  # noqa: E731
    out = [f"<!doctype html><html><head><meta charset='utf-8'><title>{e(title)}</title>",
           f"<style>{_STYLE}</style></head><body>"]
    for block in blocks:
        if isinstance(block, Heading):
            out.append(f"<h{block.level}>{e(block.text)}</h{block.level}>")
        elif isinstance(block, Para):
            out.append(f"<p><b>{e(block.text)}</b></p>" if block.strong else f"<p>{e(block.text)}</p>")
        elif isinstance(block, Table):
            out.append("<table><tr>" + "".join(f"<th>{e(h)}</th>" for h in block.header) + "</tr>")
            out += ["<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>" for row in block.rows]
            out.append("</table>")
        elif isinstance(block, Items):
            out.append("<ul>" + "".join(
                f"<li class='{e(mark)}'>{e(mark + ' ' if mark else '')}{e(text)}</li>" for mark, text in block.items
            ) + "</ul>")
        elif isinstance(block, Verbatim):
            out.append(f"<pre>{e(block.text)}</pre>")
        elif isinstance(block, Cell):
            out.append(f"<div class='cell'>{markdown_html(block.text)}</div>")
    out.append("</body></html>")
    return "\n".join(out)


# ----------------------------------------------------------------------------
# File names
# ----------------------------------------------------------------------------


def file_stem(student: str) -> str:
    """A file name for any student id: readable ASCII, then a hash of the exact id.

    Unique even for ids that differ only in case, accents, spaces or
    characters a file system folds or forbids (the hash is of the id itself,
    and the readable part is lower-case ASCII).
    """
    ascii_part = unicodedata.normalize("NFKD", printable(student)).encode("ascii", "ignore").decode()
    readable = re.sub(r"[^a-z0-9]+", "-", ascii_part.lower()).strip("-")[:40] or "student"
    digest = hashlib.sha256(student.encode("utf-8", "surrogateescape")).hexdigest()[:10]
    return f"{readable}-{digest}"


#: Characters a terminal obeys rather than shows: C0 and C1 controls, DEL, line and paragraph separators,
#: and the bidirectional overrides that reorder what follows them.
_TERMINAL_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def terminal_text(text: str) -> str:
    """``text`` as one terminal line shows it: printable, each control character as its escape (``\\n``, ``\\x1b``)."""
    return _TERMINAL_CONTROL.sub(lambda m: ascii(m[0])[1:-1], printable(str(text)))


def csv_cell(text: str) -> str:
    """Student text for a CSV cell: printable, and not read as a formula by a spreadsheet."""
    text = printable(text)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
