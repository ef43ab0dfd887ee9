"""The class roster of ``grade --roster roster.csv``: who is enrolled, under which ids, in which section.

A CSV file with a header row naming these columns, in any order (names
compared case-insensitively, spaces as underscores):

    student_id, name, email, lms_id, section      (and, optionally, login_id)

``student_id`` is the institution's id (Canvas's "SIS User ID", Moodle's "ID
number"), ``lms_id`` the LMS's own id of the student (Canvas's numeric user
"ID"; in Moodle the participant id its downloads show), ``login_id`` the
login Canvas knows ("SIS Login ID"; the email when left out). ``student_id``
and ``name`` are required in every row, the others may be blank.

A submission (its folder or zip name) belongs to the row whose
``student_id``, ``email`` or ``lms_id`` it equals, after Unicode NFC
normalisation (the email case-insensitively). The roster is read before
anything is graded or written: a missing column, a row with too many or too
few cells, an empty required cell, or one id that would name two rows is one
:class:`~mlp_instructor.grading.GradingError` naming the row's line.
"""

from __future__ import annotations

import csv
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from . import GradingError

COLUMNS = ("student_id", "name", "email", "lms_id", "section")
OPTIONAL = ("login_id",)
#: An LMS id that can name a file (``--lms-feedback``): letters, digits and ``._@+-``.
SAFE_FILE_ID = re.compile(r"[A-Za-z0-9@+_-][A-Za-z0-9._@+-]{0,99}")


@dataclass(frozen=True)
class Student:
    """One row of the roster (``line``: its line in the file)."""

    student_id: str
    name: str
    email: str
    lms_id: str
    section: str
    login_id: str
    line: int


def normal(text: str) -> str:
    """An id as compared: NFC, surrounding spaces stripped."""
    return unicodedata.normalize("NFC", text).strip()


@dataclass
class Roster:
    path: Path
    students: list[Student]

    def __post_init__(self) -> None:
        self._keys: dict[str, Student] = {}
        for s in self.students:
            for key in {normal(s.student_id), normal(s.email).casefold(), normal(s.lms_id)} - {""}:
                other = self._keys.setdefault(key, s)
                if other is not s:
                    raise GradingError(f"roster {self.path}, line {s.line}: {key!r} already names the student of "
                                       f"line {other.line} (each student id, email and LMS id must name one student)")

    def match(self, submission: str) -> Student | None:
        """The student whose student_id, email or lms_id is the submission's name, or None."""
        key = normal(submission)
        return self._keys.get(key) or self._keys.get(key.casefold() if "@" in key else key)


def read_roster(path: str | Path, *, file_ids: bool = False) -> Roster:
    """Read and check the roster; ``file_ids``: every non-blank lms_id must also be a safe file name."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise GradingError(f"roster {path} does not exist") from None
    except UnicodeDecodeError as exc:
        raise GradingError(f"roster {path} is not UTF-8 text (byte {exc.start}): save it as CSV UTF-8") from None
    except OSError as exc:
        raise GradingError(f"roster {path} cannot be read: {exc.strerror}") from None
    reader = csv.reader(text.splitlines(keepends=True), strict=True)
    try:
        header = next(reader, [])
        columns = [re.sub(r"[\s-]+", "_", h.strip().lower()) for h in header]
        missing = [c for c in COLUMNS if c not in columns]
        if missing:
            raise GradingError(f"roster {path}, line 1: the header lacks {', '.join(missing)} (it needs "
                               f"{', '.join(COLUMNS)}; {OPTIONAL[0]} is optional), got {', '.join(header) or 'nothing'}")
        repeated = sorted({c for c in columns if c and columns.count(c) > 1})
        if repeated:
            raise GradingError(f"roster {path}, line 1: the column {repeated[0]} appears twice")
        students = []
        for row in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in row):
                continue
            if len(row) != len(header):
                raise GradingError(f"roster {path}, line {line}: {len(row)} cells where the header has "
                                   f"{len(header)} (a comma inside a name needs quotes)")
            cells = {c: row[i].strip() for i, c in enumerate(columns) if c in COLUMNS + OPTIONAL}
            for required in ("student_id", "name"):
                if not cells[required]:
                    raise GradingError(f"roster {path}, line {line}: the {required} is empty")
            if file_ids and cells["lms_id"] and not SAFE_FILE_ID.fullmatch(cells["lms_id"]):
                raise GradingError(f"roster {path}, line {line}: the lms_id {cells['lms_id']!r} cannot name a "
                                   "feedback file (letters, digits and ._@+- only)")
            students.append(Student(cells["student_id"], cells["name"], cells["email"], cells["lms_id"],
                                    cells["section"], cells.get("login_id", ""), line))
    except csv.Error as exc:
        raise GradingError(f"roster {path}, line {reader.line_num}: not valid CSV ({exc})") from None
    if not students:
        raise GradingError(f"roster {path} lists no student (a header row, then one row per student)")
    return Roster(path, students)
