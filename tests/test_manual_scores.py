"""Written answers scored by hand: the manual-score sheet of ``grade`` and its round trip.

``grade`` writes ``written_scores.csv`` (one row per student and scored
question), the instructor fills points and comments, the next ``grade``
merges them into the gradebook, the feedback pages and the LMS files without
regrading, a regrade keeps them, and a resubmission keeps the points of the
answers it did not change. A bad sheet is one error naming file:line, and
nothing is written.
"""
# instructor-only

from __future__ import annotations

import csv
import hashlib
import subprocess
import sys
from pathlib import Path

import pytest

from mlp_instructor.grading import GradingError
from mlp_instructor.grading.command import grade
from mlp_instructor.grading.documents import file_stem
from mlp_instructor.grading.gradebook import points_text
from mlp_instructor.grading.manual import SHEET, Extras, answer_sha, load_written_questions
from mlp_instructor.grading.pages import feedback_blocks
from mlp_instructor.grading.results import SubmissionResult
from mlp_instructor.grading.rubric import DEFAULT_RUBRIC, load_rubric
from mlp_instructor.notebooks import questions_of, read_notebook, write_notebook

from . import grading_attacks as attacks
from ._mnist import require_mnist

REPO = Path(__file__).resolve().parents[1]
QUESTIONS = load_written_questions(DEFAULT_RUBRIC, questions_of(REPO / "notebooks"))
Q1, Q2, Q3 = (q.key for q in QUESTIONS[:3])
POSSIBLE = load_rubric(DEFAULT_RUBRIC).max_points + 10  # the rubric items and the written answers


def rows_of(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def fill_sheet(path: Path, scores: dict[tuple[str, str], tuple[str, str]]) -> None:
    """Fill ``points`` and ``comment`` of the rows of ``scores`` as an instructor would, in place."""
    rows = rows_of(path)
    for row in rows:
        if (row["student"], row["question"]) in scores:
            row["points"], row["comment"] = scores[row["student"], row["question"]]
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def answer(kit: Path, key: str, text: str) -> None:
    """Write ``text`` into the answer cell of question ``key`` of a student's notebooks."""
    path = kit / "notebooks" / f"{key.split('/')[0]}.ipynb"
    nb = read_notebook(path)
    cell = next(c for c in nb["cells"] if c.get("metadata", {}).get("mlp_course", {}).get("question") == key)
    cell["source"] = text
    write_notebook(nb, path)


def tree(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_the_rubric_scores_ten_points_of_questions_the_notebooks_ask():
    assert sum(q.points for q in QUESTIONS) == 10
    assert len({q.key.split("/")[0] for q in QUESTIONS}) == len(QUESTIONS)  # one per notebook


def test_a_rubric_question_no_notebook_asks_is_refused(tmp_path):
    bad = tmp_path / "rubric.toml"
    bad.write_text(DEFAULT_RUBRIC.read_text() + '\n[[question]]\nkey = "03_losses/Q9"\npoints = 2\n')
    with pytest.raises(GradingError, match=r"\[\[question\]\] 11: no notebook asks '03_losses/Q9'"):
        load_written_questions(bad, questions_of(REPO / "notebooks"))


def extras_for(tmp_path: Path, students: set[str]) -> Extras:
    return Extras.prepare(rubric_path=DEFAULT_RUBRIC, source_dir=REPO, out_dir=tmp_path,
                          submissions={s: tmp_path for s in students})


def result(student: str, answers: dict[str, str], auto: float) -> SubmissionResult:
    return SubmissionResult(student, "h", scores={"linear": auto}, total=auto, answers=answers)


def test_scores_merge_into_the_total_and_a_changed_answer_loses_only_its_own(tmp_path):
    first = [result("ann", {Q1: "because", Q2: "sum", Q3: ""}, 50.0), result("ben", {}, 70.0)]
    extras = extras_for(tmp_path, {"ann", "ben"})
    assert [extras.apply(r).total for r in first] == [50.0, 70.0]
    extras.write_sheet(first)
    rows = {(r["student"], r["question"]): r for r in rows_of(tmp_path / SHEET)}
    assert len(rows) == 2 * len(QUESTIONS)
    assert rows["ann", Q1]["points"] == "" and rows["ann", Q1]["answer_sha"] == answer_sha("because")
    assert (rows["ann", Q3]["points"], rows["ann", Q3]["comment"]) == ("0", "no answer")  # blank: 0
    assert (rows["ben", Q1]["points"], rows["ben", Q1]["answer_sha"]) == ("0", "-")  # no answer cell at all
    fill_sheet(tmp_path / SHEET, {("ann", Q1): ("1", "right, and well put"), ("ann", Q2): ("0.5", "half")})

    again = extras_for(tmp_path, {"ann", "ben"})
    ann = again.apply(result("ann", {Q1: "because", Q2: "sum", Q3: ""}, 50.0))
    assert (ann.written_total, ann.total) == (1.5, 51.5)
    text = "\n".join(str(b) for b in feedback_blocks(ann, load_rubric(DEFAULT_RUBRIC), {}))
    assert "right, and well put" in text and f"Total: 51.5 / {points_text(POSSIBLE)}" in text
    assert "no answer" in text and "0.5 / 1" in text  # a blank answer scored 0, and a half point

    changed = again.apply(result("ann", {Q1: "because, I think", Q2: "sum", Q3: ""}, 50.0))
    assert (changed.written_total, changed.total) == (0.5, 50.5)  # Q2 kept, Q1 to score again
    again.write_sheet([changed])  # ben's regrade did not finish (Ctrl-C): his rows stay as they were
    rows = {(r["student"], r["question"]): r for r in rows_of(tmp_path / SHEET)}
    assert len(rows) == 2 * len(QUESTIONS) and rows["ben", Q1]["points"] == "0"
    assert (rows["ann", Q1]["points"], rows["ann", Q1]["previous_points"]) == ("", "1 (for an earlier answer)")
    assert rows["ann", Q1]["comment"] == "right, and well put"  # the instructor's words are never dropped
    assert (rows["ann", Q2]["points"], rows["ann", Q2]["comment"]) == ("0.5", "half")


@pytest.mark.parametrize("edit, message", [
    (lambda rows: rows[1].__setitem__("points", "2"), r"written_scores\.csv:3: points 2 out of range: this question "
                                                      r"is worth 0 to 1"),
    (lambda rows: rows[1].__setitem__("points", "-0.5"), r"written_scores\.csv:3: points -0\.5 out of range"),
    (lambda rows: rows[1].__setitem__("points", "one"), r"written_scores\.csv:3: points 'one' is not a number"),
    (lambda rows: rows[1].__setitem__("student", "mallory"), r"written_scores\.csv:3: no submission is named "
                                                             r"'mallory'"),
    (lambda rows: rows[1].__setitem__("question", "03_losses/Q4"), r"written_scores\.csv:3: the rubric scores no "
                                                                   r"question '03_losses/Q4'"),
    (lambda rows: rows.append(dict(rows[0])), r"written_scores\.csv:\d+: a second row for 'ann' and .* \(the first "
                                              r"is on line 2\)"),
])
def test_a_bad_sheet_is_one_error_naming_the_row_and_nothing_is_written(tmp_path, edit, message):
    subs, out = tmp_path / "subs", tmp_path / "out"
    for name in ("ann", "ben"):
        (subs / name).mkdir(parents=True)
    out.mkdir()
    extras = extras_for(out, {"ann", "ben"})
    extras.write_sheet([extras.apply(result("ann", {}, 1.0)), extras.apply(result("ben", {}, 1.0))])
    rows = rows_of(out / SHEET)
    edit(rows)
    with open(out / SHEET, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    before = tree(out)
    with pytest.raises(GradingError, match=message):
        grade(subs, out, log=lambda line: None)
    assert tree(out) == before


def test_a_malformed_sheet_is_one_line_on_the_command_line(tmp_path):
    subs, out = tmp_path / "subs", tmp_path / "out"
    (subs / "ann").mkdir(parents=True)
    out.mkdir()
    (out / SHEET).write_text('student,question,points,comment\nann,01_linear_layer/Q3,1,"unclosed\n')
    (out / "gradebook.csv").write_text("kept\n")
    proc = subprocess.run([sys.executable, "-m", "mlp_core", "grade", str(subs), "--out", str(out)],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert proc.stderr.strip().count("\n") == 0 and f"{out / SHEET}:2: not valid CSV" in proc.stderr
    assert (out / "gradebook.csv").read_text() == "kept\n" and sorted(p.name for p in out.iterdir()) == [
        "gradebook.csv", SHEET]


@pytest.fixture(scope="module")
def round_trip(tmp_path_factory):
    """A class of two graded, its sheet filled, then graded again: (submissions, out, first report, second report)."""
    from mlp_instructor.release.command import release

    kit = tmp_path_factory.mktemp("release") / "kit"
    release(kit, import_check=False)
    subs = tmp_path_factory.mktemp("class") / "subs"
    attacks.write_class(kit, subs, ["full_marks", "sigmoid_sign"])
    (subs / "full_marks").rename(subs / "ann")
    (subs / "sigmoid_sign").rename(subs / "ben")
    answer(subs / "ann", Q1, "Each example adds its own gradient.")
    answer(subs / "ann", Q2, "Because $\\sigma' = \\sigma(1-\\sigma)$ peaks at 1/4.")
    answer(subs / "ben", Q1, "No idea.")
    out = tmp_path_factory.mktemp("grading") / "out"
    first = grade(subs, out, data_dir=require_mnist(), memory_mb=1024, log=lambda line: None)
    sheet_before = rows_of(out / SHEET)
    fill_sheet(out / SHEET, {("ann", Q1): ("1", "Right: the batch's gradients add up."),
                             ("ann", Q2): ("0.75", "Say why the maximum is at 0."),
                             ("ben", Q1): ("0", "Read section 3 again.")})
    second = grade(subs, out, data_dir=require_mnist(), memory_mb=1024, log=lambda line: None)
    return subs, out, first, second, sheet_before


def gradebook(out: Path) -> dict[str, dict[str, str]]:
    return {row["student"]: row for row in rows_of(out / "gradebook.csv")}


def test_grade_writes_a_sheet_row_per_student_and_question(round_trip):
    _, _, first, _, sheet = round_trip
    assert [(r["student"], r["question"], r["max_points"]) for r in sheet] == [
        (s, q.key, "1") for s in ("ann", "ben") for q in QUESTIONS]
    filled = {(r["student"], r["question"]): r["points"] for r in sheet}
    assert filled["ann", Q1] == filled["ann", Q2] == filled["ben", Q1] == ""  # answered: for the instructor
    assert filled["ann", Q3] == filled["ben", Q2] == "0"  # left blank
    assert first.max_points == POSSIBLE


def test_the_filled_sheet_is_merged_without_regrading(round_trip):
    _, out, first, second, _ = round_trip
    assert second.graded == [] and second.unchanged == ["ann", "ben"]
    book = gradebook(out)
    assert (book["ann"]["written"], book["ben"]["written"]) == ("1.75", "0")
    auto = {r.student: sum(r.scores.values()) for r in first.results}
    assert float(book["ann"]["total"]) == pytest.approx(auto["ann"] + 1.75)
    assert float(book["ben"]["total"]) == pytest.approx(auto["ben"])
    page = (out / "feedback" / f"{file_stem('ann')}.md").read_text()
    assert "| Say why the maximum is at 0. |" in page
    assert f"**Total: {book['ann']['total']} / {points_text(POSSIBLE)}**" in page
    html = (out / "feedback" / f"{file_stem('ann')}.html").read_text()
    assert "<td>0.75 / 1</td><td>Say why the maximum is at 0.</td>" in html
    assert "Right: the batch&#x27;s gradients add up." in html


def test_a_regrade_keeps_the_scores_and_a_resubmission_keeps_its_unchanged_answers(round_trip, tmp_path):
    subs, out, _, _, _ = round_trip
    forced = grade(subs, out, force=True, data_dir=require_mnist(), memory_mb=1024, log=lambda line: None)
    assert forced.graded == ["ann", "ben"] and gradebook(out)["ann"]["written"] == "1.75"
    answer(subs / "ann", Q1, "Each example adds its own gradient, so the batch's gradients are summed.")
    resubmitted = grade(subs, out, data_dir=require_mnist(), memory_mb=1024, log=lambda line: None)
    assert resubmitted.graded == ["ann"]
    assert gradebook(out)["ann"]["written"] == "0.75"  # Q2 unchanged: kept; Q1 changed: to score again
    sheet = {(r["student"], r["question"]): r for r in rows_of(out / SHEET)}
    assert (sheet["ann", Q1]["points"], sheet["ann", Q1]["previous_points"]) == ("", "1 (for an earlier answer)")
    assert sheet["ann", Q2]["points"] == "0.75" and sheet["ben", Q1]["comment"] == "Read section 3 again."
    page = (out / "feedback" / f"{file_stem('ann')}.md").read_text()
    assert "changed since it was scored: not scored yet" in page


def test_the_lms_files_carry_the_merged_total(round_trip, tmp_path):
    subs, out, _, _, _ = round_trip
    roster = tmp_path / "roster.csv"
    roster.write_text("student_id,name,email,lms_id,section\nann,Ann,ann@x.edu,1001,A\nben,Ben,ben@x.edu,1002,A\n")
    report = grade(subs, out, roster=roster, data_dir=require_mnist(), memory_mb=1024, log=lambda line: None)
    assert report.graded == []
    with open(out / "lms" / "canvas.csv", newline="") as f:
        canvas = list(csv.reader(f))
    assert canvas[1][0] == "Points Possible" and float(canvas[1][5]) == report.max_points
    book = gradebook(out)
    assert {row[1]: row[5] for row in canvas[2:]} == {"1001": book["ann"]["total"], "1002": book["ben"]["total"]}


def test_a_late_policy_takes_its_share_of_the_merged_total(round_trip, tmp_path):
    subs, out, _, _, _ = round_trip
    late = tmp_path / "late.toml"
    late.write_text("due = 2026-12-04T23:59:00+01:00\npercent_per_day = 10\n[extensions]\nben = 1\n")
    times = tmp_path / "times.csv"
    times.write_text("student,submitted_at\nann,2026-12-06T10:00:00+01:00\nben,2026-12-05T12:00:00+01:00\n")
    lines = []
    grade(subs, out, late=late, submission_times=times, data_dir=require_mnist(), memory_mb=1024, log=lines.append)
    assert "late policy: 1 of 2 submission(s) late (submission times from times.csv)" in lines
    book = gradebook(out)
    earned = float(book["ann"]["total"]) + float(book["ann"]["late_penalty"])
    assert (book["ann"]["days_late"], book["ben"]["days_late"], book["ben"]["late_penalty"]) == ("2", "0", "0")
    assert float(book["ann"]["late_penalty"]) == pytest.approx(round(earned * 0.2, 2))
    page = (out / "feedback" / f"{file_stem('ann')}.md").read_text()
    assert "2 day(s) late" in page and "20% of the points earned" in page


def test_odd_student_ids_survive_the_sheet(tmp_path):
    """An id a spreadsheet would run as a formula (written quoted), one with a leading space, one not ASCII."""
    names = {"=cmd()", " bob", "zoë"}
    extras = extras_for(tmp_path, names)
    extras.write_sheet([extras.apply(result(n, {Q1: "x"}, 1.0)) for n in names])
    assert f"\n'=cmd(),{Q1}," in (tmp_path / SHEET).read_text()
    assert {s for s, _ in extras_for(tmp_path, names).rows} == names
