"""``python -m mlp_core release OUT_DIR``: make the student kit, check it, then move it into place.

The release is built and checked in a temporary folder beside OUT_DIR and
only then renamed into place, so a failed check (or Ctrl-C) leaves OUT_DIR as
it was, and a reader of OUT_DIR never sees half a release.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

from mlp_instructor import repo_root

from . import ReleaseError
from .build import RELEASED, ReleaseReport, build_release, check_kit_url
from .selfcheck import check_release


def check_out_dir(out_dir: Path, source_dir: Path, force: bool) -> None:
    """Raise ReleaseError unless ``out_dir`` may receive the release of ``source_dir``.

    It must be outside the kit and outside every folder the release copies,
    empty (or replaced with ``force``) and never a git repository.
    """
    out, src = out_dir.resolve(), source_dir.resolve()
    if out == src or out in src.parents:
        raise ReleaseError(f"{out_dir} holds the kit itself; give a new folder outside it")
    for entry in RELEASED:
        if (src / entry).resolve() == out or (src / entry).resolve() in out.parents:
            raise ReleaseError(f"{out_dir} is inside {entry}/, which the release copies; give another folder")
    if out.exists() and not out.is_dir():
        raise ReleaseError(f"{out_dir} is a file; give a folder")
    if out.is_dir() and any(out.iterdir()):
        if not force:
            raise ReleaseError(f"{out_dir} is not empty; give a new folder, or --force to replace its contents")
        if (out / ".git").exists():
            raise ReleaseError(f"{out_dir} is a git repository; refusing to replace it even with --force")


def release(out_dir: str | Path, *, source_dir: str | Path | None = None, force: bool = False,
            import_check: bool = True, kit_url: str | None = None) -> ReleaseReport:
    """Make the student release of ``source_dir`` (default: this repository) in ``out_dir``.

    ``kit_url``: where students will clone the kit from (written into the
    notebooks' Colab cell and the README's Binder link). ``import_check``
    False skips importing the copy (the slowest self-check; tests that only
    need the files use it).

    Raises:
        ReleaseError: ``out_dir`` is not empty (without ``force``) or is
            inside the kit, a marker is malformed, or a self-check fails.
    """
    source_dir = Path(source_dir) if source_dir is not None else repo_root()
    out_dir = Path(out_dir)
    check_kit_url(kit_url)
    if not (source_dir / "mlp_core" / "__init__.py").is_file():
        raise ReleaseError(f"{source_dir} is not the kit: it has no mlp_core/__init__.py")
    check_out_dir(out_dir, source_dir, force)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    umask = os.umask(0)
    os.umask(umask)
    staging.chmod(0o777 & ~umask)  # mkdtemp makes it private; the kit is an ordinary folder
    try:
        report, originals = build_release(source_dir, staging, kit_url)
        check_release(staging, source_dir, originals, import_check=import_check)
        if out_dir.exists():
            shutil.rmtree(out_dir)
        os.replace(staging, out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    report.out_dir = out_dir
    return report


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "release", help="write the student kit (answers removed) to a new folder",
        description="Copy the kit to OUT_DIR with every solution region and solution cell removed.",
    )
    p.add_argument("out_dir", type=Path, metavar="OUT_DIR", help="a new or empty folder")
    p.add_argument("--force", action="store_true", help="replace the contents of a non-empty OUT_DIR")
    p.add_argument("--kit-url", default=None, metavar="URL",
                   help="where students will clone the release from (e.g. https://github.com/your-course/mlp-kit): "
                        "the notebooks' Colab cell and the README's Binder link use it")
    p.set_defaults(func=cmd_release)


def cmd_release(args: argparse.Namespace) -> int:
    try:
        report = release(args.out_dir, force=args.force, kit_url=args.kit_url)
    except ReleaseError as exc:
        print(f"python -m mlp_core release: error: {exc}", file=sys.stderr)
        return 1
    print(report.summary())
    return 0
