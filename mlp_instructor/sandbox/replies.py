"""What a worker sends back, read as data within bounds: the reply header, the arrays, a zip's directory.

Everything here is built by code the student controls (the worker's encoder
can be replaced from inside the sandbox), so each reader checks the size of
what it is about to build before building it:

* :func:`load_header`: JSON of bounded nesting (:data:`MAX_HEADER_DEPTH`);
  a header nested deeper than Python's parser can go is a malformed reply,
  never a RecursionError in the judge;
* :func:`load_arrays`: an ``.npz``: the number of entries and the size of
  the zip's central directory are read from its end record
  (:func:`zip_directory`) before :mod:`zipfile` builds one object per entry;
  each array's header is checked (numeric dtype, data no larger than its
  entry) before its data is read; no pickles;
* :func:`zip_directory` is also what the judge reads of a student's ``.zip``
  before unpacking it (:mod:`mlp_instructor.grading.submissions`).
"""

from __future__ import annotations

import ast
import io
import json
import math
import struct
import zipfile
from typing import BinaryIO

import numpy as np

#: Largest reply the judge reads (the largest real one, the end-to-end
#: check's predictions, is one int64 per test image).
MAX_REPLY_BYTES = 64 * 2**20
#: Most arrays in one reply (a real reply has a handful).
MAX_REPLY_ENTRIES = 256
#: Deepest nesting of lists and objects in a reply header (a real one is 2 deep).
MAX_HEADER_DEPTH = 16
#: Bytes of central directory allowed per entry (46 fixed bytes, the name, the extra fields).
DIRECTORY_BYTES_PER_ENTRY = 1024
#: An .npy header longer than this is not numpy's (numpy's own limit).
MAX_NPY_HEADER = 10000

_END, _END64, _LOCATOR = b"PK\x05\x06", b"PK\x06\x06", b"PK\x06\x07"
_END_SIZE, _END64_SIZE, _LOCATOR_SIZE = 22, 56, 20


class WorkerFailure(Exception):
    """The worker did not answer properly: timed out, died, or sent a malformed reply."""

    def __init__(self, reason: str, fatal: bool = True):
        super().__init__(reason)
        self.reason = reason
        self.fatal = fatal  # the worker is gone or unusable: start a new one


def zip_directory(f: BinaryIO) -> tuple[int, int]:
    """(entries, central directory bytes) a zip declares in its end record, found as :mod:`zipfile` finds it.

    Reads at most the last 64 KB (and the ZIP64 record): nothing per entry.
    :mod:`zipfile` parses as many entries as fit in the directory's declared
    size, whatever the declared count, so a caller bounds both.
    Raises ValueError when there is no end record (not a zip).
    """
    f.seek(0, 2)
    size = f.tell()
    if size < _END_SIZE:
        raise ValueError("not a zip file (no end of central directory)")
    f.seek(size - _END_SIZE)
    tail = f.read()
    if tail[:4] == _END and tail[-2:] == b"\0\0":
        start, record = size - _END_SIZE, tail
    else:
        first = max(size - (1 << 16) - _END_SIZE, 0)
        f.seek(first)
        data = f.read()
        found = data.rfind(_END)
        record = data[found:found + _END_SIZE]
        if found < 0 or len(record) != _END_SIZE:
            raise ValueError("not a zip file (no end of central directory)")
        start = first + found
    entries, directory_bytes = struct.unpack("<HI", record[10:16])
    if start >= _LOCATOR_SIZE:  # ZIP64: the locator just before the end record points at the real numbers
        f.seek(start - _LOCATOR_SIZE)
        locator = f.read(_LOCATOR_SIZE)
        if start >= _LOCATOR_SIZE + _END64_SIZE and locator[:4] == _LOCATOR:
            f.seek(start - _LOCATOR_SIZE - _END64_SIZE)
            record64 = f.read(_END64_SIZE)
            if record64[:4] == _END64:
                entries, directory_bytes = struct.unpack("<QQ", record64[32:48])
    return entries, directory_bytes


def check_zip_directory(f: BinaryIO, max_entries: int, what: str) -> None:
    """Raise ValueError (saying which limit) when the zip ``f`` declares more than ``max_entries`` entries
    or a central directory larger than they need."""
    entries, directory_bytes = zip_directory(f)
    if entries > max_entries:
        raise ValueError(f"{what} lists {entries} entries, more than {max_entries}")
    if directory_bytes > max_entries * DIRECTORY_BYTES_PER_ENTRY:
        raise ValueError(f"{what} has a directory of {directory_bytes} bytes, more than "
                         f"{max_entries * DIRECTORY_BYTES_PER_ENTRY} for {max_entries} entries")


def nesting_depth(value) -> int:
    """How deep lists and dicts nest in a parsed JSON value (a scalar: 0), without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in children)
    return deepest


def load_header(raw: bytes) -> dict:
    """A reply header: a JSON object nested at most :data:`MAX_HEADER_DEPTH` deep, or WorkerFailure."""
    try:
        header = json.loads(raw)
    except RecursionError:
        raise WorkerFailure(f"the worker sent a reply header nested deeper than {MAX_HEADER_DEPTH} levels") from None
    except ValueError:
        raise WorkerFailure("the worker sent a malformed reply header") from None
    if not isinstance(header, dict):
        raise WorkerFailure("the worker sent a malformed reply header (not a JSON object)")
    if nesting_depth(header) > MAX_HEADER_DEPTH:
        raise WorkerFailure(f"the worker sent a reply header nested deeper than {MAX_HEADER_DEPTH} levels")
    return header


def _npy_header(stream: BinaryIO) -> tuple[np.dtype, tuple[int, ...], bool]:
    """(dtype, shape, fortran order) of an .npy stream, its data not read (ValueError if malformed)."""
    magic = stream.read(8)
    if len(magic) != 8 or magic[:6] != b"\x93NUMPY" or magic[6] not in (1, 2, 3):
        raise ValueError("not an .npy array")
    width = 2 if magic[6] == 1 else 4
    (length,) = struct.unpack("<H" if width == 2 else "<I", stream.read(width))
    if length > MAX_NPY_HEADER:
        raise ValueError("an .npy header that is too long")
    text = stream.read(length).decode("utf-8" if magic[6] == 3 else "latin1")
    fields = ast.literal_eval(text)
    if not isinstance(fields, dict) or set(fields) != {"descr", "fortran_order", "shape"}:
        raise ValueError("a malformed .npy header")
    shape = fields["shape"]
    if not isinstance(shape, tuple) or not all(type(n) is int and n >= 0 for n in shape):
        raise ValueError("a malformed .npy shape")
    return np.lib.format.descr_to_dtype(fields["descr"]), shape, bool(fields["fortran_order"])


def load_arrays(blob: bytes) -> dict:
    """The arrays of an .npz reply: no pickles, numeric or bool dtypes only, bounded count and sizes.

    The entry count is read from the zip's end record before any entry is
    built; each array's size from its header before its data is read.
    Raises WorkerFailure (not fatal: the worker may answer the next request).
    """
    try:
        check_zip_directory(io.BytesIO(blob), MAX_REPLY_ENTRIES, "the reply")
    except ValueError as exc:
        reason = str(exc) if str(exc).startswith("the reply") else "the worker sent arrays that cannot be read"
        raise WorkerFailure(reason, fatal=False) from None
    arrays = {}
    try:
        with zipfile.ZipFile(io.BytesIO(blob)) as archive:
            infos = archive.infolist()
            if len(infos) > MAX_REPLY_ENTRIES or sum(i.file_size for i in infos) > MAX_REPLY_BYTES:
                raise WorkerFailure("the reply holds too many or too large arrays", fatal=False)
            for info in infos:
                if not info.filename.endswith(".npy"):
                    raise ValueError("an entry that is not an array")
                key = info.filename[:-4]
                with archive.open(info) as stream:
                    dtype, shape, fortran = _npy_header(stream)
                    if dtype.hasobject:
                        raise ValueError("a pickled array")  # never unpickled
                    if dtype.kind not in "biuf" or dtype.shape != ():
                        raise WorkerFailure(f"the reply's {key!r} has dtype {dtype}, not a number", fatal=False)
                    nbytes = math.prod(shape) * dtype.itemsize
                    if nbytes > info.file_size:
                        raise ValueError("an array larger than its entry")
                    data = stream.read(nbytes)
                    if len(data) != nbytes:
                        raise ValueError("an array shorter than its shape")
                arrays[key] = np.frombuffer(data, dtype=dtype).reshape(shape, order="F" if fortran else "C").copy()
    except WorkerFailure:
        raise
    except Exception:  # noqa: BLE001 - whatever the bytes are, it is a malformed reply
        raise WorkerFailure("the worker sent arrays that cannot be read", fatal=False) from None
    return arrays
