"""The similarity report: ``similarity.csv`` (every pair sharing code) and ``similarity.html`` (the flagged pairs).

The page is one self-contained file: inline style, no script, and a
Content-Security-Policy that forbids loading anything, so opening it never
touches the network. Every piece of student text (ids, file names, code) is
made printable and HTML-escaped; the matched fragments are ``<mark>`` elements
around escaped text. Both files are written atomically.
"""

from __future__ import annotations

import csv
import html
import io
from pathlib import Path

from mlp_core.atomic import atomic_write_text
from mlp_instructor.grading.documents import csv_cell
from mlp_instructor.grading.submissions import printable

from .compare import Comparison, Document, Pair, matched_spans

#: Most pairs shown side by side on the page (the CSV lists every pair).
MAX_PAIRS_SHOWN = 100

_STYLE = ("body{font-family:sans-serif;margin:1.5em;line-height:1.35}"
          "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left}"
          ".pair{display:grid;grid-template-columns:1fr 1fr;gap:1em;margin-bottom:1em}"
          ".side h4{margin:.3em 0;font-size:.95em}"
          "pre{white-space:pre-wrap;overflow-wrap:anywhere;background:#f6f6f6;padding:.5em;margin:0;font-size:.85em}"
          "mark{background:#ffd36b}.none{color:#777;font-style:italic}")
_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src 'none'; base-uri 'none'; form-action 'none'"


def _e(text: object) -> str:
    return html.escape(printable(str(text)), quote=True)


def highlighted(text: str, spans: list[tuple[int, int]]) -> str:
    """``text`` HTML-escaped, each of the (start, end) character ``spans`` (sorted, disjoint) in a ``<mark>``."""
    out, previous = [], 0
    for start, end in spans:
        out += [_e(text[previous:start]), "<mark>", _e(text[start:end]), "</mark>"]
        previous = end
    out.append(_e(text[previous:]))
    return "".join(out)


def _side_by_side(a: Document, b: Document, comparison: Comparison) -> list[str]:
    """One row per fragment label where either student has code matched by the other's."""
    spans_a = matched_spans(a, b, comparison.excluded, comparison.given)
    spans_b = matched_spans(b, a, comparison.excluded, comparison.given)
    by_label_a = {f.label: (f, s) for f, s in zip(a.fragments, spans_a)}
    by_label_b = {f.label: (f, s) for f, s in zip(b.fragments, spans_b)}
    labels = [f.label for f, s in zip(a.fragments, spans_a) if s]
    labels += [f.label for f, s in zip(b.fragments, spans_b) if s and f.label not in labels]
    rows = []
    for label in labels:
        cells = []
        for found in (by_label_a.get(label), by_label_b.get(label)):
            body = (f"<pre>{highlighted(found[0].text, found[1])}</pre>" if found
                    else '<p class="none">(no such code)</p>')
            cells.append(f'<div class="side"><h4>{_e(label)}</h4>{body}</div>')
        rows.append(f'<div class="pair">{"".join(cells)}</div>')
    return rows


def _pair_cells(pair: Pair) -> str:
    return (f"<td>{_e(pair.a)}</td><td>{_e(pair.b)}</td><td>{pair.score:.2f}</td>"
            f"<td>{pair.share_a:.0%}</td><td>{pair.share_b:.0%}</td><td>{pair.shared}</td>")


def render_page(comparison: Comparison, threshold: float) -> str:
    """The HTML page: a summary, the flagged pairs' table, each flagged pair side by side, what was not compared."""
    flagged = [p for p in comparison.pairs if p.score >= threshold]
    shown = flagged[:MAX_PAIRS_SHOWN]
    n = len(comparison.documents)
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">',
        f"<title>Similarity report</title><style>{_STYLE}</style></head><body>",
        "<h1>Similarity of the student-written code</h1>",
        f"<p>{n} submission(s) compared ({n * (n - 1) // 2} pairs); {len(comparison.pairs)} pair(s) share code; "
        f"<strong>{len(flagged)} flagged</strong> (score &ge; {threshold:.2f}).</p>",
        "<p>Compared: the functions of <code>mlp_core</code> and of the notebooks that the release asks for "
        "(and functions a student added to <code>mlp_core</code>), with names, comments and formatting "
        "ignored. The release's starter code is left out, and so are "
        f"{comparison.common_dropped} fingerprint(s) found in more than {comparison.common} submissions "
        "(common code). Score: 2 &times; shared / (fingerprints of A + fingerprints of B). A high score "
        "is a reason to look, not a proof: read the code.</p>",
    ]
    if shown:
        parts.append("<table><tr><th>#</th><th>student A</th><th>student B</th><th>score</th>"
                     "<th>of A's code</th><th>of B's code</th><th>shared fingerprints</th></tr>")
        parts += [f'<tr><td><a href="#pair-{i}">{i}</a></td>{_pair_cells(p)}</tr>' for i, p in enumerate(shown, 1)]
        parts.append("</table>")
    if len(flagged) > len(shown):
        parts.append(f"<p>{len(flagged) - len(shown)} more flagged pair(s) are listed in similarity.csv.</p>")
    for i, pair in enumerate(shown, 1):
        a, b = comparison.documents[pair.a], comparison.documents[pair.b]
        parts.append(f'<h2 id="pair-{i}">{i}. {_e(pair.a)} and {_e(pair.b)}: score {pair.score:.2f}</h2>')
        parts.append(f"<p>{_e(pair.a)} on the left, {_e(pair.b)} on the right; the code both have is marked.</p>")
        parts += _side_by_side(a, b, comparison)
    if comparison.unread:
        parts.append("<h2>Not compared</h2><ul>")
        parts += [f"<li>{_e(s)}: {_e(why)}</li>" for s, why in sorted(comparison.unread.items())]
        parts.append("</ul>")
    if comparison.notes:
        parts.append("<h2>Notes</h2><ul>")
        parts += [f"<li>{_e(s)}: {_e('; '.join(notes))}</li>" for s, notes in sorted(comparison.notes.items())]
        parts.append("</ul>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def render_csv(comparison: Comparison, threshold: float) -> str:
    """One row per pair sharing code, highest score first."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["rank", "student_a", "student_b", "score", "share_a", "share_b", "shared_fingerprints", "flagged"])
    for rank, p in enumerate(comparison.pairs, 1):
        writer.writerow([rank, csv_cell(p.a), csv_cell(p.b), f"{p.score:.4f}", f"{p.share_a:.4f}",
                         f"{p.share_b:.4f}", p.shared, "yes" if p.score >= threshold else ""])
    return out.getvalue()


def write_report(out_dir: Path, comparison: Comparison, threshold: float) -> tuple[Path, Path]:
    """Write ``similarity.html`` and ``similarity.csv`` into ``out_dir`` (atomically); return their paths."""
    page, table = out_dir / "similarity.html", out_dir / "similarity.csv"
    atomic_write_text(table, render_csv(comparison, threshold))
    atomic_write_text(page, render_page(comparison, threshold))
    return page, table
