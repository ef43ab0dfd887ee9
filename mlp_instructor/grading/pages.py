"""The pages a grading run writes: one feedback page per student, one answer page per written question.

Each page is built once as a list of blocks (:mod:`.documents`) and written
as Markdown and as HTML from that one structure, so both say the same and
both escape the student's text alike. A feedback page gives the total, the
points per rubric item, notes on what was left out, a summary of what went
wrong, then every check passed or failed with its reason: never the hidden
inputs or the expected values. An answer page puts one written question,
its model answer and every student's answer side by side, for grading by
hand: in Markdown as written, in HTML as the notebook shows them (Markdown
and math rendered, no HTML of the student's let through: :mod:`.markup`).
"""

from __future__ import annotations

import multiprocessing
import re
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from mlp_core.atomic import atomic_write_text
from mlp_instructor.notebooks import Question

from .documents import Block, Cell, Heading, Items, Para, Table, to_html, to_markdown
from .gradebook import points_text
from .late import late_blocks
from .manual import possible_points, written_blocks
from .results import UNPROTECTED, SubmissionResult, item_results
from .rubric import Rubric


#: What makes two failures' reasons differ without making them different reasons: the code location, the size
#: of a wrong value's error (each check's own line below the summary keeps both).
_REASON_DETAILS = re.compile(r" \[mlp_core/[^\]]*\]$| \(relative error [^)]*\)")


def failure_summary(result: SubmissionResult) -> list[tuple[str, int]]:
    """Distinct reasons checks failed (without the code location or the size of the error), most frequent first."""
    counts: dict[str, int] = {}
    for outcome in result.checks:
        if not outcome.passed:
            reason = _REASON_DETAILS.sub("", outcome.message)
            counts[reason] = counts.get(reason, 0) + 1
    return sorted(counts.items(), key=lambda kv: -kv[1])


def feedback_blocks(result: SubmissionResult, rubric: Rubric, descriptions: dict[str, str]) -> list[Block]:
    """A student's feedback: scores per item, notes, then every check with the reason it failed.

    ``descriptions``: what each check computed (check name -> the text the
    student reads), never with which numbers.
    """
    blocks: list[Block] = [Heading(1, f"Feedback for {result.student}"),
                           Para(f"Total: {points_text(result.total)} / "
                                f"{points_text(possible_points(result, rubric.max_points))}", strong=True)]
    if not result.sandboxed:
        blocks.append(Para(UNPROTECTED, strong=True))
    if result.status != "graded":
        blocks.append(Para(f"Not graded: {result.status}.", strong=True))
    items = item_results(result, rubric, descriptions)
    blocks.append(Table(("Item", "Points", "Checks passed"), tuple(
        (item.title, f"{points_text(item.score)} / {points_text(item.max_score)}",
         f"{item.checks_passed} / {len(item.lines)}") for item in items)))
    blocks += written_blocks(result) + late_blocks(result)  # the instructor's scores and comments, lateness
    if result.notes:
        blocks += [Heading(2, "Notes"), Items(tuple(("", note) for note in result.notes))]
    problems = failure_summary(result)
    if problems:
        blocks += [Heading(2, "What went wrong"), Items(tuple(("", f"{n} check(s): {m}") for m, n in problems))]
    blocks.append(Heading(2, "Checks"))
    for item in items:
        where = f" (notebook {item.notebook})" if item.notebook else ""
        earned = f"{points_text(item.score)} / {points_text(item.max_score)}"
        blocks.append(Heading(3, f"{item.title}{where}: {earned}"))
        blocks.append(Items(tuple(("PASS" if passed else "FAIL", text) for passed, text in item.lines)))
    return blocks


def answer_blocks(question: Question, answers: list[tuple[str, str | None]]) -> list[Block]:
    """One question: the question, the model answer, then every student's answer (notebook Markdown cells).

    ``answers``: (student, their answer: None when the notebook has no answer cell, "" when left blank).
    """
    blocks: list[Block] = [Heading(1, question.key), Para(f"From notebooks/{question.notebook}."),
                           Heading(2, "Question"), Cell(question.text.strip()),
                           Heading(2, "Model answer"), Cell(question.model_answer.strip()),
                           Heading(2, f"Answers ({sum(bool(a) for _, a in answers)} of {len(answers)} students answered)")]
    for student, text in answers:
        blocks.append(Heading(3, student))
        if text is None:
            blocks.append(Para("(no answer cell found)"))
        elif not text:
            blocks.append(Para("(left blank)"))
        else:
            blocks.append(Cell(text))
    return blocks


def write_feedback(out_dir: Path, result: SubmissionResult, rubric: Rubric, descriptions: dict[str, str]) -> None:
    """Write ``feedback/<name>.md`` and ``.html`` of one student (atomically) under ``out_dir``."""
    blocks = feedback_blocks(result, rubric, descriptions)
    stem = result.feedback_name
    atomic_write_text(out_dir / "feedback" / f"{stem}.md", to_markdown(blocks))
    atomic_write_text(out_dir / "feedback" / f"{stem}.html", to_html(blocks, f"Feedback for {result.student}"))


def write_answer_page(out_dir: Path, question: Question, answers: list[tuple[str, str | None]]) -> None:
    """Write ``answers/<notebook>-Q<k>.md`` and ``.html`` of one question under ``out_dir`` (atomically)."""
    blocks = answer_blocks(question, answers)
    stem = re.sub(r"[^A-Za-z0-9._-]", "_", question.key.replace("/", "-"))
    atomic_write_text(out_dir / "answers" / f"{stem}.md", to_markdown(blocks))
    atomic_write_text(out_dir / "answers" / f"{stem}.html", to_html(blocks, question.key))


def write_answer_pages(out_dir: Path, questions: dict[str, Question], results: list[SubmissionResult],
                       jobs: int = 1) -> None:
    """Write every question's answer page under ``out_dir``; ``jobs`` > 1: that many processes (Linux).

    Drawing the math is what takes the time, so the questions are shared out
    among processes forked from this one (each gets only its questions'
    answers); elsewhere, or with one job, they are written here, one by one.
    """
    work = [(question, [(r.student, r.answers.get(question.key)) for r in results]) for question in questions.values()]
    jobs = max(1, min(jobs, len(work)))
    if jobs == 1 or "fork" not in multiprocessing.get_all_start_methods():
        for question, answers in work:
            write_answer_page(out_dir, question, answers)
        return
    with ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("fork")) as pool:
        for future in [pool.submit(write_answer_page, out_dir, question, answers) for question, answers in work]:
            future.result()  # a failure in a worker is raised here
