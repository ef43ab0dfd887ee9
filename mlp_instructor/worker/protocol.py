"""The channel between the judge and the worker: one message format, both directions.

Each message is

    MAGIC (4 bytes) | header length (4 bytes, big-endian) | header (JSON)
                    | arrays length (8 bytes, big-endian) | arrays (.npz, no pickles)

Requests use :data:`REQUEST` and ``{"id": n, "op": name, "params": {...}}``; replies use
:data:`REPLY` and ``{"id": n, "ok": bool, "error": str, "where": str, "warnings": [...]}``
(the judge refuses a reply whose id is not its request's).
Before any of that the worker sends :data:`STARTED` (4 bytes, alone), just
before it imports the submission; the first reply, sent unasked, says
whether ``mlp_core`` imported.
Standard library and numpy only (numpy imported inside the functions: in the
sandbox it becomes importable only once the worker has put its folder on ``sys.path``).
"""

from __future__ import annotations

import io
import json
import struct

REQUEST, REPLY = b"MLPQ", b"MLPA"
#: Sent alone, once the worker runs with numpy, just before it imports the submission: the judge tells a
#: sandbox that never started (the grading machine's failure) from a submission that ended its worker.
STARTED = b"MLPS"
MAX_HEADER = 1 << 20
#: What the sandbox root looks like from inside (the judge binds the copy here).
SUBMISSION_MOUNT = "/submission"


def encode(magic: bytes, header: dict, arrays: dict) -> bytes:
    """One message: header JSON and arrays as an uncompressed .npz."""
    import numpy as np

    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    head = json.dumps(header).encode()
    blob = buffer.getvalue()
    return magic + struct.pack(">I", len(head)) + head + struct.pack(">Q", len(blob)) + blob


def _read_exact(stream, n: int) -> bytes:
    chunks, got = [], 0
    while got < n:
        chunk = stream.read(n - got)  # a raw pipe returns what one read() gives
        if not chunk:
            raise EOFError("the judge closed the channel")
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def read_message(stream, magic: bytes) -> tuple[dict, dict]:
    """(header, arrays) of the next message on a blocking binary stream."""
    import numpy as np

    if _read_exact(stream, 4) != magic:
        raise ValueError("bad message start")
    (n,) = struct.unpack(">I", _read_exact(stream, 4))
    if n > MAX_HEADER:
        raise ValueError("header too long")
    header = json.loads(_read_exact(stream, n))
    (m,) = struct.unpack(">Q", _read_exact(stream, 8))
    with np.load(io.BytesIO(_read_exact(stream, m)), allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    return header, arrays


