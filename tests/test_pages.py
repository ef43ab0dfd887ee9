"""What the instructor and the students read: the Markdown feedback, and the answer pages rendered offline.
# instructor-only

The feedback's Markdown escapes only what would change its meaning (a number
stays a number); the answer pages render the notebooks' Markdown and math as
HTML that loads nothing and runs no student text: checked on the HTML, and in
Chromium (Debian's /usr/bin/chromium through Playwright; that test skips, saying
why, where either is missing, and fails in CI).
"""

from __future__ import annotations

import base64
import html
import os
import re
from html.parser import HTMLParser
from pathlib import Path

import mistune
import pytest

from mlp_instructor.grading.documents import Cell, Table, md_inline, to_html, to_markdown
from mlp_instructor.grading.markup import markdown_html
from mlp_instructor.grading.pages import answer_blocks, write_answer_pages
from mlp_instructor.grading.results import SubmissionResult
from mlp_instructor.notebooks import Question

#: Text as a feedback page writes it: scores, messages of the student's code, ids.
PLAIN = ["3.33 / 10", "-2.5", "1. a list?", "1) another", "# a heading?", "## and another", "- an item?", "+ one more",
         "> a quote?", "===", "- - -", "a_b * c [d](e) `f` | g ~h~", "<b>not bold</b> & co", "#tag", "10.5%",
         "train_epoch", "__init__ and _x_", "*x* a*b*c **y**", "dE/dy * y (1 - y)", "1/(2N) sum ||x - t||^2", "\\*x\\*"]


@pytest.mark.parametrize("text", PLAIN)
def test_markdown_feedback_reads_back_as_the_text_itself(text):
    """Rendered by a Markdown renderer (GitHub's tables and strikethrough too), a line is one paragraph of exactly
    the text, and a table cell exactly the text: no markup, no backslash shown."""
    assert mistune.html(md_inline(text)) == f"<p>{html.escape(text, quote=False)}</p>\n"
    table = mistune.html(to_markdown([Table(("item", "points"), (("x", text),))]))
    assert f"<td>{html.escape(text, quote=False)}</td>" in table, table


def test_a_score_is_written_without_a_backslash():
    assert md_inline("3.33 / 10") == "3.33 / 10" and md_inline("6.67") == "6.67"


QUESTION = Question("03_losses/Q1", "03_losses.ipynb", "What does `np.exp(1000)` give, and what then?",
                    r"**Answer.** It overflows to `inf`: $\frac{e^{1000}}{\sum_j e^{z_j}} = \mathrm{nan}$.")
#: What students may write: Markdown and math, and attempts to run code in the instructor's browser.
ANSWERS = {
    "ada": "The gradient is $\\partial E/\\partial z = (p - t)/N$, and\n\n$$\\sigma'(x) = \\sigma(x)(1 - \\sigma(x))$$\n\n"
           "- **bold**, *italic*, `code`\n- $\\tfrac12 \\lVert x \\rVert^2$",
    "mallory": "\n\n".join([  # each its own paragraph: an HTML block would keep the others from being parsed
        "<script>alert('script')</script>", "a <img src=x onerror=\"alert('img')\"> inline",
        "[click](javascript:alert('link')) [CLICK](JaVaScRiPt:alert('link2'))", "![tracker](http://127.0.0.1:9/pixel.png)",
        "<iframe src=\"http://127.0.0.1:9/\"></iframe>", "<style>body{display:none}</style>",
        "the end $\\begin{evil}</script><script>alert('math')</script>$"]),
    "eve": "# I am a heading\n\n```js\" onmouseover=\"alert('fence')\ncode\n```\n\n<details open ontoggle=alert('t')>x",
}
ALLOWED_TAGS = {"html", "head", "meta", "title", "style", "body", "h1", "h2", "h3", "h4", "h5", "h6", "p", "b",
                "strong", "em", "code", "pre", "ul", "ol", "li", "blockquote", "a", "img", "span", "div", "table",
                "thead", "tbody", "tr", "th", "td", "del", "hr", "br"}


def answer_page() -> str:
    return to_html(answer_blocks(QUESTION, list(ANSWERS.items())), QUESTION.key)


class Elements(HTMLParser):
    def __init__(self):
        super().__init__()
        self.elements: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, dict(attrs)))


def test_the_answer_page_renders_markdown_and_draws_math_as_svg():
    page = answer_page()
    assert "<strong>Answer.</strong>" in page and "<code>np.exp(1000)</code>" in page
    assert "<strong>bold</strong>" in page and "<em>italic</em>" in page
    parser = Elements()
    parser.feed(page)
    formulas = {a["alt"]: a["src"] for tag, a in parser.elements if tag == "img" and a.get("class") == "math"}
    assert set(formulas) >= {r"\partial E/\partial z = (p - t)/N", r"\sigma'(x) = \sigma(x)(1 - \sigma(x))",
                             r"\tfrac12 \lVert x \rVert^2", r"\frac{e^{1000}}{\sum_j e^{z_j}} = \mathrm{nan}"}
    for src in formulas.values():
        svg = base64.b64decode(src.removeprefix("data:image/svg+xml;base64,")).decode()
        assert src.startswith("data:image/svg+xml;base64,") and "<svg" in svg and "<path" in svg
        assert "<script" not in svg and "<text" not in svg  # glyphs as paths: no student text in the drawing


def test_student_text_never_becomes_markup_of_the_page():
    page = answer_page()
    parser = Elements()
    parser.feed(page)
    tags = {tag for tag, _ in parser.elements}
    assert tags <= ALLOWED_TAGS, tags - ALLOWED_TAGS
    assert not [tag for tag, _ in parser.elements if tag in ("script", "iframe", "details")]
    for tag, attrs in parser.elements:
        assert not [name for name in attrs if name.startswith("on")], (tag, attrs)
        if tag == "a":
            assert attrs["href"].startswith(("https://", "http://")), attrs
        if tag == "img":
            assert attrs["src"].startswith("data:image/svg+xml;base64,"), attrs
    assert page.count("<style>") == 1  # the page's own
    assert "<p>&lt;script&gt;alert('script')&lt;/script&gt;</p>" in page  # shown as text
    assert "[image: tracker] (http://127.0.0.1:9/pixel.png)" in page  # shown, never loaded
    assert "click <span class='dropped'>(link to javascript:alert(%27link%27) removed)</span>" in page
    assert "<h4>I am a heading</h4>" in page  # below the page's own headings
    assert "not drawn: mathtext cannot draw this" in page  # the undrawable formula, as text


def test_the_markdown_answer_page_keeps_each_answer_as_written():
    page = to_markdown(answer_blocks(QUESTION, [("ada", ANSWERS["ada"]), ("bob", None), ("cy", "")]))
    assert f"```\n{ANSWERS['ada']}\n```" in page
    assert "## Answers (1 of 3 students answered)" in page and "(no answer cell found)" in page and "(left blank)" in page


def test_a_cell_is_rendered_once_per_page_block():
    assert to_html([Cell("*a* $x$")], "t").count("<img class='math'") == 1
    assert markdown_html("no math here") == "<p>no math here</p>\n"


def test_answer_pages_written_by_several_processes_are_those_written_by_one(tmp_path):
    questions = {QUESTION.key: QUESTION, "03_losses/Q2": Question("03_losses/Q2", "03_losses.ipynb", "Why $1/N$?", "A mean.")}
    results = [SubmissionResult(name, "0" * 64, answers={"03_losses/Q1": text, "03_losses/Q2": f"$N = {k}$"})
               for k, (name, text) in enumerate(ANSWERS.items())]
    write_answer_pages(tmp_path / "one", questions, results, jobs=1)
    write_answer_pages(tmp_path / "two", questions, results, jobs=2)
    one, two = (sorted((tmp_path / d / "answers").iterdir()) for d in ("one", "two"))
    assert [p.name for p in one] == ["03_losses-Q1.html", "03_losses-Q1.md", "03_losses-Q2.html", "03_losses-Q2.md"]
    assert [p.read_bytes() for p in one] == [p.read_bytes() for p in two]


CHROMIUM = Path("/usr/bin/chromium")


def test_chromium_shows_the_answer_page_offline_and_runs_no_student_script(tmp_path):
    """The page as the instructor opens it: every formula drawn, nothing requested, no dialog, no script."""
    problem = ("Chromium is not installed at /usr/bin/chromium" if not CHROMIUM.exists() else None)
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        problem = problem or "playwright is not installed (pip install -e '.[browser]')"
    if problem:
        if os.environ.get("CI") == "true":
            raise RuntimeError(f"CI must run the browser test, but {problem}")
        pytest.skip(problem)
    path = tmp_path / "answers.html"
    path.write_text(answer_page(), encoding="utf-8")
    requests, dialogs, errors = [], [], []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page()
            page.on("request", lambda r: requests.append(r.url))
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(path.as_uri())
            page.wait_for_load_state("load")
            page.mouse.move(10, 10)
            drawn = page.eval_on_selector_all("img.math", "els => els.map(e => e.complete && e.naturalWidth > 0)")
            scripts = page.eval_on_selector_all("script, iframe", "els => els.length")
            visible = page.inner_text("body")
        finally:
            browser.close()
    assert len(drawn) >= 4 and all(drawn), drawn
    assert dialogs == [] and errors == [] and scripts == 0
    assert [u for u in requests if not u.startswith(("file://", "data:"))] == []
    assert "alert('script')" in visible and "[image: tracker]" in visible  # shown as text


def test_every_formula_of_the_course_questions_and_model_answers_is_drawn():
    """The notebooks' own LaTeX (\\tfrac, \\lVert, \\le, \\sqrt d, ...) is drawn, none left as source."""
    from mlp_instructor.notebooks import questions_of

    questions = questions_of(Path(__file__).resolve().parents[1] / "notebooks")
    pages = [markdown_html(text) for q in questions.values() for text in (q.text, q.model_answer)]
    assert sum(page.count("class='math'") for page in pages) > 100
    assert [re.findall(r"<code class='tex'[^>]*>(.*?)</code>", page) for page in pages if "class='tex'" in page] == []


def test_what_went_wrong_counts_a_reason_once_whatever_the_size_of_each_error():
    from mlp_instructor.grading.pages import failure_summary
    from mlp_instructor.grading.results import CheckResult

    result = SubmissionResult("ada", "0" * 64, checks=[
        CheckResult("hinge.forward", False, "the loss value: wrong values (relative error 8.0e-01)"),
        CheckResult("hinge.margin", False, "the loss value: wrong values (relative error 4.7e-01)"),
        CheckResult("relu.forward", False, "raised ValueError: no [mlp_core/activations.py:40]"),
        CheckResult("relu.backward", True)])
    assert failure_summary(result) == [("the loss value: wrong values", 2), ("raised ValueError: no", 1)]
