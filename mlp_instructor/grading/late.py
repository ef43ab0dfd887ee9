"""The late policy: a due date, extensions, when each submission came in, and the penalty.

Where it comes from: the rubric's ``[late]`` table, then the file of ``grade
--late LATE.toml`` (its keys replace the rubric's), for example::

    due = 2026-12-04T23:59:00+01:00     # a TOML date-time; without an offset it needs timezone
    timezone = "Europe/Paris"           # an IANA zone: for local times here and in a Moodle listing
    percent_per_day = 10                # of the points earned, for each day (24 h) or part of one
    max_percent = 50                    # the penalty's cap (default 100)
    zero_after_days = 7                 # later than 7 days: 0 points (optional)
    grace_minutes = 15                  # this late counts as on time (default 0)

    [extensions]                        # by submission name (or, with --roster, any of the student's ids)
    alice = 2026-12-06T23:59:00+01:00   # a new due date
    bob = 3                             # or days added to the due date

Without a ``due`` there is no late policy. When each submission came in:
``grade --submission-times FILE`` reads the LMS's listing (:func:`read_times`):
Canvas's Submissions API (``GET /api/v1/courses/:course/assignments/:id/submissions``
saved as JSON: a list of objects with ``user_id`` and ``submitted_at``),
Moodle's grading worksheet (Assignment > "Download grading worksheet": a CSV
with ``Identifier`` = "Participant <id>", ``Email address`` and ``Last
modified (submission)`` in Moodle's local time), or a plain CSV ``student,submitted_at``
(ISO 8601). Without it, the newest modification time of the submission's
files (a zip's own time) is used, and the feedback page says so: copies and
downloads can change those times.

The penalty: ``days`` = the days started after the (extended) due date
(none within the grace); ``percent`` = ``min(days x percent_per_day,
max_percent)``, or 100 past ``zero_after_days``; the student loses that
percent of the points earned (rubric items and written answers).

A date that does not parse or has no zone, an unknown key, or a student that
no submission (nor, with ``--roster``, the roster) knows is one
:class:`~mlp_instructor.grading.GradingError` naming the file and the line or
entry, raised before anything is written.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import stat
import tomllib
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone, tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from . import GradingError
from .documents import Block, Heading, Para
from .gradebook import points_text
from .roster import Roster, normal

RULE_KEYS = ("percent_per_day", "max_percent", "zero_after_days", "grace_minutes")
KEYS = ("due", "timezone", "extensions", *RULE_KEYS)
#: Moodle's "Last modified (submission)", in its English date formats (UK and US order, 12 h and 24 h).
MOODLE_FORMATS = ("%A, %d %B %Y, %I:%M %p", "%A, %B %d, %Y, %I:%M %p", "%A, %d %B %Y, %H:%M", "%A, %B %d, %Y, %H:%M")
MOODLE_TIME = "Last modified (submission)"
ON_ROSTER_ONLY = ""  # a roster student without a submission: nothing to grade, no error


@dataclass(frozen=True)
class Rule:
    """How much a late submission loses (module docstring)."""

    percent_per_day: float
    max_percent: float = 100.0
    zero_after_days: int | None = None
    grace_minutes: float = 0.0

    def days(self, late: timedelta) -> int:
        """Days started after the due date (0 within the grace)."""
        seconds = late.total_seconds()
        return 0 if seconds <= self.grace_minutes * 60 else math.ceil(seconds / 86400)

    def percent(self, days: int) -> float:
        if self.zero_after_days is not None and days > self.zero_after_days:
            return 100.0
        return min(days * self.percent_per_day, self.max_percent)


@dataclass
class LatePolicy:
    """The due date, the extensions and each submission's time (by submission name)."""

    due: datetime
    rule: Rule
    zone: tzinfo
    extensions: dict[str, datetime] = field(default_factory=dict)
    times: dict[str, datetime] = field(default_factory=dict)
    source: str = ""  # the manifest's file name, or "" for the files' modification times

    def outcome(self, student: str, earned: float) -> dict:
        """What the gradebook and the feedback show for ``student`` who earned ``earned`` points before it."""
        due = self.extensions.get(student, self.due)
        submitted = self.times[student]
        days = self.rule.days(submitted - due)
        percent = self.rule.percent(days)
        return {"submitted": submitted.isoformat(), "due": due.isoformat(), "extended": student in self.extensions,
                "days": days, "percent": percent, "penalty": round(earned * percent / 100, 2),
                "source": self.source, "shown": _shown(submitted, self.zone), "due_shown": _shown(due, self.zone)}


def _shown(moment: datetime, zone: tzinfo) -> str:
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")


def _zone(name, where: str) -> tzinfo | None:
    if name is None:
        return None
    try:
        return ZoneInfo(str(name))
    except (ZoneInfoNotFoundError, ValueError):
        raise GradingError(f"{where}: timezone {name!r} is not an IANA time zone (like Europe/Paris or UTC)") from None


def parse_time(value, zone: tzinfo | None, where: str) -> datetime:
    """A moment from a TOML date-time or an ISO 8601 text; a local time needs ``zone``."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError:
            raise GradingError(f"{where}: {value!r} is not a date and time (write 2026-12-04T23:59:00+01:00)") from None
    if isinstance(value, date) and not isinstance(value, datetime):
        raise GradingError(f"{where}: {value} has no time of day (write {value}T23:59:00 and a UTC offset)")
    if not isinstance(value, datetime):
        raise GradingError(f"{where}: {value!r} is not a date and time (write 2026-12-04T23:59:00+01:00)")
    if value.tzinfo is None:
        if zone is None:
            raise GradingError(f"{where}: {value.isoformat()} has no UTC offset: write one (+01:00, Z) or set "
                               "timezone = \"Europe/Paris\" (your zone) in the late settings")
        value = value.replace(tzinfo=zone)
    return value


class Names:
    """Finds the submission an id names: its name, or (with a roster) any id of the same student."""

    def __init__(self, submissions: list[str], roster: Roster | None):
        self.names = {normal(n): n for n in submissions}
        self.folded = {normal(n).casefold(): n for n in submissions if "@" in n}
        self.roster = roster
        self.by_student = {}
        if roster is not None:
            for name in submissions:
                student = roster.match(name)
                if student is not None:
                    self.by_student.setdefault(id(student), name)

    def find(self, *ids: str) -> str | None:
        """The submission's name; :data:`ON_ROSTER_ONLY` for a roster student without one; None if unknown."""
        for raw in ids:
            key = normal(str(raw))
            if not key:
                continue
            found = self.names.get(key) or self.folded.get(key.casefold())
            if found:
                return found
            student = self.roster.match(key) if self.roster is not None else None
            if student is not None:
                return self.by_student.get(id(student), ON_ROSTER_ONLY)
        return None


def _unknown(where: str, shown: str, names: Names) -> GradingError:
    hint = "" if names.roster is not None else " (with --roster, any id of a roster student is known)"
    return GradingError(f"{where}: no submission is named {shown!r}{hint}")


def _settings(rubric_path: Path, late_file: Path | None) -> tuple[dict, str]:
    try:
        settings = dict(tomllib.loads(Path(rubric_path).read_text(encoding="utf-8")).get("late", {}))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise GradingError(f"rubric {rubric_path} cannot be read: {exc}") from None
    where = f"rubric {rubric_path} [late]"
    if late_file is not None:
        try:
            settings.update(tomllib.loads(Path(late_file).read_text(encoding="utf-8")))
        except FileNotFoundError:
            raise GradingError(f"late settings {late_file} do not exist") from None
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise GradingError(f"late settings {late_file}: {exc}") from None
        where = str(late_file)
    unknown = sorted(set(settings) - set(KEYS))
    if unknown:
        raise GradingError(f"{where}: unknown key(s) {', '.join(unknown)} (known: {', '.join(KEYS)})")
    return settings, where


def _rule(settings: dict, where: str) -> Rule:
    def number(key, default, low, high, integer=False):
        value = settings.get(key, default)
        if value is None:
            return None
        kinds = int if integer else (int, float)
        if isinstance(value, bool) or not isinstance(value, kinds) or not low <= value <= high:
            kind = "a whole number" if integer else "a number"
            raise GradingError(f"{where}: {key} must be {kind} from {low} to {high}, got {value!r}")
        return value

    if "percent_per_day" not in settings:
        raise GradingError(f"{where}: a due date needs percent_per_day (the penalty for each day started)")
    return Rule(float(number("percent_per_day", None, 0, 100)), float(number("max_percent", 100, 0, 100)),
                number("zero_after_days", None, 0, 10000, integer=True), float(number("grace_minutes", 0, 0, 100000)))


def load_late(rubric_path: Path, late_file: Path | None, submissions: dict[str, Path], roster: Roster | None,
              times_file: Path | None) -> LatePolicy | None:
    """The class's late policy, every input checked (module docstring); None without a due date."""
    settings, where = _settings(rubric_path, late_file)
    if "due" not in settings:
        if times_file is not None or late_file is not None:
            raise GradingError(f"{where}: no due date: add due = 2026-12-04T23:59:00+01:00 (the late policy needs one)")
        return None
    zone = _zone(settings.get("timezone"), where)
    due = parse_time(settings["due"], zone, f"{where}: due")
    policy = LatePolicy(due, _rule(settings, where), zone or due.tzinfo)
    names = Names(list(submissions), roster)
    extensions = settings.get("extensions", {})
    if not isinstance(extensions, dict):
        raise GradingError(f"{where}: extensions must be a table ([extensions], then student = date or days)")
    for who, value in extensions.items():
        name = names.find(who)
        if name is None:
            raise _unknown(f"{where}: extensions.{who}", who, names)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if not 0 < value <= 365:
                raise GradingError(f"{where}: extensions.{who}: {value!r} days must be from 0 to 365")
            value = due + timedelta(days=value)
        if name:
            policy.extensions[name] = parse_time(value, zone, f"{where}: extensions.{who}")
    if times_file is not None:
        policy.times, policy.source = read_times(Path(times_file), names, zone), Path(times_file).name
        missing = sorted(set(submissions) - set(policy.times))
        if missing:
            raise GradingError(f"{times_file}: no submission time for {', '.join(map(repr, missing[:10]))}"
                               f"{' ...' if len(missing) > 10 else ''} (add them, or leave --submission-times out "
                               "to use the files' modification times)")
    else:
        policy.times = {name: file_time(path) for name, path in submissions.items()}
    return policy


def file_time(path: Path) -> datetime:
    """The newest modification time of a submission's regular files (a zip: its own), links never followed."""
    newest = os.lstat(path).st_mtime
    if stat.S_ISDIR(os.lstat(path).st_mode):
        for dirpath, dirnames, filenames in os.walk(path):
            for name in filenames:
                st = os.lstat(os.path.join(dirpath, name))
                if stat.S_ISREG(st.st_mode):
                    newest = max(newest, st.st_mtime)
    return datetime.fromtimestamp(newest, timezone.utc)


def read_times(path: Path, names: Names, zone: tzinfo | None) -> dict[str, datetime]:
    """Submission name -> when it came in, from Canvas's JSON, Moodle's worksheet or a plain CSV (module docstring)."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise GradingError(f"submission times {path} do not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise GradingError(f"submission times {path} cannot be read as UTF-8 text: {exc}") from None
    entries = _canvas_entries(path, text) if path.suffix.lower() == ".json" else _csv_entries(path, text, zone)
    times: dict[str, datetime] = {}
    for where, ids, value in entries:
        name = names.find(*ids)
        if name is None:
            raise _unknown(where, ids[0], names)
        if not name:
            continue
        if name in times:
            raise GradingError(f"{where}: a second time for {name!r}; keep one row per student")
        times[name] = parse_time(value, zone, where) if not isinstance(value, datetime) else value
    return times


def _canvas_entries(path: Path, text: str):
    """(where, ids, time) of each submitted entry of Canvas's Submissions API (a JSON list)."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise GradingError(f"{path}:{getattr(exc, 'lineno', 1)}: not JSON ({exc})") from None
    if isinstance(data, list) and data and all(isinstance(page, list) for page in data):
        data = [entry for page in data for entry in page]  # the API's pages, saved as one list of pages
    if not isinstance(data, list):
        raise GradingError(f"{path}: Canvas's submissions listing is a JSON list of submissions")
    for number, entry in enumerate(data, 1):
        where = f"{path}: entry {number}"
        if not isinstance(entry, dict) or "user_id" not in entry or "submitted_at" not in entry:
            raise GradingError(f"{where}: a Canvas submission needs user_id and submitted_at")
        if entry["submitted_at"] in (None, "") or entry.get("workflow_state") == "unsubmitted":
            continue
        user = entry.get("user") if isinstance(entry.get("user"), dict) else {}
        ids = [str(entry["user_id"])] + [str(user[k]) for k in ("sis_user_id", "login_id") if user.get(k)]
        yield f"{where} (user_id {entry['user_id']})", ids, str(entry["submitted_at"])


def _csv_entries(path: Path, text: str, zone: tzinfo | None):
    """(where, ids, time) of each row of Moodle's grading worksheet or of a plain ``student,submitted_at`` CSV."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = [h.strip() for h in next(reader, [])]
        moodle = "Identifier" in header and MOODLE_TIME in header
        if not moodle and [h.lower() for h in header[:2]] != ["student", "submitted_at"]:
            raise GradingError(f"{path}:1: expected Moodle's grading worksheet (Identifier, ..., {MOODLE_TIME}) or "
                               f"a CSV with the header student,submitted_at; got {','.join(header) or 'nothing'}")
        for row in reader:
            where = f"{path}:{reader.line_num}"
            if not any(cell.strip() for cell in row):
                continue
            if len(row) != len(header):
                raise GradingError(f"{where}: {len(row)} cells where the header has {len(header)}")
            cells = dict(zip(header, (c.strip() for c in row)))
            if not moodle:
                yield where, [cells[header[0]]], cells[header[1]]
                continue
            if cells[MOODLE_TIME] in ("", "-"):
                continue  # no submission
            participant = cells["Identifier"].removeprefix("Participant").strip()
            ids = [participant, cells.get("Email address", ""), cells.get("ID number", "")]
            yield where, ids, _moodle_time(cells[MOODLE_TIME], zone, where)
    except csv.Error as exc:
        raise GradingError(f"{path}:{reader.line_num}: not valid CSV ({exc})") from None


def _moodle_time(text: str, zone: tzinfo | None, where: str) -> datetime:
    if zone is None:
        raise GradingError(f"{where}: Moodle's worksheet gives local times: set timezone = \"Europe/Paris\" (the "
                           "zone Moodle shows you) in the late settings")
    for form in MOODLE_FORMATS:
        try:
            return datetime.strptime(" ".join(text.split()), form).replace(tzinfo=zone)
        except ValueError:
            continue
    raise GradingError(f"{where}: {MOODLE_TIME} {text!r} is not a date Moodle writes in English (like 'Thursday, "
                       "4 December 2026, 11:59 PM'); download the worksheet with the site language set to English")


def late_blocks(result) -> list[Block]:
    """The feedback page's lines on lateness (none without a late policy)."""
    late = result.late
    if not late:
        return []
    due = f"due {late['due_shown']}" + (" (your extension)" if late["extended"] else "")
    if late["days"] == 0:
        text = f"Submitted {late['shown']}, {due}: on time."
    else:
        text = (f"Submitted {late['shown']}, {due}: {late['days']} day(s) late (each day started counts), "
                f"so {late['percent']:g}% of the points earned is deducted: {points_text(late['penalty'])} point(s).")
    blocks: list[Block] = [Heading(2, "Lateness"), Para(text)]
    if not late["source"]:
        blocks.append(Para("The submission time is the newest modification time of your files: no submission "
                           "listing was given to the grader, and copies or downloads can change these times. "
                           "Tell your instructor if it is wrong."))
    return blocks
