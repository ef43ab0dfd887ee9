"""The IDX file format: parse one file (plain or gzip-compressed) into a numpy array.

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
"""

from __future__ import annotations

import math
import os
import zlib
from pathlib import Path

import numpy as np

from .registry import DataError

_IDX_DTYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

#: The first two bytes of every gzip stream.
GZIP_MAGIC = b"\x1f\x8b"


def decompress(raw: bytes) -> tuple[bytes, str | None]:
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
        if data and not data.startswith(GZIP_MAGIC):
            # Trailing garbage after the last member (e.g. zero padding) is ignored,
            # as gzip(1) does.
            break
    return b"".join(out), None


def read_content(path: Path) -> tuple[bytes, str | None]:
    """File bytes, decompressed if the file is gzip (detected by its magic bytes); see :func:`decompress`."""
    raw = path.read_bytes()
    if raw[:2] == GZIP_MAGIC:
        return decompress(raw)
    return raw, None


def parse_idx(buf: bytes, path: Path | str) -> np.ndarray:
    """IDX bytes -> read-only array (shape from the header, native byte order).

    ``path`` only names the file in the error message.
    """
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
        buf, problem = read_content(path)
    except OSError as exc:
        raise DataError(
            f"cannot read {path}: {exc.strerror or exc}. Check the path and the "
            "file's permissions."
        ) from exc
    if problem is not None:
        raise DataError(
            f"{path} cannot be decompressed: {problem}. Delete it and download it again."
        )
    return parse_idx(buf, path).copy()
