"""Submissions taken as data: finding them, hashing them, copying out what is graded, deleting copies.

Nothing here runs or imports a student's file. Symbolic links are never
followed (in a folder or a zip): they are skipped and listed in the
student's feedback, as is every other entry left out (special files, files
too large, paths leaving the folder). A submission must contain its own
``mlp_core``: a symlinked one is refused, never graded as the student's.

A student's tree is walked without recursion (:func:`walk`), at most
:data:`MAX_DEPTH` folders deep and :data:`MAX_ENTRIES` entries large: past
either, that submission gets a status saying so (SubmissionError), and no
other is affected. A zip's entry count is read from its directory before
:mod:`zipfile` builds an entry. Student ids are compared in one Unicode form
(NFC). :func:`remove_tree` deletes a tree of any depth and never raises.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import unicodedata
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Callable, Iterator

from mlp_instructor.sandbox.replies import check_zip_directory

#: Limits on a zip submission (a zip bomb or a whole disk image costs only its own grade).
MAX_ZIP_BYTES = 200 * 2**20
#: Limits on walking a submission (a folder or an unpacked zip): levels of folders, files and folders in all.
MAX_DEPTH, MAX_ENTRIES = 32, 5000
#: Largest file copied out of a submission: a module of mlp_core, a notebook.
MAX_MODULE_BYTES, MAX_NOTEBOOK_BYTES = 2 * 2**20, 20 * 2**20
#: Folders never searched for a kit (an installed copy in a virtual environment is not the student's kit).
NOT_SEARCHED = {"__MACOSX", "site-packages", "node_modules", "__pycache__"}


class SubmissionError(ValueError):
    """This one submission cannot be graded; the message (for the gradebook) says why."""


def printable(text: str) -> str:
    """``text`` with undecodable bytes (surrogate escapes) shown as ``\\udcxx``: always encodable as UTF-8."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def student_id(name: str) -> str:
    """The student id of a folder or zip name: printable, in Unicode's composed form (NFC).

    Two spellings of one name (``"jos\\u00e9"`` and ``"jose\\u0301"``) are one id.
    """
    return unicodedata.normalize("NFC", printable(name))


@dataclass
class Submission:
    student: str  # the student id (student_id of the folder or zip name)
    path: Path
    problem: str = ""  # why it cannot be graded at all, or ""


def discover_submissions(folder: Path) -> dict[str, Submission]:
    """Student id -> submission, for every folder or .zip of ``folder`` (hidden entries skipped).

    Never fails on one entry: a student with both a folder and a zip, two
    names that are one id in Unicode's composed form, or a name that is not
    UTF-8, gets a problem or a note of their own.
    """
    found: dict[str, Submission] = {}
    names: dict[str, str] = {}  # student id -> the name it was spelled with first
    for entry in sorted(folder.iterdir(), key=lambda p: p.name):
        if entry.name.startswith((".", "__")):
            continue
        if entry.is_symlink():
            name, problem = entry.name, "the submission is a symbolic link; submit the files themselves"
        elif entry.is_dir():
            name, problem = entry.name, ""
        elif entry.suffix.lower() == ".zip" and entry.is_file():
            name, problem = entry.stem, ""
        else:
            continue
        student = student_id(name)
        if student in found:
            first, spelled = found[student].path, names[student]
            spelling = "" if spelled == name else (
                f"; the same name in two Unicode spellings, {ascii(spelled)} and {ascii(name)}")
            found[student].problem = (f"two submissions with this id ({first.name!r} and {entry.name!r}{spelling}): "
                                      "keep one and grade again")
            continue
        found[student], names[student] = Submission(student, entry, problem), name
    return found


def walk(top: Path, prune: Callable[[Path, str], bool] = lambda here, name: False,
         max_entries: int = MAX_ENTRIES) -> Iterator[tuple[Path, list[str], list[str]]]:
    """``(folder, subfolders, other entries)`` for every folder under ``top``, top-down, sorted, without recursion.

    Like :func:`os.walk`, but a symbolic link (also one to a folder) is among
    the other entries, never followed; the caller may remove subfolders from
    the list to skip them; ``prune(folder, name)`` skips a subfolder before it
    is counted. Raises SubmissionError past :data:`MAX_DEPTH` levels or
    ``max_entries`` entries (counted in the folders visited), or when a folder
    cannot be read.
    """
    stack, seen = [(top, 0)], 0
    while stack:
        here, depth = stack.pop()
        try:
            with os.scandir(here) as listing:
                entries = sorted(((e.name, e.is_dir(follow_symlinks=False)) for e in listing))
        except OSError as exc:
            raise SubmissionError(f"the folder {_shown(top, here)} cannot be read ({exc.strerror or exc})") from None
        folders = [name for name, is_dir in entries if is_dir and not prune(here, name)]
        others = [name for name, is_dir in entries if not is_dir]
        seen += len(folders) + len(others)
        if seen > max_entries:
            raise SubmissionError(f"the submission holds more than {max_entries} files and folders: submit the "
                                  "kit alone (no virtual environment, data or copies)")
        yield here, folders, others
        if folders and depth >= MAX_DEPTH:
            raise SubmissionError(f"the submission has folders more than {MAX_DEPTH} levels deep "
                                  f"({_shown(top, here / folders[0])}): remove them and submit again")
        stack.extend((here / name, depth + 1) for name in reversed(folders))


def _shown(top: Path, path: Path) -> str:
    return _short(printable(path.relative_to(top).as_posix()) if path != top else ".")


def _short(text: str) -> str:
    """A path as a message shows it: a long one cut in the middle."""
    return text if len(text) <= 120 else text[:60] + "..." + text[-50:]


def content_hash(path: Path) -> str:
    """SHA-256 of a submission: a zip's bytes, or a folder's paths, file contents and link targets.

    Never raises: an entry that cannot be read counts as its error, and a
    folder past the walk's limits (:func:`walk`, ten times the entries) as
    that limit's message (the submission is refused for it when graded).
    """
    digest = hashlib.sha256()
    try:
        st = os.lstat(path)
        if not stat.S_ISDIR(st.st_mode):
            _hash_entry(digest, str(path))
            return digest.hexdigest()
        for here, folders, others in walk(path, max_entries=10 * MAX_ENTRIES):
            for name in others:
                full = os.path.join(here, name)
                digest.update(os.fsencode(os.path.relpath(full, path)) + b"\0")
                _hash_entry(digest, full)
                digest.update(b"\0")
    except SubmissionError as exc:
        digest.update(b"limit:" + str(exc).encode())
    except OSError as exc:
        digest.update(f"unreadable:{exc.errno}".encode())
    return digest.hexdigest()


def _hash_entry(digest, full: str) -> None:
    """Add one entry that is not a folder: a link's target, a file's bytes, or what kept it from being read."""
    try:
        st = os.lstat(full)
        if stat.S_ISLNK(st.st_mode):
            digest.update(b"symlink:" + os.fsencode(os.readlink(full)))
        elif stat.S_ISREG(st.st_mode):
            with open(full, "rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    digest.update(block)
        else:
            digest.update(b"special")
    except OSError as exc:
        digest.update(f"unreadable:{exc.errno}".encode())


def remove_tree(path: Path) -> bool:
    """Delete ``path`` and everything under it, however deep, without recursion; never raises.

    Every folder met below the first level is first moved up into ``path``
    (a rename), so no path grows long and at most two folders are open at
    once. True when ``path`` is gone.
    """
    try:
        if not stat.S_ISDIR(os.lstat(path).st_mode):
            os.unlink(path)
            return True
        top = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except FileNotFoundError:
        return True
    except OSError:
        return False
    queue: list[str | None] = [None]  # None: path itself; a name: a folder now directly in path
    moved = 0
    try:
        while queue:
            name = queue.pop()
            try:
                fd = top if name is None else os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=top)
            except OSError:
                continue
            try:
                with os.scandir(fd) as listing:
                    entries = [(e.name, e.is_dir(follow_symlinks=False)) for e in listing]
                for entry, is_dir in entries:
                    if is_dir and name is None:
                        queue.append(entry)
                    elif is_dir:
                        while _exists(f".rm-{moved}", top):
                            moved += 1
                        os.rename(entry, f".rm-{moved}", src_dir_fd=fd, dst_dir_fd=top)
                        queue.append(f".rm-{moved}")
                    else:
                        _unlink(entry, fd)
            except OSError:
                pass
            finally:
                if fd != top:
                    os.close(fd)
            if name is not None:
                try:
                    os.rmdir(name, dir_fd=top)
                except OSError:
                    pass
    except Exception:  # noqa: BLE001 - cleanup never raises; whatever is left is reported by the return value
        pass
    finally:
        os.close(top)
    try:
        os.rmdir(path)
        return True
    except OSError:
        return False


def _exists(name: str, dir_fd: int) -> bool:
    try:
        os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        return True
    except FileNotFoundError:
        return False


def _unlink(name: str, dir_fd: int) -> None:
    try:
        os.unlink(name, dir_fd=dir_fd)
    except PermissionError:  # a folder without write permission (a copy made read-only): allow it, then retry
        os.fchmod(dir_fd, 0o700)
        os.unlink(name, dir_fd=dir_fd)


def unpack_zip(zip_path: Path, dest: Path) -> list[str]:
    """Extract a zip into ``dest``; the entries left out, each with the reason.

    Refused: absolute paths, '..', symbolic links and other special files;
    the whole zip when it is not a zip, or holds more than the limits: its
    directory is read before any entry is built (:data:`MAX_ENTRIES` entries,
    :data:`MAX_ZIP_BYTES` unpacked, :data:`MAX_DEPTH` levels of folders).
    """
    skipped: list[str] = []
    try:
        with open(zip_path, "rb") as f:
            check_zip_directory(f, MAX_ENTRIES, "the zip")
        with zipfile.ZipFile(zip_path) as archive:
            members = archive.infolist()
            if len(members) > MAX_ENTRIES:
                raise SubmissionError(f"the zip holds {len(members)} files, more than {MAX_ENTRIES}")
            if sum(m.file_size for m in members) > MAX_ZIP_BYTES:
                raise SubmissionError(f"the zip unpacks to more than {MAX_ZIP_BYTES >> 20} MB")
            deep = next((m for m in members if len(PurePosixPath(m.filename.replace("\\", "/")).parts) > MAX_DEPTH + 1),
                        None)
            if deep is not None:
                raise SubmissionError(f"the zip has folders more than {MAX_DEPTH} levels deep "
                                      f"({_short(printable(deep.filename))}): remove them and submit again")
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
    except ValueError as exc:
        if str(exc).startswith("the zip "):  # over a limit of its directory
            raise SubmissionError(str(exc)) from None
        raise SubmissionError(f"the zip cannot be read: {printable(str(exc))}") from None
    except (zipfile.BadZipFile, OSError, RuntimeError, NotImplementedError, EOFError) as exc:
        raise SubmissionError(f"the zip cannot be read: {printable(str(exc))}") from None
    return skipped


def find_kits(folder: Path) -> list[Path]:
    """Every folder (at any depth) holding an entry named ``mlp_core`` that is a package or a link.

    Hidden folders, virtual environments' site-packages and macOS's __MACOSX
    are not searched; symbolic links are never followed. Raises
    SubmissionError past the walk's limits (:func:`walk`).
    """
    kits = []
    skip = lambda here, name: name.startswith(".") or name in NOT_SEARCHED  # noqa: E731
    for here, folders, others in walk(folder, skip):
        candidate = here / "mlp_core"
        if candidate.is_symlink() or (candidate.is_dir() and (candidate / "__init__.py").is_file()):
            kits.append(here)
        folders[:] = [d for d in folders if d != "mlp_core"]
    return sorted(kits)


@dataclass
class CopyReport:
    skipped: list[str] = field(default_factory=list)
    copied: list[str] = field(default_factory=list)


def copy_regular_files(src: Path, dest: Path, suffix: str, max_bytes: int, report: CopyReport, rel_base: Path) -> None:
    """Copy every regular ``*suffix`` file under ``src`` to ``dest`` (same layout); no link followed.

    Raises SubmissionError past the walk's limits (:func:`walk`).
    """
    skip = lambda here, name: name in ("__pycache__", ".ipynb_checkpoints")  # noqa: E731
    for here, folders, others in walk(src, skip):
        for name in others:
            full = here / name
            shown = printable(full.relative_to(rel_base).as_posix())
            st = os.lstat(full)
            if stat.S_ISLNK(st.st_mode) and full.is_dir():
                report.skipped.append(f"{shown}/ (a symbolic link)")
            elif not name.endswith(suffix):
                continue
            elif stat.S_ISLNK(st.st_mode):
                report.skipped.append(f"{shown} (a symbolic link)")
            elif not stat.S_ISREG(st.st_mode):
                report.skipped.append(f"{shown} (not a regular file)")
            elif st.st_size > max_bytes:
                report.skipped.append(f"{shown} (larger than {max_bytes >> 20} MB)")
            else:
                target = dest / full.relative_to(src)
                target.parent.mkdir(parents=True, exist_ok=True)
                fd = os.open(full, os.O_RDONLY | os.O_NOFOLLOW)
                with os.fdopen(fd, "rb") as f_in, open(target, "wb") as f_out:
                    shutil.copyfileobj(f_in, f_out)
                report.copied.append(shown)


def take_kit(root: Path, dest: Path) -> CopyReport:
    """Copy what is graded out of a kit: ``mlp_core/**/*.py`` and ``notebooks/*.ipynb``, regular files only.

    Raises SubmissionError when ``mlp_core`` is a symbolic link (the
    submission must contain its own code), or past the walk's limits.
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
    if dest.is_dir():
        for here, folders, others in walk(dest):  # readable by the sandbox's own user
            here.chmod(0o755)
            for name in others:
                (here / name).chmod(0o644)
    return report
