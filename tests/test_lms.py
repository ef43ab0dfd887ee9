"""The roster and the LMS exports of ``grade --roster``: Canvas's and Moodle's gradebook imports.

The files are checked against the formats the two importers read: Canvas's
``GradebookImporter`` (canvas-lms: a header whose first cells are
``Student`` and ``ID``, then ``SIS User ID`` and ``SIS Login ID``, ending its
student columns with ``Section``; a row starting ``Points Possible``; a blank
cell is "no change") and Moodle's CSV grade import (``grade/import/csv``: one
identifier column mapped to email, ID number or user id, which every row
must fill, or the whole import stops; a grade is a number or blank). A
malformed roster is one error naming its line, and nothing is written.
"""
# instructor-only

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mlp_instructor.grading import GradingError
from mlp_instructor.grading.command import grade
from mlp_instructor.grading.lms import write_lms
from mlp_instructor.grading.manual import load_written_questions
from mlp_instructor.grading.results import SubmissionResult
from mlp_instructor.grading.roster import read_roster
from mlp_instructor.grading.rubric import DEFAULT_RUBRIC, load_rubric
from mlp_instructor.notebooks import questions_of

from . import grading_attacks as attacks
from ._mnist import require_mnist

REPO = Path(__file__).resolve().parents[1]
#: Points possible: the rubric's items and its written questions (scored by hand, mlp_instructor.grading.manual).
POSSIBLE = load_rubric(DEFAULT_RUBRIC).max_points + sum(
    q.points for q in load_written_questions(DEFAULT_RUBRIC, questions_of(REPO / "notebooks")))
ROSTER = """student_id,name,email,lms_id,section
s001,"Lovelace, Ada",ada@example.edu,1001,Section A
s002,Zoë Brontë,zoe@example.edu,1002,Section B
s003,Alan Turing,alan@example.edu,1003,Section A
"""


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_text(text, encoding=encoding)
    return path


def rows_of(path: Path) -> list[list[str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.reader(f))


def canvas_import(path: Path) -> tuple[str, float | None, dict[str, str]]:
    """Read a file as Canvas's importer does: (assignment column, points possible, grade by Canvas user ID)."""
    rows = rows_of(path)
    header = rows[0]
    assert "Student" in header[0] and "ID" in header[1], header
    assert header[2:4] == ["SIS User ID", "SIS Login ID"]
    assert "Section" in header[4]  # the last student column (no custom or Integration ID column here)
    assignments = header[5:]
    assert len(assignments) == 1
    points = None
    grades = {}
    for row in rows[1:]:
        assert len(row) == len(header)
        if "Points Possible" in row[0]:
            points = float(row[5])
            continue
        assert row[1] or row[2] or row[3], f"Canvas could match this row by name only: {row}"
        grade_cell = row[5].strip()
        assert grade_cell == "" or float(grade_cell) >= 0
        grades[row[1]] = grade_cell
    return assignments[0], points, grades


def moodle_import(path: Path, mapped_from: str) -> tuple[str, dict[str, str]]:
    """Read a file as Moodle's CSV import does with ``mapped_from`` as the identifier: (grade column, grade by id)."""
    rows = rows_of(path)
    header = rows[0]
    key, column = header.index(mapped_from), len(header) - 1
    grades = {}
    for row in rows[1:]:
        assert row[key].strip(), f"Moodle would stop the import at this row (no {mapped_from}): {row}"
        cell = row[column].strip()
        assert cell in ("", "-") or float(cell) >= 0  # else Moodle's "badgrade": the import stops
        grades[row[key]] = cell
    return header[column], grades


def results(*pairs: tuple[str, float]) -> list[SubmissionResult]:
    return [SubmissionResult(student, "0" * 64, total=total) for student, total in pairs]


@pytest.mark.parametrize("missing, cell", [("blank", ""), ("zero", "0")])
def test_canvas_and_moodle_files_follow_their_import_formats(tmp_path, missing, cell):
    roster = read_roster(write(tmp_path / "roster.csv", ROSTER))
    # s001 by student id, Zoë by email (any case), nobody for s003, and one stranger
    graded = results(("s001", 90.84), ("ZOE@example.edu", 100.0), ("mallory", 55.5))
    report = write_lms(tmp_path, roster, graded, load_rubric(DEFAULT_RUBRIC), assignment="MLP kit (4242)",
                       missing=missing)
    assignment, points, canvas = canvas_import(tmp_path / "lms" / "canvas.csv")
    assert (assignment, points) == ("MLP kit (4242)", load_rubric(DEFAULT_RUBRIC).max_points)
    assert canvas == {"1001": "90.84", "1002": "100", "1003": cell}
    assert rows_of(tmp_path / "lms" / "canvas.csv")[2][:5] == ["Lovelace, Ada", "1001", "s001", "ada@example.edu",
                                                                "Section A"]
    for mapped_from, who in [("Email address", "ada@example.edu"), ("ID number", "s001"), ("LMS ID", "1001")]:
        column, moodle = moodle_import(tmp_path / "lms" / "moodle.csv", mapped_from)
        assert column == "MLP kit (4242)" and moodle[who] == "90.84" and len(moodle) == 3
    assert [s.student_id for s in report.without_submission] == ["s003"]
    assert [(r.student, why) for r, why in report.not_in_roster] == [
        ("mallory", "no roster row has this student_id, email or lms_id")]
    assert rows_of(tmp_path / "lms" / "not_in_roster.csv") == [
        ["submission", "total", "why"], ["mallory", "55.5", "no roster row has this student_id, email or lms_id"]]
    assert any(line.startswith("ERROR: 1 submission(s) not in the roster") for line in report.lines())


def test_a_second_submission_of_one_student_is_listed_not_exported(tmp_path):
    roster = read_roster(write(tmp_path / "roster.csv", ROSTER))
    report = write_lms(tmp_path, roster, results(("1001", 40.0), ("s001", 90.0)), load_rubric(DEFAULT_RUBRIC))
    assert canvas_import(tmp_path / "lms" / "canvas.csv")[2]["1001"] == "40"
    assert [(r.student, why) for r, why in report.not_in_roster] == [
        ("s001", "a second submission of roster line 2 (the first, '1001', is exported)")]


def test_a_spreadsheet_formula_in_a_name_stays_text(tmp_path):
    roster = read_roster(write(tmp_path / "roster.csv", "student_id,name,email,lms_id,section\n"
                                                        "s9,=HYPERLINK(\"x\"),e@x,9,=1+1\n"))
    write_lms(tmp_path, roster, results(("s9", 1.0)), load_rubric(DEFAULT_RUBRIC))
    row = rows_of(tmp_path / "lms" / "canvas.csv")[2]
    assert row[0] == "'=HYPERLINK(\"x\")" and row[4] == "'=1+1"


@pytest.mark.parametrize("text, message", [
    ("student_id,name,email,section\ns1,A,a@x,S\n", r"line 1: the header lacks lms_id"),
    (ROSTER + "s004,Grace Hopper,grace@example.edu,1004\n", r"line 5: 4 cells where the header has 5"),
    (ROSTER + ",Nobody,n@example.edu,1005,S\n", r"line 5: the student_id is empty"),
    (ROSTER + "s005,Ada Again,ADA@example.edu,1005,S\n", r"line 5: 'ada@example.edu' already names the student of line 2"),
    (ROSTER + "s006,Other,o@example.edu,1001,S\n", r"line 5: '1001' already names the student of line 2"),
    ("student_id,name,email,lms_id,section,name\ns1,A,a,1,S,B\n", r"line 1: the column name appears twice"),
    ('student_id,name,email,lms_id,section\ns1,"unclosed,a,1,S\n', r"line \d: not valid CSV"),
    ("student_id,name,email,lms_id,section\n", r"lists no student"),
])
def test_a_malformed_roster_is_one_error_naming_its_line(tmp_path, text, message):
    with pytest.raises(GradingError, match=message):
        read_roster(write(tmp_path / "roster.csv", text))


def test_a_roster_that_is_not_utf8_or_has_unsafe_file_ids_is_refused(tmp_path):
    with pytest.raises(GradingError, match="is not UTF-8 text"):
        read_roster(write(tmp_path / "r.csv", "student_id,name,email,lms_id,section\ns1,Zoë,z,1,S\n", "latin-1"))
    unsafe = write(tmp_path / "u.csv", "student_id,name,email,lms_id,section\ns1,Z,z,../../etc,S\n")
    assert read_roster(unsafe).students[0].lms_id == "../../etc"  # fine in a CSV cell
    with pytest.raises(GradingError, match=r"line 2: the lms_id '\.\./\.\./etc' cannot name a feedback file"):
        read_roster(unsafe, file_ids=True)
    excel = write(tmp_path / "excel.csv", "\ufeffStudent ID,Name,Email,LMS ID,Section,Login ID\r\ns1,A,a@x,7,S,alogin\r\n")
    student = read_roster(excel).students[0]  # Excel's byte-order mark, spaces in the names, CRLF
    assert (student.student_id, student.lms_id, student.login_id) == ("s1", "7", "alogin")


@pytest.fixture(scope="module")
def small_class(tmp_path_factory) -> Path:
    from mlp_instructor.release.command import release

    kit = tmp_path_factory.mktemp("release") / "kit"
    release(kit, import_check=False)
    subs = tmp_path_factory.mktemp("class") / "subs"
    attacks.write_class(kit, subs, ["full_marks", "sigmoid_sign"])
    (subs / "full_marks").rename(subs / "s001")
    (subs / "sigmoid_sign").rename(subs / "zoe@example.edu")
    attacks.write_class(kit, subs, ["attack_all_zeros"])
    (subs / "attack_all_zeros").rename(subs / "stranger")
    return subs


def run_grade(subs: Path, out: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mlp_core", "grade", str(subs), "--out", str(out),
                           "--data-dir", str(require_mnist()), *args], cwd=REPO, capture_output=True, text=True,
                          timeout=900, env={**os.environ, "PYTHONPATH": str(REPO)})


def test_grade_with_a_roster_writes_the_lms_files_from_the_gradebook(small_class, tmp_path):
    roster = write(tmp_path / "roster.csv", ROSTER)
    out = tmp_path / "out"
    proc = run_grade(small_class, out, "--roster", str(roster), "--missing", "zero", "--assignment", "HW1 (77)",
                     "--lms-feedback")
    assert proc.returncode == 1, proc.stderr  # a submission is not in the roster: an error, said
    assert "ERROR: 1 submission(s) not in the roster" in proc.stdout and "stranger" in proc.stdout
    assert "1 roster student(s) without a submission, exported as 0: s003" in proc.stdout
    with open(out / "gradebook.csv", newline="") as f:
        totals = {row["student"]: row["total"] for row in csv.DictReader(f)}
    full = load_rubric(DEFAULT_RUBRIC).max_points
    assert totals == {"s001": f"{full:g}", "zoe@example.edu": "83.59", "stranger": "0"}
    assignment, points, canvas = canvas_import(out / "lms" / "canvas.csv")
    assert (assignment, points, canvas) == ("HW1 (77)", POSSIBLE, {"1001": f"{full:g}", "1002": "83.59", "1003": "0"})
    assert rows_of(out / "lms" / "not_in_roster.csv")[1][:2] == ["stranger", "0"]
    feedback = sorted(p.name for p in (out / "lms" / "feedback").iterdir())
    assert feedback == ["1001.html", "1001.md", "1002.html", "1002.md"]
    page = (out / "lms" / "feedback" / "1002.md").read_text()
    assert page.startswith("# Feedback for zoe@example.edu") and f"**Total: 83.59 / {POSSIBLE:g}**" in page


def test_grade_refuses_a_malformed_roster_before_writing_anything(small_class, tmp_path):
    roster = write(tmp_path / "roster.csv", ROSTER + "s004,Grace Hopper,grace@example.edu\n")
    out = tmp_path / "out"
    proc = run_grade(small_class, out, "--roster", str(roster))
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        f"python -m mlp_core grade: error: roster {roster}, line 5: 3 cells where the header has 5 "
        "(a comma inside a name needs quotes)"]
    assert not out.exists()
    proc = run_grade(small_class, out, "--lms-feedback")
    assert proc.returncode == 1 and "give --roster ROSTER.csv" in proc.stderr and not out.exists()


def test_without_a_roster_grade_writes_no_lms_files(small_class, tmp_path):
    out = tmp_path / "out"
    report = grade(small_class, out, data_dir=require_mnist(), log=lambda line: None)
    assert report.lms is None and not (out / "lms").exists()
    assert "LMS" not in report.summary()
