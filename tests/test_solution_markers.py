"""The student release is built from the BEGIN/END SOLUTION markers: they must be well formed."""
# instructor-only
# (the student release has no markers left to count, so this file stays out of it)

from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "mlp_core"
BEGIN, END = "# BEGIN SOLUTION", "# END SOLUTION"


def marker_errors(lines: list[str]) -> list[str]:
    """Problems with the markers in one file's lines: unbalanced, nested, mis-indented, empty."""
    errors, open_at, indent = [], None, None
    for number, line in enumerate(lines, 1):
        stripped = line.strip()
        if stripped == BEGIN:
            if open_at is not None:
                errors.append(f"line {number}: BEGIN inside the region opened at line {open_at}")
            open_at, indent = number, line[: len(line) - len(line.lstrip())]
        elif stripped == END:
            if open_at is None:
                errors.append(f"line {number}: END without BEGIN")
            else:
                if line[: len(line) - len(line.lstrip())] != indent:
                    errors.append(f"line {number}: END indented differently from BEGIN at line {open_at}")
                if number == open_at + 1:
                    errors.append(f"line {number}: empty region")
            open_at = None
        elif ("BEGIN SOLUTION" in line or "END SOLUTION" in line) and stripped not in (BEGIN, END):
            errors.append(f"line {number}: malformed marker {stripped!r}")
    if open_at is not None:
        errors.append(f"line {open_at}: BEGIN never closed")
    return errors


@pytest.mark.parametrize("path", sorted(PACKAGE.glob("*.py")), ids=lambda p: p.name)
def test_markers_are_balanced_and_never_nested(path):
    assert marker_errors(path.read_text().splitlines()) == []


def test_the_checker_catches_bad_markers():
    assert marker_errors(["    # BEGIN SOLUTION", "    # BEGIN SOLUTION", "x", "    # END SOLUTION"])
    assert marker_errors(["# END SOLUTION"])
    assert marker_errors(["# BEGIN SOLUTION", "x"])
    assert marker_errors(["  # BEGIN SOLUTION", "x", "# END SOLUTION"])
    assert marker_errors(["# BEGIN SOLUTION", "# END SOLUTION"])
    assert marker_errors(["# BEGIN SOLUTION", "x", "# END SOLUTION"]) == []


def test_every_component_a_student_writes_is_marked():
    marked = {p.name: p.read_text().count(BEGIN) for p in PACKAGE.glob("*.py")}
    # Linear forward/backward; 3 activations x 2; 3 losses x 2; Sequential forward/backward; SGD step;
    # evaluate, train_epoch, early stopping
    assert marked["layers.py"] == 2
    assert marked["activations.py"] == 6
    assert marked["losses.py"] == 6
    assert marked["optim.py"] == 1
    assert marked["network.py"] == 2
    assert marked["training.py"] == 3
