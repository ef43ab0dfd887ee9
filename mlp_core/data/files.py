"""Finding the four files of a data set in a folder, and verifying them.

Every file is checked against the SHA-256 of its *decompressed* content (so a
re-compressed ``.gz`` with identical content is accepted). Files verified once
are remembered for the rest of the process, keyed by (path, size, mtime), so
loading again does not hash 55 MB again; a file that changes on disk is
checked again. Each file may be stored gzip-compressed (``NAME.gz``) or
decompressed (``NAME``); when both are present the decompressed one is used.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import NamedTuple

from .idx import read_content
from .registry import DataError, DatasetInfo

#: (resolved path, size, mtime_ns) -> SHA-256 of the decompressed content, for
#: files that passed verification in this process.
_VERIFIED: dict[tuple[str, int, int], str] = {}


def _cache_key(path: Path) -> tuple[str, int, int]:
    st = path.stat()
    return (str(path.resolve()), st.st_size, st.st_mtime_ns)


def remember_verified(path: Path, sha: str) -> None:
    """Record that ``path`` (as it is on disk now) has content SHA-256 ``sha``."""
    _VERIFIED[_cache_key(path)] = sha


class BadFile(Exception):
    """A file whose content does not verify: path, expected and actual SHA-256, and why."""

    def __init__(self, path: Path, expected: str, actual: str, why: str):
        super().__init__(path, expected, actual, why)
        self.path, self.expected, self.actual, self.why = path, expected, actual, why

    def message(self, fix: str) -> str:
        """One paragraph for a DataError: what failed, both checksums, then ``fix``."""
        return (
            f"{self.path} failed verification: {self.why}. The SHA-256 of its decompressed "
            f"content should be {self.expected} but is {self.actual}. {fix}"
        )


def verified_content(
    path: Path, expected_sha: str, *, remember: bool = True, lazy: bool = False
) -> bytes | None:
    """Decompressed content of ``path`` after checking its SHA-256.

    Skips the hash when the same (path, size, mtime) verified earlier in this
    process (and with ``lazy`` then returns None without reading the file at
    all); records a successful check if ``remember``. Raises BadFile on a
    mismatch or a damaged gzip stream.
    """
    key = _cache_key(path)
    if lazy and _VERIFIED.get(key) == expected_sha:
        return None
    buf, problem = read_content(path)
    if _VERIFIED.get(key) == expected_sha and problem is None:
        return buf
    actual = hashlib.sha256(buf).hexdigest()
    if problem is not None or actual != expected_sha:
        why = problem or "its content differs from the published file (corrupt, truncated or a different file)"
        raise BadFile(path, expected_sha, actual, why)
    if remember:
        _VERIFIED[key] = actual
    return buf


def find_file(folder: Path, stem: str) -> Path | None:
    """``folder/stem`` if it exists, else ``folder/stem.gz``, else None."""
    for candidate in (folder / stem, folder / (stem + ".gz")):
        if candidate.is_file():
            return candidate
    return None


def absolute(folder: str | os.PathLike) -> Path:
    """Absolute path, ``~`` expanded, symlinks kept as they are."""
    return Path(os.path.abspath(Path(folder).expanduser()))


class Located(NamedTuple):
    """Where the four files of a data set were found."""

    folder: Path
    source: str                 # human description of where the folder came from
    paths: dict[str, Path]      # file stem -> the file used
    content: dict[str, bytes | None]  # file stem -> verified content (None: verified earlier, not read)


def check_folder(info: DatasetInfo, folder: Path, how: str, fix: str) -> Located:
    """Verify a folder the user named (``how`` says how); every problem is a DataError ending in ``fix``."""
    if not folder.is_dir():
        raise DataError(
            f"the {info.title} folder {folder} ({how}) does not exist or is not a folder. "
            f"{fix}"
        )
    stems = list(info.files.values())
    paths = {s: find_file(folder, s) for s in stems}
    missing = [s for s in stems if paths[s] is None]
    if missing:
        names = ", ".join(f"{s} (or {s}.gz)" for s in missing)
        raise DataError(
            f"the {info.title} folder {folder} ({how}) lacks {names}; it must hold all four "
            f"IDX files: {', '.join(stems)}, each plain or gzip-compressed. {fix}"
        )
    content = {}
    for s in stems:
        try:
            content[s] = verified_content(paths[s], info.sha256[s], lazy=True)
        except BadFile as bad:
            raise DataError(
                bad.message(
                    f"The folder {folder} is the one {how}. Replace the file with a good copy "
                    f"(delete it and download it again), or {fix[0].lower() + fix[1:]}"
                )
            ) from None
    return Located(folder, how, {s: p for s, p in paths.items() if p is not None}, content)


def explicit_folder_fix(info: DatasetInfo) -> str:
    """What to do when a folder named by the user (argument or env var) is wrong."""
    return (
        f"Point {info.env_var} (or --data-dir) at a folder holding the four IDX files "
        f"of {info.title}, or unset it to use the cache folder and download."
    )


def system_folder(info: DatasetInfo) -> Path | None:
    """The first of ``info.system_dirs`` that holds all four files, else None."""
    stems = list(info.files.values())
    for sysdir in info.system_dirs:
        if sysdir.is_dir() and all(find_file(sysdir, s) for s in stems):
            return sysdir
    return None


def scan_cache(info: DatasetInfo, cache: Path) -> tuple[dict[str, Path], dict[str, bytes | None], list[str]]:
    """The files of ``info`` already in ``cache``, verified: (paths, content, missing stems).

    A file that is there but wrong is a DataError telling which file to delete:
    nothing in the cache is overwritten silently.
    """
    paths: dict[str, Path] = {}
    content: dict[str, bytes | None] = {}
    missing: list[str] = []
    for s in info.files.values():
        p = find_file(cache, s) if cache.is_dir() else None
        if p is None:
            missing.append(s)
            continue
        try:
            content[s] = verified_content(p, info.sha256[s], lazy=True)
        except BadFile as bad:
            raise DataError(
                bad.message(
                    f"This is the cache folder {cache}: delete {p} and run again to download it "
                    f"afresh, or set {info.env_var} to a folder holding good copies."
                )
            ) from None
        paths[s] = p
    return paths, content, missing
