"""MNIST and Fashion-MNIST: finding, verifying and loading the four IDX files.

The IDX format
--------------
Both data sets ship as four files in LeCun's IDX format, usually gzip-compressed:

    train-images-idx3-ubyte   60000 x 28 x 28 pixels, uint8 (0 = background)
    train-labels-idx1-ubyte   60000 labels, uint8 in 0..9
    t10k-images-idx3-ubyte    10000 x 28 x 28 pixels
    t10k-labels-idx1-ubyte    10000 labels

An IDX file is a header followed by the raw values in C (row-major) order::

    bytes 0-1   0x00 0x00                   (always zero)
    byte  2     dtype code                  (0x08 = unsigned byte; 0x09 int8,
                                             0x0B int16, 0x0C int32,
                                             0x0D float32, 0x0E float64)
    byte  3     number of dimensions d
    then        d sizes, each a big-endian uint32
    then        prod(sizes) values, big-endian

So ``train-images-idx3-ubyte`` starts ``00 00 08 03 | 60000 | 28 | 28`` and
holds 60000 * 28 * 28 = 47,040,000 bytes after its 16-byte header.
:func:`read_idx` parses one file (plain or ``.gz``) into a numpy array.

Where the files come from (source order)
-----------------------------------------
:func:`locate_dataset` and :func:`load_dataset` look, in this order, at:

1. the ``folder`` argument (the CLI's ``--data-dir``), if given;
2. the data set's environment variable (``MNIST_DIR`` or
   ``FASHION_MNIST_DIR``), if set and non-empty;
3. for Fashion-MNIST only: ``/usr/share/datasets/fashion-mnist``, where Debian's
   package puts it (``apt-get install -y dataset-fashion-mnist``), if that
   folder holds all four files;
4. the cache folder ``<cache_dir>/<name>/``, where ``cache_dir`` defaults to
   ``data/`` at the repository root (next to the ``mlp_core`` package);
5. a download from the data set's mirrors, tried in turn, into that cache folder
   (unless ``download=False``). Files already in the cache are not fetched again.

A folder named explicitly (1 or 2) must hold all four files and they must be
right: if one is missing or wrong the load fails with :class:`DataError`
naming the folder and the file; it never falls back to downloading behind
your back. The same holds for a complete system folder (3) whose files fail
verification, and for a corrupt file in the cache (4): the error says which
file to delete or replace; nothing is overwritten silently. Each file may be stored either gzip-compressed (``NAME.gz``) or
decompressed (``NAME``); when both are present the decompressed one is used.

Every file is checked against the SHA-256 of its *decompressed* content (so a
re-compressed ``.gz`` with identical content is accepted). Files verified once
are remembered for the rest of the process, keyed by (path, size, mtime), so
loading again does not hash 55 MB again; a file that changes on disk is
checked again.

Downloads go to a temporary file in the cache folder, are verified, and only
then renamed into place (``os.replace``), so an interrupted or corrupt
download never leaves a file that looks finished.

Pixel scaling
-------------
Images come out flattened to ``(N, 784)`` float32, scaled by one of
:data:`SCALINGS`: ``"course"`` maps a pixel x to ``(x - 128) / 255`` (the
report's course, range [-128/255, 127/255]), ``"unit"`` to ``x / 255`` (range
[0, 1]).
"""

from __future__ import annotations

import hashlib
import math
import os
import shutil
import sys
import tempfile
import urllib.error
import urllib.request
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, NamedTuple, Sequence

import numpy as np

__all__ = [
    "DATASETS",
    "DEFAULT_CACHE_DIR",
    "DOWNLOAD_TIMEOUT",
    "DataError",
    "Dataset",
    "DatasetInfo",
    "SCALINGS",
    "describe_dataset",
    "load_dataset",
    "load_mnist",
    "locate_dataset",
    "read_idx",
    "subset",
    "train_validation_split",
]


class DataError(Exception):
    """A data file is missing, corrupt or could not be fetched.

    The message is one paragraph that says what was wrong and what to do.
    """


class Dataset(NamedTuple):
    """One split of an image-classification data set.

    images: float32 array of shape (N, 784), each row a 28x28 image flattened
            row by row and scaled by one of :data:`SCALINGS`.
    labels: int64 array of shape (N,), class indices in 0..9.
    """

    images: np.ndarray
    labels: np.ndarray


# --------------------------------------------------------------------------- #
# Registry
# --------------------------------------------------------------------------- #

#: The four files' roles, in the order they are listed everywhere.
FILE_ROLES = ("train_images", "train_labels", "test_images", "test_labels")

_MNIST_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


@dataclass(frozen=True)
class DatasetInfo:
    """Everything needed to find, fetch and verify one data set.

    files:       role (see FILE_ROLES) -> file name without ``.gz``.
    sha256:      file name without ``.gz`` -> SHA-256 (hex) of the
                 decompressed content.
    sizes:       file name without ``.gz`` -> size in bytes when decompressed.
    env_var:     environment variable that may name a folder holding the files.
    mirrors:     base URLs tried in turn; a file is fetched as
                 ``mirror + name + ".gz"``.
    system_dirs: folders a system package installs the files into; used after
                 the environment variable, if they hold all four files.
    classes:     the 10 class names, index = label.
    """

    name: str
    title: str
    files: dict[str, str]
    sha256: dict[str, str]
    sizes: dict[str, int]
    env_var: str
    mirrors: tuple[str, ...]
    system_dirs: tuple[Path, ...] = ()
    classes: tuple[str, ...] = tuple(str(d) for d in range(10))
    system_hint: str = ""


#: Registered data sets by name.
DATASETS: dict[str, DatasetInfo] = {
    "mnist": DatasetInfo(
        name="mnist",
        title="MNIST handwritten digits",
        files=dict(_MNIST_FILES),
        sha256={
            "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
            "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
            "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
            "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
        },
        sizes={
            "train-images-idx3-ubyte": 47040016,
            "train-labels-idx1-ubyte": 60008,
            "t10k-images-idx3-ubyte": 7840016,
            "t10k-labels-idx1-ubyte": 10008,
        },
        env_var="MNIST_DIR",
        mirrors=(
            "https://ossci-datasets.s3.amazonaws.com/mnist/",
            "https://storage.googleapis.com/cvdf-datasets/mnist/",
        ),
    ),
    "fashion-mnist": DatasetInfo(
        name="fashion-mnist",
        title="Fashion-MNIST (Zalando clothing images)",
        files=dict(_MNIST_FILES),
        # Computed from Debian's dataset-fashion-mnist 0.0~git20200523.55506a9-1;
        # the decompressed MD5s there equal the ones published with the data set.
        sha256={
            "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
            "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
            "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
            "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
        },
        sizes={
            "train-images-idx3-ubyte": 47040016,
            "train-labels-idx1-ubyte": 60008,
            "t10k-images-idx3-ubyte": 7840016,
            "t10k-labels-idx1-ubyte": 10008,
        },
        env_var="FASHION_MNIST_DIR",
        mirrors=(
            "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
            "https://github.com/zalandoresearch/fashion-mnist/raw/master/data/fashion/",
        ),
        system_dirs=(Path("/usr/share/datasets/fashion-mnist"),),
        classes=(
            "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
            "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
        ),
        system_hint="apt-get install -y dataset-fashion-mnist",
    ),
}

#: Default parent of the per-data-set cache folders: ``<repo>/data``.
DEFAULT_CACHE_DIR = Path(__file__).resolve().parent.parent / "data"

#: Seconds to wait for a mirror to answer (per connection attempt / read).
DOWNLOAD_TIMEOUT = 30.0


def _info(name: str) -> DatasetInfo:
    key = str(name).strip().lower().replace("_", "-")
    if key not in DATASETS:
        raise ValueError(
            f"unknown data set {name!r}; choose one of: {', '.join(sorted(DATASETS))}"
        )
    return DATASETS[key]


# --------------------------------------------------------------------------- #
# Scaling
# --------------------------------------------------------------------------- #


def _scale_course(x: np.ndarray) -> np.ndarray:
    """uint8 (...) -> float32 (...), (x - 128) / 255, range [-128/255, 127/255]."""
    y = x.astype(np.float32)
    y -= 128.0
    y /= 255.0
    return y


def _scale_unit(x: np.ndarray) -> np.ndarray:
    """uint8 (...) -> float32 (...), x / 255, range [0, 1]."""
    y = x.astype(np.float32)
    y /= 255.0
    return y


#: Pixel scalings: name -> function mapping a uint8 array to float32 (same shape).
SCALINGS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "course": _scale_course,
    "unit": _scale_unit,
}


def _scaling(name: str) -> Callable[[np.ndarray], np.ndarray]:
    if name not in SCALINGS:
        raise ValueError(
            f"unknown scaling {name!r}; choose one of: {', '.join(sorted(SCALINGS))}"
        )
    return SCALINGS[name]


# --------------------------------------------------------------------------- #
# IDX parsing
# --------------------------------------------------------------------------- #

_IDX_DTYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

_GZIP_MAGIC = b"\x1f\x8b"


def _decompress(raw: bytes) -> tuple[bytes, str | None]:
    """Decompress gzip bytes (possibly several members).

    Returns (content, problem): problem is None when the stream was complete
    and intact, else a short description; content is then whatever could be
    decompressed before the problem.
    """
    out: list[bytes] = []
    data = raw
    while data:
        d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            out.append(d.decompress(data))
            out.append(d.flush())
        except zlib.error as exc:
            return b"".join(out), f"the gzip stream is corrupt ({exc})"
        if not d.eof:
            return b"".join(out), "the gzip stream is truncated (the file ends early)"
        data = d.unused_data
        if data and not data.startswith(_GZIP_MAGIC):
            # Trailing garbage after the last member (e.g. zero padding) is ignored,
            # as gzip(1) does.
            break
    return b"".join(out), None


def _read_content(path: Path) -> tuple[bytes, str | None]:
    """File bytes, decompressed if the file is gzip (detected by its magic bytes)."""
    raw = path.read_bytes()
    if raw[:2] == _GZIP_MAGIC:
        return _decompress(raw)
    return raw, None


def _parse_idx(buf: bytes, path: Path | str) -> np.ndarray:
    """IDX bytes -> read-only array (shape from the header, native byte order)."""
    if len(buf) < 4 or buf[0] != 0 or buf[1] != 0 or buf[2] not in _IDX_DTYPES:
        raise DataError(
            f"{path} is not an IDX file: its first four bytes are {buf[:4].hex(' ') or 'missing'}, "
            "but an IDX file starts with 00 00, a dtype code (08 for unsigned bytes) and the "
            "number of dimensions. Check that you pointed at the right file (for example "
            "train-images-idx3-ubyte or its .gz), and download it again if it is damaged."
        )
    dtype = _IDX_DTYPES[buf[2]]
    ndim = buf[3]
    header = 4 + 4 * ndim
    if len(buf) < header:
        raise DataError(
            f"{path} is truncated: its IDX header announces {ndim} dimensions "
            f"({header} header bytes) but the file holds only {len(buf)} bytes. "
            "Delete it and download it again."
        )
    dims = tuple(int(v) for v in np.frombuffer(buf, dtype=">u4", count=ndim, offset=4))
    count = math.prod(dims)
    expected = header + count * dtype.itemsize
    if len(buf) != expected:
        what = "truncated" if len(buf) < expected else "longer than its header says"
        raise DataError(
            f"{path} is {what}: its IDX header says shape {dims} of {dtype.name} "
            f"({expected} bytes with the header) but it holds {len(buf)} bytes. "
            "Delete it and download it again (or point the loader at a good copy)."
        )
    arr = np.frombuffer(buf, dtype=dtype, count=count, offset=header).reshape(dims)
    if not dtype.isnative and dtype.itemsize > 1:
        arr = arr.astype(dtype.newbyteorder("="))
    return arr


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read one IDX file, plain or gzip-compressed, into a numpy array.

    Returns an array whose shape is the one in the header, e.g. (60000, 28, 28)
    uint8 for train-images-idx3-ubyte and (60000,) uint8 for
    train-labels-idx1-ubyte. Multi-byte types come back in native byte order.
    Raises DataError if the file is missing, not IDX (bad magic number), a
    damaged gzip stream, or its size does not match its header.
    """
    path = Path(path)
    try:
        buf, problem = _read_content(path)
    except OSError as exc:
        raise DataError(
            f"cannot read {path}: {exc.strerror or exc}. Check the path and the "
            "file's permissions."
        ) from exc
    if problem is not None:
        raise DataError(
            f"{path} cannot be decompressed: {problem}. Delete it and download it again."
        )
    return _parse_idx(buf, path).copy()


# --------------------------------------------------------------------------- #
# Verification
# --------------------------------------------------------------------------- #

#: (resolved path, size, mtime_ns) -> SHA-256 of the decompressed content, for
#: files that passed verification in this process.
_VERIFIED: dict[tuple[str, int, int], str] = {}


def _cache_key(path: Path) -> tuple[str, int, int]:
    st = path.stat()
    return (str(path.resolve()), st.st_size, st.st_mtime_ns)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class _BadFile(Exception):
    """Internal: a file whose content does not verify. args = (path, expected, actual, why)."""

    def __init__(self, path: Path, expected: str, actual: str, why: str):
        super().__init__(path, expected, actual, why)
        self.path, self.expected, self.actual, self.why = path, expected, actual, why


def _verified_content(
    path: Path, expected_sha: str, *, remember: bool = True, lazy: bool = False
) -> bytes | None:
    """Decompressed content of ``path`` after checking its SHA-256.

    Skips the hash when the same (path, size, mtime) verified earlier in this
    process (and with ``lazy`` then returns None without reading the file at
    all); records a successful check if ``remember``. Raises _BadFile on a
    mismatch or a damaged gzip stream.
    """
    key = _cache_key(path)
    if lazy and _VERIFIED.get(key) == expected_sha:
        return None
    buf, problem = _read_content(path)
    if _VERIFIED.get(key) == expected_sha and problem is None:
        return buf
    actual = _sha256(buf)
    if problem is not None or actual != expected_sha:
        why = problem or "its content differs from the published file (corrupt, truncated or a different file)"
        raise _BadFile(path, expected_sha, actual, why)
    if remember:
        _VERIFIED[key] = actual
    return buf


def _bad_file_message(bad: _BadFile, fix: str) -> str:
    return (
        f"{bad.path} failed verification: {bad.why}. The SHA-256 of its decompressed "
        f"content should be {bad.expected} but is {bad.actual}. {fix}"
    )


# --------------------------------------------------------------------------- #
# Locating
# --------------------------------------------------------------------------- #


def _find_file(folder: Path, stem: str) -> Path | None:
    """``folder/stem`` if it exists, else ``folder/stem.gz``, else None."""
    for candidate in (folder / stem, folder / (stem + ".gz")):
        if candidate.is_file():
            return candidate
    return None


def _abs(folder: str | os.PathLike) -> Path:
    """Absolute path, ``~`` expanded, symlinks kept as they are."""
    return Path(os.path.abspath(Path(folder).expanduser()))


class _Located(NamedTuple):
    folder: Path
    source: str                 # human description of where the folder came from
    paths: dict[str, Path]      # file stem -> the file used
    content: dict[str, bytes | None]  # file stem -> verified content (None: verified earlier, not read)


def _check_explicit(info: DatasetInfo, folder: Path, how: str, fix: str) -> _Located:
    """Verify a folder the user named; every problem is a DataError."""
    if not folder.is_dir():
        raise DataError(
            f"the {info.title} folder {folder} ({how}) does not exist or is not a folder. "
            f"{fix}"
        )
    stems = list(info.files.values())
    paths = {s: _find_file(folder, s) for s in stems}
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
            content[s] = _verified_content(paths[s], info.sha256[s], lazy=True)
        except _BadFile as bad:
            raise DataError(
                _bad_file_message(
                    bad,
                    f"The folder {folder} is the one {how}. Replace the file with a good copy "
                    f"(delete it and download it again), or {fix[0].lower() + fix[1:]}",
                )
            ) from None
    return _Located(folder, how, {s: p for s, p in paths.items() if p is not None}, content)


def _explicit_fix(info: DatasetInfo) -> str:
    return (
        f"Point {info.env_var} (or --data-dir) at a folder holding the four IDX files "
        f"of {info.title}, or unset it to use the cache folder and download."
    )


def _locate(
    name: str,
    folder: str | os.PathLike | None,
    download: bool,
    cache_dir: str | os.PathLike | None,
    mirrors: Sequence[str] | None,
    timeout: float,
) -> _Located:
    info = _info(name)
    stems = list(info.files.values())
    fix = _explicit_fix(info)

    # 1. explicit folder argument.
    if folder is not None:
        return _check_explicit(info, _abs(folder), "given as the folder argument / --data-dir", fix)

    # 2. environment variable.
    env = os.environ.get(info.env_var, "").strip()
    if env:
        return _check_explicit(
            info, _abs(env), f"from the environment variable {info.env_var}", fix
        )

    # 3. folders installed by a system package, if complete.
    for sysdir in info.system_dirs:
        if sysdir.is_dir() and all(_find_file(sysdir, s) for s in stems):
            return _check_explicit(
                info,
                sysdir,
                f"installed by the system package ({info.system_hint})",
                f"Reinstall it (apt-get install --reinstall {info.system_hint.split()[-1]}), "
                f"or set {info.env_var} to a folder holding good copies.",
            )

    # 4. cache folder, 5. download the missing files into it.
    base = _abs(cache_dir) if cache_dir is not None else DEFAULT_CACHE_DIR
    cache = base / info.name
    paths: dict[str, Path] = {}
    content: dict[str, bytes | None] = {}
    missing: list[str] = []
    for s in stems:
        p = _find_file(cache, s) if cache.is_dir() else None
        if p is None:
            missing.append(s)
            continue
        try:
            content[s] = _verified_content(p, info.sha256[s], lazy=True)
        except _BadFile as bad:
            raise DataError(
                _bad_file_message(
                    bad,
                    f"This is the cache folder {cache}: delete {p} and run again to download it "
                    f"afresh, or set {info.env_var} to a folder holding good copies.",
                )
            ) from None
        paths[s] = p

    if missing:
        if not download:
            raise DataError(
                f"{info.title} is not available and downloading is switched off: no folder "
                f"argument was given, {info.env_var} is not set"
                + (f", {', '.join(str(d) for d in info.system_dirs)} is not complete" if info.system_dirs else "")
                + f", and the cache folder {cache} lacks {', '.join(missing)}. Set {info.env_var} "
                "(or pass --data-dir) to a folder holding the four IDX files, or allow the "
                "download (download=True)."
            )
        urls = list(mirrors) if mirrors is not None else list(info.mirrors)
        for s in missing:
            paths[s], content[s], used = _download(info, s, cache, urls, timeout)
            # Ask the mirror that worked first for the remaining files.
            urls = [used] + [u for u in urls if u != used]

    return _Located(cache, f"the cache folder under {base}", paths, content)


# --------------------------------------------------------------------------- #
# Downloading
# --------------------------------------------------------------------------- #


def _download(
    info: DatasetInfo, stem: str, cache: Path, mirrors: Sequence[str], timeout: float
) -> tuple[Path, bytes, str]:
    """Fetch ``stem.gz`` from the first mirror that serves a verified copy.

    Streams into a temporary file in ``cache``, verifies the SHA-256 of the
    decompressed content, then renames it to ``cache/stem.gz``. Returns the
    final path, the verified content and the mirror used. DataError if every
    mirror fails.
    """
    try:
        cache.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(
            f"cannot create the cache folder {cache} for {info.title}: {exc.strerror or exc}. "
            f"Pass another cache_dir, or set {info.env_var} to a folder holding the four IDX files."
        ) from exc
    expected = info.sha256[stem]
    failures: list[str] = []
    for mirror in mirrors:
        url = mirror.rstrip("/") + "/" + stem + ".gz"
        fd, tmp_name = tempfile.mkstemp(prefix=f".{stem}.", suffix=".part", dir=cache)
        tmp = Path(tmp_name)
        try:
            print(f"downloading {url}", file=sys.stderr, flush=True)
            try:
                with os.fdopen(fd, "wb") as out:
                    req = urllib.request.Request(url, headers={"User-Agent": "mlp_core-data/1.0"})
                    with urllib.request.urlopen(req, timeout=timeout) as resp:
                        shutil.copyfileobj(resp, out, length=1 << 20)
            except urllib.error.HTTPError as exc:
                failures.append(f"{url}: HTTP {exc.code} {exc.reason}")
                continue
            except urllib.error.URLError as exc:
                failures.append(f"{url}: {exc.reason}")
                continue
            except (OSError, ValueError) as exc:  # timeouts, resets, malformed URLs
                failures.append(f"{url}: {type(exc).__name__}: {exc}")
                continue
            try:
                buf = _verified_content(tmp, expected, remember=False)
            except _BadFile as bad:
                failures.append(
                    f"{url}: {bad.why}; the SHA-256 of its decompressed content is "
                    f"{bad.actual}, expected {expected}"
                )
                continue
            with open(tmp, "rb") as fh:
                gz = fh.read(2) == _GZIP_MAGIC
            final = cache / (stem + ".gz" if gz else stem)
            os.replace(tmp, final)
            _VERIFIED[_cache_key(final)] = expected
            return final, buf, mirror
        finally:
            if tmp.exists():
                tmp.unlink()
    tried = "; ".join(failures) if failures else "no mirrors were configured"
    raise DataError(
        f"could not download {stem}.gz of {info.title} into {cache}. Tried each mirror in turn: "
        f"{tried}. Download the four files (train-images-idx3-ubyte.gz, "
        f"train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz) "
        f"by hand from any mirror into {cache}, or set {info.env_var} (or pass --data-dir) to a "
        "folder that already holds them."
    )


# --------------------------------------------------------------------------- #
# Public loading API
# --------------------------------------------------------------------------- #


def locate_dataset(
    name: str = "mnist",
    folder: str | os.PathLike | None = None,
    *,
    download: bool = True,
    cache_dir: str | os.PathLike | None = None,
    mirrors: Sequence[str] | None = None,
    timeout: float = DOWNLOAD_TIMEOUT,
) -> Path:
    """The folder holding the four verified IDX files of data set ``name``.

    Follows the source order in the module docstring (folder argument,
    environment variable, system folder for Fashion-MNIST, cache folder
    ``<cache_dir>/<name>/``, download). ``mirrors`` overrides the registry's
    base URLs (tests use it to stay off the internet); ``timeout`` is in
    seconds per connection. Raises DataError with advice on any failure and
    ValueError for an unknown name.
    """
    return _locate(name, folder, download, cache_dir, mirrors, timeout).folder


def _content(info: DatasetInfo, located: _Located, stem: str) -> bytes:
    """Verified decompressed content of one located file."""
    buf = located.content.get(stem)
    if buf is None:
        try:  # verified earlier in this process: read it (re-checked if it changed since)
            buf = _verified_content(located.paths[stem], info.sha256[stem])
        except _BadFile as bad:
            raise DataError(
                _bad_file_message(bad, "It changed on disk while being loaded; replace it with a good copy.")
            ) from None
    return buf


def _raw_splits(info: DatasetInfo, located: _Located) -> list[tuple[np.ndarray, np.ndarray]]:
    """[(train images uint8 (N, 28, 28), train labels uint8 (N,)), (test ..., test ...)]."""
    splits = []
    for img_role, lab_role in (("train_images", "train_labels"), ("test_images", "test_labels")):
        img_stem, lab_stem = info.files[img_role], info.files[lab_role]
        imgs = _parse_idx(_content(info, located, img_stem), located.paths[img_stem])
        labs = _parse_idx(_content(info, located, lab_stem), located.paths[lab_stem])
        if imgs.ndim != 3 or labs.ndim != 1 or imgs.shape[0] != labs.shape[0]:
            raise DataError(
                f"{located.paths[img_stem]} and {located.paths[lab_stem]} do not fit together: "
                f"images {imgs.shape}, labels {labs.shape}. Replace them with the published files."
            )
        splits.append((imgs, labs))
    return splits


def _build(info: DatasetInfo, located: _Located, scaling: str) -> tuple[Dataset, Dataset]:
    scale = _scaling(scaling)
    train, test = (
        Dataset(scale(imgs.reshape(imgs.shape[0], -1)), labs.astype(np.int64))
        for imgs, labs in _raw_splits(info, located)
    )
    return train, test


def load_dataset(
    name: str = "mnist",
    folder: str | os.PathLike | None = None,
    *,
    scaling: str = "course",
    download: bool = True,
    cache_dir: str | os.PathLike | None = None,
    mirrors: Sequence[str] | None = None,
    timeout: float = DOWNLOAD_TIMEOUT,
) -> tuple[Dataset, Dataset]:
    """Load (train, test) of data set ``name`` ("mnist" or "fashion-mnist").

    train.images: float32 (60000, 784); train.labels: int64 (60000,)
    test.images:  float32 (10000, 784); test.labels:  int64 (10000,)

    Images are scaled by ``SCALINGS[scaling]`` ("course": (x - 128) / 255,
    "unit": x / 255). The files are found, verified and if need be downloaded
    as :func:`locate_dataset` does; see the module docstring for the order.
    Raises DataError (with advice) when the data cannot be had, ValueError
    for an unknown name or scaling.
    """
    info = _info(name)
    _scaling(scaling)  # fail fast, before touching any file
    located = _locate(name, folder, download, cache_dir, mirrors, timeout)
    return _build(info, located, scaling)


def load_mnist(folder: str | os.PathLike | None = None, **kw) -> tuple[Dataset, Dataset]:
    """``load_dataset("mnist", folder, **kw)``: (train, test) with images (N, 784) float32."""
    return load_dataset("mnist", folder, **kw)


def describe_dataset(
    name: str = "mnist",
    folder: str | os.PathLike | None = None,
    *,
    download: bool = True,
    cache_dir: str | os.PathLike | None = None,
    mirrors: Sequence[str] | None = None,
) -> str:
    """A multi-line human summary of data set ``name`` as this loader sees it.

    Lists the folder used and where it came from, each file with its SHA-256
    and OK (every file is verified), the shapes and dtypes of the train/test
    images and labels as :func:`load_dataset` returns them, the pixel range
    under each of :data:`SCALINGS`, and the class counts of both splits.
    Raises what :func:`locate_dataset` raises. This is what
    ``python -m mlp_core data`` prints.
    """
    info = _info(name)
    located = _locate(name, folder, download, cache_dir, mirrors, DOWNLOAD_TIMEOUT)
    (tr_img, tr_lab), (te_img, te_lab) = _raw_splits(info, located)
    lines = [
        f"Data set: {info.name} - {info.title}",
        f"Folder:   {located.folder}",
        f"Source:   {located.source}",
        "Files (SHA-256 of the decompressed content):",
    ]
    width = max(len(p.name) for p in located.paths.values())
    for stem in info.files.values():
        p = located.paths[stem]
        lines.append(f"  {p.name:<{width}}  {info.sha256[stem]}  OK")
    lines.append("As loaded by load_dataset (images flattened, scaled to float32):")
    for split_name, imgs, labs in (("train", tr_img, tr_lab), ("test", te_img, te_lab)):
        shape = (imgs.shape[0], imgs.shape[1] * imgs.shape[2])
        lines.append(
            f"  {split_name + ':':<6} images {shape} float32, labels {labs.shape} int64"
        )
    lo, hi = int(tr_img.min()), int(tr_img.max())
    for sname in SCALINGS:
        vals = SCALINGS[sname](np.array([lo, hi], dtype=np.uint8))
        lines.append(
            f"  scaling {sname!r}: train pixels {lo}..{hi} -> [{vals[0]:.4f}, {vals[1]:.4f}]"
        )
    lines.append("Class counts:")
    named = list(info.classes) != [str(k) for k in range(len(info.classes))]
    names = list(info.classes) if named else [""] * len(info.classes)
    cw = max(len(c) for c in names) if named else 0
    lines.append(f"  {'label':>5} {'':<{cw}}  {'train':>6}  {'test':>6}")
    tr_counts = np.bincount(tr_lab, minlength=len(info.classes))
    te_counts = np.bincount(te_lab, minlength=len(info.classes))
    for k, cname in enumerate(names):
        lines.append(f"  {k:>5} {cname:<{cw}}  {tr_counts[k]:>6}  {te_counts[k]:>6}")
    lines.append(f"  {'total':>5} {'':<{cw}}  {tr_counts.sum():>6}  {te_counts.sum():>6}")
    return "\n".join(lines)


# --------------------------------------------------------------------------- #
# Splitting
# --------------------------------------------------------------------------- #


def train_validation_split(
    train: Dataset, val_size: int = 10000, seed: int | np.random.SeedSequence = 0
) -> tuple[Dataset, Dataset]:
    """Split ``train`` (N samples) into disjoint (train', validation) sets.

    validation: ``val_size`` samples drawn at random with
    ``np.random.default_rng(seed)`` (seed: an int or a SeedSequence); train':
    the other N - val_size. Both keep
    the original order of their samples. images (k, 784), labels (k,).
    ValueError unless 0 < val_size < N.
    """
    n = len(train.labels)
    if isinstance(val_size, bool) or not isinstance(val_size, (int, np.integer)) or not 0 < val_size < n:
        raise ValueError(
            f"val_size must be an integer with 0 < val_size < {n} (the number of training "
            f"samples), got {val_size!r}"
        )
    rng = np.random.default_rng(seed)
    perm = rng.permutation(n)
    val_idx = np.sort(perm[:val_size])
    tr_idx = np.sort(perm[val_size:])
    return (
        Dataset(train.images[tr_idx], train.labels[tr_idx]),
        Dataset(train.images[val_idx], train.labels[val_idx]),
    )


def subset(ds: Dataset, n: int, seed: int | np.random.SeedSequence = 0) -> Dataset:
    """``n`` samples of ``ds`` drawn without replacement with ``default_rng(seed)``
    (seed: an int or a SeedSequence).

    images (n, 784), labels (n,), in their original order. If ``n`` is at
    least len(ds.labels), ``ds`` itself is returned unchanged. ValueError if
    n < 1.
    """
    total = len(ds.labels)
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    if n >= total:
        return ds
    idx = np.sort(np.random.default_rng(seed).choice(total, size=n, replace=False))
    return Dataset(ds.images[idx], ds.labels[idx])
