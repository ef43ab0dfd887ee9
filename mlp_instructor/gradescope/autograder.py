"""``python -m mlp_core gradescope OUT.zip``: the autograder zip of a Gradescope programming assignment.

What goes in (Gradescope unpacks it in ``/autograder/source``; its
specification wants ``setup.sh`` and ``run_autograder`` at the root):

* ``setup.sh``: run once, as root, when Gradescope builds the image (Ubuntu
  base image): a Python 3.11 or newer (Ubuntu 22.04's ``python3.11``
  package when the system's is older), Bubblewrap, a virtual environment in
  ``/opt/mlp-grader`` with the kit installed from ``kit/`` at the pinned
  versions of its ``constraints.txt``; then ``source`` becomes root's alone
  and ``run.py --check`` grades the instructor's solution in the container's
  sandbox (the build fails if it does not get full marks);
* ``run_autograder``: runs :mod:`.run` for each submission;
* ``kit/``: the instructor's packages (``mlp_core`` with the solution,
  ``mlp_lab``, ``mlp_instructor``), ``pyproject.toml``, ``README.md``,
  ``constraints.txt`` and ``notebooks/*.ipynb`` (the notebook exercises'
  solutions and the written questions): the zip holds the answers, so keep it private;
* ``mnist/``: the four MNIST files, checked against their SHA-256 here and
  again when loaded (11.4 MB compressed: the end-to-end check needs them,
  and baking them in spares the build a download from mirrors that may be
  down; Gradescope's documentation states no size limit for the zip);
* ``rubric.toml`` and ``autograder.json`` (limits, visibility).

Why a command of its own rather than ``grade --gradescope``: ``grade``
grades a folder of submissions into a gradebook; this writes an artefact,
from neither (it takes no submissions and no ``--out``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import zipfile
from pathlib import Path

from mlp_core.data import DataError, locate_dataset
from mlp_core.data.files import find_file
from mlp_core.data.registry import dataset_info
from mlp_instructor import repo_root
from mlp_instructor.grading import GradingError
from mlp_instructor.grading.rubric import DEFAULT_RUBRIC, load_rubric
from mlp_lab.argtypes import positive_int

from .results_json import VISIBILITIES
from .run import SETTINGS

#: What of the instructor's repository the autograder needs (packages whole, minus caches).
KIT_FILES = ("pyproject.toml", "README.md", "constraints.txt")
KIT_PACKAGES = ("mlp_core", "mlp_lab", "mlp_instructor")
#: Where setup.sh puts the grader's virtual environment (outside /autograder/source, which becomes root's alone).
VENV = "/opt/mlp-grader"

SETUP_SH = r"""#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder's image (an Ubuntu base image).
# Written by `python -m mlp_core gradescope`. The paths can be moved for a test (MLP_AUTOGRADER_*).
set -euo pipefail
SOURCE="${MLP_AUTOGRADER_SOURCE:-/autograder/source}"
VENV="${MLP_AUTOGRADER_VENV:-@VENV@}"

python_ok() { "$1" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; }
find_python() {
  for candidate in python3.11 python3.12 python3.13 python3; do
    if command -v "$candidate" >/dev/null && python_ok "$candidate"; then command -v "$candidate"; return; fi
  done
}
install() {
  command -v apt-get >/dev/null || { echo "setup.sh: no apt-get to install $*" >&2; return 1; }
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@"
}

# 1. Python 3.11 or newer, with venv (Ubuntu 22.04: the python3.11 package; 24.04: its own 3.12).
PY="$(find_python)"
if [ -z "$PY" ]; then install python3.11 python3.11-venv; PY="$(find_python)"; fi
if ! "$PY" -c 'import ensurepip, venv' 2>/dev/null; then
  install "python$("$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])')-venv"
fi
# 2. Bubblewrap (used where the container allows it) and setpriv (util-linux: the other sandbox).
command -v bwrap >/dev/null || install bubblewrap || echo "setup.sh: no bubblewrap; the code will run as a user of its own"
[ -x /usr/bin/setpriv ] || install util-linux
# 3. The grader, at the versions the kit pins.
"$PY" -m venv "$VENV"
"$VENV/bin/pip" install --quiet --upgrade pip
"$VENV/bin/pip" install --quiet -c "$SOURCE/kit/constraints.txt" -e "$SOURCE/kit"
# 4. The solution, the checks, the rubric and MNIST: root's alone (the student's code runs as another user);
#    but the worker, which holds no secret, readable by the sandbox's user where bwrap binds it in.
chmod -R go= "$SOURCE"
chmod -R go+rX "$SOURCE/kit/mlp_instructor/worker"
# 5. The instructor's solution must get full marks in this container's sandbox, or the build fails here.
"$VENV/bin/python" -m mlp_instructor.gradescope.run --root "$(dirname "$SOURCE")" --check
"""

RUN_AUTOGRADER = r"""#!/usr/bin/env bash
# Gradescope runs this as root for each submission: it grades /autograder/submission (the judge outside,
# the student's code in a sandbox) and writes /autograder/results/results.json.
# Written by `python -m mlp_core gradescope`; the paths can be moved for a test (MLP_AUTOGRADER_*).
set -euo pipefail
ROOT="${MLP_AUTOGRADER_ROOT:-/autograder}"
VENV="${MLP_AUTOGRADER_VENV:-@VENV@}"
exec "$VENV/bin/python" -m mlp_instructor.gradescope.run --root "$ROOT" "$@"
"""


def _add_text(archive: zipfile.ZipFile, name: str, text: str, executable: bool = False) -> None:
    info = zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0))
    info.external_attr = (0o100755 if executable else 0o100644) << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    archive.writestr(info, text)


def build_autograder(out: str | Path, *, rubric: str | Path | None = None, data_dir: str | Path | None = None,
                     memory_mb: int | None = None, timeout: int | None = None, visibility: str = "visible",
                     source_dir: str | Path | None = None) -> Path:
    """Write the autograder zip to ``out`` (atomically) and return its path.

    Raises GradingError (a bad rubric, a wrong name, no MNIST) before anything is written.
    """
    out = Path(out)
    if out.suffix.lower() != ".zip":
        raise GradingError(f"{out}: the autograder must be a .zip file (Gradescope takes a zip)")
    if not out.parent.is_dir():
        raise GradingError(f"{out.parent} does not exist: make the folder first, or write the zip elsewhere")
    if visibility not in VISIBILITIES:
        raise GradingError(f"--visibility must be one of {', '.join(VISIBILITIES)}, got {visibility!r}")
    rubric_path = Path(rubric) if rubric else DEFAULT_RUBRIC
    loaded = load_rubric(rubric_path)  # a bad rubric fails here, not on Gradescope
    if timeout is not None and timeout <= max(item.timeout or loaded.default_timeout for item in loaded.items):
        raise GradingError(f"--timeout {timeout} must be longer than every check's time limit")
    try:
        mnist = locate_dataset("mnist", data_dir, download=False)
    except DataError as exc:
        raise GradingError(f"the autograder carries MNIST for the end-to-end check: {exc}") from None
    source = Path(source_dir) if source_dir else repo_root()
    settings = {"kit": "kit", "mnist": "mnist", "rubric": "rubric.toml", "memory_mb": memory_mb,
                "timeout": timeout, "visibility": visibility}
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
    os.close(fd)
    try:
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as archive:
            _add_text(archive, "setup.sh", SETUP_SH.replace("@VENV@", VENV), executable=True)
            _add_text(archive, "run_autograder", RUN_AUTOGRADER.replace("@VENV@", VENV), executable=True)
            _add_text(archive, SETTINGS, json.dumps(settings, indent=1) + "\n")
            archive.write(rubric_path, "rubric.toml")
            for name in KIT_FILES:
                archive.write(source / name, f"kit/{name}")
            for package in KIT_PACKAGES:
                for path in sorted((source / package).rglob("*")):
                    if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                        archive.write(path, f"kit/{path.relative_to(source).as_posix()}")
            for path in sorted((source / "notebooks").glob("*.ipynb")):  # the notebook exercises' solutions
                archive.write(path, f"kit/notebooks/{path.name}")
            for stem in dataset_info("mnist").files.values():
                path = find_file(mnist, stem)
                archive.write(path, f"mnist/{path.name}")
        os.chmod(tmp, 0o600)  # it holds the solution
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return out


# ----------------------------------------------------------------------------
# The command line
# ----------------------------------------------------------------------------


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "gradescope", help="write the autograder zip of a Gradescope programming assignment",
        description="Write OUT.zip, the autograder of a Gradescope programming assignment: setup.sh installs the "
                    "grader, run_autograder grades each submission (its code in a sandbox, the judge outside) "
                    "into results.json. The zip holds the solution: keep it private.",
    )
    p.add_argument("out", type=Path, metavar="OUT.zip", help="the zip to write (replaced if it exists)")
    p.add_argument("--rubric", type=Path, default=None, help="rubric TOML (default mlp_instructor/rubric.toml)")
    p.add_argument("--data-dir", type=Path, default=None, help="MNIST folder (default: $MNIST_DIR, then data/)")
    p.add_argument("--timeout", type=positive_int, default=None,
                   help="seconds per submission (default: the rubric's submission_timeout)")
    p.add_argument("--memory", type=positive_int, default=None, metavar="MB",
                   help="memory limit of the student's code in MB (default: the rubric's memory_mb; keep it "
                        "below the container's, set in Gradescope's Autograder Settings)")
    p.add_argument("--visibility", choices=VISIBILITIES, default="visible",
                   help="when students see the rubric items' results (Gradescope's visibility; default visible)")
    p.set_defaults(func=cmd_gradescope)


def cmd_gradescope(args: argparse.Namespace) -> int:
    try:
        out = build_autograder(args.out, rubric=args.rubric, data_dir=args.data_dir, memory_mb=args.memory,
                               timeout=args.timeout, visibility=args.visibility)
    except GradingError as exc:
        print(f"python -m mlp_core gradescope: error: {exc}", file=sys.stderr)
        return 1
    size = out.stat().st_size / 2**20
    print(f"wrote {out} ({size:.1f} MB): upload it as the autograder of a Gradescope programming assignment "
          f"(Ubuntu base image). It holds the solution: keep it private.")
    return 0

