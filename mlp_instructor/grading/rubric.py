"""The rubric: points per item, which checks each item covers, and the limits of a grading run.

``mlp_instructor/rubric.toml`` holds it, so an instructor changes points,
partial credit or limits without touching code. Each ``[[item]]`` has an
``id`` (its gradebook column), a ``title``, ``points`` and ``checks``:
fnmatch patterns on check names (``"sgd.*"``); optional: ``notebook``,
``timeout`` and ``section`` (``"mlp_core"``, or ``"notebooks"`` for a
notebook exercise). Every check must belong to
exactly one item (:meth:`Rubric.check_covers`, run before anyone is graded),
so no check is scored twice or never. An item earns
``points x (checks passed / checks)`` (``credit = "proportional"``) or all
or nothing (``credit = "all_or_nothing"``).
"""

from __future__ import annotations

import fnmatch
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from mlp_instructor.hidden_checks.verdicts import Check

from . import GradingError

#: The rubric ``grade`` uses unless given ``--rubric``.
DEFAULT_RUBRIC = Path(__file__).resolve().parents[1] / "rubric.toml"


@dataclass(frozen=True)
class RubricItem:
    """One graded component: ``points`` shared by the checks whose names match ``checks``."""

    id: str
    title: str
    points: float
    checks: tuple[str, ...]
    notebook: str = ""
    timeout: float | None = None
    section: str = "mlp_core"  # "mlp_core" or "notebooks" (the notebook exercises)

    def matches(self, check_name: str) -> bool:
        return any(fnmatch.fnmatchcase(check_name, pattern) for pattern in self.checks)


@dataclass(frozen=True)
class Rubric:
    """The items, how partial credit is given, and the limits of a grading run."""

    items: tuple[RubricItem, ...]
    credit: str = "proportional"
    default_timeout: float = 10.0
    submission_timeout: float = 300.0
    memory_mb: int = 3072
    processes: int = 32
    disk_mb: int = 64

    @property
    def max_points(self) -> float:
        return round(sum(item.points for item in self.items), 2)

    def item_of(self, check_name: str) -> RubricItem:
        return next(item for item in self.items if item.matches(check_name))

    def timeout_of(self, check: Check) -> float:
        return check.timeout or self.item_of(check.name).timeout or self.default_timeout

    def check_covers(self, names: list[str]) -> None:
        """Every check in exactly one item, every item with at least one check."""
        for name in names:
            owners = [item.id for item in self.items if item.matches(name)]
            if len(owners) != 1:
                raise GradingError(
                    f"check {name} belongs to {len(owners)} rubric items {owners}; "
                    "every check must belong to exactly one (edit the checks patterns in the rubric)"
                )
        for item in self.items:
            if not any(item.matches(n) for n in names):
                raise GradingError(f"rubric item {item.id!r} matches no check (patterns {list(item.checks)})")

    def score(self, item: RubricItem, passed: int, total: int) -> float:
        if total == 0:
            return 0.0
        if self.credit == "all_or_nothing":
            return float(item.points) if passed == total else 0.0
        return round(item.points * passed / total, 2)


def load_rubric(path: str | Path) -> Rubric:
    """Read and check a rubric TOML file (see mlp_instructor/rubric.toml)."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise GradingError(f"rubric {path} does not exist; give --rubric PATH") from None
    except tomllib.TOMLDecodeError as exc:
        raise GradingError(f"rubric {path} is not valid TOML: {exc}") from None
    settings = data.get("grading", {})
    credit = settings.get("credit", "proportional")
    if credit not in ("proportional", "all_or_nothing"):
        raise GradingError(f"rubric {path}: credit must be 'proportional' or 'all_or_nothing', got {credit!r}")
    items, seen = [], set()
    for number, raw in enumerate(data.get("item", []), 1):
        missing = {"id", "title", "points", "checks"} - set(raw)
        if missing:
            raise GradingError(f"rubric {path}: item {number} lacks {sorted(missing)}")
        if raw["id"] in seen or not re.fullmatch(r"[a-z0-9_]+", raw["id"]):
            raise GradingError(f"rubric {path}: item id {raw['id']!r} is repeated or not lower_case_with_underscores")
        seen.add(raw["id"])
        if not (isinstance(raw["points"], (int, float)) and raw["points"] > 0):
            raise GradingError(f"rubric {path}: item {raw['id']!r} needs points > 0, got {raw['points']!r}")
        patterns = raw["checks"] if isinstance(raw["checks"], list) else [raw["checks"]]
        items.append(RubricItem(raw["id"], raw["title"], float(raw["points"]), tuple(patterns),
                                str(raw.get("notebook", "")), raw.get("timeout"), str(raw.get("section", "mlp_core"))))
    if not items:
        raise GradingError(f"rubric {path} has no [[item]] entries")
    rubric = Rubric(
        tuple(items), credit,
        float(settings.get("default_timeout", 10)),
        float(settings.get("submission_timeout", 300)),
        int(settings.get("memory_mb", 3072)),
        int(settings.get("processes", 32)),
        int(settings.get("disk_mb", 64)),
    )
    longest = max(item.timeout or rubric.default_timeout for item in items)
    if longest >= rubric.submission_timeout:
        raise GradingError(f"rubric {path}: a check's time limit ({longest:g} s) must be shorter than "
                           f"submission_timeout ({rubric.submission_timeout:g} s)")
    return rubric
