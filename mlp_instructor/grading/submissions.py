"""Submissions taken as data: finding them, hashing them, and copying out what is graded.

Nothing here runs or imports a student's file. Symbolic links are never
followed (in a folder or a zip): they are skipped and listed in the
student's feedback, as is every other entry left out (special files, files
too large, paths leaving the folder). A submission must contain its own
``mlp_core``: a symlinked one is refused, never graded as the student's.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

#: Limits on a zip submission (a zip bomb or a whole disk image costs only its own grade).
MAX_ZIP_BYTES, MAX_ZIP_FILES = 200 * 2**20, 5000
#: Largest file copied out of a submission: a module of mlp_core, a notebook.
MAX_MODULE_BYTES, MAX_NOTEBOOK_BYTES = 2 * 2**20, 20 * 2**20
#: Folders never searched for a kit (an installed copy in a virtual environment is not the student's kit).
NOT_SEARCHED = {"__MACOSX", "site-packages", "node_modules", "__pycache__"}


class SubmissionError(ValueError):
    """This one submission cannot be graded; the message (for the gradebook) says why."""


def printable(text: str) -> str:
    """``text`` with undecodable bytes (surrogate escapes) shown as ``\\udcxx``: always encodable as UTF-8."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


@dataclass
class Submission:
    student: str  # printable id (the folder or zip name)
    path: Path
    problem: str = ""  # why it cannot be graded at all, or ""


def discover_submissions(folder: Path) -> dict[str, Submission]:
    """Student id -> submission, for every folder or .zip of ``folder`` (hidden entries skipped).

    Never fails on one entry: a student with both a folder and a zip, or a
    name that is not UTF-8, gets a problem or a note of their own.
    """
    found: dict[str, Submission] = {}
    for entry in sorted(folder.iterdir(), key=lambda p: p.name):
        if entry.name.startswith((".", "__")):
            continue
        if entry.is_symlink():
            student, problem = printable(entry.name), "the submission is a symbolic link; submit the files themselves"
        elif entry.is_dir():
            student, problem = printable(entry.name), ""
        elif entry.suffix.lower() == ".zip" and entry.is_file():
            student, problem = printable(entry.stem), ""
        else:
            continue
        if student in found:
            found[student].problem = (f"two submissions with this id ({found[student].path.name!r} and "
                                      f"{entry.name!r}): keep one and grade again")
            continue
        found[student] = Submission(student, entry, problem)
    return found


def content_hash(path: Path) -> str:
    """SHA-256 of a submission: a zip's bytes, or a folder's paths, file contents and link targets."""
    digest = hashlib.sha256()
    st = os.lstat(path)
    if stat.S_ISREG(st.st_mode):
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
        return digest.hexdigest()
    if not stat.S_ISDIR(st.st_mode):
        return digest.hexdigest()
    for dirpath, dirnames, filenames in os.walk(path):
        dirnames.sort()
        for name in sorted(filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]):
            full = os.path.join(dirpath, name)
            rel = os.path.relpath(full, path)
            digest.update(os.fsencode(rel) + b"\0")
            st = os.lstat(full)
            if stat.S_ISLNK(st.st_mode):
                digest.update(b"symlink:" + os.fsencode(os.readlink(full)))
            elif stat.S_ISREG(st.st_mode):
                with open(full, "rb") as f:
                    for block in iter(lambda: f.read(1 << 20), b""):
                        digest.update(block)
            else:
                digest.update(b"special")
            digest.update(b"\0")
    return digest.hexdigest()


def unpack_zip(zip_path: Path, dest: Path) -> list[str]:
    """Extract a zip into ``dest``; the entries left out, each with the reason.

    Refused: absolute paths, '..', symbolic links and other special files;
    the whole zip when it holds more than the size limits or is not a zip.
    """
    skipped: list[str] = []
    try:
        with zipfile.ZipFile(zip_path) as archive:
            members = archive.infolist()
            if len(members) > MAX_ZIP_FILES:
                raise SubmissionError(f"the zip holds {len(members)} files, more than {MAX_ZIP_FILES}")
            if sum(m.file_size for m in members) > MAX_ZIP_BYTES:
                raise SubmissionError(f"the zip unpacks to more than {MAX_ZIP_BYTES >> 20} MB")
            for member in members:
                name = PurePosixPath(member.filename.replace("\\", "/"))
                kind = (member.external_attr >> 16) & 0o170000
                shown = printable(member.filename)
                if name.is_absolute() or ".." in name.parts or "\0" in member.filename:
                    skipped.append(f"{shown} (a path outside the folder)")
                    continue
                if kind == stat.S_IFLNK:
                    skipped.append(f"{shown} (a symbolic link)")
                    continue
                if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
                    skipped.append(f"{shown} (not a regular file)")
                    continue
                target = dest.joinpath(*name.parts)
                try:
                    if member.is_dir():
                        target.mkdir(parents=True, exist_ok=True)
                        continue
                    target.parent.mkdir(parents=True, exist_ok=True)
                    with archive.open(member) as src, open(target, "xb") as out:
                        shutil.copyfileobj(src, out)
                except FileExistsError:
                    skipped.append(f"{shown} (a second entry with this name)")
                except (OSError, ValueError) as exc:
                    skipped.append(f"{shown} (cannot be written: {type(exc).__name__})")
    except SubmissionError:
        raise
    except (zipfile.BadZipFile, OSError, RuntimeError, NotImplementedError, EOFError, ValueError) as exc:
        raise SubmissionError(f"the zip cannot be read: {printable(str(exc))}") from None
    return skipped


def find_kits(folder: Path) -> list[Path]:
    """Every folder (at any depth) holding an entry named ``mlp_core`` that is a package or a link.

    Hidden folders, virtual environments' site-packages and macOS's __MACOSX
    are not searched; symbolic links are never followed.
    """
    kits = []
    for dirpath, dirnames, filenames in os.walk(folder):
        here = Path(dirpath)
        candidate = here / "mlp_core"
        if candidate.is_symlink() or (candidate.is_dir() and (candidate / "__init__.py").is_file()):
            kits.append(here)
        dirnames[:] = sorted(d for d in dirnames
                             if not d.startswith(".") and d not in NOT_SEARCHED and d != "mlp_core"
                             and not os.path.islink(os.path.join(dirpath, d)))
    return sorted(kits)


@dataclass
class CopyReport:
    skipped: list[str] = field(default_factory=list)
    copied: list[str] = field(default_factory=list)


def copy_regular_files(src: Path, dest: Path, suffix: str, max_bytes: int, report: CopyReport, rel_base: Path) -> None:
    """Copy every regular ``*suffix`` file under ``src`` to ``dest`` (same layout); no link followed."""
    for dirpath, dirnames, filenames in os.walk(src):
        here = Path(dirpath)
        keep = []
        for d in sorted(dirnames):
            if (here / d).is_symlink():
                report.skipped.append(f"{printable((here / d).relative_to(rel_base).as_posix())}/ (a symbolic link)")
            elif d not in ("__pycache__", ".ipynb_checkpoints"):
                keep.append(d)
        dirnames[:] = keep
        for name in sorted(filenames):
            full = here / name
            rel = full.relative_to(src)
            shown = printable(full.relative_to(rel_base).as_posix())
            st = os.lstat(full)
            if not name.endswith(suffix):
                continue
            if stat.S_ISLNK(st.st_mode):
                report.skipped.append(f"{shown} (a symbolic link)")
            elif not stat.S_ISREG(st.st_mode):
                report.skipped.append(f"{shown} (not a regular file)")
            elif st.st_size > max_bytes:
                report.skipped.append(f"{shown} (larger than {max_bytes >> 20} MB)")
            else:
                target = dest / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                fd = os.open(full, os.O_RDONLY | os.O_NOFOLLOW)
                with os.fdopen(fd, "rb") as f_in, open(target, "wb") as f_out:
                    shutil.copyfileobj(f_in, f_out)
                report.copied.append(shown)


def take_kit(root: Path, dest: Path) -> CopyReport:
    """Copy what is graded out of a kit: ``mlp_core/**/*.py`` and ``notebooks/*.ipynb``, regular files only.

    Raises SubmissionError when ``mlp_core`` is a symbolic link (the
    submission must contain its own code).
    """
    package = root / "mlp_core"
    if package.is_symlink():
        raise SubmissionError("mlp_core is a symbolic link: a submission must contain its own code")
    report = CopyReport()
    copy_regular_files(package, dest / "mlp_core", ".py", MAX_MODULE_BYTES, report, root)
    notebooks = root / "notebooks"
    if notebooks.is_symlink():
        report.skipped.append("notebooks/ (a symbolic link)")
    elif notebooks.is_dir():
        copy_regular_files(notebooks, dest / "notebooks", ".ipynb", MAX_NOTEBOOK_BYTES, report, root)
    for path in [dest, *dest.rglob("*")]:  # readable by the sandbox's own user
        path.chmod(0o755 if path.is_dir() else 0o644)
    return report
