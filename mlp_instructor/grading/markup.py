"""Markdown and LaTeX math of a notebook cell as safe, self-contained HTML (no network, no script).

The answer pages show each written question, its model answer and every
student's answer as they read in the notebook: Markdown rendered by
`mistune <https://mistune.lepture.com>`_ (the renderer nbconvert uses) and
``$...$`` / ``$$...$$`` math drawn by matplotlib's mathtext into SVG, each
embedded in the page as a ``data:`` image. The page loads nothing from
anywhere: no CDN, no font, no student image.

Student text is data, never markup of the instructor's page:

* raw HTML in the Markdown (``<script>``, ``<img onerror=...>``) is shown as
  text, escaped;
* links keep only harmless targets (mistune's ``javascript:``, ``vbscript:``,
  ``file:`` and ``data:`` filter; a link it refuses is shown as its text and
  the address removed) and open nothing by themselves;
* images are not loaded: each is shown as its alt text and address;
* headings are moved down three levels, below the page's own;
* math is drawn as one SVG path of glyph outlines inside an ``<img>`` (an
  image cannot run script; the drawing holds no text), its TeX source as the
  alt text; a formula mathtext cannot draw is shown as its source, in code
  style.
"""

from __future__ import annotations

import base64
import functools
import html
import re

try:
    import mistune
    from mistune.renderers.html import HTMLRenderer
except ImportError:  # the grade command says what to install (markdown_html); the rest of the grader works
    mistune, HTMLRenderer = None, object

from . import GradingError
from .submissions import printable

#: LaTeX that mathtext lacks, and what it draws instead: (pattern, replacement), applied in order.
_TEX_SPELLINGS = tuple((re.compile(pattern), replacement) for pattern, replacement in (
    (r"\\tfrac(?![A-Za-z])", r"\\frac"), (r"\\([lr])Vert(?![A-Za-z])", r"\\Vert"), (r"\\[lr]vert(?![A-Za-z])", "|"),
    (r"\\le(?![A-Za-z])", r"\\leq"), (r"\\ge(?![A-Za-z])", r"\\geq"), (r"\\iff(?![A-Za-z])", r"\\Leftrightarrow"),
    (r"\\(?:[bB]igg?[lrm]?|displaystyle|textstyle|limits|nolimits)(?![A-Za-z])", ""),  # sizes: mathtext's own
    (r"\\frac\s*([0-9A-Za-z])\s*([0-9A-Za-z])", r"\\frac{\1}{\2}"),  # \frac12
    (r"\\(mathcal|mathbb|mathbf|mathrm|mathit|boldsymbol|sqrt|hat|bar|tilde|vec|dot|overline)(?:\s+|(?=\d))"
     r"([0-9A-Za-z])", r"\\\1{\2}"),  # \sqrt d, \mathcal N: mathtext wants the braces
))
#: Points per em of the formulas: Computer Modern at 13 pt matches the page's 16 px sans-serif by eye.
MATH_POINTS = 13


#: SVG path commands of matplotlib's path codes (MOVETO, LINETO, CURVE3, CURVE4, CLOSEPOLY).
_SVG_COMMANDS = {1: "M", 2: "L", 3: "Q", 4: "C", 79: "Z"}


def _formula_svg(tex: str) -> tuple[str, float]:
    """``tex`` drawn by mathtext as one SVG path (glyph outlines, no text), and its depth below the baseline in pt.

    Raises ValueError (or another error of mathtext's) for what mathtext cannot draw.
    """
    import matplotlib
    from matplotlib.font_manager import FontProperties
    from matplotlib.path import Path as MplPath
    from matplotlib.textpath import text_to_path

    with matplotlib.rc_context({"mathtext.fontset": "cm"}):
        prop = FontProperties(size=text_to_path.FONT_SCALE)  # the size get_text_path lays out at: one parse
        width, height, depth, _, _ = text_to_path.mathtext_parser.parse(f"${tex}$", text_to_path.DPI, prop)
        vertices, codes = text_to_path.get_text_path(prop, f"${tex}$", ismath=True)
    parts = []
    for points, code in MplPath(vertices, codes).iter_segments(simplify=False, curves=True):
        parts.append(_SVG_COMMANDS[code] + " ".join(f"{x:.1f} {-y:.1f}" for x, y in points.reshape(-1, 2)[:3]
                                                     if code != 79))
    # horizontally, the ink plus a margin (a formula starting with a relation, "\\leq 0", has space before it);
    # vertically, the layout's height and depth, so that the baseline lines up with the text's
    left, right = (min(v[0] for v in vertices) - 5, max(v[0] for v in vertices) + 5) if len(vertices) else (0, width)
    scale = MATH_POINTS / text_to_path.FONT_SCALE
    svg = (f"<svg xmlns='http://www.w3.org/2000/svg' width='{(right - left) * scale:.2f}pt' "
           f"height='{height * scale:.2f}pt' viewBox='{left:.1f} {depth - height:.1f} {right - left:.1f} {height:.1f}'>"
           f"<path d='{''.join(parts)}'/></svg>")
    return svg, depth * scale


@functools.lru_cache(maxsize=4096)
def math_html(tex: str, display: bool = False) -> str:
    """One formula (without its dollars) as an ``<img>`` of its SVG drawing, or its escaped source if undrawable."""
    source = " ".join(printable(tex).split())
    drawn = source
    for pattern, replacement in _TEX_SPELLINGS:
        drawn = pattern.sub(replacement, drawn)
    if display:  # a displayed fraction at full size, as LaTeX sets it
        drawn = re.sub(r"\\frac(?![A-Za-z])", r"\\dfrac", drawn)
    try:
        svg, depth = _formula_svg(drawn)
    except Exception:  # noqa: BLE001 - mathtext's parse errors are ValueErrors, others of its own; all mean "cannot draw"
        return f"<code class='tex' title='not drawn: mathtext cannot draw this'>{html.escape(source)}</code>"
    data = base64.b64encode(svg.encode("ascii")).decode("ascii")
    style = "display:block;margin:.5em auto" if display else f"vertical-align:-{depth:.2f}pt"
    return f"<img class='math' style='{style}' alt='{html.escape(source, quote=True)}' src='data:image/svg+xml;base64,{data}'>"


class _SafeRenderer(HTMLRenderer):
    """mistune's HTML renderer with raw HTML escaped, headings moved down, images not loaded, math drawn."""

    def __init__(self) -> None:
        super().__init__(escape=True)

    def heading(self, text: str, level: int, **attrs) -> str:
        level = min(6, level + 3)
        return f"<h{level}>{text}</h{level}>\n"

    def link(self, text: str, url: str, title: str | None = None) -> str:
        href = self.sanitize_url(url)
        if href != url:  # a javascript:, vbscript:, file: or data: link: its text, and what was dropped
            return f"{text} <span class='dropped'>(link to {html.escape(url)} removed)</span>"
        attrs = {"href": href, "title": title or None, "rel": "nofollow noopener noreferrer"}
        return f"<a{self.render_attrs(attrs)}>{text}</a>"

    def image(self, text: str, url: str, title: str | None = None) -> str:
        return f"<span class='image'>[image: {text}] ({html.escape(url)})</span>"  # text: rendered, escaped

    def inline_math(self, text: str) -> str:
        return math_html(text)

    def block_math(self, text: str) -> str:
        return math_html(text, display=True) + "\n"


@functools.lru_cache(maxsize=1)
def _markdown():
    if mistune is None:
        raise GradingError("the answer pages render Markdown with mistune, which is not installed: "
                           "pip install -c constraints.txt -e '.[grading]'")
    plugins = ["math", "mistune.plugins.math.math_in_list", "mistune.plugins.math.math_in_quote",
               "strikethrough", "table"]
    return mistune.create_markdown(renderer=_SafeRenderer(), plugins=plugins)


def markdown_html(text: str) -> str:
    """A Markdown cell's text (math included) as an HTML fragment: safe to embed in any page."""
    return _markdown()(printable(text))
