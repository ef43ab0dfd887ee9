"""Notebooks as the release writes them and the grader reads them: JSON, tags, questions and answers.

The written questions of the course live in the instructor's notebooks: the
k-th cell tagged :data:`SOLUTION_TAG` of ``NB.ipynb`` is the model answer of
question ``NB/Qk`` (:func:`question_key`), and the Markdown cell just before
it asks the question. The release replaces that cell by an answer cell
(:func:`answer_cell`): tagged :data:`ANSWER_TAG`, holding :data:`ANSWER_TEXT`,
with the key in ``metadata.mlp_course.question``. The grader gathers the
questions and model answers from the instructor's notebooks
(:func:`questions_of`) and each student's answers by that key
(:func:`collect_answers`), so a student may add, move or delete cells freely.

Notebooks are read as plain JSON rather than with ``nbformat``, whose import
takes seconds: a notebook is a JSON document whose multi-line strings may be
stored as lists of lines (nbformat v4). :func:`read_notebook` joins them,
:func:`write_notebook` splits them again as nbformat does.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

SOLUTION_TAG = "solution"
ANSWER_TAG = "answer"
ANSWER_TEXT = "YOUR ANSWER HERE"
#: Longest written answer kept (the rest is cut, with a note), and most answer cells read per submission.
MAX_ANSWER_CHARS, MAX_ANSWERS = 10_000, 200


# ----------------------------------------------------------------------------
# Reading and writing
# ----------------------------------------------------------------------------


def read_notebook(path: str | Path) -> dict:
    """A notebook file as a dict, every cell's ``source`` (and output ``text``) joined into one string.

    Raises:
        ValueError: the file is not a version 4 notebook (also: not JSON, not UTF-8).
    """
    with open(path, encoding="utf-8") as f:
        nb = json.load(f)
    if not isinstance(nb, dict) or nb.get("nbformat") != 4 or not isinstance(nb.get("cells"), list):
        raise ValueError(f"{path} is not a version 4 Jupyter notebook")
    for cell in nb["cells"]:
        if not isinstance(cell, dict):
            raise ValueError(f"{path} has a cell that is not a JSON object")
        cell["source"] = _joined(cell.get("source", ""))
        for output in cell.get("outputs", []):
            if "text" in output:
                output["text"] = _joined(output["text"])
    return nb


def write_notebook(nb: dict, path: str | Path) -> None:
    """Write a notebook as nbformat does (sorted keys, indent 1, sources as lists of lines)."""
    def split(text):
        return text.splitlines(keepends=True) if isinstance(text, str) else text

    out = json.loads(json.dumps(nb))
    for cell in out["cells"]:
        cell["source"] = split(cell.get("source", ""))
        for output in cell.get("outputs", []):
            if "text" in output:
                output["text"] = split(output["text"])
    Path(path).write_text(json.dumps(out, sort_keys=True, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def _joined(value) -> str:
    return "".join(value) if isinstance(value, list) else str(value)


def cell_tags(cell: dict) -> list[str]:
    """The cell's tags (``metadata.tags``); [] when it has none or they are malformed."""
    tags = cell.get("metadata", {}).get("tags", [])
    return list(tags) if isinstance(tags, list) else []


def notebook_text(nb: dict) -> str:
    """Every cell's source, every output (text and rich data) and the metadata of a notebook, as one string."""
    parts = []
    for cell in nb["cells"]:
        parts.append(cell.get("source", ""))
        for output in cell.get("outputs", []):
            parts.append(str(output.get("text", "")))
            for value in output.get("data", {}).values():
                parts.append(value if isinstance(value, str) else json.dumps(value))
    parts.append(json.dumps(nb.get("metadata", {})))
    return "\n".join(parts)


# ----------------------------------------------------------------------------
# Questions and answers
# ----------------------------------------------------------------------------


def question_key(stem: str, number: int) -> str:
    """``"03_losses/Q2"``: the key of the ``number``-th question (from 1) of notebook ``stem``."""
    return f"{stem}/Q{number}"


def answer_cell(solution: dict, key: str) -> dict:
    """The student's cell in place of the solution cell ``solution`` of question ``key``.

    Tagged :data:`ANSWER_TAG` (the solution's other tags kept), with the key in
    ``metadata.mlp_course.question``: a Markdown cell :data:`ANSWER_TEXT`, or
    for a code cell a comment and a ``raise NotImplementedError`` naming the
    question. The cell's id is kept, so a notebook diff stays readable.
    """
    tags = [t for t in cell_tags(solution) if t != SOLUTION_TAG] + [ANSWER_TAG]
    cell = {"cell_type": solution["cell_type"], "metadata": {"tags": tags, "mlp_course": {"question": key}}}
    if solution["cell_type"] == "code":
        cell["source"] = f"# {ANSWER_TEXT}\nraise NotImplementedError({(key + ': write your answer in this cell')!r})"
    else:
        cell["source"] = ANSWER_TEXT
    if "id" in solution:
        cell["id"] = solution["id"]
    return cell


@dataclass
class Question:
    key: str  # question_key(...)
    notebook: str  # the file name
    text: str  # the Markdown cell before the model answer
    model_answer: str


def questions_of(notebooks: Path) -> dict[str, Question]:
    """The written questions of the instructor's notebooks in the folder ``notebooks``, by key."""
    questions: dict[str, Question] = {}
    for path in sorted(notebooks.glob("*.ipynb")):
        k, previous = 0, ""
        for cell in read_notebook(path)["cells"]:
            if SOLUTION_TAG in cell_tags(cell):
                k += 1
                key = question_key(path.stem, k)
                questions[key] = Question(key, path.name, previous, cell["source"])
            elif cell["cell_type"] == "markdown":
                previous = cell["source"]
    return questions


def collect_answers(notebooks: Path) -> tuple[dict[str, str], list[str]]:
    """A student's written answers in the folder ``notebooks`` (key -> text) and notes on unreadable notebooks.

    An answer still reading :data:`ANSWER_TEXT` is "" (left blank). The
    notebooks are the student's: anything in them is data, never trusted.
    At most :data:`MAX_ANSWERS` answer cells are read and
    :data:`MAX_ANSWER_CHARS` characters of each kept (cut as it is read, with
    a note), so what the judge holds does not grow with the notebooks.
    """
    answers, notes = {}, []
    if not notebooks.is_dir():
        return answers, ["no notebooks/ folder: no written answers"]
    cells_read = 0
    for path in sorted(notebooks.glob("*.ipynb")):
        try:
            nb = read_notebook(path)
        except Exception as exc:  # noqa: BLE001 - any broken file is the student's, reported
            notes.append(f"notebooks/{path.name} cannot be read ({type(exc).__name__}): its answers are missing")
            continue
        for cell in nb["cells"]:
            metadata = cell.get("metadata", {}) if isinstance(cell, dict) else {}
            course = metadata.get("mlp_course") if isinstance(metadata, dict) else None
            key = course.get("question") if isinstance(course, dict) else None
            if isinstance(key, str) and ANSWER_TAG in cell_tags(cell):
                cells_read += 1
                if cells_read > MAX_ANSWERS:
                    notes.append(f"more than {MAX_ANSWERS} answer cells: the rest are not read")
                    return answers, notes
                text = str(cell.get("source", "")).strip()
                if len(text) > MAX_ANSWER_CHARS:
                    notes.append(f"the answer to {key[:100]} has {len(text)} characters: only the first "
                                 f"{MAX_ANSWER_CHARS} are kept")
                    text = text[:MAX_ANSWER_CHARS] + " [... cut]"
                answers[key[:100]] = "" if text == ANSWER_TEXT else text
        del nb
    return answers, notes
