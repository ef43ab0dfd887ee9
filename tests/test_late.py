"""The late policy of ``grade``: due date, extensions, submission times from a listing or the files, the penalty.

The listings are read in the formats the LMSs give them: Canvas's
Submissions API (a JSON list of submissions with ``user_id`` and
``submitted_at``) and Moodle's grading worksheet (``Identifier`` =
"Participant <id>", ``Last modified (submission)`` in Moodle's English date
format and local time), and a plain ``student,submitted_at`` CSV. Every bad
date or unknown student is one error naming the file and the line or entry.
"""
# instructor-only

from __future__ import annotations

import json
import os
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from mlp_instructor.grading import GradingError
from mlp_instructor.grading.late import Rule, late_blocks, load_late
from mlp_instructor.grading.results import SubmissionResult
from mlp_instructor.grading.roster import read_roster

PARIS = "Europe/Paris"
DUE = datetime(2026, 12, 4, 23, 59, tzinfo=timezone(timedelta(hours=1)))  # Paris is UTC+1 in December


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def setup(tmp_path):
    """(rubric without a due date, submissions by name -> folder) for alice, bob and carol."""
    rubric = write(tmp_path / "rubric.toml", "[late]\npercent_per_day = 10\nmax_percent = 100\nzero_after_days = 7\n"
                                             "grace_minutes = 15\n")
    subs = {}
    for name in ("alice", "bob", "carol"):
        folder = tmp_path / "subs" / name
        (folder / "mlp_core").mkdir(parents=True)
        write(folder / "mlp_core" / "__init__.py", "")
        subs[name] = folder
    return rubric, subs, tmp_path


def late_file(tmp_path: Path, text: str) -> Path:
    return write(tmp_path / "late.toml", f'due = 2026-12-04T23:59:00+01:00\ntimezone = "{PARIS}"\n' + text)


def test_the_penalty_counts_each_day_started_caps_and_zeroes_after_n_days():
    rule = Rule(percent_per_day=10, max_percent=50, zero_after_days=7, grace_minutes=15)
    assert [rule.days(timedelta(minutes=m)) for m in (-5, 0, 15, 16, 24 * 60, 24 * 60 + 1)] == [0, 0, 0, 1, 1, 2]
    assert [rule.percent(d) for d in (0, 1, 4, 5, 6, 7, 8)] == [0, 10, 40, 50, 50, 50, 100]


def test_a_plain_csv_listing_and_extensions_give_each_student_their_penalty(setup):
    rubric, subs, tmp = setup
    late = late_file(tmp, "[extensions]\nbob = 2\ncarol = 2026-12-05T12:00:00\n")
    times = write(tmp / "times.csv", "student,submitted_at\n"
                                     "alice,2026-12-05T00:10:00+01:00\n"    # 11 minutes late: within the grace
                                     "bob,2026-12-07T10:00:00+01:00\n"      # 2 days' extension, then 1 day started
                                     "carol,2026-12-05T12:30:00\n")         # local time; 30 min after her extension
    policy = load_late(rubric, late, subs, None, times)
    outcomes = {s: policy.outcome(s, 80.0) for s in subs}
    assert {s: (o["days"], o["percent"], o["penalty"]) for s, o in outcomes.items()} == {
        "alice": (0, 0, 0.0), "bob": (1, 10, 8.0), "carol": (1, 10, 8.0)}
    assert outcomes["bob"]["extended"] and outcomes["bob"]["due_shown"] == "2026-12-06 23:59 CET"
    assert not outcomes["alice"]["extended"]
    result = SubmissionResult("bob", "h", late=outcomes["bob"])
    text = " ".join(b.text for b in late_blocks(result))
    assert "1 day(s) late" in text and "deducted: 8 point(s)" in text and "(your extension)" in text
    assert "modification time" not in text  # the time came from a listing


def test_canvas_submissions_json_is_read_by_user_id_through_the_roster(setup):
    rubric, subs, tmp = setup
    roster = read_roster(write(tmp / "roster.csv", "student_id,name,email,lms_id,section\nalice,A,a@x.edu,1001,S\n"
                                                   "bob,B,b@x.edu,1002,S\ncarol,C,c@x.edu,1003,S\n"
                                                   "d,D,d@x.edu,1004,S\n"))
    listing = [{"user_id": 1001, "submitted_at": "2026-12-04T20:00:00Z", "workflow_state": "submitted", "late": False},
               {"user_id": 1002, "submitted_at": "2026-12-06T22:00:00Z", "workflow_state": "submitted", "late": True},
               {"user_id": 1003, "submitted_at": "2026-12-04T22:00:00Z", "workflow_state": "graded"},
               {"user_id": 1004, "submitted_at": None, "workflow_state": "unsubmitted"}]  # no submission: skipped
    times = write(tmp / "submissions.json", json.dumps([listing[:2], listing[2:]]))  # two pages of the API
    policy = load_late(rubric, late_file(tmp, ""), subs, roster, times)
    assert policy.times["bob"] == datetime(2026, 12, 6, 22, 0, tzinfo=timezone.utc)
    assert [policy.outcome(s, 50)["days"] for s in ("alice", "bob", "carol")] == [0, 2, 0]
    assert policy.outcome("bob", 50)["source"] == "submissions.json"


def test_moodle_grading_worksheet_is_read_in_moodles_local_time(setup):
    rubric, subs, tmp = setup
    roster = read_roster(write(tmp / "roster.csv", "student_id,name,email,lms_id,section\nalice,A,a@x.edu,11,S\n"
                                                   "bob,B,b@x.edu,12,S\ncarol,C,c@x.edu,13,S\n"))
    worksheet = write(tmp / "Grades-MLP.csv", (
        "\ufeffIdentifier,Full name,Email address,Status,Grade,Maximum grade,Grade can be changed,"
        "Last modified (submission),Last modified (grade),Feedback comments\n"
        "Participant 11,A,a@x.edu,Submitted for grading,,100.00,Yes,\"Friday, 4 December 2026, 11:58 PM\",-,\n"
        "Participant 12,B,b@x.edu,Submitted for grading - 1 day 2 hours late,,100.00,Yes,"
        "\"Sunday, 6 December 2026, 1:00 AM\",-,\n"
        "Participant 13,C,c@x.edu,Submitted for grading,,100.00,Yes,\"Friday, December 4, 2026, 9:00 PM\",-,\n"))
    policy = load_late(rubric, late_file(tmp, ""), subs, roster, worksheet)
    assert policy.times["bob"] == datetime(2026, 12, 6, 0, 0, tzinfo=timezone.utc)  # 01:00 in Paris
    assert [policy.outcome(s, 10)["days"] for s in ("alice", "bob", "carol")] == [0, 2, 0]


def test_without_a_listing_the_files_times_are_used_and_the_feedback_says_so(setup):
    rubric, subs, tmp = setup
    for name, when in (("alice", DUE - timedelta(hours=1)), ("bob", DUE + timedelta(days=3, hours=1)),
                       ("carol", DUE - timedelta(days=1))):
        stamp = when.timestamp()
        for path in (subs[name], subs[name] / "mlp_core" / "__init__.py"):
            os.utime(path, (stamp, stamp))
    os.utime(subs["carol"], ((DUE + timedelta(days=9)).timestamp(),) * 2)  # a folder's own time is not a file's...
    write(subs["carol"] / "mlp_core" / "late.py", "")  # ...but a file written now is
    policy = load_late(rubric, late_file(tmp, ""), subs, None, None)
    assert [policy.outcome(s, 90)["days"] for s in ("alice", "bob")] == [0, 4]
    assert policy.outcome("carol", 90)["percent"] == 100  # written today, long after the due date: past 7 days
    text = " ".join(b.text for b in late_blocks(SubmissionResult("bob", "h", late=policy.outcome("bob", 90))))
    assert "newest modification time of your files" in text and "deducted: 36 point(s)" in text


def test_no_due_date_means_no_late_policy(setup):
    rubric, subs, _ = setup
    assert load_late(rubric, None, subs, None, None) is None


@pytest.mark.parametrize("late_text, times_text, message", [
    ("", "student,submitted_at\nalice,2026-12-05T00:10:00+01:00\nmallory,2026-12-05T00:10:00+01:00\n",
     r"times\.csv:3: no submission is named 'mallory' \(with --roster"),
    ("", "student,submitted_at\nalice,yesterday\n", r"times\.csv:2: 'yesterday' is not a date and time"),
    ("", "student,submitted_at\nalice,2026-12-05T00:10:00+01:00\nalice,2026-12-05T00:11:00+01:00\n",
     r"times\.csv:3: a second time for 'alice'"),
    ("", "student,submitted_at\nalice,2026-12-05T00:10:00+01:00\n",
     r"times\.csv: no submission time for 'bob', 'carol'"),
    ("", "name,when\nalice,2026-12-05\n", r"times\.csv:1: expected Moodle's grading worksheet"),
    ("[extensions]\nmallory = 2\n", None, r"late\.toml: extensions\.mallory: no submission is named 'mallory'"),
    ("[extensions]\nbob = 2026-12-32\n", None, r"late\.toml: .*line 4"),
    ("[extensions]\nbob = 2026-12-06\n", None, r"extensions\.bob: 2026-12-06 has no time of day"),
    ("[extensions]\nbob = 400\n", None, r"extensions\.bob: 400 days must be from 0 to 365"),
    ("percent_per_dya = 5\n", None, r"unknown key\(s\) percent_per_dya"),
    ("percent_per_day = 150\n", None, r"percent_per_day must be a number from 0 to 100, got 150"),
])
def test_bad_dates_unknown_students_and_bad_settings_are_one_clear_error(setup, late_text, times_text, message):
    rubric, subs, tmp = setup
    times = write(tmp / "times.csv", times_text) if times_text is not None else None
    with pytest.raises(GradingError, match=message):
        load_late(rubric, late_file(tmp, late_text), subs, None, times)


def test_a_local_due_date_needs_a_zone_and_a_listing_needs_a_due_date(setup):
    rubric, subs, tmp = setup
    with pytest.raises(GradingError, match=r"due: 2026-12-04T23:59:00 has no UTC offset: write one"):
        load_late(rubric, write(tmp / "late.toml", "due = 2026-12-04T23:59:00\n"), subs, None, None)
    with pytest.raises(GradingError, match=r"timezone 'Europe/Pariss' is not an IANA time zone"):
        load_late(rubric, write(tmp / "late.toml", 'due = 2026-12-04T23:59:00\ntimezone = "Europe/Pariss"\n'),
                  subs, None, None)
    times = write(tmp / "times.csv", "student,submitted_at\nalice,2026-12-05T00:10:00+01:00\n")
    with pytest.raises(GradingError, match=r"no due date: add due ="):
        load_late(rubric, None, subs, None, times)
    worksheet = write(tmp / "w.csv", "Identifier,Full name,Last modified (submission)\n"
                                     "Participant 1,A,\"Friday, 4 December 2026, 11:58 PM\"\n")
    with pytest.raises(GradingError, match=r"w\.csv:2: Moodle's worksheet gives local times: set timezone"):
        load_late(rubric, write(tmp / "late.toml", "due = 2026-12-04T23:59:00Z\n"), subs, None, worksheet)
